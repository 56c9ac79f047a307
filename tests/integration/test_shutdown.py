"""SIGTERM under load: windrow stops promptly, exits 0 and flushes its outbox.

Many small upstream messages (one result each) keep publishes and PUBACKs
crossing between threads while the agent shuts down; this is the load under
which a lock-order deadlock between the uplink and Paho once hung shutdown.
"""
import threading
import time
import unittest

from harness import Broker, Collector, Windrow, Workdir, base_config, wait_for

STREAMS = [{"name": "load", "match": "load/+", "key": "{topic[1]}",
            "window": {"size_s": 1, "allowed_lateness_s": 0}}]


class ShutdownTest(unittest.TestCase):
    def test_sigterm_under_load_exits_promptly_and_flushes(self):
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = None
            try:
                collector = Collector(upstream)
                cfg = base_config(wd, local.port, upstream.port, STREAMS,
                                  upstream={"batch": {"max_results": 1, "max_bytes": 1024,
                                                      "max_delay_ms": 0}})
                agent = Windrow(wd, cfg).start()
                stop = threading.Event()

                def publish():
                    pub = local.client("load-publisher")
                    i = 0
                    while not stop.is_set():
                        now = time.time()
                        pub.publish("load/k%d" % (i % 200), '{"value": 1, "ts": %.3f}' % now, qos=0)
                        i += 1
                        if i % 200 == 0:
                            time.sleep(0.01)  # pacing: about 20,000 events/s at most
                    pub.close()
                t = threading.Thread(target=publish)
                t.start()
                wait_for(lambda: agent.metrics().get("windrow_results_acked_total", 0) >= 1000, 30,
                         "a thousand results acknowledged under load")
                started = time.monotonic()
                rc = agent.stop(timeout=20)
                took = time.monotonic() - started
                stop.set()
                t.join()
                self.assertEqual(rc, 0)
                self.assertLess(took, 10, "shutdown must not hang")
                m = agent.metrics()
                self.assertEqual(m["windrow_outbox_rows"], 0, "outbox flushed before exit")
                emitted = m["windrow_results_emitted_total"]
                wait_for(lambda: len({r["id"] for r in collector.results()}) >= emitted, 10,
                         "every emitted result upstream")
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
