"""Quantiles end to end: events through real brokers and the real binary,
results decoded by the reference decoder, each reported quantile checked
against the exact quantile of the events sent (the value of rank
floor(q * (n - 1))): within the sketch's relative accuracy. Also across a
SIGTERM and restart in the middle of the window, which goes through the
window checkpoint (the sketch is part of the window state). With
sketch.upstream, in JSON and in CBOR+zstd, the sketches themselves arrive,
and the reference decoder's quantile of the merge of several windows' and
keys' sketches is within the bound of the exact quantile of all their events.
"""
import math
import random
import sys
import time
import unittest

from harness import Lab, base_config, wait_for
from durability_util import future_window, restart, wait_metric
from windrow_decode import Sketch

QS = [0.0, 0.25, 0.5, 0.9, 0.99, 1.0]
ACCURACY = 0.01
SIZE = 60


def stream(**extra):
    s = {"name": "lat", "match": "lat/+", "key": "{topic[1]}",
         "window": {"size_s": SIZE, "allowed_lateness_s": 0},
         "aggregates": ["count", "min", "max"], "quantiles": QS,
         "sketch": {"accuracy": ACCURACY, "max_buckets": 1024}}
    s.update(extra)
    return s


def exact_quantile(values, q):
    s = sorted(values)
    return s[int(math.floor(q * (len(s) - 1)))]


def values_for(seed, n):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        v = math.exp(rnd.gauss(2.0, 1.5))          # log-normal, heavy right tail
        if i % 7 == 0:
            v = -v                                 # some negative values
        out.append(round(v, 4))
    out[3] = 0.0
    return out


