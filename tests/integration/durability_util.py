"""Helpers shared by the durability tests (test_durability_*.py).

A collector with a persistent session that reconnects by itself when its
broker goes away and comes back, result bookkeeping (duplicates, per-window
totals) and a paced publisher. Kept out of harness.py so the other suites
are untouched.
"""
import json
import math
import os
import threading
import time

from harness import Collector, Windrow, wait_for
from mqtt_lite import Client, MqttError


class PersistentCollector(Collector):
    """A Collector whose MQTT session survives broker restarts.

    It connects with clean=False and subscribes once, on its first
    connection (a new session, so nothing is queued for it yet). When the
    broker goes away it reconnects every 50 ms with the same client id and
    does NOT subscribe again: a persistent broker restores the subscription
    and the messages queued for the session and sends them right after
    CONNACK, and mqtt_lite's subscribe() would discard PUBLISH packets that
    arrive before the SUBACK. Messages from every connection are merged in
    arrival order.
    """

    def __init__(self, broker, topic="windrow/#", client_id="dur-collector"):
        self.port = broker.port
        self.client_id = client_id
        self.topic = topic
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.connections = 1
        self.client = Client(self.port, client_id, clean=False)
        self.client.subscribe(topic, qos=1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            if self.client is None:
                try:
                    self.client = Client(self.port, self.client_id, clean=False, timeout=2.0)
                    self.connections += 1
                except (OSError, MqttError, TimeoutError):
                    time.sleep(0.05)  # retry pace while the broker is down
                    continue
            try:
                msg = self.client.receive(0.2)
            except (OSError, MqttError, TimeoutError):
                try:
                    self.client.sock.close()
                except OSError:
                    pass
                self.client = None
                continue
            if msg is None:
                continue
            topic, payload = msg
            try:
                body = json.loads(payload)
            except ValueError:
                body = {"_raw": payload}
            with self.lock:
                self.messages.append((topic, body))

    def close(self):
        self.running = False
        self.thread.join(5)
        if self.client is not None:
            self.client.close()


def content(r):
    """A result without the collector's bookkeeping, for comparing duplicates."""
    return {k: v for k, v in r.items() if not k.startswith("_")}


def distinct_results(results):
    """{id: result}; raises AssertionError if one id carries two different contents."""
    out = {}
    for r in results:
        c = content(r)
        if r["id"] in out and out[r["id"]] != c:
            raise AssertionError("id %s seen with different contents:\n%r\n%r" %
                                 (r["id"], out[r["id"]], c))
        out[r["id"]] = c
    return out


def duplicate_count(results):
    return len(results) - len({r["id"] for r in results})


def one_per_window(distinct):
    """{(stream, key, start, size_s): result}; raises if one window has two distinct ids.

    With late_policy "drop" every window is emitted once (rev 0), so a second
    id for the same window would be a second, different result.
    """
    out = {}
    for r in distinct.values():
        w = (r["stream"], r["key"], r["start"], r["size_s"])
        if w in out:
            raise AssertionError("window %r has two distinct results:\n%r\n%r" % (w, out[w], r))
        out[w] = r
    return out


def expected_windows(events, size_s):
    """events: iterable of (key, time_ms, value) -> {(key, start_s): [count, sum, min, max]}."""
    out = {}
    for key, t_ms, value in events:
        start = (t_ms // 1000) // size_s * size_s
        e = out.setdefault((key, start), [0, 0, math.inf, -math.inf])
        e[0] += 1
        e[1] += value
        e[2] = min(e[2], value)
        e[3] = max(e[3], value)
    return out


def restart(agent, name, wait_subscribed=True):
    """A new Windrow on the same config (same state dir and client ids) with its own log."""
    return Windrow(agent.workdir, agent.config, name=name).start(wait_subscribed=wait_subscribed)


def wait_metric(agent, name, pred, timeout, what=None):
    """Wait until pred(value of metric name) holds; returns the value."""
    def check():
        if agent.proc is not None and agent.proc.poll() is not None:
            raise AssertionError("windrow exited (%s):\n%s" %
                                 (agent.proc.returncode, agent.log_text()[-4000:]))
        v = agent.metrics().get(name)
        return (v,) if v is not None and pred(v) else None
    return wait_for(check, timeout, what or "metric %s" % name)[0]


def state_files(agent):
    d = agent.config["agent"]["state_dir"]
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def db_bytes_on_disk(agent):
    d = agent.config["agent"]["state_dir"]
    total = 0
    for name in ("windrow.db", "windrow.db-wal"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            total += os.path.getsize(p)
    return total


class PacedPublisher(threading.Thread):
    """Publishes make(i) -> (topic, payload) for i = 0, 1, ... at rate per second.

    Runs for `count` messages or until stop() is called. The schedule is
    absolute (message i is due at start + i / rate), so the rate holds even
    when one publish is slow. sent is the number of messages whose publish
    returned (QoS 1: the broker acknowledged it).
    """

    def __init__(self, broker, client_id, make, rate, count=None, qos=1):
        super().__init__(daemon=True)
        self.broker = broker
        self.client_id = client_id
        self.make = make
        self.rate = rate
        self.count = count
        self.qos = qos
        self.sent = 0
        self.error = None
        self._stop_flag = threading.Event()

    def run(self):
        try:
            pub = self.broker.client(self.client_id)
            start = time.monotonic()
            i = 0
            while not self._stop_flag.is_set() and (self.count is None or i < self.count):
                due = start + i / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing, not synchronisation
                topic, payload = self.make(i)
                pub.publish(topic, payload, qos=self.qos)
                self.sent += 1
                i += 1
            pub.close()
        except Exception as e:  # reported by the test through .error
            self.error = e

    def stop(self):
        self._stop_flag.set()

    def finish(self, timeout):
        self.join(timeout)
        if self.is_alive():
            self.stop()
            self.join(5)
            raise AssertionError("publisher %s did not finish in %.0fs" % (self.client_id, timeout))
        if self.error is not None:
            raise AssertionError("publisher %s failed: %r" % (self.client_id, self.error))


def future_window(size_s, ahead_s):
    """Start (s) of the first window of size_s that starts at least ahead_s from now."""
    t = int(time.time()) + ahead_s
    return (t + size_s - 1) // size_s * size_s


def results_for(collector, stream, key, start):
    return [r for r in collector.results()
            if r["stream"] == stream and r["key"] == key and r["start"] == start]
