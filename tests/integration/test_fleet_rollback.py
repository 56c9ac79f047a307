"""A pushed config whose upstream cannot be reached is rolled back within
fleet.confirm_timeout_ms: the previous config runs again, the config file
holds it again, the outcome is reported rolled_back (through the previous
upstream, the one that works), the retained envelope that comes back with
the reconnect is not tried again, and no event is lost or counted twice.
"""
import json
import os
import time
import unittest

from durability_util import PacedPublisher, distinct_results, one_per_window
from fleet_util import (APPLIED, REFUSED, ROLLED_BACK, Keys, StateWatcher, config_bytes,
                        fleet_section, metric, push, read)
from harness import Lab, base_config, free_port, wait_for

STREAMS = [
    {"name": "load", "match": "load/+", "key": "{topic[1]}",
     "window": {"size_s": 2, "allowed_lateness_s": 1}},
    {"name": "slow", "match": "slow/+", "key": "{topic[1]}",
     "window": {"size_s": 10, "allowed_lateness_s": 1}},
]
BOUND_MS = 2000


def make_event(i):
    now_ms = int(time.time() * 1000)
    if i % 10 == 0:
        return "slow/s%d" % (i % 3), '{"value": %d, "ts": %d}' % (i % 7, now_ms)
    return "load/k%d" % (i % 20), '{"value": %d, "ts": %d}' % (i % 7, now_ms)


class FleetRollbackTest(unittest.TestCase):
    def test_unreachable_upstream_rolled_back_within_bound_and_reported(self):
        with Lab() as lab:
            keys = Keys(lab.wd)
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream, topic="windrow/gw-test/results")
            states = StateWatcher(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              fleet=fleet_section(keys, confirm_timeout_ms=BOUND_MS))
            agent = lab.agent(cfg)
            agent.wait_log(r"listening for fleet configs", 15)
            original = read(agent.path)
            pub = PacedPublisher(local, "rollback-pub", make_event, rate=200)
            pub.start()
            wait_for(lambda: metric(agent, "windrow_results_acked_total") > 10, 20,
                     "results acknowledged")
            bad = json.loads(json.dumps(cfg))
            bad["upstream"]["uri"] = "tcp://127.0.0.1:%d" % free_port()  # nobody listens
            started = time.monotonic()
            push(upstream, keys.sign(config_bytes(bad), 20))
            report = states.wait_new(0, 20, "the outcome report")
            took = time.monotonic() - started
            self.assertEqual(report["result"], "rolled_back", report)
            self.assertEqual(report["version"], 20)
            self.assertTrue(any(r.startswith("upstream: the new link did not come up within "
                                             "2000 ms") for r in report["reasons"]), report)
            # The bound plus a reload each way and the report's trip (a loaded 2-core box).
            self.assertLess(took, BOUND_MS / 1000 + 6, "rolled back within the bound")
            # The file holds the previous config again, so a restart runs the good one.
            self.assertEqual(read(agent.path), original)
            state_dir = cfg["agent"]["state_dir"]
            self.assertFalse(os.path.exists(os.path.join(state_dir, "fleet-version")),
                             "a rolled-back push is not recorded as applied")
            with open(os.path.join(state_dir, "fleet-rolled-back")) as f:
                self.assertEqual(f.read().split()[0], "20")
            # Back on the original upstream, the retained envelope comes again: not tried again.
            agent.wait_log(r"push version 20 delivered again; already rolled back, ignored", 20)
            acked = metric(agent, "windrow_results_acked_total")
            wait_for(lambda: metric(agent, "windrow_results_acked_total") > acked + 5, 20,
                     "results flow to the original upstream again")
            # A corrected push afterwards is applied normally.
            fixed = json.loads(json.dumps(cfg))
            fixed["streams"][0]["filter"] = {"max": 1000}
            push(upstream, keys.sign(config_bytes(fixed), 21))
            report = states.wait_new(1, 20, "the corrected push's report")
            self.assertEqual((report["result"], report["version"]), ("applied", 21), report)
            self.assertEqual(read(agent.path), config_bytes(fixed))
            pub.stop()
            pub.finish(10)

            def all_in():
                try:
                    d = distinct_results(collector.results())
                except AssertionError:
                    return False
                return sum(r["count"] for r in d.values()) >= pub.sent
            wait_for(all_in, 60, "every published event in a result upstream")
            distinct = distinct_results(collector.results())
            one_per_window(distinct)
            self.assertEqual(sum(r["count"] for r in distinct.values()), pub.sent)
            self.assertEqual(metric(agent, "windrow_events_received_total"), pub.sent)
            self.assertEqual(metric(agent, ROLLED_BACK), 1)
            self.assertEqual(metric(agent, APPLIED), 2)  # the attempt, then the corrected push
            self.assertEqual(metric(agent, REFUSED), 0)  # restoring the file is not news
            self.assertEqual(agent.log_text().count("applying pushed config version 20"), 1)
            self.assertEqual(states.count(), 2, states.reports)
            self.assertEqual(agent.stop(), 0)
            states.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
