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

from harness import Lab, base_config, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STREAMS = [{"name": "temp", "match": "sensors/+/temp", "key": "{topic[1]}",
            "window": {"size_s": 10, "allowed_lateness_s": 1}}]


def make_certs(wd, name):
    d = os.path.join(wd, name)
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "gen-certs.sh"), d], check=True)
    return {"ca": d + "/ca.pem", "cert": d + "/client.pem", "key": d + "/client.key",
            "server_cert": d + "/server.pem", "server_key": d + "/server.key"}


def server_tls(certs, server=None):
    """A broker's TLS settings: clients verified against certs' CA, and the
    server certificate from server (default: the same PKI)."""
    server = server or certs
    return {"ca": certs["ca"], "cert": server["server_cert"], "key": server["server_key"]}


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
        with Lab() as lab:
            certs = make_certs(lab.wd, "pki")
            local = lab.broker("local")
            upstream = lab.broker("upstream", tls=server_tls(certs))
            collector = lab.collector(upstream, tls=certs)
            agent = lab.agent(agent_config(lab.wd, local, upstream.port, certs))
            agent.wait_log(r"TLS session up", 15)
            t0 = (int(time.time()) // 10) * 10 - 60
            publish_window(local, t0)
            wait_for(lambda: has_window(collector, t0, 3), 15, "the window upstream over TLS")
            r = [r for r in collector.results() if r["key"] == "dev1"][0]
            self.assertEqual((r["sum"], r["min"], r["max"]), (6, 1, 3))
            self.assertNotIn("plain TCP", agent.log_text())
            self.assertEqual(agent.stop(), 0)

    def test_unknown_ca_refused_then_recovers_without_restart(self):
        with Lab() as lab:
            good = make_certs(lab.wd, "pki")
            rogue = make_certs(lab.wd, "rogue")
            local = lab.broker("local")
            # The broker first presents a certificate windrow's CA did not sign.
            upstream = lab.broker("upstream", tls=server_tls(good, server=rogue))
            agent = lab.agent(agent_config(lab.wd, local, upstream.port, good))
            agent.wait_log(r"upstream TLS failed: certificate unknown", 15)
            t0 = (int(time.time()) // 10) * 10 - 60
            publish_window(local, t0)
            wait_for(lambda: agent.metrics().get("windrow_outbox_rows", 0) >= 1, 10,
                     "the result waiting in the outbox")
            upstream.stop()
            fixed = lab.broker("upstream-fixed", port=upstream.port, tls=server_tls(good))
            collector = lab.collector(fixed, tls=good)
            wait_for(lambda: has_window(collector, t0, 3), 30,
                     "the waiting result delivered after the broker was fixed")
            self.assertEqual(agent.stop(), 0)

    def test_unreachable_upstream_then_returns(self):
        with Lab() as lab:
            certs = make_certs(lab.wd, "pki")
            local = lab.broker("local")
            upstream = lab.broker("upstream", start=False, tls=server_tls(certs))
            agent = lab.agent(agent_config(lab.wd, local, upstream.port, certs))
            agent.wait_log(r"upstream TLS failed: connection refused", 15)
            t0 = (int(time.time()) // 10) * 10 - 60
            publish_window(local, t0)
            wait_for(lambda: agent.metrics().get("windrow_outbox_rows", 0) >= 1, 10,
                     "the result waiting in the outbox")
            upstream.start()
            collector = lab.collector(upstream, tls=certs)
            wait_for(lambda: has_window(collector, t0, 3), 30, "the result after the broker came up")
            self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
