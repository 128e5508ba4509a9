"""kafka-python 2.0.2 against the broker: admin, keyed produce with every codec it has
(gzip, snappy, lz4, zstd here), read back with assign() + seek_to_beginning; a consumer group
of three sharing six partitions, and a consumer resuming after a committed offset."""
import threading
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
import kafka.codec

from harness import assert_stored_with, check_offsets_dense, java_partition, wait_until

CODECS = [c for c, ok in [("gzip", kafka.codec.has_gzip()), ("snappy", kafka.codec.has_snappy()),
                          ("lz4", kafka.codec.has_lz4()), ("zstd", kafka.codec.has_zstd())] if ok]


def admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="trib-kafka-python",
                            request_timeout_ms=30000)


def create_topic(broker, topic, partitions):
    a = admin(broker)
    try:
        a.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=30000)
    finally:
        a.close()


def produce_keyed(broker, topic, count, codec, keys=1000):
    """Sends keyed records, returns [(key, value, partition, offset)] in produce order."""
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, compression_type=codec,
                      linger_ms=5, batch_size=64 * 1024, max_block_ms=30000)
    try:
        futures = []
        for i in range(count):
            key = b"key-%d" % (i % keys)
            value = b"value-%d-%s" % (i, b"." * (i % 50))
            futures.append((key, value, p.send(topic, key=key, value=value)))
        p.flush(timeout=120)
        out = []
        for key, value, f in futures:
            md = f.get(timeout=1)
            out.append((key, value, md.partition, md.offset))
        return out
    finally:
        p.close(timeout=30)


def consume_back(broker, topic, partitions, total, timeout=120):
    """{partition: [(offset, key, value)]} read with assign() + seek_to_beginning."""
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                      group_id=None, consumer_timeout_ms=1000, max_poll_records=5000)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(partitions)}
        n = 0
        deadline = time.monotonic() + timeout
        while n < total and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    got[tp.partition].append((m.offset, m.key, m.value))
                    n += 1
        assert n == total, f"read {n} of {total} records in {timeout} s"
        return got
    finally:
        c.close()


def check_read_back(broker, topic, partitions, reports):
    got = consume_back(broker, topic, partitions, len(reports))
    want = {p: [] for p in range(partitions)}
    for key, value, p, offset in reports:
        assert p == java_partition(key, partitions), f"{key} not on its murmur2 partition"
        want[p].append((offset, key, value))
    for p in range(partitions):
        check_offsets_dense(got[p])
        assert got[p] == want[p], f"partition {p} differs from the produce results"


def test_admin_create_describe_delete(broker):
    a = admin(broker)
    try:
        a.create_topics([NewTopic("kp-admin", 6, 1)], timeout_ms=30000)
        assert "kp-admin" in a.list_topics()
        [desc] = a.describe_topics(["kp-admin"])
        assert desc["error_code"] == 0
        assert sorted(p["partition"] for p in desc["partitions"]) == list(range(6))
        assert all(p["leader"] == 1 for p in desc["partitions"])
        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([NewTopic("kp-admin", 6, 1)], timeout_ms=30000)
        a.delete_topics(["kp-admin"], timeout_ms=30000)
        assert "kp-admin" not in a.list_topics()
    finally:
        a.close()


def test_produce_100k_keyed_and_read_back(broker):
    create_topic(broker, "kp-keyed", 6)
    reports = produce_keyed(broker, "kp-keyed", 100_000, None)
    check_read_back(broker, "kp-keyed", 6, reports)


