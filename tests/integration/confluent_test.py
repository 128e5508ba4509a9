"""confluent-kafka against the broker: admin, keyed produce with every codec, read back with
assign(), and the broker's max.message.bytes limit. Runs twice: on Debian's
python3-confluent-kafka 1.7 (librdkafka 2.0.2), and on the newest confluent-kafka from PyPI
(ctest integration_confluent_kafka_pypi), whose TRIB_EXPECT_LIBRDKAFKA names the librdkafka
generation it must be running."""
import os

import confluent_kafka
import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import (admin_create_topic, assert_stored_with, check_offsets_dense, consume_all,
                     librdkafka_partition, partition_count)


def test_runs_the_expected_librdkafka():
    want = os.environ.get("TRIB_EXPECT_LIBRDKAFKA", "2.0.")
    assert confluent_kafka.libversion()[0].startswith(want), \
        f"librdkafka {confluent_kafka.libversion()[0]} from {confluent_kafka.__file__}, wanted {want}*"


def produce_keyed(bootstrap, topic, count, codec, keys=1000, timeout=120):
    """Sends `count` records with keys key-<i % keys>; returns the delivery reports in the order
    the records were produced: [(key, value, partition, offset)]. Fails on any delivery error."""
    reports = [None] * count
    errors = []

    def on_delivery(err, msg, i):
        if err is not None:
            errors.append((i, err))
        else:
            reports[i] = (msg.key(), msg.value(), msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                  "compression.type": codec, "queue.buffering.max.messages": 200000})
    for i in range(count):
        key = b"key-%d" % (i % keys)
        value = b"value-%d-%s" % (i, b"." * (i % 50))
        p.produce(topic, value, key, on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i))
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(timeout)
    assert left == 0, f"{left} records still undelivered after {timeout} s"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    assert all(r is not None for r in reports)
    return reports


def check_read_back(bootstrap, topic, partitions, reports):
    """What a consumer reads equals what the producer was told: same partitions, offsets,
    per-partition order, and one partition per key (the one librdkafka's partitioner picked)."""
    got = consume_all(bootstrap, topic)
    assert sum(len(v) for v in got.values()) == len(reports)
    want = {p: [] for p in range(partitions)}
    for key, value, p, offset in reports:
        want[p].append((offset, key, value))
    for p in range(partitions):
        check_offsets_dense(got[p])
        assert got[p] == want[p], f"partition {p} differs from the delivery reports"
    key_partition = {}
    for key, _, p, _ in reports:
        assert key_partition.setdefault(key, p) == p, f"key {key} on two partitions"
        assert p == librdkafka_partition(key, partitions)
    assert len(key_partition) == min(1000, len(reports))


def test_admin_create_list_delete(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = admin.create_topics([NewTopic("admin-six", 6, 1)], operation_timeout=30)
    fs["admin-six"].result(30)
    md = admin.list_topics(timeout=30)
    assert "admin-six" in md.topics
    assert sorted(md.topics["admin-six"].partitions) == list(range(6))
    assert all(pm.leader == 1 for pm in md.topics["admin-six"].partitions.values())

    # Creating it again is refused with TOPIC_ALREADY_EXISTS.
    fs = admin.create_topics([NewTopic("admin-six", 6, 1)], operation_timeout=30)
    with pytest.raises(Exception) as e:
        fs["admin-six"].result(30)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    fs = admin.delete_topics(["admin-six"], operation_timeout=30)
    fs["admin-six"].result(30)
    md = admin.list_topics(timeout=30)
    assert "admin-six" not in md.topics


def test_produce_100k_keyed_and_read_back(broker):
    admin_create_topic(broker.bootstrap, "keyed", 6)
    assert partition_count(broker.bootstrap, "keyed") == 6
    reports = produce_keyed(broker.bootstrap, "keyed", 100_000, "none")
    check_read_back(broker.bootstrap, "keyed", 6, reports)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_produce_compressed_and_read_back(broker, codec):
    topic = f"keyed-{codec}"
    admin_create_topic(broker.bootstrap, topic, 6)
    reports = produce_keyed(broker.bootstrap, topic, 10_000, codec)
    check_read_back(broker.bootstrap, topic, 6, reports)
    # The batches really are compressed so (librdkafka silently sends lz4 batches
    # uncompressed to a broker whose ApiVersions lacks FindCoordinator).
    assert_stored_with(broker, topic, codec)


def test_message_too_large_then_connection_keeps_working(broker):
    admin_create_topic(broker.bootstrap, "small-max", 1, config={"max.message.bytes": "1000"})
    results = {}
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 0,
                  "message.max.bytes": 10_000_000, "message.send.max.retries": 0})

    def on_delivery(name):
        return lambda err, msg: results.__setitem__(name, (err, msg.offset()))

    p.produce("small-max", b"x" * 5000, b"big", on_delivery=on_delivery("big"))
    assert p.flush(30) == 0
    err, _ = results["big"]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, f"got {err}"

    p.produce("small-max", b"small", b"small", on_delivery=on_delivery("small"))
    assert p.flush(30) == 0
    err, offset = results["small"]
    assert err is None, f"small record after the refused one failed: {err}"
    assert offset == 0

    got = consume_all(broker.bootstrap, "small-max")
    assert got == {0: [(0, b"small", b"small")]}
