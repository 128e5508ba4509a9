"""Moving a running group between the classic protocol and the new one (KIP-848) one member at
a time, as Kafka 4.x allows, with librdkafka (PyPI's confluent-kafka in tools/venv): classic
members are joined by a `group.protocol: consumer` member, which upgrades the group to a
consumer group whose classic members the server then assigns; the partitions stay disjoint
and complete, every record is read, and when the classic members leave the new one takes
everything. Then the reverse: a classic member joins a consumer group, and when the
consumer-protocol member leaves the group is a classic group again.

The server's heartbeat interval is 5 s, so each step of a rebalance takes seconds."""
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from harness import admin_create_topic

FAST = {"group.initial.rebalance.delay.ms": 0}
PARTITIONS = 6


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Member:
    """A consumer that remembers what it read and commits, when partitions are taken from it,
    the offset after the last record it read of each (so the next owner starts there)."""

    def __init__(self, bootstrap, group, topic, protocol):
        conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "group.protocol": protocol}
        if protocol == "classic":
            conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                         "partition.assignment.strategy": "cooperative-sticky"})
        self.consumer = Consumer(conf)
        self.topic = topic
        self.to_commit = {}
        self.consumer.subscribe([topic], on_revoke=self._on_revoke)

    def _on_revoke(self, consumer_, partitions):
        offsets = [TopicPartition(self.topic, tp.partition, self.to_commit.pop(tp.partition))
                   for tp in partitions if tp.partition in self.to_commit]
        if offsets:
            consumer_.commit(offsets=offsets, asynchronous=False)

    def assigned(self):
        return {tp.partition for tp in self.consumer.assignment()}

    def poll(self, seen):
        m = self.consumer.poll(0.05)
        if m is None:
            return
        if m.error() is not None:
            if m.error().code() == KafkaError._PARTITION_EOF:
                return
            raise AssertionError(f"{m.error()}")
        seen.setdefault((m.partition(), m.offset()), 0)
        seen[(m.partition(), m.offset())] += 1
        self.to_commit[m.partition()] = m.offset() + 1

    def close(self):
        self.consumer.close()


def poll_until(members, done, what, seen, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll(seen)
        if done():
            return
    raise AssertionError(f"timed out waiting for {what}: {[sorted(m.assigned()) for m in members]}")


def shared(members):
    """Every partition owned by exactly one member."""
    owned = [m.assigned() for m in members]
    return sum(len(o) for o in owned) == PARTITIONS and set().union(*owned) == set(range(PARTITIONS))


def produce(bootstrap, topic, start, n):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, b"v%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0


def group_type(bootstrap, group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=30).result(30)
    for g in listed.valid:
        if g.group_id == group:
            return g.type.name
    return None


def test_a_consumer_protocol_member_upgrades_a_running_classic_group(make_broker):
    b = make_broker(overrides=FAST)
    topic, group = unique("mig-up"), unique("mig-up-group")
    admin_create_topic(b.bootstrap, topic, PARTITIONS)
    seen = {}
    classic = [Member(b.bootstrap, group, topic, "classic") for _ in range(2)]
    members = list(classic)
    try:
        poll_until(members, lambda: shared(members), "two classic members share the partitions", seen)
        assert group_type(b.bootstrap, group) == "CLASSIC"
        produce(b.bootstrap, topic, 0, 300)
        poll_until(members, lambda: len(seen) == 300, "300 records", seen)

        new = Member(b.bootstrap, group, topic, "consumer")
        members.append(new)
        poll_until(members, lambda: shared(members) and all(m.assigned() for m in members),
                   "three members of two protocols share the partitions", seen)
        assert group_type(b.bootstrap, group) == "CONSUMER"
        produce(b.bootstrap, topic, 300, 300)
        poll_until(members, lambda: len(seen) == 600, "600 records", seen)

        for m in classic:
            m.close()
            members.remove(m)
        poll_until(members, lambda: new.assigned() == set(range(PARTITIONS)),
                   "the new member takes every partition", seen)
        produce(b.bootstrap, topic, 600, 300)
        poll_until(members, lambda: len(seen) == 900, "900 records", seen)
        # Each partition's records, in order, all there (a record read twice after a move is
        # at-least-once, as with Kafka; none is missing).
        for p in range(PARTITIONS):
            offsets = sorted(o for (q, o) in seen if q == p)
            assert offsets == list(range(len(offsets))), f"partition {p}: a gap"
    finally:
        for m in members:
            m.close()


def test_a_classic_member_joins_a_consumer_group(make_broker):
    b = make_broker(overrides=FAST)
    topic, group = unique("mig-in"), unique("mig-in-group")
    admin_create_topic(b.bootstrap, topic, PARTITIONS)
    seen = {}
    members = [Member(b.bootstrap, group, topic, "consumer")]
    try:
        poll_until(members, lambda: shared(members), "the consumer-protocol member takes everything", seen)
        members.append(Member(b.bootstrap, group, topic, "classic"))
        poll_until(members, lambda: shared(members) and all(len(m.assigned()) == 3 for m in members),
                   "3 partitions each", seen)
        assert group_type(b.bootstrap, group) == "CONSUMER"
        produce(b.bootstrap, topic, 0, 300)
        poll_until(members, lambda: len(seen) == 300, "300 records", seen)
        assert all(n == 1 for n in seen.values()), "a record read twice with no member moving"

        # The consumer-protocol member leaves: the group is a classic group again (Kafka's
        # online downgrade) and the classic member takes everything.
        new, classic = members
        new.close()
        members.remove(new)
        poll_until(members, lambda: classic.assigned() == set(range(PARTITIONS)),
                   "the classic member takes every partition", seen)
        deadline = time.monotonic() + 30
        while group_type(b.bootstrap, group) != "CLASSIC":
            assert time.monotonic() < deadline, "the group stayed a consumer group"
            classic.poll(seen)
        produce(b.bootstrap, topic, 300, 300)
        poll_until(members, lambda: len(seen) == 600, "600 records", seen)
    finally:
        for m in members:
            m.close()
