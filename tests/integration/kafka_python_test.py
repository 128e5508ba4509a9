"""kafka-python 2.0.2 against the broker: admin, keyed produce with every codec it has
(gzip, snappy, lz4, zstd here), read back with assign() + seek_to_beginning."""
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
import kafka.codec

from harness import assert_stored_with, check_offsets_dense, java_partition

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
