"""End to end: local broker -> windrow -> upstream broker, with exact results.

A known event set goes in (in order, out of order within lateness, too late,
malformed, oversize, from the future, on a topic nobody subscribes to, over
four streams and three payload forms) and the test asserts the exact window
results upstream and the drop counters.
"""
import math
import sys
import time
import unittest

import harness
from harness import Lab, base_config, wait_for

STREAMS = [
    {"name": "temp", "match": "sensors/+/temp", "key": "{topic[1]}",
     "window": {"size_s": 10, "allowed_lateness_s": 5}},
    {"name": "power", "match": "meters/#", "key": "{topic}", "format": "json",
     "value_field": "watts", "time_field": "t", "time_unit": "ms",
     "window": {"size_s": 10, "allowed_lateness_s": 5},
     "aggregates": ["count", "sum", "min", "max", "mean"]},
    {"name": "senml", "match": "senml/+", "key": "{name}", "format": "senml",
     "window": {"size_s": 10, "allowed_lateness_s": 5}},
    {"name": "bare", "match": "raw/+", "key": "{topic[1]}", "format": "number",
     "window": {"size_s": 1, "allowed_lateness_s": 0}},
]


def by_window(results):
    """{(stream, key, start): result}, duplicates (same id) collapsed."""
    out = {}
    for r in results:
        k = (r["stream"], r["key"], r["start"])
        if k in out:
            assert out[k]["id"] == r["id"] or out[k]["rev"] != r["rev"], "two different results for %r" % (k,)
        if k not in out or r["rev"] >= out[k]["rev"]:
            out[k] = r
    return out


