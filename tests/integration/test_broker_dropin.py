"""The Mosquitto drop-in the package installs (/etc/mosquitto/conf.d/windrow.conf).

It must load the way Debian's mosquitto.conf includes it (next to that file's
own persistence and paths), and the broker must then queue for an offline
persistent QoS 1 subscriber past Mosquitto's default limit of 1000 messages,
across a broker restart. WINDROW_BROKER_DROPIN names the file to check
(default: the one in the source tree; scripts/check-package.sh passes the
installed one).
"""
import os
import shutil
import subprocess
import unittest

import harness
from harness import Broker, Workdir, wait_for

DROPIN = os.environ.get("WINDROW_BROKER_DROPIN", harness.BROKER_DROPIN)
QUEUED = 3000  # well past Mosquitto's default max_queued_messages (1000)
TOPIC = "sensors/s1/temperature"


class DebianLayoutBroker(Broker):
    """A broker configured as Debian lays it out: mosquitto.conf with its own
    persistence and paths and include_dir conf.d, where the drop-in sits
    next to a file of the test's with the listener (a real install runs in
    local-only mode on port 1883, which a test must not take)."""

    def __init__(self, workdir, name, dropin):
        super().__init__(workdir, name, dropin=False)
        self.dropin_src = dropin

    def start(self):
        confd = os.path.join(self.workdir, self.name + "-conf.d")
        store = os.path.join(self.workdir, self.name + "-store") + "/"
        os.makedirs(confd, exist_ok=True)
        os.makedirs(store, exist_ok=True)
        shutil.copyfile(self.dropin_src, os.path.join(confd, "windrow.conf"))
        listener = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        if os.geteuid() == 0:
            listener.append("user root")
        with open(os.path.join(confd, "00-test-listener.conf"), "w") as f:
            f.write("\n".join(listener) + "\n")
        # Debian 12's /etc/mosquitto/mosquitto.conf, with the test's paths.
        main = ["pid_file " + os.path.join(self.workdir, self.name + ".pid"),
                "persistence true",
                "persistence_location " + store,
                "log_dest file " + self.log,
                "include_dir " + confd]
        with open(self.conf, "w") as f:
            f.write("\n".join(main) + "\n")
        return self._spawn()

    def _spawn(self):
        # Config errors go to stderr, before the log file is set up.
        errpath = self.log + ".stderr"
        with open(errpath, "a") as err:
            self.proc = subprocess.Popen([harness.MOSQUITTO, "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: harness.port_open(self.port) or self.proc.poll() is not None, 10,
                 "mosquitto %s on port %d" % (self.name, self.port))
        if self.proc.poll() is not None:
            text = open(errpath).read()
            if os.path.exists(self.log):
                text += open(self.log).read()
            raise AssertionError("mosquitto refused the drop-in layout: %s" % text)
        return self


def setting_names(path):
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("#")]


class BrokerDropinTest(unittest.TestCase):
    def test_declares_no_listener_and_no_path(self):
        # A listener would end Mosquitto 2.0's local-only mode (and its
        # anonymous access) for every client; Debian's mosquitto.conf already
        # sets persistence_location and Mosquitto refuses a second one.
        names = setting_names(DROPIN)
        for forbidden in ("listener", "port", "bind_address", "persistence_location",
                          "include_dir", "pid_file", "log_dest", "user"):
            self.assertNotIn(forbidden, names)
        self.assertIn("max_queued_messages", names)

    def test_queues_past_the_default_limit_across_a_restart(self):
        with Workdir() as wd:
            broker = DebianLayoutBroker(wd, "local", DROPIN).start()
            try:
                sub = broker.client("windrow-gateway", clean=False)
                sub.subscribe("sensors/#", qos=1)
                sub.close()
                pub = broker.client("sensors")
                for i in range(QUEUED):
                    pub.publish(TOPIC, '{"v":%d}' % i, qos=1)
                pub.close()
                broker.stop()  # a clean stop saves the sessions and their queues
                broker.start()
                sub = broker.client("windrow-gateway", clean=False)
                got = []
                while len(got) < QUEUED:
                    msg = sub.receive(2.0)
                    if msg is None:
                        break
                    got.append(int(bytes(msg[1])[5:-1]))
                sub.close()
                self.assertEqual(len(got), QUEUED,
                                 "the broker dropped %d queued messages" % (QUEUED - len(got)))
                self.assertEqual(got, list(range(QUEUED)))
            finally:
                broker.stop()

    def test_harness_local_broker_takes_the_dropin(self):
        with Workdir() as wd:
            local = Broker(wd, "local")
            upstream = Broker(wd, "upstream")
            self.assertEqual(local.dropin, harness.BROKER_DROPIN)
            self.assertIsNone(upstream.dropin)
            local.start()
            try:
                with open(local.conf) as f:
                    conf = f.read().splitlines()
                for line in harness.dropin_settings(harness.BROKER_DROPIN):
                    self.assertIn(line, conf)
            finally:
                local.stop()


if __name__ == "__main__":
    unittest.main()
