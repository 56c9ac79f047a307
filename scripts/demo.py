"""The demo: a local broker, simulated sensors, windrow, and a TLS upstream.

Starts two Mosquitto brokers on free loopback ports (the gateway's local one,
with the package's drop-in firmware-targets/common/mosquitto/windrow.conf,
and an upstream one that only speaks mutual TLS with certificates made
here), runs windrow between them, lets a few simulated sensors publish, and prints
each window result as it arrives upstream.
"""
import json
import math
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Broker, Collector, Windrow  # noqa: E402

SECONDS = int(os.environ.get("DEMO_SECONDS", "30"))
SENSORS = ["boiler", "pump-1", "pump-2", "freezer"]


def main():
    harness.WINDROW_BIN = os.environ.get("WINDROW_BIN", os.path.join(ROOT, "build/demo/agent/windrow"))
    workdir = os.environ.get("DEMO_DIR") or os.path.join("/tmp", "windrow-demo-%d" % os.getpid())
    os.makedirs(workdir, exist_ok=True)
    certs = os.path.join(workdir, "certs")
    subprocess.run(["sh", os.path.join(ROOT, "scripts/gen-certs.sh"), certs], check=True)
    tls = {"ca": certs + "/ca.pem", "cert": certs + "/client.pem", "key": certs + "/client.key"}
    # The gateway's local broker runs with the drop-in the package installs
    # into /etc/mosquitto/conf.d/ (its queueing and session settings).
    local = Broker(workdir, "local", dropin=harness.BROKER_DROPIN).start()
    upstream = Broker(workdir, "upstream",
                      tls={"ca": tls["ca"], "cert": certs + "/server.pem",
                           "key": certs + "/server.key"}).start()
    with open(os.path.join(ROOT, "config/examples/demo.json")) as f:
        cfg = json.load(f)
    cfg["agent"]["state_dir"] = os.path.join(workdir, "state")
    cfg["source"]["uri"] = "tcp://127.0.0.1:%d" % local.port
    cfg["upstream"]["uri"] = "mqtts://127.0.0.1:%d" % upstream.port
    cfg["upstream"]["tls"] = {"ca_file": tls["ca"], "cert_file": tls["cert"],
                              "key_file": tls["key"], "server_name": "localhost"}
    cfg["metrics"]["file"] = os.path.join(workdir, "windrow.prom")
    agent = Windrow(workdir, cfg, name="windrow")
    collector = None
    try:
        agent.start()
        collector = Collector(upstream, topic="windrow/#", client_id="demo-viewer", tls=tls)
        print("windrow is running: local broker :%d -> windrow -> upstream mqtts://127.0.0.1:%d"
              % (local.port, upstream.port))
        print("local broker settings from %s" % os.path.relpath(local.dropin, ROOT))
        print("simulated sensors publish for %d s; window results arriving upstream (over TLS):"
              % SECONDS)
        print("%-12s %-10s %-20s %5s %9s %9s %9s" % ("stream", "key", "window (UTC)", "count",
                                                     "mean", "min", "max"))
        run_sensors(local, collector)
        rc = agent.stop()
        print_metrics(agent)
        print("windrow exited with status %d; logs and state in %s" % (rc, workdir))
        return 0 if rc == 0 else 1
    finally:
        agent.stop(timeout=10)
        if collector:
            collector.close()
        local.stop()
        upstream.stop()


def run_sensors(local, collector):
    pub = local.client("demo-sensors")
    shown = set()
    start = time.time()
    i = 0
    while time.time() - start < SECONDS:
        now = time.time()
        for n, name in enumerate(SENSORS):
            value = 20 + 10 * math.sin(now / 7 + n) + random.gauss(0, 0.5)
            pub.publish("site/%s/temperature" % name,
                        json.dumps({"value": round(value, 2), "ts": round(now, 3)}), qos=0)
        if i % 10 == 0:
            pub.publish("site/meter/power", "%.1f" % (1500 + random.gauss(0, 50)), qos=0)
        i += 1
        show_new(collector, shown)
        time.sleep(0.05)  # the sensors' sampling period
    pub.close()
    deadline = time.time() + 8
    while time.time() < deadline:  # let the last windows close and arrive
        show_new(collector, shown)
        time.sleep(0.2)


def show_new(collector, shown):
    for r in collector.results():
        if r["id"] in shown:
            continue
        shown.add(r["id"])
        when = time.strftime("%H:%M:%S", time.gmtime(r["start"]))
        print("%-12s %-10s %-20s %5d %9.2f %9.2f %9.2f" % (
            r["stream"], r["key"], "%s +%ds" % (when, r["size_s"]), r["count"],
            r.get("mean", float("nan")), r.get("min", float("nan")), r.get("max", float("nan"))))
        sys.stdout.flush()


def print_metrics(agent):
    m = agent.metrics()
    keys = ["windrow_events_received_total", "windrow_events_aggregated_total",
            "windrow_results_emitted_total", "windrow_results_acked_total",
            "windrow_upstream_messages_sent_total"]
    print("windrow metrics: " + ", ".join("%s=%d" % (k[len("windrow_"):], m.get(k, 0)) for k in keys))


if __name__ == "__main__":
    sys.exit(main())
