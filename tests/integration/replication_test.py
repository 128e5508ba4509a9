"""Followers copy their leaders' logs: a coordinator and three brokers, topics with three
replicas, records produced through the leaders; every replica ends up holding the same
batches at the same offsets, and a follower that was down catches up when it comes back."""
import struct
from pathlib import Path

from confluent_kafka import Producer

from cluster_test import bootstrap, create, describe, wait_until


def batches(broker, topic, partition):
    """[(base offset, last offset delta, crc)] of every batch in the replica's log files, read
    from disk (a running broker's active segment may end in the zeros of its direct writes)."""
    out = []
    for log in sorted(Path(broker.data_dir).glob(f"{topic}-{partition}/*.log")):
        data = log.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length < 49:
                break
            crc, = struct.unpack_from(">I", data, pos + 17)
            delta, = struct.unpack_from(">i", data, pos + 23)
            out.append((base, delta, crc))
            pos += 12 + length
    return out


def records(bs):
    return sum(delta + 1 for _, delta, _ in bs)


def produce(brokers, topic, n, start=0):
    p = Producer({"bootstrap.servers": bootstrap(brokers), "acks": "all", "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, b"value-%d" % i, b"key-%d" % i)
    assert p.flush(60) == 0


def same_everywhere(brokers, topic, partitions, total):
    """Every replica of every partition holds the same batches, `total` records in all."""
    count = 0
    for part in range(partitions):
        copies = [batches(b, topic, part) for b in brokers]
        if any(c != copies[0] for c in copies[1:]):
            return False
        count += records(copies[0])
    return count == total


def test_followers_copy_the_leaders_batches(cluster):
    _, brokers = cluster
    create(brokers, "copied", 3, 3)
    produce(brokers, "copied", 3000)
    wait_until(lambda: same_everywhere(brokers, "copied", 3, 3000), timeout=30,
               what="every replica to hold the same 3000 records")


def test_a_follower_that_was_down_catches_up(cluster):
    _, brokers = cluster
    create(brokers, "catch-up", 2, 3)
    produce(brokers, "catch-up", 500)
    wait_until(lambda: same_everywhere(brokers, "catch-up", 2, 500), timeout=30, what="first copies")
    # Two partitions, three brokers: one broker leads neither, and stops while the others
    # take 500 more records.
    leaders, _ = describe(brokers, "catch-up")
    away = next(b for b in brokers if b.node_id not in leaders.values())
    away.stop()
    produce([b for b in brokers if b is not away], "catch-up", 500, start=500)
    away.start()
    wait_until(lambda: same_everywhere(brokers, "catch-up", 2, 1000), timeout=60,
               what=f"broker {away.node_id} to copy what it missed")
