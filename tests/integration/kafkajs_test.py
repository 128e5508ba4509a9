"""kafkajs 2.2 (node) against the broker: admin create / metadata / delete, and keyed
produce (none, gzip, and snappy, lz4 and zstd through codec plugins) whose acks match what
confluent-kafka reads back. kafkajs's own
consumer needs consumer groups, which the broker does not serve yet."""
import pytest

from harness import assert_stored_with, check_offsets_dense, consume_all, java_partition, kafkajs

PARTITIONS = 6


def test_admin_create_metadata_delete(broker):
    assert kafkajs(broker.bootstrap, "create", "js-admin", PARTITIONS) == {"created": True}
    md = kafkajs(broker.bootstrap, "metadata", "js-admin")
    [topic] = md["topics"]
    assert topic["name"] == "js-admin"
    assert sorted(p["partitionId"] for p in topic["partitions"]) == list(range(PARTITIONS))
    assert all(p["leader"] == 1 and p["replicas"] == [1] for p in topic["partitions"])
    assert "js-admin" in kafkajs(broker.bootstrap, "list")["topics"]

    # A second create of the same topic reports "not created" (TOPIC_ALREADY_EXISTS).
    assert kafkajs(broker.bootstrap, "create", "js-admin", PARTITIONS) == {"created": False}

    kafkajs(broker.bootstrap, "delete", "js-admin")
    assert "js-admin" not in kafkajs(broker.bootstrap, "list")["topics"]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_keyed_and_read_back(broker, codec):
    topic = f"js-{codec}"
    count, sends = 5000, 10
    kafkajs(broker.bootstrap, "create", topic, PARTITIONS)
    out = kafkajs(broker.bootstrap, "produce", topic, count, sends, codec)

    # Where each record must be: kafkajs's default partitioner is the Java client's murmur2;
    # within one send(), a partition's records follow its acknowledged base offset in order.
    want = {p: [] for p in range(PARTITIONS)}
    for send in out["results"]:
        acks = {r["partition"]: r for r in send["partitions"]}
        assert all(r["errorCode"] == 0 for r in acks.values())
        placed = {p: 0 for p in range(PARTITIONS)}
        for i in range(send["first"], send["first"] + send["count"]):
            key = b"key-%d" % (i % 100)
            p = java_partition(key, PARTITIONS)
            assert p in acks, f"send at {send['first']}: no ack for partition {p}"
            want[p].append((acks[p]["baseOffset"] + placed[p], key, b"value-%d" % i))
            placed[p] += 1
        assert set(acks) == {p for p in placed if placed[p] > 0}
    assert_stored_with(broker, topic, codec)

    # ListOffsets as kafkajs's admin asks it: low 0, high = records on the partition.
    offsets = {o["partition"]: o for o in kafkajs(broker.bootstrap, "offsets", topic)["offsets"]}
    assert {p: (int(o["low"]), int(o["high"])) for p, o in offsets.items()} == \
        {p: (0, len(want[p])) for p in range(PARTITIONS)}

    got = consume_all(broker.bootstrap, topic)
    for p in range(PARTITIONS):
        check_offsets_dense(got[p])
        assert got[p] == want[p], f"partition {p}"
    assert sum(len(v) for v in got.values()) == count
