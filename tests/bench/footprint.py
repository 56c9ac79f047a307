"""RSS of windrow with a board profile's default config: idle, and with 10,000 open keys.

  python3 tests/bench/footprint.py BUILD_DIR [PROFILE]

The profile's config is used as shipped except for what must point at this
machine: broker URIs (local Mosquitto on loopback, plain TCP upstream),
state dir, metrics file, and max_keys raised to hold 10,000 keys.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Broker, Windrow, Workdir, wait_for  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "release")
PROFILE = sys.argv[2] if len(sys.argv) > 2 else "x86_64-gateway"
harness.WINDROW_BIN = os.path.join(BUILD, "agent", "windrow")
LOADGEN = os.path.join(BUILD, "tests", "bench", "windrow_loadgen")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    with open(os.path.join(ROOT, "firmware-targets", PROFILE, "windrow.json")) as f:
        cfg = json.load(f)
    with Workdir() as wd:
        local = Broker(wd, "local").start()
        upstream = Broker(wd, "upstream").start()
        agent = None
        try:
            cfg["agent"]["state_dir"] = os.path.join(wd, "state")
            cfg["source"]["uri"] = "tcp://127.0.0.1:%d" % local.port
            cfg["upstream"] = {"uri": "tcp://127.0.0.1:%d" % upstream.port}
            cfg["metrics"] = {"file": os.path.join(wd, "windrow.prom"), "interval_ms": 200}
            cfg["streams"][0]["max_keys"] = 10000
            agent = Windrow(wd, cfg)
            agent.start()
            time.sleep(3)  # idle means idle for a while: nothing to wait for
            idle = rss_kb(agent.proc.pid)
            topic_stream = cfg["streams"][0]["match"].replace("+", "%s")
            # 10,000 keys on the first stream via the load generator's topic scheme
            # is not possible (it publishes bench/<key>/v), so publish directly.
            sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
            pub = local.client("footprint")
            now = time.time()
            for i in range(10000):
                pub.publish(topic_stream % ("k%05d" % i), '{"value": 20.5, "ts": %.3f}' % now,
                            qos=0 if i % 100 else 1)
            pub.close()
            wait_for(lambda: agent.metrics().get("windrow_keys", 0) >= 10000, 60, "10,000 keys")
            busy = rss_kb(agent.proc.pid)
            print("footprint %s: RSS idle %d kB, with 10,000 open keys %d kB" % (PROFILE, idle, busy))
        finally:
            if agent:
                agent.stop()
            local.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
