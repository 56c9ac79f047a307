"""Windrow benchmark: the bare-Paho floor and windrow side by side, plus idle,
footprint, wear, restore, SIGKILL, outage and quantile figures.

    python3 tests/bench/run_bench.py --build build/rel            # full run, ~15 min
    python3 tests/bench/run_bench.py --build build/rel --quick    # ~2 min smoke run
    python3 tests/bench/run_bench.py --only matrix --seconds 5    # one step

Real Mosquitto brokers, the real windrow binary (SQLite state, TLS upstream
with certificates made at run time), a C load generator whose summary lets
every window be checked exactly. Not a test: run by hand on a quiet machine.
docs/benchmark.md says what each figure means and how it is measured.
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

import bench_lab as lab
from bench_lab import (Floor, Load, Sample, Scope, bench_stream, check_config, processed,
                       start_windrow, status_kb, verify, wait_for, wait_settled, windrow_config)

ALL_STEPS = ["matrix", "footprint", "wear", "restore", "sigkill", "outage", "quantiles", "size"]
MIB = 1024.0


def log(*a):
    print(*a)
    sys.stdout.flush()


# ------------------------------------------------------------------ the matrix

def matrix_cases(quick):
    """(qos, rate, keys, records) for windrow; the floor runs each (qos, rate, records) once."""
    if quick:
        return [(0, 20000, 1000, 1), (1, 5000, 1000, 1), (1, 5000, 10000, 1),
                (1, 20000, 1000, 50)]
    cases = []
    for rate in (5000, 20000, 100000, 150000):
        cases.append((0, rate, 1000, 1))
    for rate in (2000, 5000, 20000, 25000, 30000, 40000):
        cases.append((1, rate, 1000, 1))
    for rate in (5000, 20000, 100000):
        cases.append((0, rate, 10000, 1))
    for rate in (2000, 5000, 20000):
        cases.append((1, rate, 10000, 1))
    for rate in (20000, 100000):
        cases.append((1, rate, 1000, 50))
    return cases


def run_floor(ctx, qos, rate, keys, records, trace, seconds):
    with Scope() as sc:
        local = sc.local(ctx.broker)
        floor = Floor(ctx.paths, sc.wd, local.port, qos, trace)
        sc.add(floor.stop)
        s0 = Sample(floor.pid)
        load = Load(ctx.paths, sc.wd, local.port, rate * seconds, keys, rate, qos, records,
                    close=False)
        sc.add(load.stop)
        summary = load.wait(seconds * 10 + 60)
        msgs, t_done = wait_settled(floor.messages, lambda n: n >= summary["sent_messages"], 60,
                                    interval=0.02)
        t_done -= 0.05  # the count file is written every 100 ms: on average 50 ms late
        s1 = Sample(floor.pid)
        hwm = status_kb(floor.pid, "VmHWM")
        events = summary["sent_events"]
        got = min(events, msgs * records)
        return {"subject": "paho-floor" + ("" if trace == "default" else "-" + trace),
                "trace": trace, "qos": qos, "keys": keys, "records": records, "target": rate,
                "offered": events / summary["seconds"],
                "achieved": got / max(t_done - load.t0, summary["seconds"]),
                "sent": events, "loss": events - got, "windows": "", "exact": "",
                "cpu_us_per_event": (s1.cpu_us - s0.cpu_us) / max(got, 1),
                "peak_rss_kb": hwm, "seconds": seconds}


def windrow_run(ctx, sc, qos, rate, keys, records, seconds, quantiles=None, storage=None,
                sketch_upstream=False):
    """One windrow measurement inside scope sc; returns the row and the agent (still running)."""
    local = sc.local(ctx.broker)
    up = lab.tls_upstream(sc.wd, "upstream", ctx.certs)
    sc.add(up.stop)
    coll = sc.collector(up, tls=ctx.certs, client_id="bench-collector")
    cfg = windrow_config(sc.wd, local.port, up.port, ctx.certs,
                         [bench_stream(1, 1, keys, senml=records > 1, quantiles=quantiles,
                                       sketch_upstream=sketch_upstream)],
                         qos=qos, storage=storage, metrics_file=sc.metrics_path())
    ctx.probe.adjust(cfg, sc.ram())
    agent = start_windrow(sc.wd, cfg)
    sc.add(lambda: agent.stop(timeout=20))
    pid = agent.proc.pid
    s0 = Sample(pid)
    load = Load(ctx.paths, sc.wd, local.port, rate * seconds, keys, rate, qos, records)
    sc.add(load.stop)
    summary = load.wait(seconds * 10 + 60)
    events = summary["sent_events"]
    # Everything the subject will account for (the closer included), then every result.
    n, t_done = wait_settled(lambda: processed(agent.metrics()), lambda v: v >= events + 1, 60,
                             interval=0.02)
    t_done -= cfg["metrics"]["interval_ms"] / 2000.0  # the metrics file is that late on average

    def delivered():
        return sum(r["count"] for r in coll.results() if r.get("key") != "closer")
    # Each poll flattens every result so far: not too often, it costs the machine CPU.
    wait_settled(delivered, lambda v: v >= events, 60, quiet_s=4.0, interval=0.3)
    s1 = Sample(pid)
    hwm = status_kb(pid, "VmHWM")
    v = verify(summary, coll.results(), 1)
    m = agent.metrics()
    got = min(n - 1, events)
    row = {"subject": "windrow", "trace": ctx.windrow_trace, "qos": qos, "keys": keys,
           "records": records, "target": rate, "offered": events / summary["seconds"],
           "achieved": got / max(t_done - load.t0, summary["seconds"]),
           "sent": events, "loss": v["lost"], "windows": v["windows"], "exact": v["exact"],
           "cpu_us_per_event": (s1.cpu_us - s0.cpu_us) / max(events, 1),
           "peak_rss_kb": hwm, "seconds": seconds, "verify": v,
           "holds": int(m.get("windrow_backpressure_holds_total", 0)),
           "dropped": lab.dropped_by_reason(m), "not_received": events -
           int(m.get("windrow_events_received_total", 0)) + 1}
    return row, agent


def run_windrow(ctx, qos, rate, keys, records, seconds, quantiles=None, sketch_upstream=False):
    with Scope() as sc:
        row, agent = windrow_run(ctx, sc, qos, rate, keys, records, seconds, quantiles,
                                 sketch_upstream=sketch_upstream)
        agent.stop(timeout=20)
        return row


def rate_label(r):
    return "%dk" % (r // 1000) if r >= 1000 and r % 1000 == 0 else str(r)


def step_matrix(ctx):
    cases = matrix_cases(ctx.quick)
    if ctx.rates:
        cases = [c for c in cases if c[1] in ctx.rates]
    floors = sorted({(q, r, rec) for q, r, k, rec in cases})
    rows = []
    for q, r, rec in floors:
        # The ERROR-level floor for JSON only: for SenML packs Paho's cost per
        # record is small either way.
        for trace in ("default", "error") if rec == 1 or ctx.quick else ("default",):
            rows.append(ctx.attempt("floor %s QoS %d %s ev/s%s" % (
                trace, q, rate_label(r), " SenML" if rec > 1 else ""),
                lambda: run_floor(ctx, q, r, 1000, rec, trace, ctx.seconds)))
    for q, r, k, rec in cases:
        rows.append(ctx.attempt("windrow QoS %d %s ev/s %d keys%s" % (
            q, rate_label(r), k, " SenML" if rec > 1 else ""),
            lambda: run_windrow(ctx, q, r, k, rec, ctx.seconds)))
    rows = [r for r in rows if r]
    add_floor_ratio(rows, ctx.windrow_trace if ctx.windrow_trace in ("default", "error")
                    else "default")
    ctx.matrix = rows
    print_matrix(rows)


def floor_for(rows, row, trace):
    want = "paho-floor" + ("" if trace == "default" else "-" + trace)
    for f in rows:
        if f["subject"] == want and f["qos"] == row["qos"] and f["records"] == row["records"] \
                and f["target"] == row["target"]:
            return f
    return None


def add_floor_ratio(rows, trace):
    for r in rows:
        r["ratio"] = r["minus_floor_us"] = None
        if r["subject"] != "windrow":
            continue
        f = floor_for(rows, r, trace)
        if f and f["cpu_us_per_event"] > 0:
            r["ratio"] = r["cpu_us_per_event"] / f["cpu_us_per_event"]
            r["minus_floor_us"] = r["cpu_us_per_event"] - f["cpu_us_per_event"]


MATRIX_COLS = ["subject", "QoS", "keys", "payload", "offered ev/s", "achieved ev/s",
               "loss (events)", "windows exact", "CPU µs/event", "x floor",
               "- floor µs", "peak RSS MiB"]


def matrix_cells(r):
    def f(x, fmt):
        return "" if x is None or x == "" else fmt % x
    return [r["subject"], str(r["qos"]), str(r["keys"]),
            "SenML x%d" % r["records"] if r["records"] > 1 else "JSON",
            "%.0f" % r["offered"], "%.0f" % r["achieved"], "%d" % r["loss"],
            "" if r["windows"] == "" else "%d/%d" % (r["exact"], r["windows"]),
            "%.2f" % r["cpu_us_per_event"], f(r.get("ratio"), "%.2f"),
            f(r.get("minus_floor_us"), "%+.2f"), "%.1f" % (r["peak_rss_kb"] / MIB)]


def print_table(cols, rows):
    widths = [max(len(c), *(len(x[i]) for x in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    log("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for x in rows:
        log("  ".join(v.rjust(w) for v, w in zip(x, widths)))


def print_markdown(cols, rows):
    log("| " + " | ".join(cols) + " |")
    log("|" + "|".join(" --- " for _ in cols) + "|")
    for x in rows:
        log("| " + " | ".join(x) + " |")


def print_matrix(rows):
    order = sorted(rows, key=lambda r: (r["records"], r["qos"], r["keys"], r["target"],
                                        r["subject"] != "windrow", r["subject"]))
    cells = [matrix_cells(r) for r in order]
    log("")
    log("side by side (%s; CPU = utime+stime of the subject over the run / events sent):" %
        ("1 s windows, SQLite state, TLS upstream"))
    print_table(MATRIX_COLS, cells)
    for r in order:
        if r["subject"] == "windrow" and (r["loss"] or r.get("dropped") or
                                          r["verify"]["wrong"] or r["verify"]["extra"]):
            log("  windrow QoS %d %.0f ev/s %d keys: lost %d (not received from the broker %d, "
                "dropped by windrow %s), windows wrong %d, missing %d, extra events %d, "
                "backpressure holds %d" % (
                    r["qos"], r["offered"], r["keys"], r["loss"], r["not_received"],
                    r["dropped"] or "none", r["verify"]["wrong"], r["verify"]["missing"],
                    r["verify"]["extra"], r["holds"]))
    for subject in sorted({r["subject"] for r in rows}):
        for q in (0, 1):
            ok = [r["offered"] for r in rows if r["subject"] == subject and r["qos"] == q and
                  r["records"] == 1 and r["keys"] == 1000 and r["loss"] == 0]
            bad = [r["offered"] for r in rows if r["subject"] == subject and r["qos"] == q and
                   r["records"] == 1 and r["keys"] == 1000 and r["loss"] > 0]
            if ok or bad:
                log("  %s QoS %d: %s%s" % (
                    subject, q, "lossless up to %.0f ev/s offered" % max(ok) if ok
                    else "lossless at no rate tried",
                    "; first loss at %.0f" % min(bad) if bad else ""))
    log("")
    log("Markdown:")
    print_markdown(MATRIX_COLS, cells)


# ------------------------------------------------------------------ footprint and idle

def profile_config(ctx, sc, local, up, profile="x86_64-gateway"):
    with open(os.path.join(lab.ROOT, "firmware-targets", profile, "windrow.json")) as f:
        cfg = json.load(f)
    cfg["agent"]["state_dir"] = os.path.join(sc.wd, "state")
    cfg["source"]["uri"] = "tcp://127.0.0.1:%d" % local.port
    cfg["upstream"]["uri"] = "mqtts://127.0.0.1:%d" % up.port
    cfg["upstream"]["tls"] = {"ca_file": ctx.certs["ca"], "cert_file": ctx.certs["cert"],
                              "key_file": ctx.certs["key"], "server_name": "localhost"}
    cfg.setdefault("metrics", {})["file"] = sc.metrics_path()
    return ctx.probe.adjust(cfg, sc.ram())


def step_footprint(ctx):
    """Idle CPU, wake-ups and RSS with the x86_64-gateway profile; RSS under load; 2k QoS 1."""
    idle_s = 3 if ctx.quick else 30
    load_s = 2 if ctx.quick else 10
    with Scope() as sc:
        local = sc.local(ctx.broker)
        up = lab.tls_upstream(sc.wd, "upstream", ctx.certs)
        sc.add(up.stop)
        cfg = profile_config(ctx, sc, local, up)
        cfg["streams"][0]["max_keys"] = 10016
        agent = sc.agent(cfg, wait_subscribed=False)
        agent.wait_log(r"subscribed to", 20)
        time.sleep(2)  # idle means idle for a while: the start-up work is over
        pid = agent.proc.pid
        s0 = Sample(pid)
        time.sleep(idle_s)  # the idle measurement itself
        s1 = Sample(pid)
        dt = s1.t - s0.t
        r = {"idle_s": dt, "idle_cpu_pct": (s1.cpu_us - s0.cpu_us) / dt / 1e4,
             "idle_cpu_pct_schedstat": (s1.run_ns - s0.run_ns) / dt / 1e7,
             "idle_wakeups_per_s": (s1.wakeups - s0.wakeups) / dt,
             "idle_rss_kb": status_kb(pid, "VmRSS"), "idle_hwm_kb": status_kb(pid, "VmHWM")}
        log("idle (%s default config, %.0f s, no traffic): CPU %.3f %% of a core (utime+stime; "
            "%.4f %% from the threads' schedstat run time), %.1f wake-ups/s (context switches "
            "over all threads), RSS %.2f MiB (peak so far %.2f MiB)" % (
                "x86_64-gateway", dt, r["idle_cpu_pct"], r["idle_cpu_pct_schedstat"],
                r["idle_wakeups_per_s"],
                r["idle_rss_kb"] / MIB, r["idle_hwm_kb"] / MIB))
        for keys, rate in ((1000, 2000), (10000, 5000)):
            load = Load(ctx.paths, sc.wd, local.port, rate * load_s, keys, rate, 1, prefix="sensors",
                        suffix="temperature", field="value", close=False, name="load%d" % keys)
            sc.add(load.stop)
            load.wait(load_s * 10 + 60)
            wait_for(lambda: agent.metrics().get("windrow_keys", 0) >= keys, 30,
                     "%d keys open" % keys)
            r["rss_%d_kb" % keys] = status_kb(pid, "VmRSS")
            r["hwm_%d_kb" % keys] = status_kb(pid, "VmHWM")
            log("under load (%d keys, %d ev/s QoS 1, profile config with max_keys 10016): "
                "RSS %.2f MiB, peak %.2f MiB" % (keys, rate, r["rss_%d_kb" % keys] / MIB,
                                                 r["hwm_%d_kb" % keys] / MIB))
    ctx.results["footprint"] = r
    q1 = [x for x in ctx.matrix if x["subject"] == "windrow" and x["qos"] == 1 and
          x["records"] == 1 and x["keys"] == 1000 and abs(x["offered"] - 2000) < 200]
    if q1:
        log("at 2,000 ev/s QoS 1 (matrix row): windrow %.2f µs/event" % q1[0]["cpu_us_per_event"])


# ------------------------------------------------------------------ wear

def wear_case(ctx, keys, rate, size_s, storage, measure_s, settle_s=4):
    with Scope() as sc:
        local = sc.local(ctx.broker)
        up = lab.tls_upstream(sc.wd, "upstream", ctx.certs)
        sc.add(up.stop)
        sc.collector(up, tls=ctx.certs, client_id="bench-collector")
        cfg = windrow_config(sc.wd, local.port, up.port, ctx.certs,
                             [bench_stream(size_s, 1, keys)], qos=1, storage=storage,
                             metrics_file=sc.metrics_path())
        ctx.probe.adjust(cfg, sc.ram())
        agent = start_windrow(sc.wd, cfg)
        sc.add(lambda: agent.stop(timeout=20))
        pid = agent.proc.pid
        load = Load(ctx.paths, sc.wd, local.port, rate * (settle_s + measure_s + 3), keys, rate, 1)
        sc.add(load.stop)
        wait_for(lambda: agent.metrics().get("windrow_keys", 0) >= keys, 30, "all keys open")
        time.sleep(settle_s)  # steady state: this is where the measurement window starts
        m0, s0 = agent.metrics(), Sample(pid)
        time.sleep(measure_s)  # the measurement window itself
        m1, s1 = agent.metrics(), Sample(pid)
        load.wait(settle_s + measure_s + 60)
        dt = s1.t - s0.t
        ckpts = m1.get("windrow_checkpoints_total", 0) - m0.get("windrow_checkpoints_total", 0)
        metric = "windrow_storage_written_bytes_total"
        store_bytes = m1[metric] - m0[metric] if metric in m1 and metric in m0 else None
        wb = s1.write_bytes - s0.write_bytes
        # Whatever byte counters this build has (written, logical checkpoint bytes ...).
        counters = {k: m1[k] - m0[k] for k in m1 if k.endswith("bytes_total") and k in m0}
        # A checkpoint's write amplification: physical bytes around each checkpoint over the
        # logical bytes of the state it wrote (builds that count both).
        phys = counters.get("windrow_checkpoint_written_bytes_total")
        logical = counters.get("windrow_checkpoint_logical_bytes_total")
        persisted = (m1.get("windrow_outbox_persisted_results_total", 0) -
                     m0.get("windrow_outbox_persisted_results_total", 0))
        return {"keys": keys, "rate": rate, "size_s": size_s, "storage": storage,
                "byte_counters": counters, "persisted_results": persisted,
                "checkpoint_ratio": phys / logical if phys is not None and logical else None,
                "seconds": dt, "write_bytes": wb, "mb_per_min": wb * 60 / dt / 1e6,
                "checkpoints": ckpts, "store_bytes": store_bytes,
                "per_checkpoint": (store_bytes if store_bytes is not None else wb) / ckpts
                if ckpts else None,
                "per_checkpoint_source": metric if store_bytes is not None else "/proc/pid/io"}


def step_wear(ctx):
    # A window shorter than the checkpoint interval could hold no checkpoint at all.
    default_ms = ctx.probe.printed.get("storage", {}).get("checkpoint_interval_ms", 5000)
    measure = 3 if ctx.quick else max(ctx.wear_seconds, -(-default_ms // 1000))
    settle = 2 if ctx.quick else 4
    log("wear: default checkpoint_interval_ms %d, measurement window %d s" % (default_ms, measure))
    out = []
    for keys, rate, size_s, storage, label in (
            (1000, 2000, 1, {}, "default config"),
            (1000, 1000, 60, {}, "default config"),
            (1000, 2000, 1, {"checkpoint_interval_ms": 1000}, "checkpoint_interval_ms 1000")):
        r = ctx.attempt("wear %d keys %d ev/s %d s windows, %s" % (keys, rate, size_s, label),
                        lambda: wear_case(ctx, keys, rate, size_s, storage, measure, settle))
        if not r:
            continue
        r["label"] = label
        out.append(r)
        pc = ("%.0f bytes per checkpoint (%s, %d checkpoints)" % (
            r["per_checkpoint"], r["per_checkpoint_source"], r["checkpoints"])
            if r["per_checkpoint"] is not None else "no checkpoint in the window")
        if r["checkpoints"] and r["byte_counters"]:
            pc += "; per checkpoint by metric: " + ", ".join(
                "%s %.0f" % (k, v / r["checkpoints"]) for k, v in sorted(r["byte_counters"].items()))
        if r["checkpoint_ratio"] is not None:
            pc += "; checkpoint physical/logical %.2f" % r["checkpoint_ratio"]
        pc += "; outbox results persisted %d" % r["persisted_results"]
        log("wear %d keys, %d ev/s QoS 1, %d s windows, %s: %.3f MB/min written "
            "(/proc/pid/io write_bytes over %.0f s; %.0f MB/day, %.2f GB/day); %s" % (
                keys, rate, size_s, label, r["mb_per_min"], r["seconds"],
                r["mb_per_min"] * 1440, r["mb_per_min"] * 1440 / 1000, pc))
    ctx.results["wear"] = out


# ------------------------------------------------------------------ restore, SIGKILL, outage

def step_restore(ctx):
    keys = 2000 if ctx.quick else 10000
    with Scope() as sc:
        local = sc.local("deep")
        up = lab.tls_upstream(sc.wd, "upstream", ctx.certs)
        sc.add(up.stop)
        cfg = windrow_config(sc.wd, local.port, up.port, ctx.certs,
                             [bench_stream(3600, 10, keys)], qos=1,
                             metrics_file=sc.metrics_path(), log_level="info")
        ctx.probe.adjust(cfg, sc.ram())
        agent = start_windrow(sc.wd, cfg)
        load = Load(ctx.paths, sc.wd, local.port, keys, keys, 5000, 1, close=False)
        sc.add(load.stop)
        load.wait(60)
        wait_for(lambda: agent.metrics().get("windrow_windows_open", 0) >= keys, 30,
                 "%d open windows" % keys)
        rc = agent.stop(timeout=30)
        agent2 = start_windrow(sc.wd, cfg, name="windrow2")
        sc.add(lambda: agent2.stop(timeout=20))
        agent2.wait_log(r"restored \d+ open", 30)
        line = [x for x in agent2.log_text().splitlines() if "restored" in x][-1]
        ms = wait_for(lambda: agent2.metrics().get("windrow_restore_time_ms") is not None and
                      (agent2.metrics()["windrow_restore_time_ms"],), 10, "restore metric")[0]
        log("restore: %d open windows (1 h windows, SIGTERM exit %s), windrow_restore_time_ms %d;"
            " log: %s" % (keys, rc, ms, line.strip()))
        ctx.results["restore"] = {"windows": keys, "restore_ms": ms}


def restore_ms_logged(agent):
    """The restore time from windrow's start-up log line, or None without one."""
    try:
        agent.wait_log(r"restored .* in \d+ ms", 10)
    except AssertionError:
        return None
    m = re.findall(r"restored .* in (\d+) ms", agent.log_text())
    return int(m[-1]) if m else None


