"""Durability towards the upstream broker (issue 3).

- The upstream broker stops for a while under steady publishing and comes
  back on the same port: every window result arrives, none is lost, and a
  result that arrives twice carries the same idempotency key and content.
- The upstream broker is down long enough for the outbox to exceed a 1 MiB
  storage budget: results are rolled up into coarser windows, the database
  stays within its budget, and once the broker is back every event is
  accounted for exactly in the (partly coarser) results.

The collector keeps a persistent session on a persistent broker, created
before the outage, so nothing windrow publishes while the collector is
reconnecting is missed.
"""
import time
import unittest

from durability_util import (PacedPublisher, PersistentCollector, db_bytes_on_disk,
                             distinct_results, duplicate_count, expected_windows, metric,
                             one_per_window, wait_metric)
from harness import Broker, Windrow, Workdir, base_config, free_port, wait_for

KEYS = ["k1", "k2", "k3", "k4"]


class UpstreamOutageTest(unittest.TestCase):
    def test_upstream_restart_loses_no_result(self):
        streams = [{"name": "s", "match": "dur/+/v", "key": "{topic[1]}", "time_field": "ts",
                    "time_unit": "ms", "window": {"size_s": 1, "allowed_lateness_s": 1},
                    "aggregates": ["count", "sum", "min", "max"]}]
        rate = 40  # events/s over the four keys
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream", persistent=True).start()
            agent = pub = collector = None
            try:
                collector = PersistentCollector(upstream)
                cfg = base_config(wd, local.port, upstream.port, streams,
                                  upstream={"reconnect": {"min_ms": 200, "max_ms": 1000}})
                agent = Windrow(wd, cfg).start()
                published = []  # (key, ts_ms, value), appended by the publisher thread

                def make(i):
                    ts = int(time.time() * 1000)
                    key, value = KEYS[i % len(KEYS)], (i * 7) % 101 - 50
                    published.append((key, ts, value))
                    return "dur/%s/v" % key, '{"value": %d, "ts": %d}' % (value, ts)
                pub = PacedPublisher(local, "dur-a-pub", make, rate, count=rate * 12)
                pub.start()

                # Results flow, then the upstream broker goes away.
                wait_for(lambda: len(collector.results()) >= 8, 15, "first results upstream")
                upstream.stop()
                outage_start = time.monotonic()
                wait_metric(agent, "windrow_upstream_connected", lambda v: v == 0, 10,
                            "windrow to notice the upstream outage")
                # Windows keep closing during the outage: their results wait in the outbox.
                rows = wait_metric(agent, "windrow_outbox_rows", lambda v: v >= 4 * len(KEYS),
                                   15, "results piling up in the outbox during the outage")
                upstream.start()  # same port, same persistent store
                outage_s = time.monotonic() - outage_start
                wait_metric(agent, "windrow_upstream_connected", lambda v: v == 1, 15,
                            "windrow to reconnect upstream")
                pub.finish(30)

                # Close every window: one event far enough ahead on another key.
                closer = local.client("dur-a-closer")
                closer.publish("dur/zz/v", '{"value": 0, "ts": %d}' % int(time.time() * 1000 + 5000))
                closer.close()

                expected = expected_windows(published, 1)

                def all_arrived():
                    got = {(r["key"], r["start"]) for r in collector.results() if r["key"] != "zz"}
                    return set(expected) <= got
                wait_for(all_arrived, 30, "every window result upstream after the outage")
                wait_metric(agent, "windrow_outbox_rows", lambda v: v == 0, 15, "outbox drained")
                results = [r for r in collector.results() if r["key"] != "zz"]
                distinct = distinct_results(results)        # same id => same content
                windows = one_per_window(distinct)           # one result per window
                got = {(k, s): [r["count"], r["sum"], r["min"], r["max"]]
                       for (_, k, s, size), r in windows.items()}
                self.assertEqual(set(got), set(expected), "no window lost, none invented")
                for w, want in expected.items():
                    self.assertEqual(got[w], want, "window %r" % (w,))
                for r in distinct.values():
                    self.assertEqual((r["size_s"], r["rev"]), (1, 0))
                m = agent.metrics()
                self.assertEqual(m.get('windrow_events_dropped_total{reason="late"}'), 0)
                self.assertEqual(m.get("windrow_outbox_dropped_total"), 0)
                self.assertGreaterEqual(collector.connections, 2, "collector reconnected")
                print("\n  upstream outage %.1fs, %d results in the outbox when it came back, "
                      "%d windows, %d duplicate deliveries (same id and content)" %
                      (outage_s, rows, len(expected), duplicate_count(results)))
                self.assertEqual(agent.stop(), 0)
            finally:
                if pub:
                    pub.stop()
                if collector:
                    collector.close()
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()


N_KEYS = 1000
PACK = 250  # SenML records per message (windrow takes at most 256 events per message)
MAX_BYTES = 1048576


