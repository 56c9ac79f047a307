"""Fleet push over MQTT: a signed config published (retained) on
windrow/{agent}/config is applied under load without losing or splitting a
window, written to the config file byte for byte, reported on
windrow/{agent}/config/state, and not applied again when the retained
message comes back (after the reload's reconnect, and after a restart).
"""
import json
import os
import signal
import time
import unittest

from durability_util import PacedPublisher, distinct_results, one_per_window
from fleet_util import (APPLIED, REFUSED, Keys, StateWatcher, config_bytes, fleet_section, metric,
                        push, push_with_mosquitto_pub, read, sha256)
from harness import Lab, base_config, wait_for

STREAMS = [
    {"name": "load", "match": "load/+", "key": "{topic[1]}",
     "window": {"size_s": 2, "allowed_lateness_s": 1}},
    {"name": "slow", "match": "slow/+", "key": "{topic[1]}",
     "window": {"size_s": 30, "allowed_lateness_s": 1}},
]
STATUS_TOPIC = "windrow/gw-test/status"


def make_event(i):
    now_ms = int(time.time() * 1000)
    if i % 10 == 0:
        return "slow/s%d" % (i % 3), '{"value": %d, "ts": %d}' % (i % 7, now_ms)
    return "load/k%d" % (i % 20), '{"value": %d, "ts": %d}' % (i % 7, now_ms)


def retained(broker, topic, client_id):
    c = broker.client(client_id)
    c.subscribe(topic, qos=1)
    try:
        msg = c.receive(5)
        return bytes(msg[1]) if msg is not None else None
    finally:
        c.close()


class FleetPushTest(unittest.TestCase):
    def test_signed_push_applied_under_load_windows_kept_totals_exact(self):
        with Lab() as lab:
            keys = Keys(lab.wd)
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream, topic="windrow/gw-test/results")
            states = StateWatcher(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              agent={"reload_debounce_ms": 100}, fleet=fleet_section(keys))
            agent = lab.agent(cfg)
            agent.wait_log(r"listening for fleet configs on windrow/gw-test/config", 15)
            original = read(agent.path)
            pub = PacedPublisher(local, "fleet-pub", make_event, rate=300)
            pub.start()
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") > 300, 20,
                     "events flowing")
            # The fleet's change: a filter bound and the batch size; the streams' windows stay.
            new = json.loads(json.dumps(cfg))
            new["streams"][0]["filter"] = {"max": 1000}
            new["upstream"]["batch"]["max_results"] = 25
            pushed = config_bytes(new)
            self.assertNotEqual(pushed, original)
            envelope = os.path.join(keys.dir, "envelope.json")
            with open(envelope, "wb") as f:
                f.write(keys.sign(pushed, 1733097600))
            started = time.monotonic()
            push_with_mosquitto_pub(upstream, envelope)
            report = states.wait_new(0, 20, "the outcome report")
            took = time.monotonic() - started
            self.assertEqual(report["result"], "applied", report)
            self.assertEqual(report["version"], 1733097600)
            self.assertEqual(report["hash"], sha256(pushed))
            self.assertEqual(report["agent"], "gw-test")
            self.assertEqual(report["reasons"], [])
            # Written to the file byte for byte, so a restart starts from it.
            self.assertEqual(read(agent.path), pushed)
            self.assertEqual(metric(agent, APPLIED), 1)
            agent.wait_log(r"fleet: pushed config version 1733097600 applied", 5)
            # The reload's reconnect brought the retained envelope back: recognised, not re-applied.
            agent.wait_log(r"push version 1733097600 delivered again; already applied, ignored",
                           20)
            # The status message names the running config by version and hash.
            def status_says_pushed():
                raw = retained(upstream, STATUS_TOPIC, "probe-%d" % time.monotonic_ns())
                if raw is None or not raw.startswith(b"{"):
                    return None
                return json.loads(raw)["config"]["version"] == 1733097600 and json.loads(raw)
            status = wait_for(status_says_pushed, 15, "status with the pushed version")
            self.assertEqual(status["config"]["hash"], sha256(pushed))
            # Events keep flowing under the new config, then every one is accounted for.
            sent = pub.sent
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") > sent + 300, 20,
                     "events after the push")
            pub.stop()
            pub.finish(10)

            def all_in():
                try:
                    d = distinct_results(collector.results())
                except AssertionError:
                    return False
                return sum(r["count"] for r in d.values()) >= pub.sent
            # The 30 s windows close once the stream's clock passes them.
            wait_for(all_in, 60, "every published event in a result upstream")
            distinct = distinct_results(collector.results())
            windows = one_per_window(distinct)  # no window split in two by the reload
            self.assertEqual(sum(r["count"] for r in distinct.values()), pub.sent)
            self.assertEqual(metric(agent, "windrow_events_received_total"), pub.sent)
            # Open windows were carried across the reload, none emitted early.
            self.assertEqual(metric(agent, "windrow_results_cut_short_total"), 0)
            slow_spanning = [w for w in windows if w[0] == "slow"]
            self.assertTrue(slow_spanning, "slow (30 s) windows were open across the push")
            # The file watch saw our own write: no second reload, nothing refused.
            self.assertEqual(metric(agent, APPLIED), 1)
            self.assertEqual(metric(agent, REFUSED), 0)
            self.assertEqual(agent.log_text().count("applying the new config from"), 1)
            self.assertLess(took, 20)
            self.assertEqual(states.count(), 1, states.reports)
            self.assertEqual(agent.stop(), 0)
            states.close()

    def test_retained_push_not_reapplied_after_restart(self):
        with Lab() as lab:
            keys = Keys(lab.wd)
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            states = StateWatcher(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              fleet=fleet_section(keys))
            agent = lab.agent(cfg)
            agent.wait_log(r"listening for fleet configs", 15)
            new = json.loads(json.dumps(cfg))
            new["streams"][1]["priority"] = 3
            pushed = config_bytes(new)
            push(upstream, keys.sign(pushed, 7))
            report = states.wait_new(0, 20, "the outcome report")
            self.assertEqual(report["result"], "applied", report)
            self.assertEqual(read(agent.path), pushed)
            with open(os.path.join(cfg["agent"]["state_dir"], "fleet-version")) as f:
                self.assertEqual(f.read().split(), ["7", sha256(pushed)])
            self.assertEqual(agent.stop(), 0)
            # Restart on the pushed file (the harness writes the same bytes again).
            agent.config = new
            agent.start()
            self.assertEqual(read(agent.path), pushed)
            agent.wait_log(r"push version 7 delivered again; already applied, ignored", 20,
                           count=2)
            wait_for(lambda: agent.metrics().get("windrow_config_version") == 7, 10,
                     "the running config's fleet version")
            self.assertEqual(metric(agent, APPLIED), 0)
            self.assertEqual(metric(agent, REFUSED), 0)
            # A SIGHUP finds the file as it runs: no reload either.
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_log(r"is unchanged; nothing to reload", 10)
            self.assertEqual(states.count(), 1, states.reports)
            self.assertEqual(agent.stop(), 0)
            states.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
