"""Fleet visibility: the status topic is retained, carries the config's hash,
and says "offline" (Last Will) when the agent dies, or when it stops."""
import hashlib
import json
import signal
import time
import unittest

from harness import Lab, base_config, wait_for

STREAMS = [{"name": "t", "match": "t/+", "window": {"size_s": 2}}]
TOPIC = "windrow/gw-test/status"


def retained_status(broker, client_id):
    """The retained message on the status topic, as a new subscriber gets it."""
    c = broker.client(client_id)
    c.subscribe(TOPIC, qos=1)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            msg = c.receive(0.2)
            if msg is not None:
                return bytes(msg[1])
        return None
    finally:
        c.close()


class StatusWillTest(unittest.TestCase):
    def test_status_retained_with_config_hash_and_will_offline(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS)
            agent = lab.agent(cfg)
            with open(agent.path, "rb") as f:
                want_hash = hashlib.sha256(f.read()).hexdigest()
            n = [0]

            def online():
                n[0] += 1
                raw = retained_status(upstream, "probe%d" % n[0])
                return raw is not None and raw.startswith(b"{") and json.loads(raw)
            status = wait_for(online, 15, "a retained online status")
            self.assertEqual(status["status"], "online")
            self.assertEqual(status["config"]["hash"], want_hash)
            self.assertEqual(status["config"]["version"], 0)
            # SIGKILL: no goodbye; the broker publishes the Last Will.
            agent.stop(sig=signal.SIGKILL)
            wait_for(lambda: retained_status(upstream, "probe-dead%d" % time.monotonic_ns())
                     == b"offline", 15, "the Last Will retained")
            # Back, then a clean stop: the agent says offline itself.
            agent.start()
            wait_for(lambda: (retained_status(upstream, "probe-back%d" % time.monotonic_ns())
                              or b"").startswith(b"{"), 15, "online again")
            self.assertEqual(agent.stop(), 0)
            self.assertEqual(retained_status(upstream, "probe-stopped"), b"offline")


if __name__ == "__main__":
    unittest.main(verbosity=2)