class StorageBudgetTest(unittest.TestCase):
    def test_full_budget_rolls_up_and_accounts_for_every_event(self):
        streams = [{"name": "bulk", "match": "bulk/+", "key": "{name}", "format": "senml",
                    "max_keys": 2 * N_KEYS,
                    "window": {"size_s": 1, "allowed_lateness_s": 1},
                    "aggregates": ["count", "sum", "min", "max"]}]
        seconds = 18
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream", port=free_port(), persistent=True).start()
            agent = pub = collector = None
            try:
                # The collector's session exists before the outage, so whatever
                # windrow sends when the broker is back is queued for it.
                collector = PersistentCollector(upstream)
                upstream.stop()
                cfg = base_config(wd, local.port, upstream.port, streams,
                                  storage={"checkpoint_interval_ms": 500, "max_bytes": MAX_BYTES},
                                  upstream={"reconnect": {"min_ms": 1000, "max_ms": 2000},
                                            "batch": {"max_results": 500, "max_bytes": 65536,
                                                      "max_delay_ms": 200}})
                agent = Windrow(wd, cfg).start()
                published = []  # (key, time_ms, value)
                packs_per_s = N_KEYS // PACK

                def make(i):
                    tick, part = divmod(i, packs_per_s)
                    if part == 0:
                        make.t_ms = int(time.time() * 1000)
                    recs = []
                    for j in range(part * PACK, (part + 1) * PACK):
                        name = "k%04d" % j
                        published.append((name, make.t_ms, tick))
                        recs.append('{"n":"%s","v":%d}' % (name, tick))
                    recs[0] = '{"bt":%.3f,' % (make.t_ms / 1000.0) + recs[0][1:]
                    return "bulk/gw", "[" + ",".join(recs) + "]"
                make.t_ms = 0
                pub = PacedPublisher(local, "dur-f-pub", make, packs_per_s,
                                     count=packs_per_s * seconds)
                pub.start()

                peak = {"metric": 0.0, "disk": 0}

                def rolled_up():
                    m = agent.metrics()
                    peak["metric"] = max(peak["metric"], m.get("windrow_store_bytes", 0))
                    peak["disk"] = max(peak["disk"], db_bytes_on_disk(agent))
                    return m.get("windrow_outbox_rolled_up_total", 0) > 0
                wait_for(rolled_up, 40, "the outbox to roll up under the storage budget")
                pub.finish(30)
                # Every window closes by itself (the watermark runs on with real time).
                wait_metric(agent, "windrow_windows_open", lambda v: v == 0, 15,
                            "every window closed")
                # Two more checkpoints, each followed by a budget check, then
                # read the settled figures.
                ckpts = agent.metrics()["windrow_checkpoints_total"]
                wait_metric(agent, "windrow_checkpoints_total", lambda v: v >= ckpts + 2, 10)
                rolled_up()
                before = agent.metrics()
                self.assertEqual(before["windrow_upstream_connected"], 0)
                self.assertLessEqual(before["windrow_store_bytes"], MAX_BYTES,
                                     "the database is within its budget once the check ran")
                self.assertLessEqual(db_bytes_on_disk(agent), MAX_BYTES,
                                     "database + WAL on disk within the budget")
                rows_before = before["windrow_outbox_rows"]

                upstream.start()
                t_up = time.monotonic()
                wait_metric(agent, "windrow_outbox_rows", lambda v: v == 0, 60,
                            "the outbox to drain upstream")
                drain_s = time.monotonic() - t_up
                after = agent.metrics()
                aggregated = after["windrow_events_aggregated_total"]
                dropped = after["windrow_outbox_dropped_total"]
                rolled = after["windrow_outbox_rolled_up_total"]
                emitted = after["windrow_results_emitted_total"]
                acked = after["windrow_results_acked_total"]

                def arrived():
                    d = distinct_results(collector.results())
                    return len(d) >= acked and d
                distinct = wait_for(arrived, 15, "every acknowledged result at the collector")
                windows = one_per_window(distinct)
                sizes = {}
                for r in distinct.values():
                    sizes[r["size_s"]] = sizes.get(r["size_s"], 0) + 1
                total = sum(r["count"] for r in distinct.values())
                print("\n  budget %d B: peak windrow_store_bytes %d, peak db+wal on disk %d; "
                      "%d events aggregated, %d results emitted, %d rolled up, %d dropped; "
                      "%d rows in the outbox before reconnect, drained in %.1fs; "
                      "results upstream by size_s: %s" %
                      (MAX_BYTES, peak["metric"], peak["disk"], aggregated, emitted, rolled,
                       dropped, rows_before, drain_s, dict(sorted(sizes.items()))))
                self.assertEqual(aggregated, len(published), "every published event folded")
                self.assertGreater(rolled, 0)
                self.assertTrue(any(s > 1 for s in sizes), "some results are rolled up")
                self.assertEqual(sum(r["count"] for r in distinct.values()
                                     if r["size_s"] > 1) > 0, True)
                if dropped == 0:
                    self.assertEqual(total, aggregated, "counts exact when nothing was dropped")
                    self._assert_exact_cover(windows, published)
                else:
                    self.assertLess(total, aggregated)
                self.assertEqual(agent.stop(), 0)
            finally:
                if pub:
                    pub.stop()
                if collector:
                    collector.close()
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def _assert_exact_cover(self, windows, published):
        """Per key: results never overlap and each holds exactly the events in its span."""
        by_key = {}
        for (_, key, start, size), r in windows.items():
            by_key.setdefault(key, []).append((start, start + size, r))
        events = {}
        for key, t_ms, value in published:
            events.setdefault(key, []).append((t_ms // 1000, value))
        self.assertEqual(set(by_key), set(events))
        for key, spans in by_key.items():
            spans.sort(key=lambda s: s[0])
            for a, b in zip(spans, spans[1:]):
                self.assertLessEqual(a[1], b[0], "%s: overlapping results %r %r" %
                                     (key, a[2], b[2]))
            for lo, hi, r in spans:
                inside = [v for t, v in events[key] if lo <= t < hi]
                self.assertEqual((r["count"], r["sum"], r["min"], r["max"]),
                                 (len(inside), sum(inside), min(inside), max(inside)),
                                 "%s [%d, %d)" % (key, lo, hi))
            covered = sum(r["count"] for _, _, r in spans)
            self.assertEqual(covered, len(events[key]), key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