class PipelineTest(unittest.TestCase):
    def test_known_event_set_gives_exact_results(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS,
                              source={"max_payload_bytes": 1024})
            agent = lab.agent(cfg)
            self._publish_and_check(local, collector, agent)
            self.assertEqual(agent.stop(), 0, "SIGTERM must exit 0")
            self.assertIn("stopped cleanly", agent.log_text())

    def _publish_and_check(self, local, collector, agent):
        pub = local.client("test-publisher")
        t0 = (int(time.time()) // 10) * 10 - 60
        temp = lambda dev, t, v: pub.publish("sensors/%s/temp" % dev, '{"value": %s, "ts": %d}' % (v, t))

        # temp: dev1 and dev2 in window t0, dev1 in t0+10, out of order within lateness.
        temp("dev1", t0 + 1, 10)
        temp("dev1", t0 + 2, 20)
        temp("dev2", t0 + 3, -5)
        temp("dev1", t0 + 12, 30)
        temp("dev1", t0 + 4, 40)        # out of order, window t0 still open
        # power: milliseconds, custom field names
        pub.publish("meters/a/1", '{"watts": 100, "t": %d}' % ((t0 + 1) * 1000 + 500))
        pub.publish("meters/a/1", '{"watts": 300, "t": %d}' % ((t0 + 2) * 1000))
        pub.publish("meters/a/1", '{"watts": 50, "t": %d}' % ((t0 + 11) * 1000))
        # SenML: base name and time, relative times, one string value (dropped)
        pub.publish("senml/gw1", '[{"bn":"urn:dev:a/","bt":%d,"n":"temp","v":1},'
                    '{"n":"hum","v":50,"t":1},{"n":"temp","v":3,"t":2},{"n":"temp","vs":"x"}]' % (t0 + 1))
        # bare numbers, processing time
        pub.publish("raw/x", "5")
        pub.publish("raw/x", "7")
        # bad input, each dropped and counted
        pub.publish("sensors/dev3/temp", "{not json")                       # malformed
        pub.publish("sensors/dev3/temp", '{"other": 1, "ts": %d}' % (t0 + 1))  # no_value
        pub.publish("raw/x", "nan")                                          # non_finite
        pub.publish("sensors/dev3/temp", '{"value": 1, "pad": "%s"}' % ("x" * 2000))  # oversize
        pub.publish("sensors/dev4/temp", '{"value": 1, "ts": %d}' % (int(time.time()) + 3600))  # future
        pub.publish("nobody/listens", "1")                                   # not subscribed

        # Advance temp's watermark past t0+10: windows t0 close.
        temp("dev2", t0 + 25, 1)
        got = lambda: harness_find(collector, "temp", "dev1", t0)
        wait_for(got, 10, "temp/dev1 window %d upstream" % t0)
        temp("dev1", t0 + 5, 1000)      # too late: its window was emitted

        # Push every stream's watermark far enough that all asserted windows close.
        temp("zz", t0 + 45, 0)
        pub.publish("meters/zz", '{"watts": 0, "t": %d}' % ((t0 + 45) * 1000))
        pub.publish("senml/gw1", '[{"n":"urn:dev:zz","v":0,"t":%d}]' % (t0 + 45))
        pub.close()

        expected = {
            ("temp", "dev1", t0): dict(count=3, sum=70, min=10, max=40, mean=70 / 3),
            ("temp", "dev2", t0): dict(count=1, sum=-5, min=-5, max=-5, mean=-5),
            ("temp", "dev1", t0 + 10): dict(count=1, sum=30, min=30, max=30, mean=30),
            ("temp", "dev2", t0 + 20): dict(count=1, sum=1, min=1, max=1, mean=1),
            ("power", "meters/a/1", t0): dict(count=2, sum=400, min=100, max=300, mean=200),
            ("power", "meters/a/1", t0 + 10): dict(count=1, sum=50, min=50, max=50, mean=50),
            ("senml", "urn:dev:a/temp", t0): dict(count=2, sum=4, min=1, max=3, mean=2),
            ("senml", "urn:dev:a/hum", t0): dict(count=1, sum=50, min=50, max=50, mean=50),
        }

        def all_there():
            w = by_window(collector.results())
            return all(k in w for k in expected) and bare_count(collector) >= 2
        wait_for(all_there, 20, "every expected window upstream")
        windows = by_window(collector.results())
        for k, want in expected.items():
            r = windows[k]
            self.assertEqual(r["rev"], 0, k)
            self.assertEqual(r["size_s"], 1 if k[0] == "bare" else 10, k)
            self.assertEqual(len(r["id"]), 16, k)
            self.assertEqual(r["_agent"], "gw-test")
            for field, value in want.items():
                self.assertTrue(math.isclose(r[field], value, rel_tol=1e-12, abs_tol=1e-12),
                                "%r %s: got %r want %r" % (k, field, r[field], value))
        # stddev and first/last on the temp stream (all aggregates by default)
        r = windows[("temp", "dev1", t0)]
        self.assertAlmostEqual(r["stddev"], math.sqrt(((10 - 70 / 3) ** 2 + (20 - 70 / 3) ** 2 + (40 - 70 / 3) ** 2) / 3), places=9)
        self.assertEqual(r["first"], 10)
        self.assertEqual(r["last"], 40)  # latest event time (t0+4), not arrival order
        self.assertNotIn("stddev", windows[("power", "meters/a/1", t0)])
        # Nothing the test did not ask for: no late event folded, no unexpected windows.
        temp_keys = {k for k in windows if k[0] == "temp" and k[1] != "zz"}
        self.assertEqual(temp_keys, {k for k in expected if k[0] == "temp"})
        bare = [r for r in collector.results() if r["stream"] == "bare"]
        self.assertEqual(sum(r["count"] for r in {r["id"]: r for r in bare}.values()), 2)
        self.assertEqual(sum(r["sum"] for r in {r["id"]: r for r in bare}.values()), 12)

        def counters_settled():
            m = agent.metrics()
            return m.get('windrow_events_dropped_total{reason="late"}') == 1 and m
        m = wait_for(counters_settled, 10, "late drop counted in the metrics file")
        drops = {reason: m['windrow_events_dropped_total{reason="%s"}' % reason]
                 for reason in ("late", "malformed", "no_value", "non_finite", "oversize",
                                "future", "unknown_topic")}
        self.assertEqual(drops, {"late": 1, "malformed": 1, "no_value": 2, "non_finite": 1,
                                 "oversize": 1, "future": 1, "unknown_topic": 0})


def harness_find(collector, stream, key, start):
    return any(r["stream"] == stream and r["key"] == key and r["start"] == start
               for r in collector.results())


def bare_count(collector):
    return sum(r["count"] for r in {r["id"]: r for r in collector.results()
                                    if r["stream"] == "bare"}.values())


if __name__ == "__main__":
    unittest.main(verbosity=2)
