"""A corrupt state database is moved aside and windrow carries on (issue 3).

Two kinds of damage: a windrow.db that is garbage from its first byte (not
a database at all), and a real windrow database, written by windrow itself,
whose pages after the first are overwritten (the header still says SQLite,
the integrity check finds the damage). In both cases windrow starts, says
so loudly, keeps the damaged file as windrow.db.corrupt-*, counts it in
windrow_store_corruptions_total, and results flow end to end.
"""
import os
import random
import time
import unittest

from durability_util import (PersistentCollector, future_window, restart, results_for,
                             state_files, wait_metric)
from harness import Broker, Windrow, Workdir, base_config, wait_for

STREAMS = [{"name": "s", "match": "dur/+/v", "key": "{topic[1]}",
            "window": {"size_s": 10, "allowed_lateness_s": 1}}]
PAGE = 4096


def flows_end_to_end(case, local, collector, tag):
    """Three events into a past window, one event to close it: the exact result arrives."""
    t0 = (int(time.time()) // 10) * 10 - 60
    pub = local.client("dur-e-pub-" + tag)
    for i in range(3):
        pub.publish("dur/%s/v" % tag, '{"value": %d, "ts": %d}' % (i + 1, t0 + i))
    pub.publish("dur/zz/v", '{"value": 0, "ts": %d}' % (t0 + 30))
    pub.close()
    wait_for(lambda: results_for(collector, "s", tag, t0), 15, "results after the corruption")
    r = results_for(collector, "s", tag, t0)[0]
    case.assertEqual((r["count"], r["sum"], r["min"], r["max"]), (3, 6, 1, 3))


class CorruptDatabaseTest(unittest.TestCase):
    def _check_recovered(self, agent):
        log = agent.log_text()
        self.assertRegex(log, r"windrow\.db is corrupt: moved aside to \S+windrow\.db\.corrupt-"
                              r"\d{8}T\d{6}Z")
        aside = [f for f in state_files(agent) if f.startswith("windrow.db.corrupt-")]
        moved = [f for f in aside if not f.endswith(("-wal", "-shm"))]
        self.assertEqual(len(moved), 1, state_files(agent))
        # Sidecars, if any, go with it; none is left next to the fresh database
        # (a stale WAL would be replayed into it).
        self.assertEqual(sorted(aside), sorted(moved + [moved[0] + x for x in ("-wal", "-shm")
                                                        if moved[0] + x in aside]))
        self.assertIn(moved[0], log, "the log names the file it moved")
        wait_metric(agent, "windrow_store_corruptions_total", lambda v: v == 1, 10,
                    "windrow_store_corruptions_total == 1")
        d = agent.config["agent"]["state_dir"]
        with open(os.path.join(d, moved[0]), "rb") as f:
            return f.read(), moved[0]

    def test_garbage_file_is_moved_aside(self):
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = None
            try:
                collector = PersistentCollector(upstream)
                cfg = base_config(wd, local.port, upstream.port, STREAMS)
                state = cfg["agent"]["state_dir"]
                os.makedirs(state)
                garbage = random.Random(3).randbytes(64 * 1024)
                with open(os.path.join(state, "windrow.db"), "wb") as f:
                    f.write(garbage)
                agent = Windrow(wd, cfg).start()
                kept, _ = self._check_recovered(agent)
                self.assertEqual(kept, garbage, "the damaged file is kept as it was")
                flows_end_to_end(self, local, collector, "g")
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def test_damaged_pages_of_a_real_database(self):
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = agent2 = None
            try:
                collector = PersistentCollector(upstream)
                cfg = base_config(wd, local.port, upstream.port, STREAMS)
                agent = Windrow(wd, cfg).start()
                # Some state worth having: open windows in the future, checkpointed.
                start = future_window(10, 30)
                pub = local.client("dur-e-fill")
                for k in range(50):
                    pub.publish("dur/k%02d/v" % k, '{"value": 1, "ts": %d}' % (start + 1))
                pub.close()
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 50, 10)
                self.assertEqual(agent.stop(), 0)
                path = os.path.join(cfg["agent"]["state_dir"], "windrow.db")
                size = os.path.getsize(path)
                self.assertGreater(size, 2 * PAGE)
                self.assertFalse(os.path.exists(path + "-wal"), "clean stop leaves no WAL")
                # Keep page 1 (header and schema root), overwrite every other page.
                rnd = random.Random(5)
                with open(path, "r+b") as f:
                    f.seek(PAGE)
                    f.write(rnd.randbytes(size - PAGE))
                with open(path, "rb") as f:
                    self.assertEqual(f.read(16), b"SQLite format 3\x00")

                agent2 = restart(agent, "windrow2")
                self._check_recovered(agent2)
                self.assertRegex(agent2.log_text(), r"restored 0 open")
                flows_end_to_end(self, local, collector, "p")
                self.assertEqual(agent2.stop(), 0)
                collector.close()
            finally:
                for a in (agent, agent2):
                    if a:
                        a.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