class QuantileTest(unittest.TestCase):
    def check(self, r, values):
        self.assertEqual(r["count"], len(values))
        self.assertEqual(r["min"], min(values))
        self.assertEqual(r["max"], max(values))
        q = r["quantiles"]
        self.assertEqual(sorted(q, key=float), [repr(x) if x not in (0.0, 1.0) else str(int(x))
                                                for x in QS])
        for qq in QS:
            key = str(int(qq)) if qq in (0.0, 1.0) else repr(qq)
            x = exact_quantile(values, qq)
            got = q[key]
            self.assertLessEqual(abs(got - x), ACCURACY * abs(x) * (1 + 1e-9) + 1e-9,
                                 "q=%s: got %r, exact %r" % (qq, got, x))

    def check_sketch(self, r, values):
        """The result's own sketch: all its values, and the quantiles the agent reported."""
        sk = Sketch.from_field(r["sketch"])
        self.assertEqual((sk.accuracy, sk.count), (ACCURACY, len(values)))
        for key, got in r.get("quantiles", {}).items():
            mine = min(max(sk.quantile(float(key)), r["min"]), r["max"])
            self.assertAlmostEqual(mine, got, delta=1e-12 * abs(got), msg=key)
        return sk

    def run_sketch_upstream(self, upstream):
        with Lab() as lab:
            local = lab.broker("local")
            up = lab.broker("upstream")
            collector = lab.collector(up)
            cfg = base_config(lab.wd, local.port, up.port,
                              [stream(sketch={"accuracy": ACCURACY, "max_buckets": 1024,
                                              "upstream": True}),
                               {"name": "raw", "match": "raw/+", "key": "{topic[1]}",
                                "window": {"size_s": SIZE, "allowed_lateness_s": 0},
                                "aggregates": ["count", "min", "max"],
                                "sketch": {"accuracy": ACCURACY, "upstream": True}}],
                              upstream=upstream)
            lab.agent(cfg)
            pub = local.client("pub")
            t0 = (int(time.time()) // SIZE) * SIZE - 4 * SIZE
            sent = {}  # (key, window start) -> values
            # Window by window: a window closes once an event past its end arrives.
            for w in range(2):
                for k in range(2):
                    key, start = "svc%d" % k, t0 + w * SIZE
                    values = values_for(10 * k + w, 300)
                    if k == 1:
                        values = [round(v * 50 + 3, 4) for v in values]  # another range
                    sent[(key, start)] = values
                    for i, v in enumerate(values):
                        pub.publish("lat/" + key, '{"value": %r, "ts": %.3f}' % (v, start + i * 0.1))
            raw = values_for(99, 100)
            for i, v in enumerate(raw):
                pub.publish("raw/r1", '{"value": %r, "ts": %.3f}' % (v, t0 + i * 0.1))
            pub.publish("lat/zz", '{"value": 1, "ts": %d}' % (t0 + 4 * SIZE))
            pub.publish("raw/zz", '{"value": 1, "ts": %d}' % (t0 + 4 * SIZE))
            pub.close()

            def there():
                got = {(r["key"], r["start"]): r for r in collector.results()
                       if r["stream"] == "lat"}
                raws = [r for r in collector.results() if r["stream"] == "raw" and r["key"] == "r1"]
                return (got, raws) if all(k in got for k in sent) and raws else None
            got, raws = wait_for(there, 20, "the results with their sketches")
            merged = None
            for k, values in sent.items():
                self.check(got[k], values)
                sk = self.check_sketch(got[k], values)
                merged = sk if merged is None else merged.merge(sk)
            # Merged by the consumer across two windows and two keys of very different
            # ranges: the union's quantiles, within the bound.
            union = [v for values in sent.values() for v in values]
            self.assertEqual(merged.count, len(union))
            for q in QS + [0.1, 0.75, 0.95]:
                x = exact_quantile(union, q)
                self.assertLessEqual(abs(merged.quantile(q) - x),
                                     ACCURACY * abs(x) * (1 + 1e-9) + 1e-9,
                                     "merged q=%s: got %r, exact %r" % (q, merged.quantile(q), x))
            # A stream with the sketch upstream and no quantiles: the sketch alone.
            self.assertNotIn("quantiles", raws[0])
            self.check_sketch(raws[0], raw)

    def test_sketch_upstream_json_merges_to_union(self):
        self.run_sketch_upstream({})

    def test_sketch_upstream_cbor_zstd_merges_to_union(self):
        self.run_sketch_upstream({"encoding": "cbor", "compression": "zstd"})

    def test_quantiles_through_cbor_zstd(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, [stream()],
                              upstream={"encoding": "cbor", "compression": "zstd"})
            lab.agent(cfg)
            pub = local.client("pub")
            t0 = (int(time.time()) // SIZE) * SIZE - 3 * SIZE
            sent = {}
            for k in range(3):
                key = "svc%d" % k
                sent[key] = values_for(k, 400)
                for i, v in enumerate(sent[key]):
                    pub.publish("lat/" + key, '{"value": %r, "ts": %.3f}' % (v, t0 + i * 0.1))
            pub.publish("lat/zz", '{"value": 1, "ts": %d}' % (t0 + 3 * SIZE))
            pub.close()

            def there():
                keys = {r["key"] for r in collector.results() if r["start"] == t0}
                return all(k in keys for k in sent)
            wait_for(there, 20, "three results with quantiles")
            for r in collector.results():
                if r["start"] == t0 and r["key"] in sent:
                    self.check(r, sent[r["key"]])

    def test_quantiles_survive_restart_mid_window(self):
        with Lab() as lab:
            local = lab.broker("local", persistent=True)
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, [stream()])
            agent = lab.agent(cfg)
            start = future_window(SIZE, SIZE)
            # The halves differ (the second is 20 times smaller), so quantiles that missed
            # the first half's values (a sketch not restored) would be far off.
            values = values_for(7, 150) + [round(v / 20, 6) for v in values_for(8, 150)]
            events = [("lat/dev", '{"value": %r, "ts": %.3f}' % (v, start + 1 + i * 0.05))
                      for i, v in enumerate(values)]
            pub = local.client("pub")
            for topic, payload in events[:150]:
                pub.publish(topic, payload)
            wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 150, 10,
                        "the first half folded")
            self.assertEqual(agent.stop(), 0)
            agent2 = restart(agent, "windrow2")
            lab._stops.append(lambda: agent2.stop(timeout=10))
            self.assertRegex(agent2.log_text(), r"restored 1 open")
            for topic, payload in events[150:]:
                pub.publish(topic, payload)
            wait_metric(agent2, "windrow_events_aggregated_total", lambda v: v == 150, 10,
                        "the second half folded")
            pub.publish("lat/zz", '{"value": 1, "ts": %d}' % (start + 3 * SIZE))
            pub.close()
            got = lambda: [r for r in collector.results() if r["key"] == "dev" and r["start"] == start]
            wait_for(got, 20, "the window's result")
            self.check(got()[0], values)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
