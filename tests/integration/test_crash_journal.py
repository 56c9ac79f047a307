"""Crash safety from RAM-backed storage (issue 10, point 2).

- The SIGKILL loop: windrow is killed again and again under QoS 1 load and
  restarted; the crash journal and window snapshots in its runtime dir (on
  tmpfs) give back every event: 0 lost, no window counted twice (one distinct
  result per window, duplicates only with the same idempotency key), exact
  totals upstream, and the SQLite file passes PRAGMA integrity_check.
  ctest runs a short loop (5 kills at 500 events/s); the full one is
    WINDROW_SIGKILL_KILLS=20 WINDROW_SIGKILL_RATE=2000 python3 test_crash_journal.py
- A stale or corrupt RAM journal or snapshot (other boot id, truncated,
  garbage) is ignored loudly (log line and metric) and SQLite is used.
"""
import os
import random
import signal
import sqlite3
import struct
import subprocess
import time
import unittest
import zlib

import harness
from durability_util import (PersistentCollector, distinct_results, duplicate_count,
                             future_window, one_per_window, restart, results_for, wait_metric)
from harness import Lab, base_config, wait_for

KILLS = int(os.environ.get("WINDROW_SIGKILL_KILLS", "5"))
RATE = int(os.environ.get("WINDROW_SIGKILL_RATE", "500"))
KEYS = 20


def loadgen_path():
    build = os.path.dirname(os.path.dirname(os.path.abspath(harness.WINDROW_BIN)))
    return os.path.join(build, "tests", "bench", "windrow_loadgen")


def runtime_dir(agent):
    return agent.config["storage"]["runtime_dir"]


def integrity_check(agent):
    db = sqlite3.connect(os.path.join(agent.config["agent"]["state_dir"], "windrow.db"))
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


