"""Windrow benchmark: real Mosquitto brokers, the real binary, a C load generator.

Prints, per key count: sustained events/s with no loss (every event sent is
aggregated, none dropped), windrow's CPU microseconds per event, its peak RSS,
and bytes it wrote to storage; then storage wear at a steady rate, restore
time for 10,000 open windows, and the stripped binary size.

  python3 tests/bench/run_bench.py [BUILD_DIR]
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Broker, Windrow, base_config, wait_for  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "release")
harness.WINDROW_BIN = os.path.join(BUILD, "agent", "windrow")
LOADGEN = os.path.join(BUILD, "tests", "bench", "windrow_loadgen")
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_us(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // TICKS


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def proc_write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def stop_all(scope):
    """On the way out of a failed measurement: stop the agent it started, if any."""
    agent = scope.get("agent")
    if agent is not None and agent.proc is not None:
        agent.stop(timeout=10)


def stream(keys):
    return [{"name": "bench", "match": "bench/+/v", "key": "{topic[1]}",
             "window": {"size_s": 10, "allowed_lateness_s": 2}, "max_keys": max(keys * 2, 1000)}]


def start_agent(wd, local, upstream, keys, checkpoint_ms=1000):
    cfg = base_config(wd, local.port, upstream.port, stream(keys),
                      backpressure={"queue_capacity": 65536},
                      storage={"checkpoint_interval_ms": checkpoint_ms},
                      upstream={"batch": {"max_results": 500, "max_bytes": 65536,
                                          "max_delay_ms": 500}},
                      metrics={"file": os.path.join(wd, "metrics.prom"), "interval_ms": 100})
    cfg["agent"]["log_level"] = "warn"
    agent = Windrow(wd, cfg)
    agent.start(wait_subscribed=False)
    wait_for(lambda: agent.metrics().get("windrow_source_connected") == 1, 15, "windrow subscribed")
    return agent


def throughput(keys, events):
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        try:
            agent = start_agent(wd, local, upstream, keys)
            pid = agent.proc.pid
            cpu0, wb0 = proc_cpu_us(pid), proc_write_bytes(pid)
            t0 = time.monotonic()
            gen = subprocess.run([LOADGEN, str(local.port), str(events), str(keys)],
                                 capture_output=True, text=True, timeout=600)
            if gen.returncode != 0:
                raise RuntimeError(gen.stderr)

            def done():
                m = agent.metrics()
                return m.get("windrow_events_aggregated_total", 0) + \
                    m.get("windrow_events_dropped_total{reason=\"late\"}", 0) >= events and m
            m = wait_for(done, 600, "all events aggregated", interval=0.05)
            elapsed = time.monotonic() - t0
            cpu_us = proc_cpu_us(pid) - cpu0
            rss_kb = proc_status(pid, "VmHWM")
            written = proc_write_bytes(pid) - wb0
            dropped = sum(v for k, v in m.items() if k.startswith("windrow_events_dropped_total"))
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"keys": keys, "events": events, "seconds": elapsed, "events_per_s": events / elapsed,
            "cpu_us_per_event": cpu_us / events, "peak_rss_kb": rss_kb,
            "aggregated": int(m.get("windrow_events_aggregated_total", 0)), "dropped": int(dropped),
            "bytes_written": written}


def wear(keys=1000, rate=2000, seconds=60):
    """Bytes written per minute at a steady load, 1 s checkpoints."""
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        try:
            agent = start_agent(wd, local, upstream, keys, checkpoint_ms=1000)
            pid = agent.proc.pid
            gen = subprocess.Popen([LOADGEN, str(local.port), str(rate * (seconds + 15)), str(keys),
                                    str(rate)], stdout=subprocess.DEVNULL)
            wait_for(lambda: agent.metrics().get("windrow_windows_open", 0) >= keys, 30,
                     "all keys open")
            time.sleep(5)  # settle into steady state: this is the measurement window's start
            wb0, t0 = proc_write_bytes(pid), time.monotonic()
            time.sleep(seconds)  # the measurement window itself
            written = proc_write_bytes(pid) - wb0
            elapsed = time.monotonic() - t0
            gen.kill()
            gen.wait()
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"keys": keys, "rate": rate, "bytes_per_min": written * 60 / elapsed}


def restore(keys=10000):
    """Time to restore 10,000 open windows at start (from the start-up log line)."""
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        try:
            agent = start_agent(wd, local, upstream, keys)
            subprocess.run([LOADGEN, str(local.port), str(keys), str(keys)], check=True,
                           capture_output=True, timeout=120)
            wait_for(lambda: agent.metrics().get("windrow_windows_open", 0) >= keys, 30,
                     "10,000 open windows")
            agent.stop()
            agent.config["agent"]["log_level"] = "info"
            agent.start(wait_subscribed=False)
            agent.wait_log(r"restored %d open" % keys, 30)
            line = [l for l in agent.log_text().splitlines() if "restored %d open" % keys in l][-1]
            ms = int(line.rsplit(" in ", 1)[1].split()[0])
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"windows": keys, "restore_ms": ms}


def drain(events=100000, keys=25000):
    """Results pile up while the uplink is down; time to drain them once it returns."""
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream")  # down at first
        try:
            cfg_streams = [{"name": "bench", "match": "bench/+/v", "key": "{topic[1]}",
                            "window": {"size_s": 1, "allowed_lateness_s": 1},
                            "max_keys": keys * 2}]
            cfg = base_config(wd, local.port, upstream.port, cfg_streams,
                              backpressure={"queue_capacity": 65536},
                              storage={"checkpoint_interval_ms": 1000},
                              upstream={"batch": {"max_results": 100, "max_bytes": 65536,
                                                  "max_delay_ms": 500}},
                              metrics={"file": os.path.join(wd, "metrics.prom"),
                                       "interval_ms": 100})
            cfg["agent"]["log_level"] = "warn"
            agent = Windrow(wd, cfg)
            agent.start(wait_subscribed=False)
            wait_for(lambda: agent.metrics().get("windrow_source_connected") == 1, 15, "subscribed")
            # Few events per (key, 1 s window): about one result per event.
            subprocess.run([LOADGEN, str(local.port), str(events), str(keys)], check=True,
                           capture_output=True, timeout=300)

            def built():
                m = agent.metrics()
                return m.get("windrow_windows_open", 1) == 0 and \
                    m.get("windrow_outbox_rows", 0) == m.get("windrow_results_emitted_total", -1)
            wait_for(built, 120, "backlog built")
            backlog = int(agent.metrics()["windrow_outbox_rows"])
            upstream.start()
            t0 = time.monotonic()
            wait_for(lambda: agent.metrics().get("windrow_outbox_rows", 1) == 0, 900,
                     "backlog drained", interval=0.2)
            took = time.monotonic() - t0
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"results": backlog, "seconds": took, "per_s": backlog / took}


def sustain(keys=1000, seconds=10, rates=(2000, 4000, 6000, 8000, 10000, 12000, 14000)):
    """Highest steady rate with no event dropped or held back; then peak RSS at 5x that rate."""
    best = 0
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        try:
            agent = start_agent(wd, local, upstream, keys)
            for rate in rates:
                m0 = agent.metrics()
                events = rate * seconds
                subprocess.run([LOADGEN, str(local.port), str(events), str(keys), str(rate)],
                               check=True, capture_output=True, timeout=seconds * 10)
                t_end = time.monotonic()
                target = m0.get("windrow_events_received_total", 0) + events
                try:
                    wait_for(lambda: agent.metrics().get("windrow_events_aggregated_total", 0) >=
                             target, 30, "caught up")
                except AssertionError:
                    break
                lag = time.monotonic() - t_end
                m1 = agent.metrics()
                holds = m1.get("windrow_backpressure_holds_total", 0) - \
                    m0.get("windrow_backpressure_holds_total", 0)
                drops = sum(v for k, v in m1.items() if k.startswith("windrow_events_dropped")) - \
                    sum(v for k, v in m0.items() if k.startswith("windrow_events_dropped"))
                print("  sustain %d events/s: holds %d, drops %d, caught up %.2f s after the "
                      "load ended" % (rate, holds, drops, lag))
                sys.stdout.flush()
                if holds or drops or lag > 1.0:
                    break
                best = rate
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"rate": best, "overload": overload(keys, best * 5, seconds)}


def overload(keys, rate, seconds, generators=3):
    """Offer rate events/s from several load generators; peak RSS and whether anything was lost."""
    with harness.Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        try:
            agent = start_agent(wd, local, upstream, keys)
            each = rate // generators
            t0 = time.monotonic()
            gens = [subprocess.Popen([LOADGEN, str(local.port), str(each * seconds), str(keys),
                                      str(each)], stdout=subprocess.PIPE, text=True)
                    for _ in range(generators)]
            for g in gens:
                g.wait(timeout=seconds * 20)
            offered_s = time.monotonic() - t0
            sent = each * seconds * generators
            m = wait_for(lambda: (lambda m: m if m.get("windrow_events_aggregated_total", 0) >=
                                  sent else None)(agent.metrics()), 300, "backlog processed")
            peak = proc_status(agent.proc.pid, "VmHWM")
            agent.stop()
        finally:
            stop_all(locals())
            local.stop()
            upstream.stop()
    return {"target_rate": rate, "offered_rate": sent / offered_s, "peak_rss_kb": peak,
            "holds": int(m.get("windrow_backpressure_holds_total", 0)),
            "aggregated": int(m["windrow_events_aggregated_total"]), "sent": sent}


def binary_size():
    tmp = tempfile.mktemp()
    shutil.copy(harness.WINDROW_BIN, tmp)
    subprocess.run(["strip", tmp], check=True)
    size = os.path.getsize(tmp)
    os.unlink(tmp)
    return size


def main():
    which = os.environ.get("BENCH", "throughput,sustain,wear,restore,drain").split(",")
    print("windrow benchmark (%s, %d cores)" % (os.uname().machine, os.cpu_count()))
    print("stripped binary: %d bytes" % binary_size())
    if "throughput" in which:
        for keys, events in ((1000, 300000), (10000, 300000)):
            r = throughput(keys, events)
            print("throughput %(keys)d keys: %(events)d events in %(seconds).2f s = "
                  "%(events_per_s).0f events/s, %(cpu_us_per_event).2f us CPU/event, peak RSS "
                  "%(peak_rss_kb)d kB, aggregated %(aggregated)d, dropped %(dropped)d, "
                  "storage writes %(bytes_written)d bytes" % r)
            sys.stdout.flush()
    if "sustain" in which:
        r = sustain()
        o = r["overload"]
        print("sustain: %d events/s with nothing dropped or held back (1,000 keys); at 5x "
              "(%d targeted, %.0f offered) peak RSS %d kB, %d holds, %d of %d events aggregated "
              "(none lost)" % (r["rate"], o["target_rate"], o["offered_rate"], o["peak_rss_kb"],
                               o["holds"], o["aggregated"], o["sent"]))
    if "wear" in which:
        r = wear()
        print("wear %(keys)d keys at %(rate)d events/s, 1 s checkpoints: %(bytes_per_min).0f "
              "bytes written per minute" % r)
    if "restore" in which:
        r = restore()
        print("restore: %(windows)d open windows restored in %(restore_ms)d ms" % r)
    if "drain" in which:
        r = drain()
        print("drain: backlog of %(results)d results sent and acknowledged in %(seconds).1f s "
              "(%(per_s).0f results/s, upstream.resend_per_s default 2000)" % r)


if __name__ == "__main__":
    main()
