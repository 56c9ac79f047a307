"""Building blocks of the benchmark (tests/bench/run_bench.py).

Process figures from /proc, a local Mosquitto with a chosen configuration,
the load generator and the summary it writes, exact verification of window
results against that summary, and the two subjects: the bare-Paho floor
(paho_floor.c) and the real windrow binary with SQLite state and a TLS
upstream whose certificates are made at run time.

Everything started here is ended here, by PID. Waits poll a condition
against a deadline.
"""
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Broker, Windrow, base_config, wait_for  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CLOSER_MS = 3000  # the closer event is stamped this long after the last event


class Paths:
    def __init__(self, build):
        self.build = build
        self.windrow = os.path.join(build, "agent", "windrow")
        self.loadgen = os.path.join(build, "tests", "bench", "windrow_loadgen")
        self.floor = os.path.join(build, "tests", "bench", "windrow_paho_floor")

    def missing(self):
        return [p for p in (self.windrow, self.loadgen, self.floor) if not os.path.exists(p)]


# ---------------------------------------------------------------- /proc

def cpu_us(pid):
    """utime + stime of the whole process (all its threads, live or ended), µs."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // TICKS


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wakeups(pid):
    """Context switches (voluntary + nonvoluntary) summed over the live threads."""
    total = 0
    for status in glob.glob("/proc/%d/task/*/status" % pid):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # the thread ended between glob and open
    return total


def run_ns(pid):
    """Time on CPU of the live threads, ns (first field of /proc/<pid>/task/*/schedstat).

    Finer than utime+stime (which tick at 100 Hz) but blind to threads that
    have ended: for idle measurements, where the threads stay."""
    total = 0
    for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


class Sample:
    """CPU, wake-ups and write_bytes of one process at one instant."""

    def __init__(self, pid):
        self.t = time.monotonic()
        self.cpu_us = cpu_us(pid)
        self.wakeups = wakeups(pid)
        self.run_ns = run_ns(pid)
        self.write_bytes = write_bytes(pid)


# ---------------------------------------------------------------- brokers

DROPIN = None  # set by --dropin


def dropin_file():
    """The Mosquitto drop-in: --dropin FILE, else the one the package ships
    (firmware-targets/common/mosquitto/windrow.conf)."""
    if DROPIN:
        return DROPIN
    return harness.BROKER_DROPIN if os.path.exists(harness.BROKER_DROPIN) else None


class LocalBroker(Broker):
    """The broker between generator and subject.

    mode "stock": Mosquitto 2.0's defaults (a listener and anonymous access
    only; max_queued_messages 1000, max_inflight_messages 20).
    mode "dropin": stock plus the drop-in shipped by the package (its
    listener and paths left out, its persistence into the work dir; see
    harness.Broker).
    mode "deep": the integration harness's settings (a queue deep enough that
    the broker never drops); for the durability steps, so that what is lost
    is windrow's doing, not the broker's.
    """

    def __init__(self, workdir, name, mode="stock", **kw):
        if mode == "dropin":
            path = dropin_file()
            if path is None:
                raise RuntimeError("no Mosquitto drop-in at %s" % harness.BROKER_DROPIN)
            kw["dropin"] = path
        else:
            kw["dropin"] = False
        super().__init__(workdir, name, **kw)
        self.mode = mode

    def start(self):
        if self.mode in ("deep", "dropin"):
            return super().start()
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([harness.MOSQUITTO, "-c", self.conf], stdout=logf,
                                     stderr=logf)
        logf.close()
        wait_for(lambda: harness.port_open(self.port) or self.proc.poll() is not None, 10,
                 "mosquitto %s on port %d" % (self.name, self.port))
        if self.proc.poll() is not None:
            raise RuntimeError("mosquitto %s exited: %s" % (self.name, open(self.log).read()))
        return self


def make_certs(wd):
    d = os.path.join(wd, "pki")
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "gen-certs.sh"), d], check=True,
                   capture_output=True)
    return {"ca": d + "/ca.pem", "cert": d + "/client.pem", "key": d + "/client.key",
            "server_cert": d + "/server.pem", "server_key": d + "/server.key"}


def tls_upstream(wd, name, certs, start=True, port=None):
    b = Broker(wd, name, port=port, tls={"ca": certs["ca"], "cert": certs["server_cert"],
                                          "key": certs["server_key"]})
    return b.start() if start else b


# ---------------------------------------------------------------- load generator

class Load:
    """One run of the load generator in the background, with its summary file."""

    def __init__(self, paths, wd, port, events, keys, rate, qos, records=1, close=True,
                 prefix="bench", suffix="v", field="v", name="load", close_ms=None):
        self.summary_path = os.path.join(wd, name + ".summary")
        self.log_path = os.path.join(wd, name + ".log")
        args = [paths.loadgen, "-p", str(port), "-n", str(int(events)), "-k", str(keys),
                "-r", str(rate), "-q", str(qos), "-b", str(records), "-s", self.summary_path,
                "-t", prefix, "-x", suffix, "-f", field, "-i", "bench-" + name]
        if close:
            args += ["-c", str(close_ms if close_ms is not None else CLOSER_MS)]
        self.log = open(self.log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.t_end = None

    def running(self):
        if self.proc.poll() is None:
            return True
        if self.t_end is None:
            self.t_end = time.monotonic()
        return False

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError("load generator did not finish within %.0f s" % timeout)
        if self.t_end is None:
            self.t_end = time.monotonic()
        self.log.close()
        if self.proc.returncode != 0:
            raise RuntimeError("load generator failed (%d): %s" % (
                self.proc.returncode, open(self.log_path).read()[-2000:]))
        return self.summary()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if not self.log.closed:
            self.log.close()

    def summary(self):
        return read_summary(self.summary_path)


def read_summary(path):
    """{"windows": {(key, second): (count, sum_quarters)}, "sent_events": ..., ...}"""
    out = {"windows": {}}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            if parts[0] == "w":
                k = (parts[1], int(parts[2]))
                c, s = out["windows"].get(k, (0, 0))
                out["windows"][k] = (c + int(parts[3]), s + int(parts[4]))
            else:
                out[parts[0]] = float(parts[1]) if "." in parts[1] else int(parts[1])
    if out.get("ok") != 1:
        raise RuntimeError("load generator summary says it did not finish: %s" % path)
    return out


def expected_windows(summary, size_s):
    """Roll the per-second summary up into windows of size_s: {(key, start): [count, sum_q]}."""
    out = {}
    for (key, sec), (count, sum_q) in summary["windows"].items():
        e = out.setdefault((key, sec // size_s * size_s), [0, 0])
        e[0] += count
        e[1] += sum_q
    return out


def verify(summary, results, size_s, stream="bench"):
    """Compare every window upstream (deduplicated by idempotency key) with what was sent.

    Returns counts: windows expected, exact, wrong (count or sum differs), missing,
    unexpected; events delivered, lost (sent but in no result) and extra (counted
    twice); results received and duplicate deliveries; ids seen with two contents.
    """
    by_id = {}
    conflicts = 0
    for r in results:
        if r.get("stream") != stream or r.get("key") == "closer":
            continue
        c = {k: v for k, v in r.items() if not k.startswith("_")}
        if r["id"] in by_id and by_id[r["id"]] != c:
            conflicts += 1
        by_id[r["id"]] = c
    got = {}
    for r in by_id.values():
        w = got.setdefault((r["key"], r["start"]), [0, 0.0])
        w[0] += r["count"]
        w[1] += r.get("sum", 0.0)
    exp = expected_windows(summary, size_s)
    v = {"windows": len(exp), "exact": 0, "wrong": 0, "missing": 0, "unexpected": 0,
         "delivered": 0, "lost": 0, "extra": 0, "conflicts": conflicts,
         "results": len(by_id), "duplicates": len([r for r in results if r.get("key") != "closer"
                                                   and r.get("stream") == stream]) - len(by_id)}
    for w, (count, sum_q) in exp.items():
        g = got.get(w)
        if g is None:
            v["missing"] += 1
            v["lost"] += count
            continue
        v["delivered"] += g[0]
        if g[0] == count and abs(g[1] * 4 - sum_q) < 1e-6:
            v["exact"] += 1
        else:
            v["wrong"] += 1
        v["lost"] += max(0, count - g[0])
        v["extra"] += max(0, g[0] - count)
    for w, g in got.items():
        if w not in exp:
            v["unexpected"] += 1
            v["extra"] += g[0]
            v["delivered"] += g[0]
    return v


# ---------------------------------------------------------------- subjects

class Floor:
    """paho_floor.c: counts and frees messages; writes its count every 100 ms."""

    def __init__(self, paths, wd, port, qos, trace, filt="bench/#"):
        self.count_path = os.path.join(wd, "floor-%s.count" % trace)
        self.log_path = os.path.join(wd, "floor-%s.log" % trace)
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([paths.floor, "-p", str(port), "-q", str(qos), "-T", trace,
                                      "-t", filt, "-o", self.count_path, "-i",
                                      "bench-floor-" + trace], stdout=log, stderr=log)
        log.close()
        self.pid = self.proc.pid
        wait_for(lambda: self.subscribed() or self.proc.poll() is not None, 15,
                 "paho_floor subscribed")
        if self.proc.poll() is not None:
            raise RuntimeError("paho_floor exited: " + open(self.log_path).read())

    def _read(self):
        try:
            with open(self.count_path) as f:
                parts = f.read().split()
            return int(parts[0]), int(parts[2])
        except (FileNotFoundError, IndexError, ValueError):
            return 0, 0

    def subscribed(self):
        return self._read()[1] == 1

    def messages(self):
        return self._read()[0]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def bench_stream(size_s=1, lateness_s=1, keys=1000, senml=False, quantiles=None,
                 sketch_upstream=False):
    s = {"name": "bench", "match": "bench/+/v", "key": "{topic[1]}",
         "window": {"size_s": size_s, "allowed_lateness_s": lateness_s},
         "max_keys": keys + 16}
    if senml:
        s["format"] = "senml"
    else:
        s.update({"format": "json", "value_field": "v", "time_field": "ts", "time_unit": "ms"})
    if quantiles:
        s["quantiles"] = quantiles
    if sketch_upstream:
        s["sketch"] = {"upstream": True}
    return s


def windrow_config(wd, local_port, up_port, certs, streams, qos=1, storage=None,
                   metrics_ms=200, log_level="warn", queue=None, metrics_file=None):
    cfg = base_config(wd, local_port, up_port, streams,
                      metrics={"file": metrics_file or os.path.join(wd, "metrics.prom"),
                               "interval_ms": metrics_ms})
    # The harness sets a short checkpoint interval; here the defaults apply
    # unless the step says otherwise.
    cfg["storage"] = dict(storage or {})
    cfg["agent"]["log_level"] = log_level
    cfg["source"]["qos"] = qos
    cfg["source"]["client_id"] = "bench-windrow"
    # Defaults for the batch, so the upstream side is what a user gets.
    cfg["upstream"].pop("batch", None)
    cfg["upstream"]["reconnect"] = {"min_ms": 1000, "max_ms": 2000}
    if certs is not None:
        cfg["upstream"]["uri"] = "mqtts://127.0.0.1:%d" % up_port
        cfg["upstream"]["tls"] = {"ca_file": certs["ca"], "cert_file": certs["cert"],
                                  "key_file": certs["key"], "server_name": "localhost"}
    if queue:
        cfg["backpressure"] = {"queue_capacity": queue}
    return cfg


def check_config(paths, wd, cfg, name="check"):
    """(ok, message) from windrow --check-config on cfg."""
    path = os.path.join(wd, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([paths.windrow, "--check-config", path], capture_output=True, text=True,
                       timeout=30)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def start_windrow(wd, cfg, name="windrow", timeout=20):
    agent = Windrow(wd, cfg, name=name)
    agent.start(wait_subscribed=False)

    def up():
        if agent.proc.poll() is not None:
            raise RuntimeError("windrow exited (%s): %s" % (agent.proc.returncode,
                                                            agent.log_text()[-3000:]))
        m = agent.metrics()
        return m.get("windrow_source_connected") == 1
    wait_for(up, timeout, "windrow subscribed")
    return agent


def processed(m):
    """Events windrow has accounted for: folded into a window or dropped under a reason."""
    return m.get("windrow_events_aggregated_total", 0) + sum(
        v for k, v in m.items() if k.startswith("windrow_events_dropped_total"))


def dropped_by_reason(m):
    return {k.split('"')[1]: int(v) for k, v in m.items()
            if k.startswith("windrow_events_dropped_total{") and v}


def wait_settled(progress, done, timeout, quiet_s=3.0, interval=0.1):
    """Poll progress() until done(value) or it has not changed for quiet_s.

    Returns (value, time the value was first reached)."""
    deadline = time.monotonic() + timeout
    last = progress()
    t_last = time.monotonic()
    while time.monotonic() < deadline:
        if done(last):
            return last, t_last
        time.sleep(interval)  # polling interval
        v = progress()
        if v != last:
            last, t_last = v, time.monotonic()
        elif time.monotonic() - t_last > quiet_s:
            return last, t_last
    return last, t_last


class Scope(harness.Lab):
    """harness.Lab plus: any stop function, a local broker of a chosen mode, a RAM metrics file.

    The metrics file lives in /dev/shm so that rewriting it is not counted as
    storage writes of the windrow process (in production it is in /run too).
    """

    def __enter__(self):
        super().__enter__()
        self.shm = None
        if os.path.isdir("/dev/shm"):
            self.shm = os.path.join("/dev/shm", "windrow-bench-%d-%s" % (
                os.getpid(), os.path.basename(self.wd)))
            os.makedirs(self.shm)
        return self

    def add(self, stop):
        self._stops.append(stop)

    def ram(self):
        """A RAM-backed directory of this scope (the work dir where there is no /dev/shm)."""
        return self.shm or self.wd

    def metrics_path(self, name="metrics"):
        return os.path.join(self.shm or self.wd, name + ".prom")

    def local(self, mode, name="local"):
        b = LocalBroker(self.wd, name, mode=mode)
        self._stops.append(b.stop)
        return b.start()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            if self.shm:
                subprocess.run(["rm", "-rf", self.shm])


class Probe:
    """What this windrow build accepts, read from `windrow --print-config`.

    trace: the Paho trace level windrow runs with ("default" when the build
    has no such setting), so that it is compared with the floor at the same
    level. ram_dirs: (section, field) of settings that name RAM-backed
    directories (crash journal, snapshots); each run points them at its own
    directory under /dev/shm, so runs never share one and their writes are
    not counted as storage wear.
    """

    def __init__(self, paths, wd):
        cfg = {"agent": {"id": "probe", "state_dir": os.path.join(wd, "state")},
               "source": {"uri": "tcp://127.0.0.1:1883"},
               "upstream": {"uri": "tcp://127.0.0.1:1884"},
               "streams": [{"name": "s", "match": "a/+"}]}
        path = os.path.join(wd, "probe.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([paths.windrow, "--print-config", path], capture_output=True,
                           text=True, timeout=30)
        self.printed = json.loads(p.stdout) if p.returncode == 0 else {}
        self.trace = "default"
        self.trace_field = None
        self.ram_dirs = []
        for section, fields in self.printed.items():
            if not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                if "trace" in name and isinstance(value, str):
                    self.trace, self.trace_field = value, (section, name)
                if name.endswith("_dir") and isinstance(value, str) and any(
                        w in name for w in ("journal", "runtime", "run_dir", "ram", "snapshot")):
                    self.ram_dirs.append((section, name))

    def adjust(self, cfg, ram_root):
        for section, name in self.ram_dirs:
            d = os.path.join(ram_root, name)
            os.makedirs(d, exist_ok=True)
            cfg.setdefault(section, {})[name] = d
        return cfg