class SigkillLoopTest(unittest.TestCase):
    def test_sigkill_loop_loses_no_event(self):
        loadgen = loadgen_path()
        if not os.path.exists(loadgen):
            self.skipTest("needs the benchmark's load generator (%s)" % loadgen)
        # Enough events to span every kill with about a second of input each.
        events = RATE * (2 * KILLS + 4)
        stream = {"name": "s", "match": "bench/+/v", "key": "{topic[1]}", "time_field": "ts",
                  "time_unit": "ms", "window": {"size_s": 1, "allowed_lateness_s": 5},
                  "max_keys": 1000, "quantiles": [0.5, 0.9]}
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = PersistentCollector(upstream)
            lab._stops.append(collector.close)
            # A long checkpoint interval: what SQLite alone would lose per kill is large.
            cfg = base_config(lab.wd, local.port, upstream.port, [stream],
                              storage={"checkpoint_interval_ms": 10000})
            agent = lab.agent(cfg)
            gen = subprocess.Popen([loadgen, str(local.port), str(events), str(KEYS), str(RATE)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lab._stops.append(lambda: gen.poll() is None and gen.kill())
            replayed = 0
            for k in range(KILLS):
                # Kill at a random point of the snapshot cycle, with events in flight.
                target = int(RATE * random.uniform(0.4, 1.2))
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v >= target, 30,
                            "events flowing into incarnation %d" % k)
                self.assertEqual(agent.stop(sig=signal.SIGKILL), -signal.SIGKILL)
                agent = restart(agent, "windrow-%d" % (k + 1))
                lab._stops.append(lambda a=agent: a.stop(timeout=10))
                log = agent.log_text()
                self.assertRegex(log, r"restored after a crash from RAM: snapshot \d+",
                                 "kill %d: state came from the runtime dir" % (k + 1))
                self.assertNotRegex(log, r"crash state in .* ignored")
                m = wait_metric(agent, "windrow_restore_source", lambda v: True, 10)
                self.assertEqual(m, 1)
                replayed += agent.metrics().get("windrow_journal_replayed_events_total", 0)
            out, _ = gen.communicate(timeout=events / RATE + 120)
            self.assertEqual(gen.returncode, 0, "every event acknowledged by the broker: " + out)

            # tests/bench/loadgen.c: event i carries ((i * 7919) % 800 - 200) / 4.
            expected_sum = sum(((i * 7919) % 800 - 200) / 4.0 for i in range(events))

            def totals():
                distinct = distinct_results(collector.results())
                return sum(r["count"] for r in distinct.values())
            wait_for(lambda: totals() >= events, 60,
                     "all %d events counted upstream (have %d)" % (events, totals()))
            results = collector.results()
            distinct = distinct_results(results)  # one content per idempotency key
            windows = one_per_window(distinct)    # one idempotency key per window
            count = sum(r["count"] for r in distinct.values())
            total = sum(r["sum"] for r in distinct.values())
            m = agent.metrics()
            self.assertEqual(agent.stop(), 0)
            self.assertEqual(integrity_check(agent), "ok")
            print("\n  %d SIGKILLs under %d events/s QoS 1: %d events published, %d counted "
                  "upstream (lost %d), %d windows, %d duplicate deliveries (same id), "
                  "%d events replayed from the journal, integrity_check ok" %
                  (KILLS, RATE, events, count, events - count, len(windows),
                   duplicate_count(results), replayed))
            self.assertEqual(count, events, "no event lost, none counted twice")
            self.assertEqual(total, expected_sum)
            self.assertEqual(m.get("windrow_journal_overruns_total"), 0)
            self.assertEqual(sum(v for k, v in m.items()
                                 if k.startswith("windrow_events_dropped_total")), 0)


# Header layouts (docs/storage.md, "Crash safety"): boot id and header CRC offsets.
JOURNAL_BOOT_AT, JOURNAL_CRC_AT = 40, 80
SNAPSHOT_BOOT_AT, SNAPSHOT_CRC_AT = 56, 120
OTHER_BOOT = b"00000000-1111-2222-3333-444444444444"


def set_boot_id(path, boot_at, crc_at):
    with open(path, "r+b") as f:
        head = bytearray(f.read(crc_at))
        head[boot_at:boot_at + len(OTHER_BOOT)] = OTHER_BOOT
        f.seek(0)
        f.write(head)
        f.write(struct.pack("=I", zlib.crc32(bytes(head))))


def other_boot(d):
    set_boot_id(os.path.join(d, "journal"), JOURNAL_BOOT_AT, JOURNAL_CRC_AT)
    set_boot_id(os.path.join(d, "snapshot"), SNAPSHOT_BOOT_AT, SNAPSHOT_CRC_AT)
    return r"journal written during another boot"


def truncated(d):
    path = os.path.join(d, "journal")
    os.truncate(path, os.path.getsize(path) // 2)
    return r"journal truncated or resized"


def garbage(d):
    path = os.path.join(d, "snapshot")
    size = os.path.getsize(path)
    with open(path, "wb") as f:
        f.write(bytes(random.getrandbits(8) for _ in range(size)))
    return r"snapshot not a windrow snapshot"


class StaleRamStateTest(unittest.TestCase):
    def check_ignored(self, spoil):
        size = 30
        stream = {"name": "s", "match": "dur/+/v", "key": "{topic[1]}", "time_field": "ts",
                  "time_unit": "ms", "window": {"size_s": size, "allowed_lateness_s": 2}}
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            agent = lab.agent(base_config(lab.wd, local.port, upstream.port, [stream]))
            start = future_window(size, size)  # stays open until closed below
            pub = local.client("stale-pub")
            for i in range(20):
                pub.publish("dur/dev/v", '{"value": 1, "ts": %d}' % (start * 1000 + 1000 + i))
            wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 20, 10)
            c0 = agent.metrics().get("windrow_checkpoints_total", 0)
            wait_metric(agent, "windrow_checkpoints_total", lambda v: v > c0, 10,
                        "a checkpoint with all 20 events in SQLite")
            wait_metric(agent, "windrow_snapshots_total", lambda v: v >= 2, 10)
            self.assertEqual(agent.stop(sig=signal.SIGKILL), -signal.SIGKILL)
            why = spoil(runtime_dir(agent))
            agent2 = restart(agent, "windrow2")
            lab._stops.append(lambda: agent2.stop(timeout=10))
            log = agent2.log_text()
            self.assertRegex(log, r"crash state in \S+ ignored: " + why +
                             r"; restoring from the SQLite checkpoint")
            self.assertNotIn("restored after a crash from RAM", log)
            self.assertRegex(log, r"restored 1 open")
            m = wait_metric(agent2, "windrow_crash_state_ignored_total", lambda v: v >= 1, 10)
            self.assertGreaterEqual(m, 1)
            self.assertEqual(agent2.metrics().get("windrow_restore_source"), 0)
            pub.publish("dur/zz/v", '{"value": 0, "ts": %d}' % ((start + size + 3) * 1000))
            pub.close()
            wait_for(lambda: results_for(collector, "s", "dev", start), 20, "the window upstream")
            got = list(distinct_results(results_for(collector, "s", "dev", start)).values())
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0]["count"], 20, "SQLite's checkpoint had every event")
            # The spoiled files were replaced: a crash from now on is covered again.
            wait_metric(agent2, "windrow_snapshots_total", lambda v: v >= 2, 10)
            self.assertEqual(agent2.stop(), 0)

    def test_other_boot_id_is_ignored(self):
        self.check_ignored(other_boot)

    def test_truncated_journal_is_ignored(self):
        self.check_ignored(truncated)

    def test_garbage_snapshot_is_ignored(self):
        self.check_ignored(garbage)


if __name__ == "__main__":
    unittest.main(verbosity=2)