def step_sigkill(ctx):
    kills = ctx.kills
    rate, keys, size_s, late_s = 2000, 1000, 10, 2
    with Scope() as sc:
        local = sc.local("deep")
        up = lab.tls_upstream(sc.wd, "upstream", ctx.certs)
        sc.add(up.stop)
        coll = sc.collector(up, tls=ctx.certs, client_id="bench-collector")
        cfg = windrow_config(sc.wd, local.port, up.port, ctx.certs,
                             [bench_stream(size_s, late_s, keys)], qos=1,
                             metrics_file=sc.metrics_path(), log_level="info")
        ctx.probe.adjust(cfg, sc.ram())
        agent = start_windrow(sc.wd, cfg)
        agents = [agent]
        sc.add(lambda: agents[-1].stop(timeout=20))
        duration = 2.5 * kills + 4
        # The closer event is stamped past the last window's end and lateness.
        load = Load(ctx.paths, sc.wd, local.port, rate * duration, keys, rate, 1,
                    close_ms=(size_s + late_s + 1) * 1000)
        sc.add(load.stop)
        restore_ms = []
        for i in range(kills):
            time.sleep(random.uniform(1.5, 2.5))  # a random phase of the checkpoint cycle
            if not load.running():
                break
            agents[-1].stop(sig=signal.SIGKILL)
            agents.append(start_windrow(sc.wd, cfg, name="windrow-%d" % (i + 1)))
            restore_ms.append(restore_ms_logged(agents[-1]))
        summary = load.wait(duration + 60)
        events = summary["sent_events"]
        wait_settled(lambda: verify(summary, coll.results(), size_s)["delivered"],
                     lambda v: v >= events, 90, quiet_s=8.0, interval=0.5)
        v = verify(summary, coll.results(), size_s)
        rc = agents[-1].stop(timeout=30)
        db = os.path.join(cfg["agent"]["state_dir"], "windrow.db")
        integrity = "no database"
        if os.path.exists(db):
            con = sqlite3.connect(db)
            integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
            con.close()
        done = len(agents) - 1
        log("SIGKILL: %d kills under %d ev/s QoS 1 (%d keys, %d s windows): sent %d, delivered %d,"
            " lost %d (%.1f per kill), counted twice %d, windows exact %d/%d (wrong %d, missing "
            "%d), duplicate deliveries %d, ids with two contents %d, integrity_check %s, "
            "last exit %s; restore times after the kills (ms, from the log) %s" % (
                done, rate, keys, size_s, events, v["delivered"], v["lost"],
                v["lost"] / max(done, 1), v["extra"], v["exact"], v["windows"], v["wrong"],
                v["missing"], v["duplicates"], v["conflicts"], integrity, rc, restore_ms))
        ctx.results["sigkill"] = {"kills": done, "verify": v, "integrity": integrity}


