#!/usr/bin/env python3
"""Consumer groups (issue 13 item 9), Tributary beside Apache Kafka 4.4 in the same run, each a
single node on loopback:

  settle   a classic group of 10 members (confluent-kafka, one process each, librdkafka's
           defaults: range assignor, heartbeat.interval.ms 3000) on a 60-partition topic;
           an 11th member starts: the time from its subscribe() until every one of the 11
           has been given its new partitions (all 60, none twice). Then it leaves (close:
           LeaveGroup) and the 10 settle again before the next round. Median and the
           largest of BENCH_GROUPS_RUNS rounds (10 by default; with so few rounds the largest
           is what a p99 would be).
  commit   one client committing offsets synchronously, one request at a time, for
           BENCH_GROUPS_COMMIT_S seconds (5): commits per second with one partition per
           commit and with 60, and the median and p99 latency of a one-partition commit.

What limits them, measured in the same run: a bare request round trip (ApiVersions on a raw
socket, median), the floor of a synchronous commit; and librdkafka's heartbeat interval, the
floor of a rebalance that members learn of from their heartbeats.

The new consumer protocol (KIP-848) is not served yet, so only classic groups are measured.
Results: bench/results/<date>-groups-<host-kind>.md. Environment: BENCH_GROUPS_RUNS,
BENCH_GROUPS_COMMIT_S, TRIB_BROKER (default build/broker/tributary-broker).
"""
import datetime
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import harness  # noqa: E402  (the integration tests' process handling, reused)
from apache_kafka import ApacheKafka  # noqa: E402
import confluent_kafka  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTITIONS = 60
MEMBERS = 10
TOPIC = "settle"

MEMBER = textwrap.dedent("""
    import json, signal, sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 10000,
                  "enable.auto.commit": False, "auto.offset.reset": "latest"})
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    def assigned(consumer, parts):
        print(json.dumps({"t": time.monotonic(), "p": sorted(p.partition for p in parts)}), flush=True)
    def revoked(consumer, parts):
        print(json.dumps({"t": time.monotonic(), "revoked": True}), flush=True)
    print(json.dumps({"t": time.monotonic(), "subscribe": True}), flush=True)
    c.subscribe([sys.argv[3]], on_assign=assigned, on_revoke=revoked)
    while not stop:
        c.poll(0.05)
    c.close()
""")


class Member:
    """One member process; `assigned` is its latest assignment and `at` when it came."""

    def __init__(self, bootstrap, group):
        self.proc = subprocess.Popen([sys.executable, "-c", MEMBER, bootstrap, group, TOPIC],
                                     stdout=subprocess.PIPE, text=True)
        self.assigned = None
        self.at = None
        self.started = None
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            e = json.loads(line)
            with self.lock:
                if e.get("subscribe"):
                    self.started = e["t"]
                elif e.get("revoked"):
                    self.assigned = None
                else:
                    self.assigned, self.at = e["p"], e["t"]

    def state(self):
        with self.lock:
            return self.assigned, self.at, self.started

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settled_since(members, since, timeout=120):
    """When every member has had an assignment given after `since`, together all partitions
    once: the latest of those times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [m.state() for m in members]
        if all(a is not None and t is not None and t >= since for a, t, _ in states):
            parts = [p for a, _, _ in states for p in a]
            if sorted(parts) == list(range(PARTITIONS)):
                return max(t for _, t, _ in states)
        time.sleep(0.02)
    raise RuntimeError(f"the group did not settle within {timeout} s: {[s[0] for s in [m.state() for m in members]]}")


def measure_settle(bootstrap, runs):
    group = f"settle-{time.time_ns()}"
    members = [Member(bootstrap, group) for _ in range(MEMBERS)]
    try:
        settled_since(members, 0)
        times = []
        for _ in range(runs):
            joiner = Member(bootstrap, group)
            while joiner.state()[2] is None:
                time.sleep(0.01)
            start = joiner.state()[2]
            end = settled_since(members + [joiner], start)
            times.append(end - start)
            left = time.monotonic()
            joiner.stop()
            settled_since(members, left)
        return times
    finally:
        for m in members:
            m.stop()


def measure_commits(bootstrap, seconds, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"committer-{time.time_ns()}",
                  "enable.auto.commit": False})
    try:
        tps = [TopicPartition(TOPIC, p, 0) for p in range(partitions)]
        c.commit(offsets=tps, asynchronous=False)  # finds the coordinator first
        lat = []
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n += 1
            for tp in tps:
                tp.offset = n
            t0 = time.monotonic()
            c.commit(offsets=tps, asynchronous=False)
            lat.append(time.monotonic() - t0)
        return n / seconds, lat
    finally:
        c.close()


def bare_round_trip(port, n=2000):
    """Median seconds of an ApiVersions v0 request and its answer on one socket."""
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for i in range(n):
            t0 = time.monotonic()
            harness.send_request(s, 18, 0, i, b"")
            harness.read_response(s)
            times.append(time.monotonic() - t0)
    return statistics.median(times)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_one(name, bootstrap, port, runs, commit_s):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(60)
    # the offsets topic and its coordinators, before anything is timed
    measure_commits(bootstrap, 0.5, 1)
    out = {"rtt": bare_round_trip(port)}
    settle = measure_settle(bootstrap, runs)
    out["settle_median"], out["settle_max"] = statistics.median(settle), max(settle)
    out["commits_1"], lat = measure_commits(bootstrap, commit_s, 1)
    out["commit_p50"], out["commit_p99"] = pct(lat, 0.5), pct(lat, 0.99)
    out["commits_60"], _ = measure_commits(bootstrap, commit_s, PARTITIONS)
    print(f"{name}: {json.dumps(out)}", flush=True)
    return out


def first(v):
    """confluent-kafka's version(): a string in new releases, (string, int) in old ones."""
    return v[0] if isinstance(v, tuple) else v


