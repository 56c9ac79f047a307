"""Heartbeat through the real binary: a flat signal inside the deadband is
dropped, except that one event gets through per filter.max_silence_ms of
suppression, counted in windrow_events_heartbeat_total and visible upstream
as window counts.
"""
import sys
import time
import unittest

from harness import Lab, base_config, wait_for
from durability_util import wait_metric

SILENCE_MS = 400


class HeartbeatTest(unittest.TestCase):
    def test_flat_signal_sends_heartbeats(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            streams = [{"name": "flat", "match": "flat/+", "key": "{topic[1]}", "time_field": "",
                        "window": {"size_s": 60},
                        "filter": {"deadband": 1.0, "max_silence_ms": SILENCE_MS}}]
            agent = lab.agent(base_config(lab.wd, local.port, upstream.port, streams))
            pub = local.client("pub")
            t_start = time.monotonic()
            sent = 0

            def heartbeats():
                return agent.metrics().get("windrow_events_heartbeat_total", 0)
            # Publish the same value every 20 ms until two heartbeats have gone through.
            deadline = t_start + 15
            while heartbeats() < 2:
                self.assertLess(time.monotonic(), deadline, "no two heartbeats within 15 s")
                pub.publish("flat/dev", "20.0" if sent % 2 else "20.3")
                sent += 1
                time.sleep(0.02)  # pacing of the publisher, not synchronisation
            elapsed_ms = (time.monotonic() - t_start) * 1000
            pub.close()
            m = agent.metrics()
            hb = m["windrow_events_heartbeat_total"]
            dropped = m.get('windrow_events_dropped_total{reason="filter_deadband"}', 0)
            self.assertGreater(dropped, 0, "the flat signal must be suppressed at all")
            # At most one heartbeat per silence interval (plus the metric's own lag).
            self.assertLessEqual(hb, elapsed_ms / SILENCE_MS + 2, (hb, elapsed_ms))
            # Every event is accounted for: first event + heartbeats passed, the rest dropped.
            wait_metric(agent, "windrow_events_aggregated_total", lambda v: v >= 1 + hb, 5,
                        "first event and heartbeats folded")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
