#!/usr/bin/env python3
"""Consumer groups (issue 13 item 9), Tributary beside Apache Kafka 4.4 in the same run, each a
single node on loopback, for both group protocols:

  settle   a group of 10 members (confluent-kafka, one process each) on a 60-partition topic;
           an 11th member starts: the time from its subscribe() until the group is settled:
           every member holds partitions, together all 60 and none twice (as the members'
           rebalance callbacks say), and the server describes the group as Stable with 11
           members (AdminClient.describe_consumer_groups, polled every SETTLE_POLL_S once the
           members' assignments add up).
           Then it leaves (close) and the 10 settle again before the next round. Median and
           p99 of BENCH_GROUPS_RUNS rounds (10 by default; under 100 rounds the p99 is the
           largest).
           classic:  group.protocol=classic, librdkafka's defaults (range assignor, eager,
                     heartbeat.interval.ms 3000, set by the client).
           consumer: group.protocol=consumer (KIP-848): the server assigns (both servers'
                     default assignor, uniform) and sets the heartbeat interval; both use
                     their default group.consumer.heartbeat.interval.ms, 5000 ms.
  commit   one client committing offsets synchronously, one request at a time, for
           BENCH_GROUPS_COMMIT_S seconds (5): commits per second with one partition per
           commit and with 60, and the median and p99 latency of a one-partition commit.
           Three committers: not a member (simple commits, generation -1), a classic
           member, a consumer-protocol member (OffsetCommit v9, checked against its member
           epoch); each member is alone in its group on the 60-partition topic and commits
           the partitions it was assigned.

What limits them, measured in the same run: a bare request round trip (ApiVersions on a raw
socket, median), the floor of a synchronous commit; and the heartbeat interval, the floor of
a rebalance that members learn of from their heartbeats.

Results: bench/results/<date>-groups-<host-kind>.md, with the load average before, during
(sampled every 5 s) and after. Environment: BENCH_GROUPS_RUNS, BENCH_GROUPS_COMMIT_S,
BENCH_GROUPS_PROTOCOLS ("classic consumer"), BENCH_GROUPS_NOTE (a sentence for the results),
TRIB_BROKER (default build/broker/tributary-broker).
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
from bench_run import LoadSampler, host_kind, loadavg  # noqa: E402
from apache_kafka import ApacheKafka  # noqa: E402
import confluent_kafka  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTITIONS = 60
MEMBERS = 10
TOPIC = "settle"
SETTLE_POLL_S = 0.02

# the member's configuration per group protocol; the consumer protocol takes no session
# timeout, heartbeat interval or assignor from the client (the server owns them)
PROTOCOL_CONFIG = {
    "classic": {"group.protocol": "classic", "session.timeout.ms": 10000},
    "consumer": {"group.protocol": "consumer"},
}

MEMBER = textwrap.dedent("""
    import json, signal, sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                  "enable.auto.commit": False, "auto.offset.reset": "latest", **json.loads(sys.argv[4])})
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    held = set()
    # eager (classic range) callbacks give and take whole assignments, incremental ones
    # (the consumer protocol) a difference: keeping the set serves both
    def assigned(consumer, parts):
        held.update(p.partition for p in parts)
        print(json.dumps({"t": time.monotonic(), "p": sorted(held)}), flush=True)
    def revoked(consumer, parts):
        held.difference_update(p.partition for p in parts)
        print(json.dumps({"t": time.monotonic(), "p": sorted(held)}), flush=True)
    print(json.dumps({"t": time.monotonic(), "subscribe": True}), flush=True)
    c.subscribe([sys.argv[3]], on_assign=assigned, on_revoke=revoked, on_lost=revoked)
    while not stop:
        c.poll(0.05)
    c.close()
