"""Burrow (Debian's `burrow` 1.2.1, LinkedIn's lag checker) reads a Tributary broker the way it
reads Kafka: its cluster module polls the partitions' end offsets (sarama, ListOffsets) and its
consumer module reads every group's commits from `__consumer_offsets`. The lag it reports per
partition (the partition's end minus the group's last commit) must equal the lag on our
/metrics (broker/lag_publisher.h), and the committed and end offsets behind it ours, both when
the group has caught up and while it stands behind.

Burrow 1.2.1 keeps its own state in ZooKeeper and will not start without one: the test runs
Apache ZooKeeper's server (tools/lib/zookeeper, pinned by tools/zookeeper-deps/pom.xml)
standalone on a loopback port. Tributary does not use it.

What Burrow 1.2.1 cannot read, and why (so its log is checked for exactly that and nothing
else): it decodes group metadata values of versions 0 and 1 only, while Kafka (since 2.3) and
Tributary write version 3 for classic groups, so Burrow knows no partition owners; and it
skips the record keys of KIP-848 groups (versions 3-8), which Kafka 4.x writes too. Neither
touches lag: commits are key version 1 with value version 3 (or 1), which it decodes.

Runs on the newest confluent-kafka from PyPI (tools/venv), like lag_test.py."""
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness import _Process, admin_create_topic, free_port, wait_until
from lag_test import (FAST, PARTITIONS, TOPIC, check_consistent, client_view, group_view, scrape,
                      keep_writing, spread_group)

ZOOKEEPER_LIB = Path(__file__).resolve().parents[2] / "tools" / "lib" / "zookeeper"
CLUSTER = "tributary"
# Burrow 1.2.1's newest `kafka-version` (core/internal/helpers/sarama.go); a newer one makes it
# panic with "Unknown Kafka Version". Its sarama (1.22) picks request versions from this, not
# from ApiVersions. Anything from 0.11.0 up reads Tributary; 0.10.x and older (among them
# Burrow's default, 0.8) fetch with Fetch v0-3, which Tributary, like Kafka 4.x (KIP-896), no
# longer serves: the broker closes the connection ("unsupported version 3 of Fetch (serving
# 4..12)") and Burrow logs "consume error ... EOF".
KAFKA_VERSION = "2.1.0"
READY_TIMEOUT_S = 60


class ZooKeeper(_Process):
    """Apache ZooKeeper's server, standalone, on a free loopback port, data under `root`."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(self.root / "zookeeper.log")
        self.port = None

    def start(self):
        java = shutil.which("java")
        assert java, "no java on PATH (scripts/install-deps.sh installs one)"
        assert (ZOOKEEPER_LIB / ".resolved-from").is_file(), \
            f"no ZooKeeper jars in {ZOOKEEPER_LIB}: run scripts/install-deps.sh"
        for _ in range(5):
            self.port = free_port()
            cfg = self.root / "zoo.cfg"
            cfg.write_text(f"tickTime=500\ndataDir={self.root / 'data'}\n"
                           f"clientPort={self.port}\nclientPortAddress=127.0.0.1\n"
                           "admin.enableServer=false\n4lw.commands.whitelist=srvr\n")
            self._spawn([java, "-Xmx128m", "-cp", f"{ZOOKEEPER_LIB}/*",
                         "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)])
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline and self.alive() and not self._serving():
                time.sleep(0.1)
            if self._serving():
                return self
            self.stop()
            if "Address already in use" not in self.log_tail(5000):
                break
        raise RuntimeError(f"ZooKeeper did not start; log:\n{self.log_tail()}")

    def _serving(self):
        """Its four-letter `srvr` answers "Mode: standalone" once it serves clients."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"srvr")
                return b"Mode: standalone" in s.recv(4096)
        except OSError:
            return False


