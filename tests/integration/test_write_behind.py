"""Write-behind outbox with a healthy uplink (issue 10): no result touches storage.

Steady load for several seconds with the upstream broker up and every
result acknowledged within milliseconds of being sent, the default batch
delay (1 s) and 500 ms checkpoints, so every checkpoint comes due while
results wait to be sent or for their PUBACK: every
window arrives upstream exactly, windrow_outbox_persisted_results_total
stays 0, and the SQLite file shows that its outbox table never had an
insert (AUTOINCREMENT records the highest id ever used in sqlite_sequence,
and deleting rows does not take that back).

The same agent then runs with the upstream broker down, as a control that
the checks can fail: results are written at the next checkpoint, the
metric counts them, and sqlite_sequence has an outbox row.
"""
import os
import sqlite3
import time
import unittest

from durability_util import (PacedPublisher, distinct_results, expected_windows, one_per_window,
                             wait_metric)
from harness import Lab, base_config, wait_for

KEYS = ["k%02d" % i for i in range(20)]
RATE = 200     # events/s over the keys
SECONDS = 8


def outbox_ever_inserted(db_path):
    """(highest outbox id ever used, rows now) from the file of a stopped agent."""
    con = sqlite3.connect(db_path)
    try:
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        rows = con.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        con.close()
    return (row[0] if row else 0), rows


class WriteBehindTest(unittest.TestCase):
    def test_healthy_uplink_writes_no_outbox_row(self):
        streams = [{"name": "s", "match": "wb/+/v", "key": "{topic[1]}", "time_field": "ts",
                    "time_unit": "ms", "window": {"size_s": 1, "allowed_lateness_s": 1},
                    "aggregates": ["count", "sum", "min", "max"]}]
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            # The default batch delay: 20 results a second never fill a batch, so each waits
            # up to 1 s before it is sent, and two checkpoints come due in that second.
            cfg = base_config(lab.wd, local.port, upstream.port, streams,
                              upstream={"batch": {"max_results": 100, "max_delay_ms": 1000}})
            agent = lab.agent(cfg)
            db_path = os.path.join(cfg["agent"]["state_dir"], "windrow.db")
            published = []

            def make(i):
                ts = int(time.time() * 1000)
                key, value = KEYS[i % len(KEYS)], (i * 13) % 97 - 40
                published.append((key, ts, value))
                return "wb/%s/v" % key, '{"value": %d, "ts": %d}' % (value, ts)
            pub = PacedPublisher(local, "wb-pub", make, RATE, count=RATE * SECONDS)
            pub.start()
            # Checkpoints come due while results are in flight, many times over.
            wait_metric(agent, "windrow_checkpoints_total", lambda v: v >= 10, SECONDS + 10,
                        "ten checkpoints under load")
            pub.finish(SECONDS + 20)
            closer = local.client("wb-closer")
            closer.publish("wb/zz/v", '{"value": 0, "ts": %d}' % (int(time.time() * 1000) + 5000))
            closer.close()

            expected = expected_windows(published, 1)

            def all_arrived():
                got = {(r["key"], r["start"]) for r in collector.results() if r["key"] != "zz"}
                return set(expected) <= got
            wait_for(all_arrived, 20, "every window result upstream")
            emitted = wait_metric(agent, "windrow_results_emitted_total",
                                  lambda v: v >= len(expected), 10, "results emitted")
            wait_metric(agent, "windrow_results_acked_total", lambda v: v >= emitted, 10,
                        "every result acknowledged")
            m = agent.metrics()
            self.assertEqual(m.get("windrow_outbox_persisted_results_total"), 0,
                             "a result reached storage with the uplink healthy")
            self.assertGreater(m.get("windrow_storage_written_bytes_total", 0), 0,
                               "checkpoints of open windows are writes the metric shows")
            checkpoints = m["windrow_checkpoints_total"]
            self.assertEqual(agent.stop(), 0)

            windows = one_per_window(distinct_results(
                [r for r in collector.results() if r["key"] != "zz"]))
            got = {(k, s): [r["count"], r["sum"], r["min"], r["max"]]
                   for (_, k, s, size), r in windows.items()}
            self.assertEqual(got, expected, "every window exact, none invented")
            ever, rows = outbox_ever_inserted(db_path)
            self.assertEqual((ever, rows), (0, 0), "the outbox table never had an insert")
            print("\n  healthy uplink: %d events, %d windows exact, %d checkpoints, 0 outbox "
                  "rows written, %d bytes written" % (len(published), len(expected), checkpoints,
                                                      m["windrow_storage_written_bytes_total"]))

            # Control: the same checks see results that do reach storage.
            upstream.stop()
            agent = lab.agent(cfg, name="windrow-control")
            pub2 = local.client("wb-pub2")
            # Past the first part's closer, which set the stream clock 5 s ahead.
            ts = int(time.time() * 1000) + 10000
            for i, key in enumerate(KEYS):
                pub2.publish("wb/%s/v" % key, '{"value": %d, "ts": %d}' % (i, ts), qos=1)
            pub2.publish("wb/zz/v", '{"value": 0, "ts": %d}' % (ts + 5000), qos=1)
            pub2.close()
            persisted = wait_metric(agent, "windrow_outbox_persisted_results_total",
                                    lambda v: v >= len(KEYS), 15,
                                    "results written at a checkpoint with the uplink down")
            self.assertEqual(agent.stop(), 0)
            ever, rows = outbox_ever_inserted(db_path)
            self.assertGreaterEqual(ever, len(KEYS))
            self.assertGreaterEqual(rows, len(KEYS))
            print("  control, uplink down: %d results persisted, outbox ids up to %d" %
                  (persisted, ever))


if __name__ == "__main__":
    unittest.main()
