"""Durability across restarts of windrow and of the local broker (issue 3).

- SIGTERM mid-window, restart: the window's final aggregates are exact and
  it is emitted once.
- SIGKILL mid-stream, restart: what is lost is bounded by the checkpoint
  interval, and the database is not corrupt.
- The local broker restarts: its persistent session redelivers what was
  published while windrow was down; and windrow, left running, reconnects.

Windows start in the near future (event times up to max_future_s ahead of
the clock are accepted), so they stay open, whatever the timing, until the
test closes them with one event far ahead on another key.
"""
import math
import random
import signal
import unittest

from durability_util import (PacedPublisher, PersistentCollector, distinct_results,
                             duplicate_count, future_window, restart, results_for, state_files,
                             wait_metric)
from harness import Broker, Windrow, Workdir, base_config, wait_for

SIZE = 30
LATENESS = 2


def stream(name="s", match="dur/+/v"):
    return {"name": name, "match": match, "key": "{topic[1]}", "time_field": "ts",
            "time_unit": "ms", "window": {"size_s": SIZE, "allowed_lateness_s": LATENESS}}


def event(key, t_ms, value):
    return "dur/%s/v" % key, '{"value": %r, "ts": %d}' % (value, t_ms)


def close_windows(local, start):
    """One event on key zz past start's window end plus the lateness: the window closes."""
    pub = local.client("dur-closer")
    pub.publish(*event("zz", (start + SIZE + LATENESS + 1) * 1000, 0))
    pub.close()


def one_result(case, collector, key, start, timeout=20):
    """Wait for the window's result; assert every delivery of it is the same result."""
    wait_for(lambda: results_for(collector, "s", key, start), timeout,
             "the result of window %s@%d upstream" % (key, start))
    got = results_for(collector, "s", key, start)
    distinct = distinct_results(got)
    case.assertEqual(len(distinct), 1, "exactly one distinct result for the window: %r" % got)
    return list(distinct.values())[0], duplicate_count(got)


