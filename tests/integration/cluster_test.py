"""A coordinator and three brokers as separate processes: partitions spread over the brokers,
a broker answers NOT_LEADER_OR_FOLLOWER for partitions it does not lead, and a broker that
dies is fenced by the coordinator, which gives its leaderships to in-sync followers; when it
comes back it catches up and rejoins the ISRs."""
import socket
import time

from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.produce import ProduceRequest, ProduceResponse
from kafka.record.memory_records import MemoryRecordsBuilder

from harness import API_PRODUCE, consume_all, read_response, send_request

NOT_LEADER_OR_FOLLOWER = 6


def bootstrap(brokers):
    return ",".join(b.bootstrap for b in brokers if b.alive())


def create(brokers, topic, partitions, replication):
    a = AdminClient({"bootstrap.servers": bootstrap(brokers)})
    a.create_topics([NewTopic(topic, partitions, replication)])[topic].result(30)


def describe(brokers, topic=None):
    """{partition: leader} of `topic` and the set of brokers listed, as a client sees them."""
    md = AdminClient({"bootstrap.servers": bootstrap(brokers)}).list_topics(topic=topic, timeout=30)
    leaders = {p: m.leader for p, m in md.topics[topic].partitions.items()} if topic else {}
    return leaders, set(md.brokers)


def wait_until(check, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def produce_raw(broker, topic, partition):
    """One record sent with Produce v3 straight to `broker`; the partition's error code."""
    records = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    records.append(timestamp=None, key=b"k", value=b"v")
    records.close()
    req = ProduceRequest[3](transactional_id=None, required_acks=1, timeout=5000,
                            topics=[(topic, [(partition, records.buffer())])])
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
        send_request(s, API_PRODUCE, 3, 7, req.encode())
        corr, body = read_response(s)
    assert corr == 7
    resp = ProduceResponse[3].decode(body)
    (_, partitions), = resp.topics
    (_, error_code, _offset, _ts), = partitions
    return error_code


def test_partitions_spread_and_only_leaders_take_writes(cluster):
    _, brokers = cluster
    create(brokers, "spread", 6, 1)
    leaders, listed = describe(brokers, "spread")
    assert listed == {1, 2, 3}
    assert sorted(leaders.values()) == [1, 1, 2, 2, 3, 3], leaders

    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap(brokers), "linger.ms": 5})
    for i in range(6000):
        p.produce("spread", b"v-%d" % i, b"key-%d" % (i % 600))
    assert p.flush(60) == 0
    got = consume_all(bootstrap(brokers), "spread")
    assert sum(len(r) for r in got.values()) == 6000

    by_id = {b.node_id: b for b in brokers}
    for partition, leader in leaders.items():
        assert produce_raw(by_id[leader], "spread", partition) == 0
        other = next(i for i in by_id if i != leader)
        assert produce_raw(by_id[other], "spread", partition) == NOT_LEADER_OR_FOLLOWER


def test_dead_broker_is_fenced_and_its_leaderships_move_to_in_sync_followers(cluster):
    """Broker 3 dies: the coordinator fences it, takes it out of every ISR and gives the
    partitions it led to in-sync followers, which hold every acknowledged (acks=all) record.
    Broker 3 comes back, copies what it missed and rejoins every ISR; nothing is lost."""
    _, brokers = cluster
    create(brokers, "replicated", 6, 3)
    leaders, _ = describe(brokers, "replicated")
    assert sorted(leaders.values()) == [1, 1, 2, 2, 3, 3], leaders

    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap(brokers), "acks": "all", "linger.ms": 5})
    for i in range(600):
        p.produce("replicated", b"v-%d" % i, partition=i % 6)
    assert p.flush(60) == 0

    brokers[2].kill()
    alive = brokers[:2]

    def moved():
        now, listed = describe(alive, "replicated")
        isrs = isr_of(alive, "replicated")
        return 3 not in listed and all(now[q] in (1, 2) for q in leaders) and \
            all(now[q] == l for q, l in leaders.items() if l != 3) and \
            all(3 not in isr for isr in isrs.values())
    wait_until(moved, what="broker 3 fenced, out of every ISR, its partitions led by 1 or 2")
    for i in range(600, 900):
        p.produce("replicated", b"v-%d" % i, partition=i % 6)
    assert p.flush(60) == 0

    brokers[2].start()  # same data directory and identity: taken back at once

    def back():
        _, listed = describe(brokers, "replicated")
        return listed == {1, 2, 3} and all(sorted(isr) == [1, 2, 3] for isr in isr_of(brokers, "replicated").values())
    wait_until(back, timeout=60, what="broker 3 registered again and back in every ISR")
    got = consume_all(bootstrap(brokers), "replicated")
    assert {q: [v for _, _, v in r] for q, r in got.items()} == \
        {q: [b"v-%d" % i for i in range(q, 900, 6)] for q in range(6)}


def isr_of(brokers, topic):
    """{partition: [in-sync replica ids]} as a client sees them."""
    md = AdminClient({"bootstrap.servers": bootstrap(brokers)}).list_topics(topic=topic, timeout=30)
    return {q: list(m.isrs) for q, m in md.topics[topic].partitions.items()}


def test_topic_deleted_while_a_broker_was_down_is_removed_from_its_disk(cluster):
    _, brokers = cluster
    create(brokers, "gone", 3, 3)
    create(brokers, "kept", 3, 3)
    b3 = brokers[2]
    wait_until(lambda: (b3.data_dir / "gone-0").is_dir() and (b3.data_dir / "kept-0").is_dir(),
               what="broker 3 hosting both topics")
    assert b3.stop() == 0
    a = AdminClient({"bootstrap.servers": bootstrap(brokers[:2])})
    a.delete_topics(["gone"])["gone"].result(30)
    b3.start()  # ready only once caught up, after removing what it no longer hosts
    assert not any((b3.data_dir / f"gone-{p}").exists() for p in range(3))
    assert all((b3.data_dir / f"kept-{p}").is_dir() for p in range(3))
