"""Live reload: SIGHUP and config file changes under load, refusals, rollback.

Events carry their own timestamps and every window is checked: the sum of
counts over distinct results equals what was published (nothing lost across
reloads), and no window has two distinct results (nothing counted twice, open
windows carried over instead of split).
"""
import json
import os
import signal
import time
import unittest

from durability_util import PacedPublisher, distinct_results, one_per_window
from harness import Lab, base_config, free_port, wait_for

STREAMS = [
    {"name": "load", "match": "load/+", "key": "{topic[1]}",
     "window": {"size_s": 2, "allowed_lateness_s": 1}},
    {"name": "slow", "match": "slow/+", "key": "{topic[1]}",
     "window": {"size_s": 30, "allowed_lateness_s": 1}},
]
APPLIED = 'windrow_config_reloads_total{result="applied"}'
REFUSED = 'windrow_config_reloads_total{result="refused"}'
ROLLED_BACK = 'windrow_config_reloads_total{result="rolled_back"}'


def make_event(i):
    now_ms = int(time.time() * 1000)
    if i % 10 == 0:
        return "slow/s%d" % (i % 3), '{"value": %d, "ts": %d}' % (i % 7, now_ms)
    return "load/k%d" % (i % 20), '{"value": %d, "ts": %d}' % (i % 7, now_ms)


def replace_atomically(path, cfg):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
    os.rename(tmp, path)


def metric(agent, name):
    return agent.metrics().get(name, 0)


def wait_metric(agent, name, value, timeout, what):
    wait_for(lambda: metric(agent, name) >= value, timeout, what)


def check_totals(test, agent, collector, published):
    """Every published event in exactly one distinct window result."""
    def all_in():
        try:
            d = distinct_results(collector.results())
        except AssertionError:
            return False
        return sum(r["count"] for r in d.values()) >= published
    # The 30 s windows close once their stream clock passes them (it runs on with real time).
    wait_for(all_in, 60, "every published event in a result upstream")
    distinct = distinct_results(collector.results())
    one_per_window(distinct)
    test.assertEqual(sum(r["count"] for r in distinct.values()), published)
    m = agent.metrics()
    test.assertEqual(m.get("windrow_events_received_total"), published)


class ReloadTest(unittest.TestCase):
    def test_reload_storm_sighup_and_file_under_load_exact_totals(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              agent={"reload_debounce_ms": 100})
            agent = lab.agent(cfg)
            pub = PacedPublisher(local, "reload-pub", make_event, rate=400)
            pub.start()
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") > 200, 20,
                     "events flowing")
            reloads = 16
            for n in range(reloads):
                # Alternate the harmless changes a fleet makes: a filter bound, a priority,
                # the batch size; and alternate how the change arrives.
                new = json.loads(json.dumps(cfg))
                new["streams"][0]["filter"] = {"max": 1000 + n}
                new["streams"][1]["priority"] = n % 10
                new["upstream"]["batch"]["max_results"] = 20 + n
                if n % 2 == 0:
                    replace_atomically(agent.path, new)
                else:
                    with open(agent.path, "w") as f:
                        json.dump(new, f)
                    agent.proc.send_signal(signal.SIGHUP)
                wait_metric(agent, APPLIED, n + 1, 20, "reload %d applied" % (n + 1))
                time.sleep(0.5)  # pacing of the storm, not synchronisation
            # A SIGHUP with an unchanged file is no reload at all.
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_log(r"is unchanged; nothing to reload", 10)
            # An invalid config: refused with every problem named, the running one stays.
            bad = json.loads(json.dumps(cfg))
            bad["streams"][0]["window"]["size_s"] = 0
            bad["bogus"] = True
            replace_atomically(agent.path, bad)
            wait_metric(agent, REFUSED, 1, 20, "invalid config refused")
            log = agent.log_text()
            self.assertIn("streams[0].window.size_s", log)
            self.assertIn("bogus", log)
            self.assertIn("the running config stays", log)
            pub.stop()
            pub.finish(10)
            check_totals(self, agent, collector, pub.sent)
            self.assertEqual(metric(agent, APPLIED), reloads)
            self.assertEqual(metric(agent, REFUSED), 1)
            self.assertEqual(metric(agent, "windrow_results_cut_short_total"), 0)
            self.assertEqual(agent.stop(), 0)

    def test_stream_added_and_resized_under_load(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)))
            agent = lab.agent(cfg)
            pub = PacedPublisher(local, "reload-pub2", make_event, rate=300)
            pub.start()
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") > 200, 20,
                     "events flowing")
            new = json.loads(json.dumps(cfg))
            new["streams"][1]["window"]["size_s"] = 10
            new["streams"].append({"name": "extra", "match": "extra/+", "key": "{topic[1]}",
                                   "window": {"size_s": 2, "allowed_lateness_s": 1}})
            replace_atomically(agent.path, new)
            wait_metric(agent, APPLIED, 1, 20, "reload applied")
            agent.wait_log(r"stream slow: \d+ open window\(s\) emitted early", 10)
            agent.wait_log(r"subscribed to 3 topic filter", 10)
            extra = local.client("extra-pub")
            for i in range(50):
                extra.publish("extra/e1", '{"value": 1, "ts": %d}' % int(time.time() * 1000),
                              qos=1)
            extra.close()
            pub.stop()
            pub.finish(10)
            wait_for(lambda: sum(r["count"] for r in distinct_results(collector.results()).values()
                                 if r["stream"] == "extra") >= 50, 30, "the new stream's events")
            check_totals(self, agent, collector, pub.sent + 50)
            self.assertGreater(metric(agent, "windrow_results_cut_short_total"), 0)
            sizes = {r["size_s"] for r in collector.results() if r["stream"] == "slow"}
            self.assertEqual(sizes, {30, 10})
            self.assertEqual(agent.stop(), 0)

    def test_unreachable_upstream_rolled_back_within_bound(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              fleet={"confirm_timeout_ms": 2000})
            agent = lab.agent(cfg)
            pub = PacedPublisher(local, "reload-pub3", make_event, rate=200)
            pub.start()
            wait_for(lambda: metric(agent, "windrow_results_acked_total") > 10, 20,
                     "results acknowledged")
            new = json.loads(json.dumps(cfg))
            new["upstream"]["uri"] = "tcp://127.0.0.1:%d" % free_port()  # nobody listens
            started = time.monotonic()
            replace_atomically(agent.path, new)
            wait_metric(agent, ROLLED_BACK, 1, 15, "rollback")
            took = time.monotonic() - started
            self.assertLess(took, 2 + 5, "rolled back within the bound (2 s) plus a reload")
            agent.wait_log(r"did not come up within 2000 ms: rolling back", 5)
            acked = metric(agent, "windrow_results_acked_total")
            wait_for(lambda: metric(agent, "windrow_results_acked_total") > acked + 5, 20,
                     "results flow to the original upstream again")
            pub.stop()
            pub.finish(10)
            check_totals(self, agent, collector, pub.sent)
            self.assertEqual(metric(agent, APPLIED), 1)
            self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
