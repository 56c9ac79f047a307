"""A full disk and an unusable state dir do not stop windrow: it aggregates and
forwards from memory, counts what it could not persist, and persists again
once writing works.

The full disk is a small tmpfs mounted over the state dir (needs root and
mount rights; skipped otherwise).
"""
import os
import subprocess
import time
import unittest

from harness import Lab, base_config, wait_for

STREAMS = [{"name": "temp", "match": "sensors/+/temp", "key": "{topic[1]}",
            "window": {"size_s": 1, "allowed_lateness_s": 0}}]


def publish_windows(local, name, keys, seconds_ago):
    """One event per key, stamped seconds_ago in the past; returns {key: 1}."""
    pub = local.client(name)
    t = time.time() - seconds_ago
    for k in keys:
        pub.publish("sensors/%s/temp" % k, '{"value": 1, "ts": %.3f}' % t)
    pub.close()


def arrived(collector, keys):
    got = {r["key"] for r in collector.results()}
    return all(k in got for k in keys)


class StorageFaultsTest(unittest.TestCase):
    def test_unusable_state_dir_runs_from_memory(self):
        with Lab() as lab:
            blocker = os.path.join(lab.wd, "not-a-dir")
            with open(blocker, "w") as f:
                f.write("a file where the state dir's parent should be\n")
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS)
            cfg["agent"]["state_dir"] = os.path.join(blocker, "state")
            agent = lab.agent(cfg)
            self.assertIn("results are kept in memory only", agent.log_text())
            keys = ["a%d" % i for i in range(20)]
            publish_windows(local, "p1", keys, 0)
            wait_for(lambda: arrived(collector, keys), 20, "results upstream from memory")
            # The state dir becomes usable: windrow opens its store and persists again.
            os.unlink(blocker)
            agent.wait_log(r"state store in .* available again", 20)
            later = ["z%d" % i for i in range(20)]
            publish_windows(local, "p2", later, 0)
            wait_for(lambda: arrived(collector, later), 20, "results after the store opened")
            wait_for(lambda: agent.metrics().get("windrow_checkpoints_total", 0) > 0, 10,
                     "a checkpoint written to the new store")
            self.assertTrue(os.path.exists(os.path.join(blocker, "state", "windrow.db")))
            self.assertEqual(agent.stop(), 0)

    def test_full_disk_keeps_results_in_memory_and_recovers(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        with Lab() as lab:
            state = os.path.join(lab.wd, "state")
            os.makedirs(state)
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", state],
                              capture_output=True).returncode != 0:
                self.skipTest("cannot mount a tmpfs here")
            lab._stops.append(lambda: subprocess.run(["umount", "-l", state], capture_output=True))
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            agent = lab.agent(base_config(lab.wd, local.port, upstream.port, STREAMS))
            filler = os.path.join(state, "filler")
            first = ["a%d" % i for i in range(20)]
            publish_windows(local, "p1", first, 0)
            wait_for(lambda: arrived(collector, first), 20, "results with a healthy disk")

            # Fill the file system to the last byte.
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while os.write(fd, b"\0" * 4096) > 0:
                    pass
            except OSError:
                pass
            os.close(fd)
            second = ["b%d" % i for i in range(200)]
            publish_windows(local, "p2", second, 0)
            wait_for(lambda: arrived(collector, second), 30, "results with a full disk")
            # Write-behind: with the uplink healthy the results never needed the
            # disk; the checkpoints that do are the ones failing, and counted.
            wait_for(lambda: agent.metrics().get("windrow_store_write_failures_total", 0) > 0,
                     10, "failed checkpoints counted")

            os.unlink(filler)
            third = ["c%d" % i for i in range(20)]
            publish_windows(local, "p3", third, 0)
            wait_for(lambda: arrived(collector, third), 20, "results after space came back")
            agent.wait_log(r"storage writable again", 20)
            self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
