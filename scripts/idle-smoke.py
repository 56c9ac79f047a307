#!/usr/bin/env python3
"""Idle cost smoke run: an agent connected to both brokers, no traffic.

Wake-ups are counted as voluntary context switches summed over every thread
of the windrow process (/proc/<pid>/task/*/status: voluntary_ctxt_switches),
a thread blocking and being woken again counting once (a blocking fsync
counts too). CPU is the run time in nanoseconds summed over the same
threads (/proc/<pid>/task/*/schedstat, first field), finer than the 10 ms
ticks of /proc/<pid>/stat. Both are sampled over the same interval after
the agent has connected and settled.

    WINDROW_BIN=build/rel/agent/windrow python3 scripts/idle-smoke.py [seconds]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import Lab, base_config, wait_for  # noqa: E402


def wakeups(pid):
    total = 0
    per_thread = {}
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "status")) as f:
                status = f.read()
            with open(os.path.join(task_dir, tid, "comm")) as f:
                name = f.read().strip()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                n = int(line.split()[1])
                total += n
                per_thread["%s/%s" % (name, tid)] = n
    return total, per_thread


def cpu_ns(pid):
    total = 0
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "schedstat")) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue
    return total


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    streams = [{"name": "t", "match": "sensors/+", "key": "{topic[1]}",
                "window": {"size_s": 10, "allowed_lateness_s": 2}}]
    with Lab() as lab:
        local = lab.broker("local")
        upstream = lab.broker("upstream")
        cfg = base_config(lab.wd, local.port, upstream.port, streams,
                          storage={"checkpoint_interval_ms": 30000},
                          metrics={"file": os.path.join(lab.wd, "metrics.prom"),
                                   "interval_ms": 10000})
        agent = lab.agent(cfg)
        wait_for(lambda: agent.metrics().get("windrow_upstream_connected") == 1, 15,
                 "upstream connected")
        time.sleep(2.0)  # settle: the measurement interval starts after start-up work
        pid = agent.proc.pid
        w0, t0 = wakeups(pid)
        c0 = cpu_ns(pid)
        m0 = time.monotonic()
        time.sleep(seconds)  # the measurement interval itself
        w1, t1 = wakeups(pid)
        c1 = cpu_ns(pid)
        elapsed = time.monotonic() - m0
        print("idle %.1f s: %.1f wake-ups/s, %.4f %% of a core" %
              (elapsed, (w1 - w0) / elapsed, 100.0 * (c1 - c0) / 1e9 / elapsed))
        for name in sorted(t1):
            print("  %-24s %6.1f /s" % (name, (t1[name] - t0.get(name, 0)) / elapsed))


if __name__ == "__main__":
    main()