""")


class Member:
    """One member process; `assigned` is its latest assignment and `at` when it came."""

    def __init__(self, bootstrap, group, protocol):
        self.proc = subprocess.Popen([sys.executable, "-c", MEMBER, bootstrap, group, TOPIC,
                                      json.dumps(PROTOCOL_CONFIG[protocol])],
                                     stdout=subprocess.PIPE, text=True)
        self.assigned = []
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


def server_view(admin, group):
    """(state, member count) of the group as the server describes it; (None, 0) on an error."""
    try:
        d = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    except confluent_kafka.KafkaException:
        return None, 0
    return d.state.name, len(d.members)


def settled(members, admin, group, timeout=120):
    """When the group is settled: every member holds partitions, together all of them once
    (the members' view), and the server describes it Stable with that many members. The time
    is when that was seen, so it is late by up to one describe round trip and SETTLE_POLL_S."""
    deadline = time.monotonic() + timeout
    view = None
    while time.monotonic() < deadline:
        states = [m.state() for m in members]
        parts = [p for a, _, _ in states for p in a]
        if all(a for a, _, _ in states) and sorted(parts) == list(range(PARTITIONS)):
            view = server_view(admin, group)
            if view == ("STABLE", len(members)):
                # the members' assignments must not have moved while the server was asked
                if [m.state()[0] for m in members] == [a for a, _, _ in states]:
                    return time.monotonic()
        time.sleep(SETTLE_POLL_S)
    raise RuntimeError(f"the group did not settle within {timeout} s: server {view}, members "
                       f"{[m.state()[0] for m in members]}")


def measure_settle(bootstrap, protocol, runs):
    group = f"settle-{protocol}-{time.time_ns()}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    members = [Member(bootstrap, group, protocol) for _ in range(MEMBERS)]
    try:
        settled(members, admin, group)
        times = []
        for _ in range(runs):
            joiner = Member(bootstrap, group, protocol)
            while joiner.state()[2] is None:
                time.sleep(0.01)
            start = joiner.state()[2]
            times.append(settled(members + [joiner], admin, group) - start)
            joiner.stop()
            settled(members, admin, group)
        return times
    finally:
        for m in members:
            m.stop()


def measure_commits(bootstrap, seconds, partitions, protocol=None):
    """Synchronous commits of `partitions` partitions each: (commits/s, latencies). With a
    protocol the committer is first the only member of its group (its commits carry its
    generation or member epoch), else it commits without joining."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"committer-{time.time_ns()}",
                  "enable.auto.commit": False, **PROTOCOL_CONFIG.get(protocol, {})})
    try:
        if protocol:
            c.subscribe([TOPIC])
            deadline = time.monotonic() + 60
            while len(c.assignment()) < PARTITIONS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a lone {protocol} member was assigned {len(c.assignment())} partitions")
                c.poll(0.05)
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


WARMING_UP = {confluent_kafka.KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
              confluent_kafka.KafkaError.COORDINATOR_NOT_AVAILABLE, confluent_kafka.KafkaError.NOT_COORDINATOR}


def warm_up_coordinators(bootstrap, timeout=60):
    """Until a commit succeeds: the offsets topic made and its coordinator loaded (a fresh
    Kafka answers COORDINATOR_LOAD_IN_PROGRESS for a while), before anything is timed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            measure_commits(bootstrap, 0.5, 1)
            return
        except confluent_kafka.KafkaException as e:
            if e.args[0].code() not in WARMING_UP or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_one(name, bootstrap, port, protocols, runs, commit_s):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(60)
    warm_up_coordinators(bootstrap)
    out = {"rtt": bare_round_trip(port)}
    for protocol in protocols:
        settle = measure_settle(bootstrap, protocol, runs)
        out[f"settle_{protocol}"] = settle
        out[f"settle_{protocol}_median"], out[f"settle_{protocol}_p99"] = statistics.median(settle), pct(settle, 0.99)
    for who in [None] + protocols:
        key = who or "simple"
        out[f"commits_1_{key}"], lat = measure_commits(bootstrap, commit_s, 1, who)
        out[f"commit_p50_{key}"], out[f"commit_p99_{key}"] = pct(lat, 0.5), pct(lat, 0.99)
        out[f"commits_60_{key}"], _ = measure_commits(bootstrap, commit_s, PARTITIONS, who)
    print(f"{name}: {json.dumps(out)}", flush=True)
    return out


def first(v):
    """confluent-kafka's version(): a string in new releases, (string, int) in old ones."""
    return v[0] if isinstance(v, tuple) else v


COMMITTERS = {"simple": "not a member", "classic": "classic member", "consumer": "consumer-protocol member (OffsetCommit v9, member epoch)"}