class Burrow(_Process):
    """Burrow with one cluster (our brokers), the `kafka` consumer module reading
    `__consumer_offsets`, in-memory storage, and its HTTP API on a loopback port the kernel picks. Offsets
    are refreshed every second and evaluations cached for a second, so it follows closely."""

    def __init__(self, root, zookeeper, bootstrap):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(self.root / "burrow.stdout")
        self.zookeeper = zookeeper
        self.bootstrap = bootstrap
        self.port = None

    @property
    def json_log(self):
        return self.root / "burrow.log"

    def start(self):
        binary = shutil.which("burrow") or shutil.which("Burrow")
        assert binary, "no burrow on PATH (Debian's package `burrow`, scripts/install-deps.sh)"
        servers = json.dumps(self.bootstrap.split(","))
        (self.root / "burrow.toml").write_text(f"""
[general]
pidfile="{self.root / 'burrow.pid'}"
[logging]
filename="{self.json_log}"
level="info"
[zookeeper]
servers=["127.0.0.1:{self.zookeeper.port}"]
timeout=6
root-path="/burrow"
[client-profile.test]
client-id="burrow-test"
kafka-version="{KAFKA_VERSION}"
[cluster.{CLUSTER}]
class-name="kafka"
servers={servers}
client-profile="test"
topic-refresh=2
offset-refresh=1
[consumer.{CLUSTER}]
class-name="kafka"
cluster="{CLUSTER}"
servers={servers}
client-profile="test"
offsets-topic="__consumer_offsets"
start-latest=false
[httpserver.default]
address="127.0.0.1:0"
[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
[evaluator.default]
class-name="caching"
expire-cache=1
""")
        self._spawn([binary, "--config-dir", str(self.root)])
        # It listens on a port the kernel picks and logs it: no port to race for.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and self.alive():
            if self.port is None:
                m = re.search(r'"msg":"started listener".*?"listener":"127\.0\.0\.1:(\d+)"', self.json_log_text())
                self.port = int(m.group(1)) if m else None
            if self.port is not None and self.get("/burrow/admin") is not None:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"Burrow did not start; log:\n{self.log_tail()}\n{self.json_log_tail()}")

    def get(self, path):
        """The parsed answer of its HTTP API at `path`, or None when it has none (not up yet,
        or a group or topic it does not know: it answers 404 then)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                body = r.read().decode()
        except (urllib.error.URLError, OSError):
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body  # /burrow/admin answers plain "GOOD"

    def view(self, group, topic=TOPIC):
        """{partition: (committed, end, lag)} as Burrow reports them: the last commit and the
        current lag from the group's status, the end from the topic's broker offsets."""
        status = self.get(f"/v3/kafka/{CLUSTER}/consumer/{group}/lag")
        offsets = self.get(f"/v3/kafka/{CLUSTER}/topic/{topic}")
        if not status or not offsets or status.get("error") or offsets.get("error"):
            return {}
        ends = offsets["offsets"]
        return {p["partition"]: (p["end"]["offset"], ends[p["partition"]], p["current_lag"])
                for p in status["status"]["partitions"] if p["topic"] == topic and p["end"]}

    def decode_failures(self):
        """{(message_type, reason, version)} of every record Burrow logged it could not decode."""
        out = set()
        for line in self.json_log_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "failed to decode":
                out.add((entry.get("message_type"), entry.get("reason"), entry.get("version")))
        return out

    def json_log_text(self):
        try:
            return self.json_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def json_log_tail(self, chars=20000):
        return self.json_log_text()[-chars:]


@pytest.fixture
def burrow_for(request, tmp_path):
    """Factory: burrow_for(bootstrap) -> a started Burrow (and its ZooKeeper) reading that
    cluster. Call it once `__consumer_offsets` exists: Burrow's consumer module counts its
    partitions at start and gives up if it has none. Logs printed if the test failed."""
    started = []

    def make(bootstrap):
        zk = ZooKeeper(tmp_path / "zookeeper")
        started.append(zk)
        zk.start()
        burrow = Burrow(tmp_path / "burrow", zk, bootstrap)
        started.append(burrow)
        return burrow.start()

    yield make
    failed = any(getattr(request.node, "rep_" + w, None) is not None and
                 getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    for p in reversed(started):
        # Burrow 1.2.1 takes 10 s or more to act on SIGTERM, and keeps nothing worth a clean
        # stop (its storage is in memory): SIGKILL.
        if isinstance(p, Burrow):
            p.kill()
        rc = p.stop()
        if failed:
            print(f"\n===== {p.log_path} (exit {rc}) =====\n{p.log_tail()}")
            if isinstance(p, Burrow):
                print(f"\n===== {p.json_log} =====\n{p.json_log_tail()}")


def our_view(coordinator, group, topic=TOPIC, brokers=None):
    """{partition: (committed, end, lag)} from /metrics: the commits and lag from the group's
    coordinator (every scrape checked for negative lag and for sums that do not add up), the
    ends from the partitions' leaders (each publishes its own) among `brokers`."""
    view = group_view(scrape(coordinator), group, topic)
    check_consistent(view)
    ends = {int(labels["partition"]): value for b in (brokers or [coordinator]) for name, labels, value in scrape(b)
            if name == "kafka_topic_partition_current_offset" and labels["topic"] == topic}
    return {p: (int(committed), int(ends[p]) if p in ends else None, int(view["lag"][p]))
            for p, committed in view.get("current_offset", {}).items() if committed >= 0}


