"""Fleet pushes that must be refused: a replayed older version, a tampered
signature, an unknown key, another agent's envelope, a malformed envelope,
an oversize payload and an invalid config. Each gets a report on
windrow/{agent}/config/state that names the problem by field path, and
neither the running config nor the config file changes: events keep
flowing through the same config, and no reload happens.
"""
import json
import time
import unittest

from durability_util import PacedPublisher
from fleet_util import (APPLIED, REFUSED, Keys, StateWatcher, config_bytes, fleet_section, metric,
                        push, read, sha256)
from harness import Lab, base_config, wait_for

STREAMS = [{"name": "load", "match": "load/+", "key": "{topic[1]}",
            "window": {"size_s": 2, "allowed_lateness_s": 1}}]
MAX_ENVELOPE = 4096


def make_event(i):
    return "load/k%d" % (i % 10), '{"value": %d, "ts": %d}' % (i % 7, int(time.time() * 1000))


def config_info(agent):
    """The hash in windrow_config_info{hash="..."}: the config that runs."""
    for name in agent.metrics():
        if name.startswith("windrow_config_info{"):
            return name.split('"')[1]
    return None


class FleetRefusalTest(unittest.TestCase):
    def test_each_bad_push_refused_with_reason_config_and_file_untouched(self):
        with Lab() as lab:
            keys = Keys(lab.wd)
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            states = StateWatcher(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, json.loads(json.dumps(STREAMS)),
                              fleet=fleet_section(keys, max_envelope_bytes=MAX_ENVELOPE))
            agent = lab.agent(cfg)
            agent.wait_log(r"listening for fleet configs", 15)
            pub = PacedPublisher(local, "refusal-pub", make_event, rate=100)
            pub.start()
            # Two good pushes, v9 then v10: the anti-rollback record says 10.
            envelopes = {}
            for version, bound in ((9, 900), (10, 1000)):
                new = json.loads(json.dumps(cfg))
                new["streams"][0]["filter"] = {"max": bound}
                envelopes[version] = keys.sign(config_bytes(new), version)
                self.assertLess(len(envelopes[version]), MAX_ENVELOPE)
                before = states.count()
                push(upstream, envelopes[version])
                report = states.wait_new(before, 20, "the report for v%d" % version)
                self.assertEqual((report["result"], report["version"]), ("applied", version),
                                 report)
            running = read(agent.path)
            self.assertEqual(sha256(running), states.reports[-1]["hash"])
            wait_for(lambda: config_info(agent) == sha256(running), 10, "v10 runs")
            applied = metric(agent, APPLIED)
            self.assertEqual(applied, 2)

            good = json.loads(json.dumps(cfg))
            good["streams"][0]["filter"] = {"max": 1100}
            good_bytes = config_bytes(good)
            invalid = json.loads(json.dumps(cfg))
            invalid["streams"][0]["window"]["size_s"] = 0
            invalid["bogus"] = True
            tampered = bytearray(keys.sign(good_bytes, 11))
            at = tampered.index(b'"signature":"') + len(b'"signature":"') + 20
            tampered[at] = ord("B") if tampered[at] != ord("B") else ord("C")
            cases = [
                ("replayed older version", envelopes[9], 9,
                 ["envelope.version: 9 is not above the last applied version 10"]),
                ("tampered signature", bytes(tampered), 11,
                 ['envelope.signature: does not verify with key "fleet"']),
                ("unknown key", keys.sign(good_bytes, 12, key="rogue", key_id="rogue"), 12,
                 ['envelope.key_id: no trusted key "rogue"']),
                ("another agent's", keys.sign(good_bytes, 13, agent="gw-other"), 13,
                 ['envelope.agent: "gw-other" is not this agent']),
                ("malformed envelope", b'{"format":"windrow-config-envelope/1",', 0,
                 ["envelope: not valid JSON"]),
                ("oversize payload", b"{" + b" " * 5000 + b"}", 0,
                 ["envelope: 5002 bytes, more than fleet.max_envelope_bytes (4096)"]),
                ("invalid config", keys.sign(config_bytes(invalid), 14), 14,
                 ["streams[0].window.size_s", "bogus"]),
            ]
            refused = metric(agent, REFUSED)
            for what, envelope, version, wants in cases:
                before = states.count()
                push(upstream, envelope)
                report = states.wait_new(before, 20, "the report on the %s push" % what)
                self.assertEqual(report["result"], "refused", (what, report))
                self.assertEqual(report["version"], version, what)
                for want in wants:
                    self.assertTrue(any(want in r for r in report["reasons"]),
                                    "%s: %r not in %r" % (what, want, report["reasons"]))
                refused += 1
                wait_for(lambda: metric(agent, REFUSED) >= refused, 10,
                         "the %s refusal counted" % what)
                # The file and the running config are what they were.
                self.assertEqual(read(agent.path), running, what)
                self.assertEqual(config_info(agent), sha256(running), what)
                agent.wait_log(r"push \(version %d\) refused" % version, 5)
            # Every problem of the invalid config is named (as --check-config names them).
            self.assertIn("bogus: unknown key", report["reasons"])
            # Still the same config, still working: events flow, nothing was reloaded.
            seen = metric(agent, "windrow_events_aggregated_total")
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") > seen + 100, 20,
                     "events after the refusals")
            pub.stop()
            pub.finish(10)
            self.assertEqual(metric(agent, APPLIED), applied)
            self.assertEqual(metric(agent, REFUSED), refused)
            self.assertEqual(agent.log_text().count("applying the new config from"), 2)
            self.assertEqual(read(agent.path), running)
            self.assertEqual(states.count(), 2 + len(cases), states.reports)  # one each
            with open(agent.config["agent"]["state_dir"] + "/fleet-version") as f:
                self.assertEqual(f.read().split()[0], "10")
            self.assertEqual(agent.stop(), 0)
            states.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
