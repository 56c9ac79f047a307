"""systemd's notify protocol and watchdog, with this test playing systemd.

A Python datagram socket stands in for systemd's notification socket
(NOTIFY_SOCKET, an abstract name as systemd uses) and WATCHDOG_USEC asks for
pings. The test checks READY=1 once the agent runs, WATCHDOG=1 at about half
the interval, STOPPING=1 on SIGTERM; then it stalls the pipeline loop through
a test-only fault point (WINDROW_TEST_STALL_FILE), sees the pings stop, kills
the agent as systemd's watchdog would, starts it again and sees the new one
run on and aggregate.
"""
import os
import signal
import socket
import threading
import time
import unittest

from harness import Lab, base_config, wait_for

STREAMS = [{"name": "t", "match": "sensors/+", "key": "{topic[1]}",
            "window": {"size_s": 1, "allowed_lateness_s": 0}}]
WATCHDOG_USEC = 2000000  # 2 s: pings expected every ~1 s


class FakeSystemd:
    """Receives notification datagrams and keeps (monotonic time, assignments) for each."""

    def __init__(self):
        self.name = "@windrow-it-notify-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.messages = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def seen(self, key, since=0.0):
        with self.lock:
            return [(t, f) for t, f in self.messages if key in f and t >= since]

    def last_ping(self):
        pings = self.seen("WATCHDOG")
        return pings[-1][0] if pings else None

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.systemd = FakeSystemd()
        self.saved = {k: os.environ.get(k) for k in
                      ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "WINDROW_TEST_STALL_FILE")}
        os.environ["NOTIFY_SOCKET"] = self.systemd.name
        os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        os.environ.pop("WATCHDOG_PID", None)

    def tearDown(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.systemd.close()

    def test_ready_watchdog_stopping(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            agent = lab.agent(base_config(lab.wd, local.port, upstream.port, STREAMS))
            ready = wait_for(lambda: self.systemd.seen("READY"), 15, "READY=1")
            self.assertEqual(ready[0][1]["READY"], "1")
            t_ready = ready[0][0]
            # Pings at about half the interval: none missing a deadline.
            wait_for(lambda: len(self.systemd.seen("WATCHDOG", t_ready)) >= 6, 15,
                     "six WATCHDOG=1 pings")
            times = [t for t, _ in self.systemd.seen("WATCHDOG", t_ready)]
            gaps = [b - a for a, b in zip(times, times[1:])]
            self.assertLess(max(gaps), WATCHDOG_USEC / 1e6 * 0.9,
                            "pings come well within the watchdog interval: %r" % gaps)
            self.assertGreater(min(gaps), 0.5, "pings are paced, not sent on every pass")
            self.assertEqual(self.systemd.seen("STOPPING"), [])
            t_term = time.monotonic()
            self.assertEqual(agent.stop(signal.SIGTERM), 0)
            stopping = self.systemd.seen("STOPPING", t_term)
            self.assertEqual(len(stopping), 1, "STOPPING=1 once on SIGTERM")

    def test_stalled_pipeline_stops_pings_and_is_restarted(self):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            stall = os.path.join(lab.wd, "stall")
            os.environ["WINDROW_TEST_STALL_FILE"] = stall
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS)
            agent = lab.agent(cfg)
            wait_for(lambda: self.systemd.seen("READY"), 15, "READY=1")
            wait_for(lambda: len(self.systemd.seen("WATCHDOG")) >= 2, 10, "pings running")
            open(stall, "w").close()
            t_stall = time.monotonic()
            # The supervisor's side: no ping for WATCHDOG_USEC means the service hangs.
            wait_for(lambda: time.monotonic() - max(self.systemd.last_ping(), t_stall) >
                     WATCHDOG_USEC / 1e6, 10, "the watchdog deadline passing without a ping")
            self.assertIsNone(agent.proc.poll(), "the stalled agent is still running (hung)")
            pid = agent.proc.pid
            agent.stop(signal.SIGKILL)  # what systemd does on a missed watchdog
            os.unlink(stall)
            t_restart = time.monotonic()
            agent.start()
            self.assertNotEqual(agent.proc.pid, pid)
            wait_for(lambda: self.systemd.seen("READY", t_restart), 15, "READY=1 after restart")
            wait_for(lambda: len(self.systemd.seen("WATCHDOG", t_restart)) >= 3, 10,
                     "pings from the restarted agent")
            # It runs on: events in, an exact window out.
            pub = local.client("pub")
            start = int(time.time()) - 30
            for i in range(10):
                pub.publish("sensors/a", '{"value": %d, "ts": %d}' % (i, start), qos=1)
            pub.publish("sensors/a", '{"value": 0, "ts": %d}' % (start + 5), qos=1)
            pub.close()
            got = wait_for(lambda: [r for r in collector.results() if r["start"] == start], 20,
                           "the window from the restarted agent upstream")
            self.assertEqual(got[0]["count"], 10)
            self.assertEqual(got[0]["sum"], 45)
            self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