def host_kind():
    out = subprocess.run(["bash", "-c", f"source {ROOT}/bench/host_kind.sh && echo $host_kind"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main():
    runs = int(os.environ.get("BENCH_GROUPS_RUNS", 10))
    commit_s = float(os.environ.get("BENCH_GROUPS_COMMIT_S", 5))
    os.environ.setdefault("TRIB_BROKER", str(ROOT / "build" / "broker" / "tributary-broker"))
    results = {}
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        b = harness.Broker(Path(tmp) / "tributary")
        b.start()
        try:
            results["tributary"] = run_one("tributary", b.bootstrap, b.port, runs, commit_s)
        finally:
            b.stop()
        k = ApacheKafka(Path(tmp) / "kafka")
        k.start()
        try:
            results["kafka"] = run_one("kafka", k.bootstrap, k.port, runs, commit_s)
        finally:
            k.stop()
    t, k = results["tributary"], results["kafka"]
    ms = lambda s: f"{s * 1000:.2f} ms"  # noqa: E731
    rows = [
        ("bare request round trip (ApiVersions, median)", ms(t["rtt"]), ms(k["rtt"]), t["rtt"] / k["rtt"]),
        (f"settle after a join, {MEMBERS}+1 members, {PARTITIONS} partitions (median of {runs})",
         ms(t["settle_median"]), ms(k["settle_median"]), t["settle_median"] / k["settle_median"]),
        (f"settle after a join (largest of {runs})", ms(t["settle_max"]), ms(k["settle_max"]),
         t["settle_max"] / k["settle_max"]),
        ("synchronous commits/s, 1 partition each", f"{t['commits_1']:.0f}", f"{k['commits_1']:.0f}",
         t["commits_1"] / k["commits_1"]),
        ("commit latency p50, 1 partition", ms(t["commit_p50"]), ms(k["commit_p50"]), t["commit_p50"] / k["commit_p50"]),
        ("commit latency p99, 1 partition", ms(t["commit_p99"]), ms(k["commit_p99"]), t["commit_p99"] / k["commit_p99"]),
        (f"synchronous commits/s, {PARTITIONS} partitions each", f"{t['commits_60']:.0f}", f"{k['commits_60']:.0f}",
         t["commits_60"] / k["commits_60"]),
    ]
    date = datetime.date.today().isoformat()
    path = ROOT / "bench" / "results" / f"{date}-groups-{host_kind()}.md"
    lines = [f"# Consumer groups: Tributary beside Apache Kafka 4.4 ({date}, {host_kind()})", "",
             "`bench/groups_bench.py`: one node each on loopback, run one after the other on the same machine; "
             f"clients are confluent-kafka {first(confluent_kafka.version())} (librdkafka "
             f"{first(confluent_kafka.libversion())}). {os.environ.get('BENCH_GROUPS_NOTE', '')}", "",
             "| measure | Tributary | Apache Kafka | Tributary / Kafka |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b_} | {c} | {r:.2f} |" for a, b_, c, r in rows]
    lines += ["", "Limits: a synchronous commit costs at least a bare request round trip (first row) plus "
              "the write of its record to `__consumer_offsets`; members learn of a rebalance at their next "
              "heartbeat (librdkafka's heartbeat.interval.ms, 3000 ms by default), so a settle time near "
              "it is the client's floor, not the broker's. Classic protocol only: the new consumer protocol "
              "(KIP-848) is not served yet.", ""]
    path.write_text("\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