class RestartTest(unittest.TestCase):
    def test_sigterm_mid_window_gives_exact_aggregates(self):
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = agent2 = None
            try:
                collector = PersistentCollector(upstream)
                agent = Windrow(wd, base_config(wd, local.port, upstream.port, [stream()])).start()
                start = future_window(SIZE, SIZE)
                # Values with few significant bits: the sum is exact in any order.
                values = [(i * 37) % 23 - 11 + 0.25 * (i % 4) for i in range(60)]
                events = [event("dev", start * 1000 + 1000 + i * 50, v)
                          for i, v in enumerate(values)]
                pub = local.client("dur-b-pub")
                for topic, payload in events[:30]:
                    pub.publish(topic, payload)
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 30, 10,
                            "the first half folded")
                self.assertEqual(agent.stop(), 0, "SIGTERM exits 0")
                self.assertIn("stopped cleanly", agent.log_text())
                self.assertEqual(results_for(collector, "s", "dev", start), [],
                                 "the window is still open: nothing emitted yet")

                agent2 = restart(agent, "windrow2")
                self.assertRegex(agent2.log_text(), r"restored 1 open and 0 revisable windows")
                for topic, payload in events[30:]:
                    pub.publish(topic, payload)
                pub.close()
                wait_metric(agent2, "windrow_events_aggregated_total", lambda v: v == 30, 10,
                            "the second half folded")
                close_windows(local, start)
                r, dups = one_result(self, collector, "dev", start)
                self.assertEqual(r["count"], len(values))
                self.assertEqual(r["sum"], sum(values))
                self.assertEqual(r["min"], min(values))
                self.assertEqual(r["max"], max(values))
                self.assertTrue(math.isclose(r["mean"], sum(values) / len(values), rel_tol=1e-15))
                mean = sum(values) / len(values)
                sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                self.assertTrue(math.isclose(r["stddev"], sd, rel_tol=1e-12), (r["stddev"], sd))
                self.assertEqual((r["first"], r["last"]), (values[0], values[-1]))
                self.assertEqual(r["rev"], 0)
                self.assertEqual(agent2.stop(), 0)
                print("\n  exact after SIGTERM+restart; %d duplicate deliveries" % dups)
                collector.close()
            finally:
                for a in (agent, agent2):
                    if a:
                        a.stop()
                local.stop()
                upstream.stop()

    def test_sigkill_loses_at_most_one_checkpoint_interval(self):
        rate = 200              # events/s
        ckpt_ms = 1000
        duration_s = 6
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = agent2 = pub = None
            try:
                collector = PersistentCollector(upstream)
                cfg = base_config(wd, local.port, upstream.port, [stream()],
                                  storage={"checkpoint_interval_ms": ckpt_ms})
                agent = Windrow(wd, cfg).start()
                start = future_window(SIZE, SIZE)
                # Event i at start + 1 s + i / rate (ms resolution): all in one window.
                t1 = start * 1000 + 1000
                pub = PacedPublisher(local, "dur-c-pub",
                                     lambda i: event("dev", t1 + i * 1000 // rate, 1),
                                     rate, count=rate * duration_s)
                pub.start()
                # Mid-stream, at a random phase of the checkpoint cycle.
                kill_after = int(rate * random.uniform(2.0, 3.0))
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v >= kill_after,
                            10, "events flowing")
                rc = agent.stop(sig=signal.SIGKILL)
                killed_at = pub.sent
                self.assertEqual(rc, -signal.SIGKILL)
                agent2 = restart(agent, "windrow2")
                pub.finish(duration_s + 20)
                published = pub.sent
                # Everything published reaches the new agent (the session queued it).
                close_windows(local, start)
                r, dups = one_result(self, collector, "dev", start)
                received = r["count"]
                loss = published - received
                log2 = agent2.log_text()
                m = agent2.metrics()
                print("\n  SIGKILL after ~%d of %d events at %d/s, checkpoint every %d ms: "
                      "counted %d, lost %d events = %.0f ms of input%s" %
                      (killed_at, published, rate, ckpt_ms, received, loss, loss * 1000.0 / rate,
                       "; count > published: %d redelivered after being checkpointed" %
                       -loss if loss < 0 else ""))
                self.assertNotIn("corrupt", log2.lower())
                self.assertEqual(m.get("windrow_store_corruptions_total"), 0)
                self.assertRegex(log2, r"restored 1 open")
                self.assertEqual(r["sum"], received, "every value was 1")
                self.assertGreaterEqual(received, published - rate * (ckpt_ms / 1000.0 + 0.5),
                                        "loss within the checkpoint interval (+0.5 s slack)")
                self.assertLessEqual(received, published + rate * ckpt_ms / 1000.0,
                                     "QoS 1 redelivery double counts at most an interval")
                self.assertEqual(agent2.stop(), 0)
                collector.close()
            finally:
                if pub:
                    pub.stop()
                for a in (agent, agent2):
                    if a:
                        a.stop()
                local.stop()
                upstream.stop()

    def test_local_broker_restart_redelivers_what_windrow_missed(self):
        with Workdir() as wd:
            local = Broker(wd, "local", persistent=True).start()
            upstream = Broker(wd, "upstream").start()
            agent = agent2 = None
            try:
                collector = PersistentCollector(upstream)
                agent = Windrow(wd, base_config(wd, local.port, upstream.port, [stream()])).start()
                start = future_window(SIZE, SIZE)
                t = start * 1000 + 1000
                pub = local.client("dur-d-pub")
                for i in range(5):
                    pub.publish(*event("a", t + i, i))
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 5, 10)
                self.assertEqual(agent.stop(), 0)
                # windrow is down: these wait in its persistent session on the local broker.
                for i in range(7):
                    pub.publish(*event("a", t + 100 + i, 10 + i))
                    pub.publish(*event("b", t + 100 + i, 100 + i))
                pub.close()
                local.stop()    # saves the session store, queued messages included
                local.start()   # same port, same store
                agent2 = restart(agent, "windrow2")
                aggregated = wait_metric(agent2, "windrow_events_aggregated_total",
                                         lambda v: v >= 14, 15,
                                         "the queued events redelivered to windrow")
                close_windows(local, start)
                a, _ = one_result(self, collector, "a", start)
                b, _ = one_result(self, collector, "b", start)
                self.assertEqual(aggregated, 14)
                self.assertEqual((a["count"], a["sum"]), (12, sum(range(5)) + sum(range(10, 17))))
                self.assertEqual((b["count"], b["sum"]), (7, sum(range(100, 107))))
                self.assertEqual(agent2.stop(), 0)
                collector.close()
            finally:
                for x in (agent, agent2):
                    if x:
                        x.stop()
                local.stop()
                upstream.stop()

    def test_local_broker_restart_while_windrow_runs(self):
        with Workdir() as wd:
            local = Broker(wd, "local", persistent=True).start()
            upstream = Broker(wd, "upstream").start()
            agent = None
            try:
                collector = PersistentCollector(upstream)
                agent = Windrow(wd, base_config(wd, local.port, upstream.port, [stream()])).start()
                start = future_window(SIZE, SIZE)
                t = start * 1000 + 1000
                pub = local.client("dur-d2-pub")
                for i in range(4):
                    pub.publish(*event("a", t + i, 1))
                pub.close()
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 4, 10)
                local.stop()
                wait_metric(agent, "windrow_source_connected", lambda v: v == 0, 10,
                            "windrow to notice the local broker is gone")
                local.start()
                agent.wait_log(r"subscribed to", 40, count=2)   # Paho reconnects by itself
                wait_metric(agent, "windrow_source_connected", lambda v: v == 1, 10)
                pub = local.client("dur-d2-pub")
                for i in range(6):
                    pub.publish(*event("a", t + 10 + i, 1))
                pub.close()
                wait_metric(agent, "windrow_events_aggregated_total", lambda v: v == 10, 10,
                            "events published after the broker came back")
                close_windows(local, start)
                a, _ = one_result(self, collector, "a", start)
                self.assertEqual((a["count"], a["sum"]), (10, 10))
                self.assertIn("lost the local broker", agent.log_text())
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def test_restart_creates_no_shm_file(self):
        """docs/storage.md: EXCLUSIVE locking keeps the WAL index in memory, no -shm file."""
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = agent2 = None
            try:
                agent = Windrow(wd, base_config(wd, local.port, upstream.port, [stream()])).start()
                first = state_files(agent)
                self.assertEqual(agent.stop(), 0)
                agent2 = restart(agent, "windrow2")    # opens the existing database
                second = state_files(agent2)
                self.assertEqual(agent2.stop(), 0)
                self.assertNotIn("windrow.db-shm", first, "fresh database")
                self.assertNotIn("windrow.db-shm", second, "existing database reopened")
            finally:
                for a in (agent, agent2):
                    if a:
                        a.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
