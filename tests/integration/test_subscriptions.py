"""Subscriptions follow the config on the local broker's persistent session.

A topic filter removed from the config must be unsubscribed from the
session, whether the change is made while windrow is stopped (it remembers
what it subscribed in its state dir) or by a reload while it runs. Two
observables, both of which fail if the filter stays subscribed:

- windrow's own counters: after the change, messages published to the
  removed filter are not delivered (windrow_messages_received_total and the
  unknown_topic drops do not count them). A QoS 1 marker on the kept filter,
  published after them by the same client, is the barrier: the session
  delivers in order, so once the marker is counted anything routed before
  it would have been counted too.
- the session itself: with windrow stopped, QoS 1 messages to the removed
  filter are not queued. A test client takes over the session (same client
  id, clean session off) and reads it up to a marker on the kept filter.
"""
import glob
import hashlib
import json
import os
import signal
import unittest

from harness import Lab, base_config, wait_for
from mqtt_lite import Client

KEPT = {"name": "kept", "match": "subs/a/+", "key": "{topic[2]}", "window": {"size_s": 60}}
REMOVED = {"name": "removed", "match": "subs/b/+", "key": "{topic[2]}", "window": {"size_s": 60}}
CLIENT_ID = "windrow-test"  # base_config's source.client_id
UNKNOWN = 'windrow_events_dropped_total{reason="unknown_topic"}'


def metric(agent, name):
    return agent.metrics().get(name, 0)


class Publisher:
    """QoS 1 publishes with distinct values (the filter's dedup must not hide any)."""

    def __init__(self, broker):
        self.client = broker.client("subs-pub")
        self.n = 0

    def send(self, topic, count=1):
        for _ in range(count):
            self.n += 1
            self.client.publish(topic, '{"value": %d}' % self.n, qos=1)

    def close(self):
        self.client.close()


def record_path(cfg):
    """Where windrow keeps the session's subscription record (agent/sub_record.h)."""
    ident = cfg["source"]["uri"].encode() + b"\0" + cfg["source"]["client_id"].encode()
    return os.path.join(cfg["agent"]["state_dir"],
                        "source-subscriptions-" + hashlib.sha256(ident).hexdigest()[:16])


def recorded_filters(cfg):
    with open(record_path(cfg)) as f:
        lines = f.read().splitlines()
    assert lines[0] == "windrow-subscriptions 1", lines
    assert lines[-1].startswith("end "), lines
    return sorted(line.split(" ", 1)[1] for line in lines if line.startswith("filter "))


def session_topics_up_to_marker(broker, marker_topic):
    """Take over windrow's session (windrow stopped) and list what it had queued, up to and
    including the marker."""
    c = Client(broker.port, CLIENT_ID, clean=False)
    topics = []
    try:
        while True:
            msg = c.receive(10)
            assert msg is not None, "the marker never came out of the session: %r" % topics
            topics.append(msg[0])
            if msg[0] == marker_topic:
                return topics
    finally:
        c.close()


