"""The new consumer group protocol (KIP-848: ConsumerGroupHeartbeat, ConsumerGroupDescribe,
the server's assignors) through librdkafka with `group.protocol: consumer` (PyPI's newest
confluent-kafka, in tools/venv; Debian's librdkafka 2.0 predates it), each test run against
Tributary and against Apache Kafka 4.4 (apache_kafka.py, one node for the module): members
share the partitions and read every record once while members join, leave and rejoin; a
committed offset resumes a new member; a member SIGKILLed loses its partitions after the
session timeout; the broker coordinating the group is SIGKILLed during consumption and nothing
is lost; `kafka-consumer-groups --describe` shows the group.

In this mode librdkafka refuses session.timeout.ms, heartbeat.interval.ms and
partition.assignment.strategy: the coordinator sets the session (45 s) and the heartbeat
interval (5 s), so each step of a rebalance takes a heartbeat or two, seconds.

The Tributary side alone: pytest consumer_protocol_test.py -k 'not apache_kafka'."""
import os
import signal
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from apache_kafka import ApacheKafka, kafka_tool
from harness import admin_create_topic, find_coordinator_v0, start_member
from harness import poll_until as harness_poll_until

# A new group doesn't wait 3 s for more members (both servers take the setting).
FAST = {"group.initial.rebalance.delay.ms": 0}
# Each case runs against both servers; in the sanitizer build (TRIB_SANITIZED) against Tributary
# alone: there the point is the broker's memory safety, and the Release pass compares.
TARGETS = ["tributary"] if os.environ.get("TRIB_SANITIZED") else ["tributary", "apache_kafka"]


@pytest.fixture(scope="module")
def apache_kafka(tmp_path_factory):
    """One Apache Kafka 4.4 node for the module's tests (each uses its own topics and groups)."""
    k = ApacheKafka(tmp_path_factory.mktemp("apache-kafka"), overrides=FAST, heap="-Xmx512M")
    try:
        k.start()
        yield k
    finally:
        rc = k.stop()
        print(f"\n===== Apache Kafka server.log (exit {rc}) =====\n{k.server_log_tail(8000)}")


@pytest.fixture(params=TARGETS)
def target(request):
    """The server a test runs against: a fresh Tributary broker, or the module's Apache Kafka."""
    if request.param == "tributary":
        return request.getfixturevalue("make_broker")(overrides=FAST)
    return request.getfixturevalue("apache_kafka")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return Consumer(conf)


class Member:
    """A consumer of the group that remembers what it read and, when partitions are taken
    from it (on_revoke, which librdkafka runs before acknowledging the revocation to the
    coordinator, so before another member gets them), commits the offset after the last
    record it read of each: the next owner starts right there."""

    def __init__(self, bootstrap, group, topic, commit_on_revoke=True, **extra):
        self.consumer = consumer(bootstrap, group, **extra)
        self.topic = topic
        self.commit_on_revoke = commit_on_revoke
        self.to_commit = {}  # partition -> offset after the last record read, not yet committed
        self.revoked = set()
        self.lost = set()
        self.consumer.subscribe([topic], on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_revoke(self, consumer_, partitions):
        self.revoked.update(tp.partition for tp in partitions)
        offsets = [TopicPartition(self.topic, tp.partition, self.to_commit.pop(tp.partition))
                   for tp in partitions if tp.partition in self.to_commit]
        if offsets and self.commit_on_revoke:
            consumer_.commit(offsets=offsets, asynchronous=False)

    def _on_lost(self, consumer_, partitions):
        self.lost.update(tp.partition for tp in partitions)

    def assigned(self):
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self):
        self.consumer.close()


def poll_until(members, done, what, seen=None, tick=None, timeout=60):
    """harness.poll_until over the members' consumers, each member noting what it read."""
    def read(i, msg):
        members[i].to_commit[msg.partition()] = msg.offset() + 1
    harness_poll_until([m.consumer for m in members], done, timeout=timeout, what=what, into=seen, tick=tick,
                       on_record=read)


def each_has(members, share):
    return lambda: all(len(m.assigned()) == share for m in members)


def assert_shared_out(members, partitions):
    """Every partition assigned, to one member only."""
    parts = [m.assigned() for m in members]
    assert set().union(*parts) == set(range(partitions)), f"not all assigned: {parts}"
    assert sum(len(p) for p in parts) == partitions, f"a partition assigned twice: {parts}"


