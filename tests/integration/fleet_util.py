"""Helpers shared by the fleet push tests (test_fleet_*.py).

Keys are made at test time with openssl, envelopes are signed with the
fleet's own script (scripts/windrow-sign-config), pushes go to the real
upstream broker as retained messages, and outcome reports are read from
windrow/{agent}/config/state like a fleet manager would.
"""
import hashlib
import json
import os
import subprocess
import threading

from harness import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIGN = os.path.join(REPO, "scripts", "windrow-sign-config")
AGENT = "gw-test"
CONFIG_TOPIC = "windrow/%s/config" % AGENT
STATE_TOPIC = "windrow/%s/config/state" % AGENT

APPLIED = 'windrow_config_reloads_total{result="applied"}'
REFUSED = 'windrow_config_reloads_total{result="refused"}'
ROLLED_BACK = 'windrow_config_reloads_total{result="rolled_back"}'


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Keys:
    """A fleet key pair (public half installed in keys_dir) and a rogue one (not installed)."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "fleet")
        self.keys_dir = os.path.join(self.dir, "keys")
        os.makedirs(self.keys_dir)
        for name in ("fleet", "rogue"):
            run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                 "-out", name + ".key"], self.dir)
        run(["openssl", "ec", "-in", "fleet.key", "-pubout",
             "-out", os.path.join(self.keys_dir, "fleet.pem")], self.dir)
        self.n = 0

    def sign(self, config_bytes, version, key="fleet", key_id="fleet", agent=AGENT):
        """The envelope (bytes) for config_bytes, made by scripts/windrow-sign-config."""
        self.n += 1
        path = os.path.join(self.dir, "config-%d.json" % self.n)
        with open(path, "wb") as f:
            f.write(config_bytes)
        out = subprocess.run(["sh", SIGN, "-k", os.path.join(self.dir, key + ".key"), "-i", key_id,
                              "-a", agent, "-v", str(version), path],
                             check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return out.stdout


def config_bytes(cfg):
    """The exact bytes harness.Windrow.write_config writes for cfg (so a restart keeps them)."""
    return json.dumps(cfg, indent=2).encode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fleet_section(keys, **extra):
    section = {"enabled": True, "keys_dir": keys.keys_dir}
    section.update(extra)
    return section


def push(broker, envelope, client_id="fleet-manager"):
    """Publish an envelope retained with QoS 1, as a fleet manager does."""
    c = broker.client(client_id)
    try:
        c.publish(CONFIG_TOPIC, envelope, qos=1, retain=True)
    finally:
        c.close()


def push_with_mosquitto_pub(broker, envelope_path):
    """The docs/fleet.md example, verbatim but for host and port."""
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", CONFIG_TOPIC,
         "-q", "1", "-r", "-f", envelope_path], os.path.dirname(envelope_path))


class StateWatcher:
    """Every outcome report on the state topic, in arrival order (the retained one first)."""

    def __init__(self, broker, client_id="state-watch"):
        self.client = broker.client(client_id)
        self.client.subscribe(STATE_TOPIC, qos=1)
        self.reports = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                msg = self.client.receive(0.2)
            except Exception:
                return
            if msg is None:
                continue
            with self.lock:
                self.reports.append(json.loads(bytes(msg[1])))

    def count(self):
        with self.lock:
            return len(self.reports)

    def wait_new(self, after, timeout, what):
        """The first report after the first `after` ones."""
        def got():
            with self.lock:
                return self.reports[after] if len(self.reports) > after else None
        return wait_for(got, timeout, what)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.client.close()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def metric(agent, name):
    return agent.metrics().get(name, 0)