def table(t, k, runs, protocols):
    ms = lambda s: f"{s * 1000:.2f} ms"  # noqa: E731
    rows = [("bare request round trip (ApiVersions, median)", ms(t["rtt"]), ms(k["rtt"]), t["rtt"] / k["rtt"])]
    for p in protocols:
        for stat, label in (("median", f"median of {runs}"), ("p99", f"p99 of {runs}")):
            key = f"settle_{p}_{stat}"
            rows.append((f"{p} protocol: settle after a join, {MEMBERS}+1 members, {PARTITIONS} partitions ({label})",
                         ms(t[key]), ms(k[key]), t[key] / k[key]))
    for who in ["simple"] + protocols:
        c1, p50, p99, c60 = (f"commits_1_{who}", f"commit_p50_{who}", f"commit_p99_{who}", f"commits_60_{who}")
        rows += [
            (f"{COMMITTERS[who]}: synchronous commits/s, 1 partition each", f"{t[c1]:.0f}", f"{k[c1]:.0f}", t[c1] / k[c1]),
            (f"{COMMITTERS[who]}: commit latency p50, 1 partition", ms(t[p50]), ms(k[p50]), t[p50] / k[p50]),
            (f"{COMMITTERS[who]}: commit latency p99, 1 partition", ms(t[p99]), ms(k[p99]), t[p99] / k[p99]),
            (f"{COMMITTERS[who]}: synchronous commits/s, {PARTITIONS} partitions each", f"{t[c60]:.0f}",
             f"{k[c60]:.0f}", t[c60] / k[c60]),
        ]
    lines = ["| measure | Tributary | Apache Kafka | Tributary / Kafka |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {r:.2f} |" for a, b, c, r in rows]
    lines += ["", "Every settle, in seconds, in the order measured:", ""]
    for p in protocols:
        for name, r in (("Tributary", t), ("Apache Kafka", k)):
            lines.append(f"- {p}, {name}: {' '.join(f'{x:.2f}' for x in r[f'settle_{p}'])}")
    return lines


def main():
    runs = int(os.environ.get("BENCH_GROUPS_RUNS", 10))
    commit_s = float(os.environ.get("BENCH_GROUPS_COMMIT_S", 5))
    protocols = os.environ.get("BENCH_GROUPS_PROTOCOLS", "classic consumer").split()
    if not protocols or any(p not in PROTOCOL_CONFIG for p in protocols):
        sys.exit(f"BENCH_GROUPS_PROTOCOLS: a list of {' '.join(PROTOCOL_CONFIG)}, not {protocols}")
    os.environ.setdefault("TRIB_BROKER", str(ROOT / "build" / "broker" / "tributary-broker"))
    load_before, sampler, started = loadavg(), LoadSampler(), time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        b = harness.Broker(Path(tmp) / "tributary")
        sampler.phase = "tributary"
        b.start()
        try:
            results["tributary"] = run_one("tributary", b.bootstrap, b.port, protocols, runs, commit_s)
        finally:
            b.stop()
        k = ApacheKafka(Path(tmp) / "kafka")
        sampler.phase = "kafka"
        k.start()
        try:
            results["kafka"] = run_one("kafka", k.bootstrap, k.port, protocols, runs, commit_s)
        finally:
            k.stop()
    sampler.stop()
    minutes, load_after = (time.monotonic() - started) / 60, loadavg()
    date = datetime.date.today().isoformat()
    path = ROOT / "bench" / "results" / f"{date}-groups-{host_kind()}.md"
    lines = [f"# Consumer groups: Tributary beside Apache Kafka 4.4 ({date}, {host_kind()})", "",
             "`bench/groups_bench.py`: one node each on loopback, run one after the other on the same machine; "
             f"clients are confluent-kafka {first(confluent_kafka.version())} (librdkafka "
             f"{first(confluent_kafka.libversion())}); {runs} joins per protocol and system, commits for "
             f"{commit_s:g} s each. {os.environ.get('BENCH_GROUPS_NOTE', '')}", "",
             f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}; the 1-minute figure "
             f"sampled every 5 s over the {minutes:.1f} minutes of the run: {sampler.summary()}; while "
             f"Tributary was measured: {sampler.summary('tributary')}; while Kafka was (its start included): "
             f"{sampler.summary('kafka')} "
             f"(the machine has {os.cpu_count()} CPUs).", ""]
    lines += table(results["tributary"], results["kafka"], runs, protocols)
    lines += ["", "Settled: every member holds partitions, together all 60 once (the members' rebalance "
              "callbacks), and the server describes the group Stable with that many members; the time is "
              f"when that was seen, polling every {SETTLE_POLL_S * 1000:.0f} ms plus a describe round trip.", "",
              "Limits: a synchronous commit costs at least a bare request round trip (first row) plus "
              "the write of its record to `__consumer_offsets`. Members learn of a rebalance at their next "
              "heartbeat: classic, librdkafka's heartbeat.interval.ms (3000 ms by default, set by the client); "
              "consumer protocol, the server's group.consumer.heartbeat.interval.ms, left at both servers' "
              "default of 5000 ms. A settle time near the interval is the protocol's floor, not the broker's: "
              "a consumer-protocol joiner's first heartbeat gets it nothing (every partition is still owned); the "
              "owners learn of the new target at their next heartbeat and release partitions, and the joiner "
              "receives them at its own next heartbeat, one interval after it joined. librdkafka 2.16 sends "
              "OffsetCommit v9 from a consumer-protocol member (checked with debug=protocol).", ""]
    path.write_text("\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