class SubscriptionsTest(unittest.TestCase):
    def start_with_both(self, lab, local, upstream, pub):
        cfg = base_config(lab.wd, local.port, upstream.port,
                          json.loads(json.dumps([KEPT, REMOVED])))
        agent = lab.agent(cfg)
        agent.wait_log(r"no record of earlier subscriptions .*: nothing to unsubscribe", 5)
        self.assertEqual(recorded_filters(cfg), ["subs/a/+", "subs/b/+"])
        pub.send("subs/a/k1", 3)
        pub.send("subs/b/k1", 3)
        wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 6, 20,
                 "both streams' events aggregated")
        return cfg, agent

    def check_session_dropped_removed(self, agent, local, pub, cfg):
        """Stop windrow; the session must queue the kept filter's messages only."""
        self.assertEqual(agent.stop(), 0)
        pub.send("subs/b/k2", 4)
        pub.send("subs/a/marker")
        topics = session_topics_up_to_marker(local, "subs/a/marker")
        self.assertEqual([t for t in topics if t.startswith("subs/b/")], [],
                         "the removed filter is still subscribed in the session")
        self.assertEqual(recorded_filters(cfg), ["subs/a/+"])

    def test_filter_removed_while_stopped_is_unsubscribed_at_start(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            pub = Publisher(local)
            cfg, agent = self.start_with_both(lab, local, upstream, pub)
            self.assertEqual(agent.stop(), 0)

            # While windrow is stopped: the config loses the filter, and the broker (whose
            # session still has it) queues QoS 1 messages for both.
            agent.config["streams"] = [json.loads(json.dumps(KEPT))]
            pub.send("subs/b/k1", 7)
            pub.send("subs/a/k1", 3)
            agent.start()
            agent.wait_log(r"1 topic filter\(s\) subscribed by an earlier config are no longer "
                           r"configured; unsubscribing them at connect: subs/b/\+", 5)
            agent.wait_log(r"unsubscribed 1 topic filter\(s\) no longer in the config: subs/b/\+",
                           5)
            # After the unsubscribe: new messages to the removed filter, then the barrier.
            pub.send("subs/b/k1", 5)
            pub.send("subs/a/k1")
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 4, 20,
                     "the kept stream's queued events and the marker")
            m = agent.metrics()
            # The 7 queued while stopped arrive (the broker sends its queue at connect,
            # before any request of windrow's) and reach no window; the 5 sent after the
            # unsubscribe never arrive.
            self.assertEqual(m.get(UNKNOWN), 7)
            self.assertEqual(m.get("windrow_messages_received_total"), 7 + 3 + 1)
            self.assertEqual(m.get("windrow_events_aggregated_total"), 4)
            self.check_session_dropped_removed(agent, local, pub, cfg)
            pub.close()

    def test_filter_removed_by_sighup_is_unsubscribed(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            pub = Publisher(local)
            cfg, agent = self.start_with_both(lab, local, upstream, pub)
            agent.config["streams"] = [json.loads(json.dumps(KEPT))]
            agent.write_config()
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_log(r"unsubscribed 1 topic filter\(s\) no longer in the config: subs/b/\+",
                           20)
            agent.wait_log(r"running with 1 stream\(s\) after the reload", 5)
            received = metric(agent, "windrow_messages_received_total")
            pub.send("subs/b/k1", 5)
            pub.send("subs/a/k1")
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 7, 20,
                     "the marker after the reload")
            m = agent.metrics()
            self.assertEqual(m.get(UNKNOWN), 0)
            self.assertEqual(m.get("windrow_messages_received_total"), received + 1)
            self.check_session_dropped_removed(agent, local, pub, cfg)
            pub.close()

    def test_record_keeps_a_filter_until_the_broker_confirms_its_unsubscription(self):
        with Lab() as lab:
            # Persistent, so the session (with both subscriptions) survives a broker restart.
            local = lab.broker("local", persistent=True)
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            pub = Publisher(local)
            cfg, agent = self.start_with_both(lab, local, upstream, pub)
            self.assertEqual(agent.stop(), 0)
            pub.close()
            local.stop()
            # The filter is removed while the local broker is down: windrow cannot
            # unsubscribe it, so the record must go on naming it.
            agent.config["streams"] = [json.loads(json.dumps(KEPT))]
            agent.start(wait_subscribed=False)
            agent.wait_log(r"unsubscribing them at connect: subs/b/\+", 5)
            agent.wait_log(r"cannot connect to the local broker", 15)
            self.assertEqual(agent.stop(), 0)
            self.assertEqual(recorded_filters(cfg), ["subs/a/+", "subs/b/+"])
            local.start()
            pub = Publisher(local)
            pub.send("subs/b/k1", 3)
            agent.start(wait_subscribed=False)
            agent.wait_log(r"unsubscribed 1 topic filter\(s\) no longer in the config: subs/b/\+",
                           15)
            pub.send("subs/b/k1", 5)
            pub.send("subs/a/k1")
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 1, 20,
                     "the marker")
            self.assertEqual(metric(agent, UNKNOWN), 3)
            self.check_session_dropped_removed(agent, local, pub, cfg)
            pub.close()

    def test_filter_added_back_is_subscribed_and_recorded(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            pub = Publisher(local)
            cfg = base_config(lab.wd, local.port, upstream.port,
                              [json.loads(json.dumps(KEPT))])
            agent = lab.agent(cfg)
            self.assertEqual(recorded_filters(cfg), ["subs/a/+"])
            agent.config["streams"] = json.loads(json.dumps([KEPT, REMOVED]))
            agent.write_config()
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_log(r"subscribed to 2 topic filter", 20)
            # Recorded before it was subscribed, and nothing was unsubscribed.
            self.assertEqual(recorded_filters(cfg), ["subs/a/+", "subs/b/+"])
            self.assertNotIn("unsubscribed", agent.log_text())
            pub.send("subs/b/k1", 2)
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 2, 20,
                     "the added stream's events")
            self.assertEqual(agent.stop(), 0)
            pub.close()

    def test_corrupt_record_is_logged_and_replaced(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port,
                              [json.loads(json.dumps(KEPT))])
            path = record_path(cfg)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("windrow-subscriptions 1\nuri %s\nclient_id %s\nfilter subs/b/+\n" %
                        (cfg["source"]["uri"], CLIENT_ID))  # cut short: no end line
            agent = lab.agent(cfg)
            agent.wait_log(r"subscription record .* is corrupt \(line 5: missing end line", 5)
            self.assertTrue(os.path.exists(path + ".corrupt"))
            self.assertEqual(recorded_filters(cfg), ["subs/a/+"])
            pub = Publisher(local)
            pub.send("subs/a/k1", 2)
            wait_for(lambda: metric(agent, "windrow_events_aggregated_total") >= 2, 20,
                     "events flow despite the corrupt record")
            self.assertEqual(agent.stop(), 0)
            pub.close()

    def test_record_of_another_session_is_not_used(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            lab.collector(upstream)
            pub = Publisher(local)
            cfg, agent = self.start_with_both(lab, local, upstream, pub)
            self.assertEqual(agent.stop(), 0)
            # Another client id is another session: the first one's record is not its own.
            agent.config["source"]["client_id"] = "windrow-other"
            agent.config["streams"] = [json.loads(json.dumps(KEPT))]
            agent.start()
            agent.wait_log(r"no record of earlier subscriptions for .* as windrow-other", 5)
            agent.wait_log(r"subscribed to 1 topic filter", 15)
            self.assertEqual(len(glob.glob(os.path.join(cfg["agent"]["state_dir"],
                                                        "source-subscriptions-*"))), 2)
            self.assertNotIn("unsubscribed", agent.log_text())
            self.assertEqual(agent.stop(), 0)
            pub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
