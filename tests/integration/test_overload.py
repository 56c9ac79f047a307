"""Overload and hostile input: bounded memory, priorities kept, every event accounted for.

Windrow is slowed down by a test-only setting (WINDROW_TEST_EVENT_DELAY_US)
so that a Python publisher can offer far more than it processes.
"""
import json
import os
import threading
import time
import unittest

from harness import Broker, Collector, Windrow, Workdir, base_config, wait_for

# Sanitizer runtimes keep freed memory in quarantine: RSS says nothing there.
MEASURE_RSS = not os.environ.get("WINDROW_SANITIZED") and not os.environ.get("WINDROW_EMULATOR")


def rss_kb(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def accounted(m):
    """received == aggregated + dropped (+ in flight, zero once the queue is empty)."""
    dropped = sum(v for k, v in m.items() if k.startswith("windrow_events_dropped_total{"))
    return (m.get("windrow_events_received_total", -1),
            m.get("windrow_events_aggregated_total", 0) + dropped + m.get("windrow_queue_depth", 0))


class OverloadTest(unittest.TestCase):
    def test_flood_keeps_high_priority_exact_and_memory_bounded(self):
        streams = [
            {"name": "high", "match": "hi/+", "key": "{topic[1]}", "priority": 9,
             "window": {"size_s": 10, "allowed_lateness_s": 60}},
            {"name": "low", "match": "lo/+", "key": "{topic[1]}", "priority": 1,
             "window": {"size_s": 10, "allowed_lateness_s": 0}},
        ]
        budget = 4 * 1024 * 1024
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = None
            stop = threading.Event()
            t = None
            os.environ["WINDROW_TEST_EVENT_DELAY_US"] = "1000"  # at most ~1,000 events/s
            try:
                collector = Collector(upstream)
                cfg = base_config(wd, local.port, upstream.port, streams,
                                  backpressure={"queue_capacity": 2000,
                                                "memory_budget_bytes": budget})
                agent = Windrow(wd, cfg).start()
                idle_kb = rss_kb(agent.proc.pid)
                base = (int(time.time()) // 10) * 10 - 30
                flood_sent = [0]

                flood_error = []

                def flood():
                    try:
                        flood_loop()
                    except Exception as e:  # surfaced by flood_progress below
                        flood_error.append(repr(e))

                def flood_progress(target):
                    if flood_error:
                        raise AssertionError("the flood publisher failed: " + flood_error[0])
                    return flood_sent[0] >= target

                def flood_loop():
                    pub = local.client("flooder")
                    while not stop.is_set():
                        for _ in range(500):
                            pub.publish("lo/k%d" % (flood_sent[0] % 50),
                                        '{"value": 1, "ts": %.3f}' % time.time(), qos=0)
                            flood_sent[0] += 1
                        # QoS 0 only fills a socket buffer: a round trip now and
                        # then keeps the flood inside what the broker accepts.
                        pub.publish("lo/sync", '{"value": 0}', qos=1)
                    pub.close()
                t = threading.Thread(target=flood)
                t.start()
                wait_for(lambda: agent.metrics().get("windrow_backpressure_state", 0) >= 1, 30,
                         "backpressure leaving the normal state")
                # The high-priority stream: 600 events over 3 keys and 2 windows, QoS 1.
                pub = local.client("high-publisher")
                expected = {}
                for i in range(600):
                    key = "h%d" % (i % 3)
                    t_s = base + (i % 20)
                    start = base + (i % 20) // 10 * 10
                    pub.publish("hi/" + key, '{"value": %d, "ts": %d}' % (i, t_s), qos=1)
                    e = expected.setdefault((key, start), [0, 0])
                    e[0] += 1
                    e[1] += i
                # Keep flooding well past what the queue holds: about 20 s of work.
                wait_for(lambda: flood_progress(20000), 60, "a flood of 20,000 events")
                peak_kb = rss_kb(agent.proc.pid, "VmHWM")
                stop.set()
                t.join()
                pub.publish("hi/zz", '{"value": 0, "ts": %d}' % (base + 200), qos=1)
                pub.close()
                m = agent.metrics()
                self.assertGreater(m['windrow_events_dropped_total{reason="shed"}'], 0,
                                   "the low-priority stream was shed")
                self.assertEqual(m['windrow_events_dropped_total{reason="memory"}'], 0)

                def high_done():
                    got = {}
                    for r in collector.results():
                        if r["stream"] == "high" and r["key"] != "zz":
                            got[(r["key"], r["start"])] = [r["count"], r["sum"]]
                    return got if got == expected else None
                wait_for(high_done, 60, "every high-priority window complete and exact")
                wait_for(lambda: agent.metrics().get("windrow_backpressure_state", 1) == 0 and
                         agent.metrics().get("windrow_queue_depth", 1) == 0, 60,
                         "back to normal after the burst")
                received, accounted_for = wait_for(
                    lambda: (lambda a: a if a[0] == a[1] else None)(accounted(agent.metrics())),
                    10, "received == aggregated + dropped + in flight")
                self.assertEqual(received, accounted_for)
                self.assertGreater(received, 1000)
                peak_kb = max(peak_kb, rss_kb(agent.proc.pid, "VmHWM"))
                queue_kb = 2000 * 96 // 1024
                limit_kb = idle_kb + budget // 1024 + queue_kb + 16 * 1024
                print("overload: flood %d events, peak RSS %d kB (idle %d kB, limit %d kB), "
                      "shed %d, holds %d" % (flood_sent[0], peak_kb, idle_kb, limit_kb,
                                             m['windrow_events_dropped_total{reason="shed"}'],
                                             m.get("windrow_backpressure_holds_total", 0)))
                if MEASURE_RSS:
                    self.assertLess(peak_kb, limit_kb)
                self.assertIn("backpressure shedding", agent.log_text())
                self.assertLess(agent.log_text().count("backpressure "), 50,
                                "state changes are logged once each, not per event")
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                stop.set()
                if t is not None:
                    t.join()
                os.environ.pop("WINDROW_TEST_EVENT_DELAY_US", None)
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def test_million_keys_and_oversize_payloads_stay_bounded(self):
        streams = [{"name": "hostile", "match": "hostile/+", "key": "{name}", "format": "senml",
                    "max_keys": 1000, "window": {"size_s": 10, "allowed_lateness_s": 5}}]
        with Workdir() as wd:
            local = Broker(wd, "local").start()
            upstream = Broker(wd, "upstream").start()
            agent = None
            try:
                cfg = base_config(wd, local.port, upstream.port, streams,
                                  source={"max_payload_bytes": 65536},
                                  backpressure={"max_keys_total": 1000})
                agent = Windrow(wd, cfg).start()
                idle_kb = rss_kb(agent.proc.pid)
                pub = local.client("hostile")
                now = int(time.time())
                per_pack = 250
                packs = 4000  # 1,000,000 distinct keys
                for p in range(packs):
                    recs = [{"n": "dev%07d" % (p * per_pack + i), "v": 1, "t": now}
                            for i in range(per_pack)]
                    pub.publish("hostile/x", json.dumps(recs), qos=1)
                big = "[" + ",".join(['{"n":"x","v":1}'] * 70000) + "]"  # ~1 MB
                for _ in range(10):
                    pub.publish("hostile/x", big, qos=1)
                pub.close()
                total = packs * per_pack

                def settled():
                    m = agent.metrics()
                    return m.get("windrow_events_received_total", 0) >= total + 10 and \
                        m.get("windrow_queue_depth", 1) == 0 and m
                m = wait_for(settled, 120, "every event received and processed")
                m = agent.metrics()
                received, accounted_for = accounted(m)
                self.assertEqual(received, accounted_for)
                self.assertEqual(m['windrow_events_dropped_total{reason="oversize"}'], 10)
                self.assertEqual(m["windrow_keys"], 1000)
                self.assertEqual(m['windrow_events_dropped_total{reason="key_limit"}'], total - 1000)
                peak_kb = rss_kb(agent.proc.pid, "VmHWM")
                print("hostile: 1,000,000 keys offered, %d kept, peak RSS %d kB (idle %d kB)"
                      % (m["windrow_keys"], peak_kb, idle_kb))
                if MEASURE_RSS:
                    self.assertLess(peak_kb, idle_kb + 32 * 1024)
                self.assertEqual(agent.stop(), 0)
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