def test_codecs_available():
    # Debian's python3-kafka with its optional modules: every codec should be here.
    assert CODECS == ["gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_produce_compressed_and_read_back(broker, codec):
    topic = f"kp-{codec}"
    create_topic(broker, topic, 6)
    reports = produce_keyed(broker, topic, 10_000, codec)
    check_read_back(broker, topic, 6, reports)
    assert_stored_with(broker, topic, codec)


# ---- consumer groups (issue 13) ----------------------------------------------------------------

# A new group doesn't wait the default 3 s for more members.
FAST_GROUPS = {"group.initial.rebalance.delay.ms": 0}


class GroupMember(threading.Thread):
    """One KafkaConsumer in a group, polled by its own thread: kafka-python joins a group
    inside poll() and blocks there until the join is answered, which (when another member
    joins) waits for every member to rejoin, so members can't share one polling thread."""

    def __init__(self, broker, group, topic):
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      session_timeout_ms=10000, heartbeat_interval_ms=500,
                                      client_id="trib-kafka-python-member")
        self.consumer.subscribe([topic])
        self.lock = threading.Lock()
        self.assigned = set()
        self.records = []  # (partition, offset, value)
        self.error = None
        self.stopping = threading.Event()

    def run(self):
        try:
            while not self.stopping.is_set():
                batches = self.consumer.poll(timeout_ms=100)
                with self.lock:
                    self.assigned = {tp.partition for tp in self.consumer.assignment()}
                    for tp, records in batches.items():
                        self.records.extend((tp.partition, r.offset, r.value) for r in records)
        except Exception as e:  # reported by the test, not lost in the thread
            self.error = e
        finally:
            self.consumer.close()

    def snapshot(self):
        with self.lock:
            if self.error is not None:
                raise AssertionError(f"group member failed: {self.error!r}")
            return set(self.assigned), list(self.records)

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert not self.is_alive(), "a group member did not close"


def test_group_three_members_share_six_partitions_and_read_each_record_once(make_broker):
    b = make_broker(overrides=FAST_GROUPS)
    create_topic(b, "py-six", 6)
    members = [GroupMember(b, "py-trio", "py-six") for _ in range(3)]
    for m in members:
        m.start()
    try:
        wait_until(lambda: [len(m.snapshot()[0]) for m in members] == [2, 2, 2], "2 partitions each")
        parts = [m.snapshot()[0] for m in members]
        assert set().union(*parts) == set(range(6)), f"overlapping assignments {parts}"
        sent = produce_keyed(b, "py-six", 600, None)
        wait_until(lambda: sum(len(m.snapshot()[1]) for m in members) >= 600, "600 records")
        seen = {}
        for i, m in enumerate(members):
            assigned, records = m.snapshot()
            assert assigned == parts[i], "the assignment changed while consuming"
            for p, offset, value in records:
                assert p in parts[i], f"member {i} read partition {p}, assigned {parts[i]}"
                seen.setdefault((p, offset), []).append(value)
        assert all(len(v) == 1 for v in seen.values()), "a record was read twice"
        assert {k: v[0] for k, v in seen.items()} == {(p, o): value for _, value, p, o in sent}
    finally:
        for m in members:
            m.stop()


def test_group_committed_offset_resumes_a_new_consumer(make_broker):
    b = make_broker(overrides=FAST_GROUPS)
    create_topic(b, "py-resume", 1)
    produce_keyed(b, "py-resume", 100, None)
    tp = TopicPartition("py-resume", 0)
    first = GroupMember(b, "py-resumers", "py-resume")
    first.start()
    try:
        wait_until(lambda: len(first.snapshot()[1]) >= 40, "40 records")
    finally:
        first.stopping.set()
        first.join(30)
    offsets = [o for _, o, _ in first.records]
    assert offsets == list(range(len(offsets)))
    # Commit 40 from a consumer of the group outside any generation (generation -1), as
    # tools and applications managing offsets themselves do.
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="py-resumers", enable_auto_commit=False)
    try:
        c.commit({tp: OffsetAndMetadata(40, "resume here")})
        assert c.committed(tp) == 40
    finally:
        c.close()
    second = GroupMember(b, "py-resumers", "py-resume")
    second.start()
    try:
        wait_until(lambda: len(second.snapshot()[1]) >= 60, "the 60 records after the commit")
        assert [o for _, o, _ in second.snapshot()[1]][:60] == list(range(40, 100))
    finally:
        second.stop()
