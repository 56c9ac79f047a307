"""A full queue and a stalled or missing uplink must not turn into holds or losses.

Paho runs the ingest callback under its process-wide mutex. When the queue is
full the callback waits for room; if the thread that makes room (the
pipeline) itself needed that mutex (MQTTAsync_connect for an upstream
reconnect attempt, MQTTAsync_isConnected, a disconnect at shutdown) the two
would wait on each other until the callback gave up and left the message
with Paho: a "hold", counted in windrow_backpressure_holds_total, which Paho
offers again only when more data arrives, and under sustained load
broker-side drops. A wait bounded by a timeout instead of by the pipeline's
pace holds whenever the pipeline is slower than the timeout. The pipeline
must keep draining whatever the uplink does.

The agent is slowed down (WINDROW_TEST_EVENT_DELAY_US) so that two QoS 1
publishers keep its small queue full, and windows close and are published
every second. Meanwhile the upstream broker is first frozen (SIGSTOP: the
connection stays up, nothing is acknowledged), then stopped (the uplink
retries every few hundred ms), then started again. Then: no hold, every
event aggregated, every window upstream, the totals exact.
"""
import os
import signal
import threading
import time
import unittest

from harness import Lab, base_config, wait_for

# Arrival-time events: lateness covers how far the fold may trail the arrival.
STREAMS = [{"name": "load", "match": "load/+", "key": "{topic[1]}",
            "window": {"size_s": 1, "allowed_lateness_s": 5}}]
EVENTS = 4000
KEYS = 20
PUBLISHERS = 2


class UplinkStallTest(unittest.TestCase):
    def test_full_queue_and_frozen_uplink_no_hold_no_loss(self):
        os.environ["WINDROW_TEST_EVENT_DELAY_US"] = "2000"  # at most ~500 events/s
        try:
            self._run()
        finally:
            os.environ.pop("WINDROW_TEST_EVENT_DELAY_US", None)

    def _run(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS,
                              backpressure={"queue_capacity": 256},
                              metrics={"file": os.path.join(lab.wd, "metrics.prom"),
                                       "interval_ms": 100},
                              upstream={"batch": {"max_results": 5, "max_bytes": 4096,
                                                  "max_delay_ms": 0},
                                        "reconnect": {"min_ms": 300, "max_ms": 600}})
            agent = lab.agent(cfg)
            sent = [0]
            errors = []
            lock = threading.Lock()

            def publish(n):
                try:
                    pub = local.client("load-publisher-%d" % n)
                    for i in range(n, EVENTS, PUBLISHERS):
                        pub.publish("load/k%d" % (i % KEYS), '{"value": 1}', qos=1)
                        with lock:
                            sent[0] += 1
                    pub.close()
                except Exception as e:  # surfaced below
                    errors.append(repr(e))

            threads = [threading.Thread(target=publish, args=(n,)) for n in range(PUBLISHERS)]
            for t in threads:
                t.start()
            collectors = [collector]
            try:
                wait_for(lambda: agent.metrics().get("windrow_backpressure_state", 0) >= 2, 30,
                         "the queue full (backpressure critical)")
                os.kill(upstream.proc.pid, signal.SIGSTOP)
                try:
                    mark = sent[0]
                    wait_for(lambda: errors or sent[0] >= min(mark + 800, EVENTS), 60,
                             "800 more events taken while upstream is frozen")
                finally:
                    os.kill(upstream.proc.pid, signal.SIGCONT)
                self.assertEqual(errors, [])
                self.assertEqual(agent.metrics().get("windrow_backpressure_holds_total", -1), 0,
                                 "no hold while the uplink was frozen")
                # Down: every reconnect attempt is a call into Paho.
                upstream.stop()
                mark = sent[0]
                wait_for(lambda: errors or sent[0] >= min(mark + 1200, EVENTS), 60,
                         "1,200 more events taken while upstream is down")
                self.assertEqual(errors, [])
                self.assertEqual(agent.metrics().get("windrow_backpressure_holds_total", -1), 0,
                                 "no hold while the uplink was reconnecting")
                upstream.start()
                collectors.append(lab.collector(upstream, client_id="collector-2"))
            finally:
                for t in threads:
                    t.join()
            self.assertEqual(errors, [])

            def drained():
                m = agent.metrics()
                return m.get("windrow_events_aggregated_total", 0) >= EVENTS and \
                    m.get("windrow_queue_depth", 1) == 0 and m
            try:
                m = wait_for(drained, 30, "every event aggregated")
            except AssertionError:
                m = agent.metrics()
                self.fail("not every event reached a window: received %d, aggregated %d, "
                          "holds %d (held messages stay in Paho until more data arrives)" %
                          (m.get("windrow_events_received_total", 0),
                           m.get("windrow_events_aggregated_total", 0),
                           m.get("windrow_backpressure_holds_total", 0)))
            self.assertEqual(m["windrow_events_received_total"], EVENTS)
            self.assertEqual(m["windrow_events_aggregated_total"], EVENTS)
            dropped = sum(v for k, v in m.items() if k.startswith("windrow_events_dropped_total{"))
            self.assertEqual(dropped, 0)
            self.assertEqual(m["windrow_backpressure_holds_total"], 0,
                             "the callback's wait always ended with room, never with a hold")

            def all_upstream():
                by_id = {r["id"]: r for c in collectors for r in c.results()}
                total = sum(r["count"] for r in by_id.values())
                return total if total >= EVENTS else None
            total = wait_for(all_upstream, 60, "every window upstream")
            self.assertEqual(total, EVENTS, "exact: each event in exactly one window")
            with open(local.log) as f:
                self.assertNotIn("dropped", f.read().lower(), "the local broker dropped nothing")
            print("uplink stall: %d events, holds %d, backpressure state peaked critical" %
                  (EVENTS, m["windrow_backpressure_holds_total"]))
            self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
