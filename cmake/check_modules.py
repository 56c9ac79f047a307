#!/usr/bin/env python3
"""Check the module boundaries that cmake/Modules.cmake declares.

Usage: check_modules.py BUILD_DIR/wr_modules.json

The manifest lists every module's sources, headers, LINKS and third-party
libraries. All files of agent/ share one folder, so the compiler finds any
sibling header; this check is what keeps a module to the headers of the
modules it links:
  - every #include "x.h" in a module's files names a header of the module
    itself or of a module in its LINKS closure;
  - a third-party header (<sqlite3.h>, ...) appears only in that library's
    homes (the guard headers already stop it at compile time);
  - every .c and .h in agent/, config/ and platform/ belongs to exactly one
    module (main.c belongs to the windrow executable, which may include any
    module's header that the closure of what it links, wr_pipeline,
    wr_links and wr_fleet_push, has).
Prints one line per violation and exits 1 if there is any.
"""
import json
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
MODULE_DIRS = ("agent", "config", "platform")
EXECUTABLE_SOURCES = {"agent/main.c": ("wr_pipeline", "wr_links", "wr_fleet_push")}


def closure(modules, name):
    seen = set()
    todo = [name]
    while todo:
        m = todo.pop()
        if m in seen or m not in modules:
            continue
        seen.add(m)
        todo.extend(modules[m]["links"])
    return seen


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    src_dir = manifest["source_dir"]
    modules = manifest["modules"]
    third = manifest["third_party"]
    errors = []

    def rel(p):
        return os.path.relpath(p, src_dir)

    owner = {}
    for name, m in modules.items():
        for p in m["sources"] + m["headers"]:
            r = rel(p)
            if r in owner:
                errors.append(f"{r} is in two modules: {owner[r]} and {name}")
            owner[r] = name
    header_owner = {os.path.basename(r): o for r, o in owner.items() if r.endswith(".h")}
    tp_header = {}
    for dep, t in third.items():
        for h in t["headers"]:
            tp_header[h] = dep
    for d in MODULE_DIRS:
        for fn in sorted(os.listdir(os.path.join(src_dir, d))):
            r = f"{d}/{fn}"
            if fn.endswith((".c", ".h")) and r not in owner and r not in EXECUTABLE_SOURCES:
                errors.append(f"{r} belongs to no module: add it to SOURCES/HEADERS in "
                              f"{d}/CMakeLists.txt")

    files = [(r, o) for r, o in owner.items()] + list(EXECUTABLE_SOURCES.items())
    for r, mod in files:
        path = os.path.join(src_dir, r)
        if not os.path.exists(path):
            continue
        visible = set()
        for m in mod if isinstance(mod, tuple) else (mod,):
            visible |= closure(modules, m)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for kind, name in INCLUDE.findall(text):
            if kind == '"':
                o = header_owner.get(os.path.basename(name))
                if o is None:
                    errors.append(f"{r}: includes \"{name}\", which is no module's header")
                elif o not in visible:
                    errors.append(f"{r} ({mod}): includes \"{name}\" of {o}, which {mod} "
                                  f"does not link: add {o} to {mod}'s LINKS or move the code")
            else:
                dep = tp_header.get(name)
                if name.startswith("mbedtls/") or name.startswith("psa/"):
                    dep = "dep_mbedtls"
                if dep is not None and mod not in third[dep]["homes"]:
                    errors.append(f"{r} ({mod}): includes <{name}>, but {dep}'s home is "
                                  f"{', '.join(third[dep]['homes'])}")
    for name, m in modules.items():
        for dep in m["third_party"]:
            if name not in third.get(dep, {}).get("homes", []):
                errors.append(f"{name} links {dep} outside its homes")

    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} module boundary violation(s)")
        return 1
    print(f"{len(modules)} modules, {len(owner)} files: boundaries hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