def step_outage(ctx):
    """Uplink down while events flow; bytes written during the outage; drain; exact windows."""
    outage_s = 3 if ctx.quick else ctx.outage_seconds
    rate, keys = 1000, 1000
    with Scope() as sc:
        local = sc.local("deep")
        up = lab.tls_upstream(sc.wd, "upstream", ctx.certs, start=False)
        sc.add(up.stop)
        cfg = windrow_config(sc.wd, local.port, up.port, ctx.certs,
                             [bench_stream(1, 1, keys)], qos=1, metrics_file=sc.metrics_path())
        ctx.probe.adjust(cfg, sc.ram())
        agent = start_windrow(sc.wd, cfg)
        sc.add(lambda: agent.stop(timeout=20))
        pid = agent.proc.pid
        s0 = Sample(pid)
        load = Load(ctx.paths, sc.wd, local.port, rate * outage_s, keys, rate, 1)
        sc.add(load.stop)
        summary = load.wait(outage_s * 10 + 60)
        events = summary["sent_events"]
        wait_for(lambda: agent.metrics().get("windrow_events_aggregated_total", 0) >= events,
                 60, "events folded")
        wait_for(lambda: agent.metrics().get("windrow_windows_open", 1) <= 1, 30,
                 "windows closed into the outbox")
        s1 = Sample(pid)
        backlog = int(agent.metrics().get("windrow_outbox_rows", 0))
        up.start()
        coll = sc.collector(up, tls=ctx.certs, client_id="bench-collector")
        t0 = time.monotonic()
        wait_settled(lambda: verify(summary, coll.results(), 1)["delivered"],
                     lambda v: v >= events, 120, quiet_s=10.0, interval=0.2)
        took = time.monotonic() - t0
        v = verify(summary, coll.results(), 1)
        wb = s1.write_bytes - s0.write_bytes
        dt = s1.t - s0.t
        log("outage: uplink down %.0f s at %d ev/s QoS 1 (%d keys, 1 s windows): %d bytes written "
            "during it (%.3f MB/min, %.0f MB per day of outage), backlog %d results drained in "
            "%.1f s; windows exact %d/%d, lost %d, counted twice %d, duplicate deliveries %d" % (
                dt, rate, keys, wb, wb * 60 / dt / 1e6, wb * 86400 / dt / 1e6, backlog, took,
                v["exact"], v["windows"], v["lost"], v["extra"], v["duplicates"]))
        ctx.results["outage"] = {"seconds": dt, "write_bytes": wb, "backlog": backlog,
                                 "drain_s": took, "verify": v}