class Feed:
    """A producer writing records round-robin over the partitions."""

    def __init__(self, bootstrap, topic, partitions, **conf):
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                                  **{k.replace("_", "."): v for k, v in conf.items()}})
        self.topic = topic
        self.partitions = partitions
        self.sent = 0

    def send(self, n):
        for _ in range(n):
            self.producer.produce(self.topic, b"v%d" % self.sent, key=b"k%d" % self.sent,
                                  partition=self.sent % self.partitions)
            self.sent += 1
        self.producer.poll(0)

    def flush(self, timeout=60):
        assert self.producer.flush(timeout) == 0, "records not acknowledged"

    def written(self):
        """{(partition, offset)} of everything sent, as one producer writing in order lays it out."""
        return {(i % self.partitions, i // self.partitions) for i in range(self.sent)}


def committed(bootstrap, group, topic, partitions):
    c = consumer(bootstrap, group)
    try:
        return {tp.partition: tp.offset
                for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)}
    finally:
        c.close()


def test_members_joining_leaving_and_rejoining_read_each_record_once(target):
    """Two members share six partitions (3 each); a third joins (2 each); one closes (3 each);
    a new one joins again (2 each): at every stable point the assignment is disjoint and
    complete, and of the records written all along each is read once (a member commits what it
    read of a partition as it gives it up). Then all close: the committed offsets are the ends,
    and a new member reads only what is written after."""
    topic, group = unique("share"), unique("sharers")
    admin_create_topic(target.bootstrap, topic, 6)
    feed = Feed(target.bootstrap, topic, 6)
    members, seen = [], {}

    def write():
        if feed.sent < 1200:
            feed.send(6)

    try:
        members += [Member(target.bootstrap, group, topic) for _ in range(2)]
        poll_until(members, each_has(members, 3), "3 partitions each of 2 members", seen)
        assert_shared_out(members, 6)

        feed.send(120)
        members.append(Member(target.bootstrap, group, topic))
        poll_until(members, each_has(members, 2), "2 partitions each of 3 members", seen, write)
        assert_shared_out(members, 6)

        leaving = members.pop(1)
        had = leaving.assigned()
        leaving.revoked.clear()
        leaving.close()  # on_revoke commits what it read, then it leaves the group
        assert leaving.revoked == had
        poll_until(members, each_has(members, 3), "3 partitions each of the 2 left", seen, write)
        assert_shared_out(members, 6)

        members.append(Member(target.bootstrap, group, topic))
        poll_until(members, each_has(members, 2), "2 partitions each after a member rejoins", seen, write)
        assert_shared_out(members, 6)

        feed.send(60)
        feed.flush()
        poll_until(members, lambda: len(seen) == feed.sent, f"{feed.sent} records", seen)
        assert set(seen) == feed.written()
        twice = {r: who for r, who in seen.items() if len(who) > 1}
        assert not twice, f"read more than once: {sorted(twice.items())[:10]}"
        assert all(not m.lost for m in members), "partitions lost"
        for m in members:
            m.close()
        members = []

        ends = {p: len([r for r in feed.written() if r[0] == p]) for p in range(6)}
        assert committed(target.bootstrap, group, topic, 6) == ends

        members.append(Member(target.bootstrap, group, topic))
        after = {}
        poll_until(members, each_has(members, 6), "all 6 partitions on the new member", after)
        before = feed.written()
        feed.send(60)
        feed.flush()
        poll_until(members, lambda: len(after) == 60, "the 60 records written after", after)
        assert set(after) == feed.written() - before
    finally:
        for m in members:
            m.close()


def test_a_committed_offset_resumes_a_new_member(target):
    """A member reads 40 of 100 records, commits 40 and closes; a new member of the group
    sees 40 committed and reads exactly 40-99."""
    topic, group = unique("resume"), unique("resumers")
    admin_create_topic(target.bootstrap, topic, 1)
    feed = Feed(target.bootstrap, topic, 1)
    feed.send(100)
    feed.flush()
    first = Member(target.bootstrap, group, topic)
    got = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < 40 and time.monotonic() < deadline:
            m = first.consumer.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.offset())
        assert got == list(range(40))
        first.consumer.commit(offsets=[TopicPartition(topic, 0, 40)], asynchronous=False)
    finally:
        first.consumer.close()
    second = Member(target.bootstrap, group, topic)
    try:
        (tp,) = second.consumer.committed([TopicPartition(topic, 0)], timeout=30)
        assert tp.offset == 40
        seen = {}
        poll_until([second], lambda: len(seen) == 60, "records 40-99", seen)
        assert sorted(seen) == [(0, o) for o in range(40, 100)]
    finally:
        second.close()


def test_a_killed_member_loses_its_partitions_after_the_session_timeout(target):
    """A member in another process is SIGKILLed (no leave heartbeat): once the coordinator's
    session timeout (45 s, Kafka's group.consumer.session.timeout.ms) passes without its
    heartbeats, its partitions go to the member left, which then has all four."""
    topic, group = unique("expiry"), unique("expirers")
    admin_create_topic(target.bootstrap, topic, 4)
    proc = start_member(target.bootstrap, group, topic, {"group.protocol": "consumer", "auto.offset.reset": "earliest"})
    members = []
    try:
        members.append(Member(target.bootstrap, group, topic))
        poll_until(members, each_has(members, 2), "the partitions split between two members")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        poll_until(members, each_has(members, 4), "all 4 after the session timeout", timeout=120)
        assert not members[0].lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for m in members:
            m.close()


