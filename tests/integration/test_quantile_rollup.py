"""Rollup under storage pressure keeps quantiles within the sketch's bound
(issue 12).

The upstream broker is down while 100 keys send 5 values a second each
(log-normal, some negative) into 1 s windows with quantiles and
sketch.upstream, long enough for the outbox to exceed a 1 MiB storage
budget several times: the budget rolls sealed 1 s results up into 10 s ones,
merging their sketches. Once the broker is back, every result that arrives,
fine or rolled up, is checked against the events published for its key and
span: its count exactly, each of its quantiles within the sketch's relative
accuracy of the exact quantile (rank floor(q * (n - 1))) of those events, and
its sketch (decoded by the reference decoder) holding exactly those events
and giving the reported quantiles. The run is sized so that rollup alone
keeps the budget (nothing dropped), which the test asserts: a dropped span
could not be checked.
"""
import math
import random
import sys
import time
import unittest

from durability_util import (PacedPublisher, PersistentCollector, db_bytes_on_disk,
                             distinct_results, one_per_window, wait_metric)
from harness import Broker, Windrow, Workdir, base_config, free_port, wait_for
from windrow_decode import Sketch

N_KEYS = 100
PER_KEY_PER_S = 5
PACK = 250  # SenML records per message
SECONDS = 36
MAX_BYTES = 1048576
QS = [0.0, 0.5, 0.9, 0.99, 1.0]
ACCURACY = 0.01


def exact_quantile(values, q):
    s = sorted(values)
    return s[int(math.floor(q * (len(s) - 1)))]


def q_key(q):
    return str(int(q)) if q in (0.0, 1.0) else repr(q)


class QuantileRollupTest(unittest.TestCase):
    def test_rollup_under_storage_pressure_keeps_quantiles_within_bound(self):
        streams = [{"name": "lat", "match": "lat/+", "key": "{name}", "format": "senml",
                    "max_keys": 2 * N_KEYS,
                    "window": {"size_s": 1, "allowed_lateness_s": 1},
                    "aggregates": ["count", "min", "max"], "quantiles": QS,
                    "sketch": {"accuracy": ACCURACY, "max_buckets": 512, "upstream": True}}]
        rnd = random.Random(12)
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream", port=free_port(), persistent=True).start()
            agent = pub = collector = None
            try:
                collector = PersistentCollector(upstream)
                upstream.stop()
                cfg = base_config(wd, local.port, upstream.port, streams,
                                  storage={"checkpoint_interval_ms": 500, "max_bytes": MAX_BYTES},
                                  upstream={"reconnect": {"min_ms": 1000, "max_ms": 2000},
                                            "batch": {"max_results": 500, "max_bytes": 262144,
                                                      "max_delay_ms": 200}})
                agent = Windrow(wd, cfg).start()
                published = {}  # key -> [(time_s, value)]
                records_per_s = N_KEYS * PER_KEY_PER_S
                packs_per_s = records_per_s // PACK
                keys_per_pack = PACK // PER_KEY_PER_S

                def make(i):
                    tick, part = divmod(i, packs_per_s)
                    if part == 0:
                        make.t_ms = int(time.time() * 1000)
                    recs = []
                    for j in range(part * keys_per_pack, (part + 1) * keys_per_pack):
                        name = "k%03d" % j
                        for _ in range(PER_KEY_PER_S):
                            v = round(math.exp(rnd.gauss(2.0, 1.5)), 4)
                            if rnd.random() < 0.1:
                                v = -v
                            published.setdefault(name, []).append((make.t_ms // 1000, v))
                            recs.append('{"n":"%s","v":%r}' % (name, v))
                    recs[0] = '{"bt":%.3f,' % (make.t_ms / 1000.0) + recs[0][1:]
                    return "lat/gw", "[" + ",".join(recs) + "]"
                make.t_ms = 0
                pub = PacedPublisher(local, "qr-pub", make, packs_per_s,
                                     count=packs_per_s * SECONDS)
                pub.start()
                peak = {"disk": 0}

                def rolled_up():
                    peak["disk"] = max(peak["disk"], db_bytes_on_disk(agent))
                    return agent.metrics().get("windrow_outbox_rolled_up_total", 0) > 0
                wait_for(rolled_up, SECONDS + 20, "the outbox to roll up under the storage budget")
                pub.finish(SECONDS + 30)
                wait_metric(agent, "windrow_windows_open", lambda v: v == 0, 15,
                            "every window closed")
                ckpts = agent.metrics()["windrow_checkpoints_total"]
                wait_metric(agent, "windrow_checkpoints_total", lambda v: v >= ckpts + 2, 10)
                rolled_up()
                before = agent.metrics()
                self.assertEqual(before["windrow_upstream_connected"], 0)

                upstream.start()
                wait_metric(agent, "windrow_outbox_rows", lambda v: v == 0, 60,
                            "the outbox to drain upstream")
                after = agent.metrics()
                acked = after["windrow_results_acked_total"]

                def arrived():
                    d = distinct_results(collector.results())
                    return (d,) if len(d) >= acked else None
                distinct = wait_for(arrived, 15, "every acknowledged result at the collector")[0]
                windows = one_per_window(distinct)
                self.assertEqual(agent.stop(), 0)
                agent = None

                n_events = sum(len(v) for v in published.values())
                sizes = {}
                for r in windows.values():
                    sizes[r["size_s"]] = sizes.get(r["size_s"], 0) + 1
                print("\n  budget %d B, peak db+wal %d B; %d events, %d results emitted, "
                      "%d rolled up, %d dropped; %d results upstream by size_s: %s" %
                      (MAX_BYTES, peak["disk"], n_events, after["windrow_results_emitted_total"],
                       after["windrow_outbox_rolled_up_total"],
                       after["windrow_outbox_dropped_total"], len(windows),
                       dict(sorted(sizes.items()))))
                self.assertEqual(after["windrow_events_aggregated_total"], n_events)
                self.assertGreater(after["windrow_outbox_rolled_up_total"], 0)
                self.assertEqual(after["windrow_outbox_dropped_total"], 0,
                                 "sized for rollup alone: a dropped span cannot be checked")
                self.assertGreater(sizes.get(10, 0), 0, "no rolled-up (10 s) result arrived")
                self.assertEqual(sum(r["count"] for r in windows.values()), n_events)

                worst = 0.0
                for (_, key, start, size), r in windows.items():
                    values = [v for t, v in published[key] if start <= t < start + size]
                    self.assertEqual(r["count"], len(values), (key, start, size))
                    self.assertEqual((r["min"], r["max"]), (min(values), max(values)))
                    sk = Sketch.from_field(r["sketch"])
                    self.assertEqual(sk.count, len(values), (key, start, size))
                    for q in QS:
                        x = exact_quantile(values, q)
                        got = r["quantiles"][q_key(q)]
                        err = abs(got - x) / abs(x) if x != 0 else abs(got)
                        worst = max(worst, err)
                        self.assertLessEqual(abs(got - x), ACCURACY * abs(x) * (1 + 1e-9) + 1e-9,
                                             "%s [%d, +%d) q=%s: got %r, exact %r" %
                                             (key, start, size, q, got, x))
                        mine = min(max(sk.quantile(q), r["min"]), r["max"])
                        self.assertAlmostEqual(mine, got, delta=1e-12 * abs(got))
                print("  worst relative quantile error over %d results: %.6f (bound %.2f)" %
                      (len(windows), worst, ACCURACY))
            finally:
                if pub:
                    pub.stop()
                if collector:
                    collector.close()
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