# ------------------------------------------------------------------ quantiles, size

QUANTILES = [0.5, 0.9, 0.99]
# (label, quantiles, sketch.upstream): the same load with the sketch off, with quantile values
# upstream, and with the sketch itself upstream too.
QUANTILE_MODES = [("off", None, False), ("on", QUANTILES, False), ("on+sketch", QUANTILES, True)]


def quantile_cases(ctx):
    return [(1, 5000)] if ctx.quick else [(0, 20000), (1, 5000)]


def quantile_order(ctx):
    """Modes in the order they run: ABC CBA ... so drift over the run cancels out in the means."""
    order = []
    for rep in range(ctx.quantile_reps):
        order += QUANTILE_MODES if rep % 2 == 0 else list(reversed(QUANTILE_MODES))
    return order


def step_quantiles(ctx):
    """CPU per event with quantiles off and on, the same load in the same run, interleaved."""
    modes = QUANTILE_MODES
    with Scope() as sc:
        cfg = windrow_config(sc.wd, 1883, 1884, ctx.certs,
                             [bench_stream(1, 1, 1000, quantiles=QUANTILES, sketch_upstream=True)])
        ok, msg = check_config(ctx.paths, sc.wd, cfg)
        if not ok:
            cfg = windrow_config(sc.wd, 1883, 1884, ctx.certs,
                                 [bench_stream(1, 1, 1000, quantiles=QUANTILES)])
            ok, msg2 = check_config(ctx.paths, sc.wd, cfg)
            if not ok:
                log("quantiles: skipped, this build does not take \"quantiles\" in a stream (%s)" %
                    " ".join(msg2.split()) if msg2 else "no message")
                return
            log("quantiles: this build refuses sketch.upstream (%s); measuring without it" %
                " ".join(msg.split()) if msg else "no message")
            modes = [m for m in QUANTILE_MODES if not m[2]]
    rows = []
    for qos, rate in quantile_cases(ctx):
        for label, quant, sketch in (m for m in quantile_order(ctx) if m in modes):
            r = ctx.attempt("quantiles %s QoS %d %s ev/s" % (label, qos, rate_label(rate)),
                            lambda: run_windrow(ctx, qos, rate, 1000, 1, ctx.seconds, quant,
                                                sketch_upstream=sketch))
            if r:
                r["quantiles"] = bool(quant)
                r["mode"] = label
                rows.append(r)
    summary = []
    for qos, rate in quantile_cases(ctx):
        by_mode = {}
        for label, _, _ in modes:
            runs = [r for r in rows if r["qos"] == qos and r["mode"] == label]
            if runs:
                by_mode[label] = runs
        if "off" not in by_mode:
            continue
        off = sum(r["cpu_us_per_event"] for r in by_mode["off"]) / len(by_mode["off"])
        parts = []
        for label, runs in by_mode.items():
            cpu = [r["cpu_us_per_event"] for r in runs]
            mean = sum(cpu) / len(cpu)
            exact = sum(r["exact"] for r in runs)
            windows = sum(r["windows"] for r in runs)
            summary.append({"qos": qos, "target": rate, "mode": label, "runs": len(runs),
                            "cpu_us_per_event": mean, "min": min(cpu), "max": max(cpu),
                            "delta_us": mean - off, "exact": exact, "windows": windows})
            parts.append("%s %.2f µs/event (%s%d run%s, %.2f..%.2f), windows exact %d/%d" % (
                label, mean, "" if label == "off" else "%+.2f vs off, " % (mean - off),
                len(runs), "" if len(runs) == 1 else "s", min(cpu), max(cpu), exact, windows))
        log("quantiles %s at QoS %d %s ev/s, 1,000 keys, 1 s windows: %s" % (
            QUANTILES, qos, rate_label(rate), "; ".join(parts)))
    ctx.results["quantiles"] = {"rows": rows, "summary": summary}