def table(text):
    """kafka-consumer-groups' table: [header tokens, [row tokens]...] (blank lines dropped)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    return lines[0], lines[1:]


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_kafka_consumer_groups_describes_the_group(target, assignor):
    """Apache Kafka's kafka-consumer-groups on a consumer-protocol group of two members (with
    group.remote.assignor uniform, or range: partitions 0-2 and 3-5) that committed 4 of each
    partition's 10 records: --describe (offsets, lag 6, the owning member's id, host and
    client id per partition), --describe --state --verbose (the assignor, Stable, epochs, 2
    members), --describe --members --verbose (each member's current and target assignment),
    --list --type (Consumer); no error."""
    topic, group = unique("described"), unique("describers")
    admin_create_topic(target.bootstrap, topic, 6)
    feed = Feed(target.bootstrap, topic, 6)
    feed.send(60)
    feed.flush()
    members = [Member(target.bootstrap, group, topic, client_id=f"client-{i}", group_remote_assignor=assignor)
               for i in range(2)]
    try:
        poll_until(members, each_has(members, 3), "3 partitions each", {})
        assert_shared_out(members, 6)
        if assignor == "range":
            assert sorted(sorted(m.assigned()) for m in members) == [[0, 1, 2], [3, 4, 5]]
        for m in members:
            m.consumer.commit(offsets=[TopicPartition(topic, p, 4) for p in sorted(m.assigned())],
                              asynchronous=False)
        owner = {p: (m.consumer.memberid(), f"client-{i}") for i, m in enumerate(members) for p in m.assigned()}

        def tool(*args):
            out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", target.bootstrap, *args)
            assert "Error" not in out.stderr and "rror:" not in out.stdout, out.stderr + out.stdout
            return out.stdout

        header, rows = table(tool("--describe", "--group", group))
        assert header == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                          "CONSUMER-ID", "HOST", "CLIENT-ID"]
        got = {int(r[2]): r for r in rows}
        assert sorted(got) == list(range(6)), rows
        for p, r in got.items():
            assert r[:2] == [group, topic] and r[3:6] == ["4", "10", "6"], r
            assert r[6:] == [owner[p][0], "/127.0.0.1", owner[p][1]], r

        # The COORDINATOR (ID) column is two tokens wide in both the header and the rows.
        header, rows = table(tool("--describe", "--group", group, "--state", "--verbose"))
        assert header == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH",
                          "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS"]
        (row,) = rows
        assert row[0] == group and row[3:5] == [assignor, "Stable"] and row[7] == "2", row
        assert row[5] == row[6] and int(row[5]) > 0, row

        header, rows = table(tool("--describe", "--group", group, "--members", "--verbose"))
        assert header == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
                          "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]
        by_member = {r[1]: r for r in rows}
        assert len(rows) == 2
        for i, m in enumerate(members):
            r = by_member[m.consumer.memberid()]
            parts = topic + ":" + ",".join(str(p) for p in sorted(m.assigned()))
            assert r[2:5] == ["/127.0.0.1", f"client-{i}", "3"] and r[6] == parts and r[8] == parts, r

        header, rows = table(tool("--list", "--type"))
        assert header == ["GROUP", "TYPE"]
        assert [group, "Consumer"] in rows, rows
    finally:
        for m in members:
            m.close()


@pytest.mark.parametrize("server", TARGETS)
def test_nothing_is_lost_when_the_group_coordinator_is_killed(server, request):
    """Two members (auto-commit every 200 ms: at least once) read a 4-partition topic while a
    producer writes; the broker coordinating their group is SIGKILLed. Tributary: a cluster of
    three, topic and offsets replicated three times; the group moves to another broker, which
    loads it, and the members carry on there. Apache Kafka (one node here): it is restarted.
    Every record written is read. (Last in the file: it restarts the module's Apache Kafka.)"""
    if server == "tributary":
        kafka = None
        _, brokers = request.getfixturevalue("cluster")
        bootstrap = ",".join(b.bootstrap for b in brokers)
    else:
        kafka, brokers = request.getfixturevalue("apache_kafka"), None
        bootstrap = kafka.bootstrap
    topic, group = unique("kill"), unique("survivors")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 4, 3 if brokers else 1)])[topic].result(30)
    feed = Feed(bootstrap, topic, 4, acks="all", enable_idempotence=True)
    members, seen = [], {}
    try:
        # auto-commit only: a commit in on_revoke while the coordinator moves could fail
        members += [Member(bootstrap, group, topic, commit_on_revoke=False, enable_auto_commit=True,
                           auto_commit_interval_ms=200) for _ in range(2)]
        poll_until(members, each_has(members, 2), "2 partitions each", seen)
        feed.send(200)
        feed.flush()
        poll_until(members, lambda: len(seen) == 200, "the first 200 records", seen)

        if brokers:
            err, node, _ = find_coordinator_v0(brokers[0].port, group)
            assert err == 0
            victim = next(b for b in brokers if b.node_id == node)
            victim.kill()
        else:
            kafka.kill()
        feed.send(200)
        if not brokers:
            kafka.start()
        feed.flush(120)
        poll_until(members, lambda: set(seen) >= feed.written(), "all 400 records after the kill", seen,
                   timeout=120)
        assert set(seen) == feed.written()
        if brokers:
            alive = next(b for b in brokers if b is not victim)
            err, new_node, _ = find_coordinator_v0(alive.port, group)
            assert err == 0 and new_node != node
    finally:
        for m in members:
            m.close()
