"""windrow's upstream over mutual TLS (mbedTLS), against a real Mosquitto TLS listener.

Certificates are generated at test time. Covers: exact results end to end;
an upstream with a certificate from an unknown CA refused with a clear log
line, then results flowing once the broker presents a good certificate; an
unreachable upstream whose results wait and arrive when it comes up.
"""
import os
import subprocess
import time
import unittest

from harness import Broker, Collector, Windrow, Workdir, base_config, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STREAMS = [{"name": "temp", "match": "sensors/+/temp", "key": "{topic[1]}",
            "window": {"size_s": 10, "allowed_lateness_s": 1}}]


def make_certs(wd, name):
    d = os.path.join(wd, name)
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "gen-certs.sh"), d], check=True)
    return {"ca": d + "/ca.pem", "cert": d + "/client.pem", "key": d + "/client.key",
            "server_cert": d + "/server.pem", "server_key": d + "/server.key"}


def tls_broker(wd, name, certs, port=None):
    return Broker(wd, name, port=port, tls={"ca": certs["ca"], "cert": certs["server_cert"],
                                             "key": certs["server_key"]})


def agent_config(wd, local, upstream_port, certs):
    cfg = base_config(wd, local.port, upstream_port, STREAMS)
    cfg["upstream"]["uri"] = "mqtts://127.0.0.1:%d" % upstream_port
    # Reconnects at least 1 s apart leave the test's collector time to subscribe
    # on a restarted broker before windrow publishes there.
    cfg["upstream"]["reconnect"] = {"min_ms": 1000, "max_ms": 2000}
    cfg["upstream"]["tls"] = {"ca_file": certs["ca"], "cert_file": certs["cert"],
                              "key_file": certs["key"], "server_name": "localhost"}
    return cfg


def publish_window(local, t0, n=3):
    pub = local.client("tls-test-pub")
    for i in range(n):
        pub.publish("sensors/dev1/temp", '{"value": %d, "ts": %d}' % (i + 1, t0 + i))
    pub.publish("sensors/zz/temp", '{"value": 0, "ts": %d}' % (t0 + 30))  # closes t0's window
    pub.close()


def has_window(collector, t0, count):
    return any(r["key"] == "dev1" and r["start"] == t0 and r["count"] == count
               for r in collector.results())


class TlsUpstreamTest(unittest.TestCase):
    def test_mutual_tls_exact_results(self):
        with Workdir() as wd:
            certs = make_certs(wd, "pki")
            local = Broker(wd, "local").start()
            upstream = tls_broker(wd, "upstream", certs).start()
            agent = None
            try:
                collector = Collector(upstream, tls=certs)
                agent = Windrow(wd, agent_config(wd, local, upstream.port, certs)).start()
                agent.wait_log(r"TLS session up", 15)
                t0 = (int(time.time()) // 10) * 10 - 60
                publish_window(local, t0)
                wait_for(lambda: has_window(collector, t0, 3), 15, "the window upstream over TLS")
                r = [r for r in collector.results() if r["key"] == "dev1"][0]
                self.assertEqual((r["sum"], r["min"], r["max"]), (6, 1, 3))
                self.assertNotIn("plain TCP", agent.log_text())
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def test_unknown_ca_refused_then_recovers_without_restart(self):
        with Workdir() as wd:
            good = make_certs(wd, "pki")
            rogue = make_certs(wd, "rogue")
            local = Broker(wd, "local").start()
            # The broker first presents a certificate windrow's CA did not sign.
            upstream = Broker(wd, "upstream", tls={"ca": good["ca"], "cert": rogue["server_cert"],
                                                  "key": rogue["server_key"]}).start()
            agent = None
            try:
                agent = Windrow(wd, agent_config(wd, local, upstream.port, good)).start()
                agent.wait_log(r"upstream TLS failed: certificate unknown", 15)
                t0 = (int(time.time()) // 10) * 10 - 60
                publish_window(local, t0)
                wait_for(lambda: agent.metrics().get("windrow_outbox_rows", 0) >= 1, 10,
                         "the result waiting in the outbox")
                port = upstream.port
                upstream.stop()
                upstream = tls_broker(wd, "upstream-fixed", good, port=port).start()
                collector = Collector(upstream, tls=good)
                wait_for(lambda: has_window(collector, t0, 3), 30,
                         "the waiting result delivered after the broker was fixed")
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()

    def test_unreachable_upstream_then_returns(self):
        with Workdir() as wd:
            certs = make_certs(wd, "pki")
            local = Broker(wd, "local").start()
            upstream = tls_broker(wd, "upstream", certs)  # not started yet
            agent = None
            try:
                agent = Windrow(wd, agent_config(wd, local, upstream.port, certs)).start()
                agent.wait_log(r"upstream TLS failed: connection refused", 15)
                t0 = (int(time.time()) // 10) * 10 - 60
                publish_window(local, t0)
                wait_for(lambda: agent.metrics().get("windrow_outbox_rows", 0) >= 1, 10,
                         "the result waiting in the outbox")
                upstream.start()
                collector = Collector(upstream, tls=certs)
                wait_for(lambda: has_window(collector, t0, 3), 30, "the result after the broker came up")
                self.assertEqual(agent.stop(), 0)
                collector.close()
            finally:
                if agent:
                    agent.stop()
                local.stop()
                upstream.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
