"""kafkajs 2.2 (node) against the broker: admin create / metadata / delete, and keyed
produce (none, gzip, and snappy, lz4 and zstd through codec plugins) whose acks match what
confluent-kafka reads back; its group consumer: three members share six partitions, and a
consumer resumes after a committed offset."""
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


def test_group_three_members_share_six_partitions_and_read_each_record_once(make_broker):
    b = make_broker(overrides={"group.initial.rebalance.delay.ms": 0})
    kafkajs(b.bootstrap, "create", "js-six", 6)
    out = kafkajs(b.bootstrap, "group", "js-six", "js-trio", 3, 600)
    parts = [set(a) for a in out["assigned"]]
    assert [len(p) for p in parts] == [2, 2, 2] and set().union(*parts) == set(range(6)), parts
    assert [set(a) for a in out["final"]] == parts, "the assignment changed while consuming"
    seen = {}
    for partition, offset, member, value in out["records"]:
        assert partition in parts[member], f"member {member} read partition {partition}, assigned {parts[member]}"
        seen.setdefault((partition, offset), []).append(value)
    assert all(len(v) == 1 for v in seen.values()), "a record was read twice"
    assert sorted(v[0] for v in seen.values()) == sorted(f"value-{i}" for i in range(600))
    # value-i went to partition i % 6, in order: dense offsets per partition
    for (partition, offset), (value,) in seen.items():
        i = int(value.split("-")[1])
        assert (i % 6, i // 6) == (partition, offset)


def test_group_committed_offset_resumes_a_new_consumer(make_broker):
    b = make_broker(overrides={"group.initial.rebalance.delay.ms": 0})
    kafkajs(b.bootstrap, "create", "js-resume", 1)
    kafkajs(b.bootstrap, "produce", "js-resume", 100, 1, "none")
    out = kafkajs(b.bootstrap, "resume", "js-resume", "js-resumers", 40)
    assert out["firstRead"] == list(range(40))
    assert out["committed"] == [{"partition": 0, "offset": "40", "metadata": None}]
    assert out["offsets"] == list(range(40, 100))
