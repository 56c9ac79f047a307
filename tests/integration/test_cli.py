"""The command line: --version, --check-config, --print-config, and a bad config refused."""
import json
import os
import subprocess
import unittest

import harness
from harness import Workdir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    return subprocess.run(harness.WINDROW_EMULATOR + [harness.WINDROW_BIN] + list(args),
                          capture_output=True, text=True, timeout=60)


class CliTest(unittest.TestCase):
    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^windrow \d+\.\d+\.\d+")

    def test_examples_are_valid(self):
        for name in ("minimal.json", "full.json", "demo.json"):
            r = run("--check-config", os.path.join(ROOT, "config", "examples", name))
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
            self.assertIn("valid", r.stdout)

    def test_bad_config_names_every_field_and_exits_1(self):
        with Workdir() as wd:
            path = os.path.join(wd, "bad.json")
            with open(path, "w") as f:
                json.dump({"agent": {"id": "gw"},
                           "upstream": {"uri": "tcp://127.0.0.1:1"},
                           "streams": [{"name": "a", "match": "x/#/y",
                                        "window": {"size_s": 0}, "colour": "red"}]}, f)
            r = run("--check-config", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("streams[0].match", r.stderr)
            self.assertIn("streams[0].window.size_s", r.stderr)
            self.assertIn("streams[0].colour: unknown key", r.stderr)

    def test_bad_config_refuses_to_run(self):
        with Workdir() as wd:
            path = os.path.join(wd, "bad.json")
            with open(path, "w") as f:
                f.write('{"agent": {"id": "gw"}, "streams": []')  # not even JSON
            r = run("-c", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("invalid config", r.stderr)

    def test_print_config_fills_defaults_and_parses_back(self):
        with Workdir() as wd:
            r = run("--print-config", os.path.join(ROOT, "config", "examples", "minimal.json"))
            self.assertEqual(r.returncode, 0, r.stderr)
            cfg = json.loads(r.stdout)
            self.assertEqual(cfg["streams"][0]["window"]["allowed_lateness_s"], 0)
            self.assertEqual(cfg["upstream"]["batch"]["max_results"], 100)
            again = os.path.join(wd, "again.json")
            with open(again, "w") as f:
                f.write(r.stdout)
            self.assertEqual(run("--check-config", again).returncode, 0)

    def test_unknown_option(self):
        self.assertEqual(run("--frobnicate").returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
