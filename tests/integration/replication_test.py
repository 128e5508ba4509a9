"""Followers copy their leaders' logs: a coordinator and three brokers, topics with three
replicas, records produced through the leaders; every replica ends up holding the same
batches at the same offsets, a follower that was down catches up when it comes back, and one
whose whole log was deleted on the leader meanwhile starts again at the leader's log start."""
import socket
import struct
from pathlib import Path

from confluent_kafka import Producer

from cluster_test import bootstrap, create, describe, wait_until
from harness import read_response, send_request

API_DELETE_RECORDS = 21


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


def delete_records(broker, topic, partition, before):
    """DeleteRecords v0 sent to `broker` (the partition's leader): (error code, low watermark)."""
    name = topic.encode()
    body = struct.pack(">ih", 1, len(name)) + name + struct.pack(">iiqi", 1, partition, before, 30000)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=30) as s:
        send_request(s, API_DELETE_RECORDS, 0, 7, body)
        _, resp = read_response(s)
    # throttle, [topic: name, [partition, low watermark, error]]
    (name_len,) = struct.unpack_from(">h", resp, 8)
    partition_at = 10 + name_len + 4
    _, low, err = struct.unpack_from(">iqh", resp, partition_at)
    return err, low


def log_start(broker, topic, partition):
    """The first offset of the replica's log on disk (the base of its first batch), or None."""
    bs = batches(broker, topic, partition)
    return bs[0][0] if bs else None


def test_a_follower_behind_the_leaders_log_start_starts_again_there(cluster):
    """A follower stops; the leader takes more records and DeleteRecords removes everything the
    follower has and more. Back, the follower's fetch is out of range: it drops its log, starts
    at the leader's log start and copies from there (Kafka's truncate-fully-and-start-at)."""
    _, brokers = cluster
    create(brokers, "start-over", 1, 3)
    produce(brokers, "start-over", 300)
    wait_until(lambda: same_everywhere(brokers, "start-over", 1, 300), timeout=30, what="first copies")
    leaders, _ = describe(brokers, "start-over")
    leader = next(b for b in brokers if b.node_id == leaders[0])
    away = next(b for b in brokers if b is not leader)
    away.stop()
    rest = [b for b in brokers if b is not away]
    produce(rest, "start-over", 300, start=300)
    err, low = delete_records(leader, "start-over", 0, 450)
    assert (err, low) == (0, 450)
    away.start()
    # The leader keeps its segment (DeleteRecords moves the log start inside it); the returning
    # follower holds only the batches holding offsets from 450 on, whole, as the leader has them.
    wanted = lambda: [b for b in batches(leader, "start-over", 0) if b[0] + b[1] >= 450]  # noqa: E731
    wait_until(lambda: batches(away, "start-over", 0) == wanted(), timeout=60,
               what=f"broker {away.node_id} to copy the batches from 450 on")
    assert log_start(away, "start-over", 0) <= 450 < log_start(away, "start-over", 0) + records(wanted())
    assert "starting again there" in away.log_path.read_text(errors="replace")