def step_size(ctx):
    fd, tmp = tempfile.mkstemp()
    os.close(fd)
    try:
        shutil.copy(ctx.paths.windrow, tmp)
        subprocess.run(["strip", tmp], check=True)
        size = os.path.getsize(tmp)
    finally:
        os.unlink(tmp)
    log("stripped binary: %d bytes (%.1f KiB), %s" % (size, size / 1024.0, ctx.paths.windrow))
    ctx.results["size"] = size


# ------------------------------------------------------------------ output

CSV_FIELDS = ["subject", "trace", "qos", "keys", "records", "offered", "achieved", "sent", "loss",
              "windows", "exact", "cpu_us_per_event", "ratio", "minus_floor_us", "peak_rss_kb",
              "seconds", "target"]


def write_csv(path, rows):
    order = sorted(rows, key=lambda r: (r["subject"], r["qos"], r["keys"], r["records"],
                                        r["target"]))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in order:
            w.writerow({k: (("%.0f" if k in ("offered", "achieved") else "%.3f") % r[k]
                            if isinstance(r.get(k), float) else r.get(k)) for k in CSV_FIELDS})
    log("CSV: %s" % path)


def draw_chart(csv_path, png_path, subtitle):
    gp = shutil.which("gnuplot")
    if gp is None:
        log("chart: skipped, gnuplot is not installed (apt-get install gnuplot-nox)")
        return
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_cpu.gp")
    p = subprocess.run([gp, "-e", "csv='%s'; png='%s'; sub='%s'" % (
        csv_path, png_path, subtitle.replace("'", "")), script],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        log("chart: gnuplot failed: %s" % p.stderr.strip()[-500:])
    else:
        log("chart: %s" % png_path)


# ------------------------------------------------------------------ main

def estimate_s(ctx, steps):
    """Rough wall time of a run (per-run overheads measured on a 2-core machine)."""
    t = 0.0
    if "matrix" in steps:
        cases = [c for c in matrix_cases(ctx.quick) if not ctx.rates or c[1] in ctx.rates]
        floors = {(q, r, rec) for q, r, k, rec in cases}
        n_floor = sum(2 if rec == 1 or ctx.quick else 1 for _, _, rec in floors)
        t += n_floor * (ctx.seconds + 1.5) + len(cases) * (ctx.seconds + 4)
    fixed = {"footprint": 20 if ctx.quick else 60,
             "wear": 27 if ctx.quick else 3 * (ctx.wear_seconds + 12),
             "restore": 2 if ctx.quick else 15, "sigkill": 6 + 2.5 * ctx.kills + 8,
             "outage": 8 if ctx.quick else ctx.outage_seconds + 25,
             "quantiles": len(quantile_cases(ctx)) * len(quantile_order(ctx)) * (ctx.seconds + 4),
             "size": 0}
    return t + sum(fixed.get(s, 0) for s in steps)


class Context:
    def __init__(self, args):
        self.paths = lab.Paths(os.path.abspath(args.build))
        self.quick = args.quick
        self.seconds = args.seconds or (2 if args.quick else 10)
        self.wear_seconds = args.wear_seconds
        self.outage_seconds = args.outage_seconds
        self.kills = args.kills or (2 if args.quick else 10)
        self.quantile_reps = args.quantile_reps or (1 if args.quick else 2)
        self.broker = args.broker
        self.matrix = []
        self.results = {}
        self.failures = []
        self.certs = None
        self.windrow_trace = "default"
        self.probe = None
        self.rates = {int(x) for x in args.rates.split(",")} if args.rates else None

    def attempt(self, what, fn):
        """Run one measurement; on failure say why and go on."""
        t0 = time.monotonic()
        try:
            r = fn()
            log("  %-45s done in %4.1f s" % (what, time.monotonic() - t0))
            return r
        except Exception as e:  # a failed step is reported, the run goes on
            self.failures.append((what, repr(e)))
            log("  %-45s FAILED: %s" % (what, str(e).strip().splitlines()[0][:300]
                                         if str(e).strip() else repr(e)))
            if os.environ.get("BENCH_TRACE"):
                traceback.print_exc()
            return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build_dir", nargs="?", help="same as --build")
    ap.add_argument("--build", default=os.path.join(lab.ROOT, "build", "rel"),
                    help="build directory with agent/windrow and tests/bench (default build/rel)")
    ap.add_argument("--quick", action="store_true", help="short steps, fewer rates (~2 min)")
    ap.add_argument("--seconds", type=int, help="seconds per matrix step (default 10, quick 2)")
    ap.add_argument("--wear-seconds", type=int, default=30,
                    help="measurement window of each wear case (default 30)")
    ap.add_argument("--outage-seconds", type=int, default=30, help="uplink outage (default 30)")
    ap.add_argument("--kills", type=int, help="SIGKILLs in the sigkill step (default 10, quick 2)")
    ap.add_argument("--quantile-reps", type=int,
                    help="rounds of the quantiles step, each mode once per round in alternating "
                         "order (default 2, quick 1)")
    ap.add_argument("--rates", help="comma-separated offered rates: only the matrix cases at "
                    "these rates (e.g. 150000,40000)")
    ap.add_argument("--only", help="comma-separated steps: " + ",".join(ALL_STEPS))
    ap.add_argument("--broker", default="stock", choices=["stock", "dropin", "deep"],
                    help="local broker settings for the matrix, footprint and wear steps")
    ap.add_argument("--dropin", help="Mosquitto drop-in for --broker dropin (default: the one "
                    "under firmware-targets/ that sets max_queued_messages)")
    ap.add_argument("--out", help="where the CSV goes (default BUILD/bench)")
    ap.add_argument("--chart", help="PNG to draw (default docs/bench-cpu.png in full runs, "
                    "OUT/bench-cpu.png in quick or partial runs)")
    args = ap.parse_args()
    if args.build_dir:
        args.build = args.build_dir
    ctx = Context(args)
    missing = ctx.paths.missing()
    if missing:
        sys.exit("not built: %s (cmake --build %s)" % (", ".join(missing), args.build))
    lab.harness.WINDROW_BIN = ctx.paths.windrow
    lab.DROPIN = args.dropin
    if args.broker == "dropin":
        if lab.dropin_file() is None:
            sys.exit("--broker dropin: no drop-in found under firmware-targets/ (give --dropin FILE)")
        log("local broker drop-in: %s" % lab.dropin_file())
    steps = args.only.split(",") if args.only else ALL_STEPS
    unknown = [s for s in steps if s not in ALL_STEPS]
    if unknown:
        sys.exit("unknown steps: %s" % ", ".join(unknown))
    out = args.out or os.path.join(ctx.paths.build, "bench")
    os.makedirs(out, exist_ok=True)
    t_start = time.monotonic()
    ctx.load_at_start = os.getloadavg()[0]
    log("windrow benchmark: %s, %d cores, load average %s, %s mode, %d s per matrix step, "
        "local broker %s (%s)" % (os.uname().machine, os.cpu_count(),
                                  " ".join("%.2f" % x for x in os.getloadavg()),
                                  "quick" if ctx.quick else "full", ctx.seconds, ctx.broker,
                                  subprocess.run([lab.harness.MOSQUITTO, "-h"],
                                                 capture_output=True, text=True
                                                 ).stdout.splitlines()[0]))
    log("expected duration: about %.1f min" % (estimate_s(ctx, steps) / 60.0))
    certs_dir = tempfile.mkdtemp(prefix="windrow-bench-pki-")
    try:
        ctx.certs = lab.make_certs(certs_dir)
        ctx.probe = lab.Probe(ctx.paths, certs_dir)
        ctx.windrow_trace = ctx.probe.trace
        log("windrow: Paho trace level %s%s; RAM-backed dirs per run: %s" % (
            ctx.probe.trace, " (%s.%s)" % ctx.probe.trace_field if ctx.probe.trace_field
            else " (no setting in this build)",
            ", ".join("%s.%s" % d for d in ctx.probe.ram_dirs) or "none in this build"))
        if ctx.windrow_trace not in ("default", "error"):
            log("  the floor runs at default and error only: ratios use the default floor")
        for step in steps:
            log("== %s" % step)
            ctx.attempt("step " + step, lambda: globals()["step_" + step](ctx))
    finally:
        shutil.rmtree(certs_dir, ignore_errors=True)
    if ctx.matrix:
        csv_path = os.path.join(out, "bench.csv")
        write_csv(csv_path, ctx.matrix)
        full = not ctx.quick and not args.only
        png = args.chart or (os.path.join(lab.ROOT, "docs", "bench-cpu.png") if full
                             else os.path.join(out, "bench-cpu.png"))
        draw_chart(csv_path, png, "%s run, %s, %d s per step, %d cores, load average %.2f at start" % (
            "quick (smoke, not figures)" if ctx.quick else "full", time.strftime("%Y-%m-%d"),
            ctx.seconds, os.cpu_count(), ctx.load_at_start))
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({"matrix": ctx.matrix, "results": ctx.results, "failures": ctx.failures}, f,
                  indent=1, default=str)
    log("== done in %.0f s; %d measurement(s) failed%s" % (
        time.monotonic() - t_start, len(ctx.failures),
        "".join("\n  %s: %s" % f for f in ctx.failures)))
    return 1 if ctx.failures else 0


if __name__ == "__main__":
    sys.exit(main())