def poll_and_commit(consumer, timeout=0.1):
    """One poll; a record read is committed (synchronously). True if there was one."""
    m = consumer.poll(timeout)
    if m is None or m.error() is not None:
        return False
    consumer.commit(message=m, asynchronous=False)
    return True


def write_more(producer, counts):
    """Writes counts[p] records to each partition p of TOPIC, acknowledged; returns counts."""
    for p, n in counts.items():
        for i in range(n):
            producer.produce(TOPIC, b"x%d" % i, partition=p)
    assert producer.flush(30) == 0
    return counts


def read_to_the_end_and_commit(consumer):
    """Reads to the end of every partition of TOPIC, committing as it goes, until its commits
    are the ends; returns the ends {partition: offset}."""
    ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(PARTITIONS)}

    def caught_up():
        if any(m.error() is None for m in consumer.consume(1000, 0.2)):
            consumer.commit(asynchronous=False)  # the positions after what it read
        positions = {tp.partition: tp.offset for tp in consumer.position([TopicPartition(TOPIC, p) for p in ends])}
        return positions == ends and {p: cm for p, (cm, _) in client_view(consumer).items()} == ends
    wait_until(caught_up, timeout=60, what="the consumer committed at the end of every partition")
    return ends


def test_burrow_reports_the_same_lag_as_our_metrics(make_broker, burrow_for):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, TOPIC, PARTITIONS)
    producer = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 2})
    for i in range(30):
        producer.produce(TOPIC, b"v%d" % i, partition=i % PARTITIONS)
    assert producer.flush(30) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "watched", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    try:
        c.subscribe([TOPIC])
        # A first commit makes __consumer_offsets; then Burrow can start reading it.
        wait_until(lambda: poll_and_commit(c), timeout=30, what="the group's first commit")
        burrow = burrow_for(b.bootstrap)

        # The group commits while a producer writes: our lag is never negative in any scrape
        # (our_view checks), and it is seen above 0.
        stop = threading.Event()
        writer = keep_writing(b.bootstrap, TOPIC, PARTITIONS, stop)
        try:
            scrapes, behind_seen = 0, False
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (scrapes < 40 or not behind_seen):
                poll_and_commit(c, 0.05)
                behind_seen = behind_seen or any(lag > 0 for _, _, lag in our_view(b, "watched").values())
                scrapes += 1
            assert behind_seen, "the group never showed a lag while the producer wrote"
        finally:
            stop.set()
            writer.join()

        # Writes stopped: the consumer reads to the end of every partition and commits there.
        ends = read_to_the_end_and_commit(c)
        want = {p: (ends[p], ends[p], 0) for p in range(PARTITIONS)}
        wait_until(lambda: our_view(b, "watched") == want, timeout=20, what="our metrics caught up",
                   describe=lambda: our_view(b, "watched"))
        wait_until(lambda: burrow.view("watched") == want, timeout=60,
                   what="Burrow's committed, end and lag equal ours, caught up",
                   describe=lambda: f"Burrow {burrow.view('watched')}, ours {our_view(b, 'watched')}")

        # The consumer paused (still polling, so it stays in the group) while the producer
        # writes more, a different number to each partition: lag > 0, the same in both.
        c.pause([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        more = write_more(producer, {0: 7, 1: 11, 2: 13})
        want = {p: (ends[p], ends[p] + more[p], more[p]) for p in range(PARTITIONS)}

        def both_behind():
            c.poll(0.05)
            return our_view(b, "watched") == want and burrow.view("watched") == want
        wait_until(both_behind, timeout=60, what="Burrow's lag equal to ours while the group is behind",
                   describe=lambda: f"Burrow {burrow.view('watched')}, ours {our_view(b, 'watched')}, want {want}")
        # Burrow's group total is the sum of ours.
        status = burrow.get(f"/v3/kafka/{CLUSTER}/consumer/watched/lag")["status"]
        assert status["totallag"] == sum(more.values()) == group_view(scrape(b), "watched")["lag_sum"][None]
    finally:
        c.close()

    # Every record Burrow read it decoded, except the classic group's metadata (value version 3,
    # which Burrow 1.2.1 predates; it only loses the partitions' owners).
    assert burrow.decode_failures() == {("metadata", "value version", 3)}, burrow.decode_failures()


def test_burrow_reads_the_commits_of_a_consumer_protocol_group(make_broker, burrow_for):
    """A KIP-848 group (librdkafka with group.protocol=consumer): its commits are the same
    records as a classic group's, so Burrow reports its lag, equal to ours; the group's own
    records (key versions 3-8, as Kafka 4.x writes them) are what Burrow 1.2.1 skips."""
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, TOPIC, PARTITIONS)
    producer = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(30):
        producer.produce(TOPIC, b"v%d" % i, partition=i % PARTITIONS)
    assert producer.flush(30) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "modern", "group.protocol": "consumer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([TOPIC])
        wait_until(lambda: poll_and_commit(c), timeout=30, what="the group's first commit")
        burrow = burrow_for(b.bootstrap)
        assert read_to_the_end_and_commit(c) == {p: 10 for p in range(PARTITIONS)}
        c.pause([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        more = write_more(producer, {0: 3, 1: 0, 2: 5})
        want = {p: (10, 10 + more[p], more[p]) for p in range(PARTITIONS)}

        def both():
            c.poll(0.05)
            return our_view(b, "modern") == want and burrow.view("modern") == want
        wait_until(both, timeout=60, what="Burrow's lag of the consumer-protocol group equal to ours",
                   describe=lambda: f"Burrow {burrow.view('modern')}, ours {our_view(b, 'modern')}, want {want}")
    finally:
        c.close()
    failures = burrow.decode_failures()
    skipped = {version for message_type, reason, version in failures if reason == "key version"}
    assert skipped and skipped <= set(range(3, 9)), failures
    assert failures == {(None, "key version", v) for v in skipped}, failures


def test_burrow_reads_a_three_broker_cluster(cluster, burrow_for):
    """Three brokers: Burrow asks each partition's leader for its end and reads the
    `__consumer_offsets` partitions from their leaders, wherever they are; its lag equals the
    one published by the group's coordinator, the only broker publishing the group."""
    _, brokers = cluster
    bootstrap, committed = spread_group(brokers, replication=3)
    want = {p: (cm, end, end - cm) for p, (cm, end) in committed.items()}
    burrow = burrow_for(bootstrap)

    def publishers():
        return [b for b in brokers if group_view(scrape(b), "spread")]

    # The cluster's brokers read lag every 5 s (the default interval).
    wait_until(lambda: len(publishers()) == 1, timeout=40, what="the group published by its coordinator")
    coordinator = publishers()[0]

    def ours():
        return our_view(coordinator, "spread", brokers=brokers)
    wait_until(lambda: ours() == want and burrow.view("spread") == want, timeout=60,
               what="Burrow's lag equal to the coordinator's",
               describe=lambda: f"Burrow {burrow.view('spread')}, ours {ours()}")
    assert burrow.decode_failures() <= {("metadata", "value version", 3)}, burrow.decode_failures()
