"""Integration test harness: real Mosquitto brokers and the real windrow binary.

Every wait is a condition polled against a deadline; nothing sleeps for a
fixed time to let something happen. Processes started here are ended here,
by PID.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from mqtt_lite import Client

# The consumers' reference decoder (JSON, CBOR, zstd) lives in tests/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import windrow_decode  # noqa: E402

WINDROW_BIN = os.environ.get("WINDROW_BIN", "windrow")
# For a cross-built binary: the qemu-user command line to run it with (space-separated).
WINDROW_EMULATOR = os.environ.get("WINDROW_EMULATOR", "").split()
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The Mosquitto drop-in the package installs as /etc/mosquitto/conf.d/windrow.conf.
BROKER_DROPIN = os.path.join(ROOT, "firmware-targets", "common", "mosquitto", "windrow.conf")
# Options of a drop-in that belong to a real install (its listener, paths, user),
# left out when a test broker includes it; everything else is kept as written.
_INSTALL_ONLY = ("listener", "port", "bind_address", "persistence_location", "include_dir",
                 "log_dest", "log_type", "pid_file", "user")


def dropin_settings(path):
    """The settings lines of a Mosquitto drop-in, minus the install-only ones."""
    lines = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and line.split()[0] not in _INSTALL_ONLY:
                lines.append(line)
    return lines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling interval, not synchronisation
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """A mosquitto on a free loopback port (or a given one), optionally persistent, optionally TLS.

    dropin: a Mosquitto drop-in whose settings the broker takes (its
    listener and paths left out); by default the one the package ships for
    the broker named "local", the gateway's local broker in every test, and
    none for the others, which get queues deep enough never to drop.
    dropin=False: none.
    """

    def __init__(self, workdir, name, port=None, persistent=False, tls=None, dropin=None):
        self.workdir = workdir
        self.name = name
        self.port = port or free_port()
        self.persistent = persistent
        self.tls = tls
        if dropin is None:
            dropin = BROKER_DROPIN if name == "local" else False
        self.dropin = dropin or None
        self.proc = None
        self.conf = os.path.join(workdir, name + ".conf")
        self.log = os.path.join(workdir, name + ".log")

    def start(self):
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        if os.geteuid() == 0:
            # As root mosquitto would drop to its own user and lose access to
            # the test's private work dir.
            lines.append("user root")
        if self.dropin:
            lines += dropin_settings(self.dropin)
        else:
            lines += ["max_queued_messages 1000000", "max_inflight_messages 100"]
        store = os.path.join(self.workdir, self.name + "-store") + "/"
        if self.persistent:
            os.makedirs(store, exist_ok=True)
            lines += ["persistence true", "persistence_location " + store, "autosave_interval 1"]
        elif "persistence true" in lines:
            # The drop-in's persistence, saved at a clean stop into the work dir.
            os.makedirs(store, exist_ok=True)
            lines.append("persistence_location " + store)
        else:
            lines.append("persistence false")
        if self.tls:
            lines += ["cafile " + self.tls["ca"], "certfile " + self.tls["cert"],
                      "keyfile " + self.tls["key"], "require_certificate %s" %
                      ("true" if self.tls.get("require_client_cert", True) else "false"),
                      "tls_version tlsv1.2"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=logf, stderr=logf)
        logf.close()
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 10,
                 "mosquitto %s on port %d" % (self.name, self.port))
        if self.proc.poll() is not None:
            raise AssertionError("mosquitto %s exited: %s" % (self.name, open(self.log).read()))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def client(self, client_id, clean=True, tls=None):
        return Client(self.port, client_id, clean=clean, tls=tls)


class Collector:
    """Subscribes upstream and keeps every message in arrival order, decoded by
    tests/windrow_decode.py (JSON, CBOR or zstd; status messages are JSON)."""

    def __init__(self, broker, topic="windrow/#", client_id="collector", tls=None):
        self.client = broker.client(client_id, tls=tls)
        self.client.subscribe(topic, qos=1)
        self.messages = []
        self.raw = []  # (topic, payload bytes) as received
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
            topic, payload = msg
            try:
                body = windrow_decode.decode_message(payload)
            except ValueError:
                body = {"_raw": payload}
            with self.lock:
                self.messages.append((topic, body))
                self.raw.append((topic, bytes(payload)))

    def results(self):
        """Every result in every results message, flattened, with stream and size_s added."""
        out = []
        with self.lock:
            msgs = list(self.messages)
        for topic, body in msgs:
            if not topic.endswith("/results"):
                continue
            for group in body.get("groups", []):
                for r in group["results"]:
                    r = dict(r)
                    r["stream"] = group["stream"]
                    r["size_s"] = group["size_s"]
                    r["_agent"] = body.get("agent")
                    out.append(r)
        return out

    def statuses(self):
        with self.lock:
            return [b for t, b in self.messages if t.endswith("/status")]

    def close(self):
        self.running = False
        self.thread.join(2)
        self.client.close()


class Windrow:
    def __init__(self, workdir, config, name="windrow"):
        self.workdir = workdir
        self.config = config
        self.name = name
        self.path = os.path.join(workdir, name + ".json")
        self.log = os.path.join(workdir, name + ".log")
        self.proc = None

    def write_config(self):
        with open(self.path, "w") as f:
            json.dump(self.config, f, indent=2)

    def start(self, wait_subscribed=True):
        self.write_config()
        # A metrics file left by an earlier run would answer for this one.
        metrics_file = self.config.get("metrics", {}).get("file")
        if metrics_file and os.path.exists(metrics_file):
            os.unlink(metrics_file)
        logf = open(self.log, "a")
        env = dict(os.environ)
        self.proc = subprocess.Popen(WINDROW_EMULATOR + [WINDROW_BIN, "-c", self.path],
                                     stdout=logf, stderr=logf, env=env)
        logf.close()
        if wait_subscribed:
            self.wait_log(r"subscribed to", 15)
        return self

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout, count=1):
        rx = re.compile(pattern)

        def seen():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("windrow exited (%s) while waiting for %r:\n%s" %
                                     (self.proc.returncode, pattern, self.log_text()[-4000:]))
            return len(rx.findall(self.log_text())) >= count
        wait_for(seen, timeout, "log line %r" % pattern)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("windrow did not stop within %ds" % timeout)
        self.proc = None
        return rc

    def metrics(self):
        """The Prometheus textfile as {name or name{labels}: value}."""
        path = self.config["metrics"]["file"]
        out = {}
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("#") or not line.strip():
                        continue
                    name, value = line.rsplit(" ", 1)
                    out[name] = float(value)
        except FileNotFoundError:
            pass
        return out


def runtime_dir_for(workdir):
    """The agent's crash journal and snapshots: tmpfs like /run/windrow, one per work dir
    (agents of concurrent tests must never share one)."""
    if os.path.isdir("/dev/shm"):
        return os.path.join("/dev/shm", os.path.basename(workdir) + "-run")
    return os.path.join(workdir, "run")


def base_config(workdir, source_port, upstream_port, streams, **overrides):
    cfg = {
        "agent": {"id": "gw-test", "state_dir": os.path.join(workdir, "state"),
                  "log_level": "info"},
        "source": {"uri": "tcp://127.0.0.1:%d" % source_port, "client_id": "windrow-test"},
        "upstream": {"uri": "tcp://127.0.0.1:%d" % upstream_port,
                     "batch": {"max_results": 50, "max_bytes": 16384, "max_delay_ms": 200},
                     "reconnect": {"min_ms": 200, "max_ms": 1000}},
        "streams": streams,
        "storage": {"checkpoint_interval_ms": 500, "runtime_dir": runtime_dir_for(workdir)},
        "metrics": {"file": os.path.join(workdir, "metrics.prom"), "interval_ms": 200},
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(cfg.get(section), dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    return cfg


class Workdir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="windrow-it-")
        return self.path

    def __exit__(self, *exc):
        if exc[0] is None and not os.environ.get("WINDROW_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)
            shutil.rmtree(runtime_dir_for(self.path), ignore_errors=True)
        else:
            print("work dir kept:", self.path)


class Lab:
    """A work dir and everything a test starts in it, stopped in reverse order at exit.

        with Lab() as lab:
            local = lab.broker("local")
            agent = lab.agent(base_config(lab.wd, ...))

    Agents are registered after the brokers they use, so they stop first and
    can still flush. Stopping twice is harmless, so a test may stop things
    itself to assert on the exit code.
    """

    def __enter__(self):
        self._workdir = Workdir()
        self.wd = self._workdir.__enter__()
        self._stops = []
        return self

    def broker(self, name, start=True, **kwargs):
        b = Broker(self.wd, name, **kwargs)
        self._stops.append(b.stop)
        return b.start() if start else b

    def collector(self, broker, **kwargs):
        c = Collector(broker, **kwargs)
        self._stops.append(c.close)
        return c

    def agent(self, config, name="windrow", start=True, **start_kwargs):
        a = Windrow(self.wd, config, name=name)
        self._stops.append(lambda: a.stop(timeout=10))
        return a.start(**start_kwargs) if start else a

    def __exit__(self, *exc):
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception as e:  # keep stopping the rest; the test's own error wins
                print("lab cleanup:", repr(e))
        return self._workdir.__exit__(*exc)
