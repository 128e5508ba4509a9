"""Consumer groups (issue 13) through stock clients: FindCoordinator and the offsets topic,
the classic group protocol with librdkafka's assignors (confluent-kafka), committed offsets
across consumer restarts, members leaving and dying, and offsets surviving a SIGKILL of the
broker that holds them and a move of the group's coordinator to another broker.

Runs under Debian's confluent-kafka (librdkafka 2.0) and the newest one from PyPI."""
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from harness import (admin_create_topic, find_coordinator_v0, kcat, poll_until, read_response, send_request,
                     start_member)

# Most tests don't wait for the 3 s a new group waits for more members by default.
FAST = {"group.initial.rebalance.delay.ms": 0}


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return Consumer(conf)


def produce(bootstrap, topic, n, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, b"v%d" % i, key=b"k%d" % i, partition=i % partitions)
    assert p.flush(30) == 0


def assigned(c):
    return {tp.partition for tp in c.assignment()}


def test_find_coordinator_creates_the_offsets_topic(make_broker):
    """The first FindCoordinator for a group creates __consumer_offsets (internal,
    compacted, offsets.topic.num.partitions partitions, replication capped at the brokers
    there are) and names its partition's leader; transactions still have no coordinator;
    clients cannot write the offsets topic."""
    b = make_broker(overrides={"offsets.topic.num.partitions": 7})
    err, node, port = find_coordinator_v0(b.port, "my-group")
    assert (err, node, port) == (0, 1, b.port)
    md = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "md"}).list_topics(timeout=30)
    t = md.topics["__consumer_offsets"]
    assert t.error is None and len(t.partitions) == 7
    assert all(len(p.replicas) == 1 for p in t.partitions.values())
    out = kcat("-b", b.bootstrap, "-L", "-t", "__consumer_offsets", "-J").stdout.decode()
    assert '"topic":"__consumer_offsets"' in out.replace(" ", "")
    # v4 (KIP-699): one answer per key; key type 1 (transactions) is not served yet.
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as s:
        for key_type, expect_err in ((0, 0), (1, 15)):
            cid = b"trib-raw"
            header = struct.pack(">hhih", 10, 4, 30 + key_type, len(cid)) + cid + b"\x00"
            keys = [b"g1", b"g2"]
            body = bytes([key_type]) + bytes([len(keys) + 1]) + b"".join(bytes([len(k) + 1]) + k for k in keys) + b"\x00"
            s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
            (size,) = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))
            frame = s.recv(size, socket.MSG_WAITALL)
            assert struct.unpack(">i", frame[:4])[0] == 30 + key_type
            pos = 4 + 1 + 4
            assert frame[pos] == len(keys) + 1
            pos += 1
            for k in keys:
                n = frame[pos] - 1
                assert frame[pos + 1:pos + 1 + n] == k
                pos += 1 + n
                node_id, = struct.unpack_from(">i", frame, pos)
                pos += 4
                n = frame[pos] - 1
                pos += 1 + n
                port_, err = struct.unpack_from(">ih", frame, pos)
                pos += 6
                assert err == expect_err
                assert (node_id, port_) == ((1, b.port) if expect_err == 0 else (-1, -1))
                n = frame[pos] - 1
                if expect_err:
                    assert b"not served" in frame[pos + 1:pos + 1 + n]
                pos += 1 + max(n, 0) + 1
    p = Producer({"bootstrap.servers": b.bootstrap})
    errors = []
    p.produce("__consumer_offsets", b"x", key=b"k", partition=0, on_delivery=lambda e, m: errors.append(e))
    p.flush(30)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_EXCEPTION


def test_three_members_share_six_partitions_and_read_each_record_once(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "six", 6)
    cs = [consumer(b.bootstrap, "trio") for _ in range(3)]
    try:
        for c in cs:
            c.subscribe(["six"])
        poll_until(cs, lambda: all(len(assigned(c)) == 2 for c in cs), what="2 partitions each")
        parts = [assigned(c) for c in cs]
        assert set().union(*parts) == set(range(6))
        produce(b.bootstrap, "six", 600, 6)
        seen = {}
        poll_until(cs, lambda: len(seen) == 600, what="600 records", into=seen)
        assert all(len(who) == 1 for who in seen.values()), "a record was read twice"
        for (p, _), (i,) in seen.items():
            assert p in parts[i], "a record was read by a member not assigned its partition"
    finally:
        for c in cs:
            c.close()


def test_committed_offsets_resume_a_restarted_consumer(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "resume", 1)
    produce(b.bootstrap, "resume", 100, 1)
    c = consumer(b.bootstrap, "resumers")
    c.subscribe(["resume"])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 40 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m.offset())
    assert got[:40] == list(range(40))
    c.commit(offsets=[TopicPartition("resume", 0, 40)], asynchronous=False)
    c.close()
    c = consumer(b.bootstrap, "resumers")
    try:
        (tp,) = c.committed([TopicPartition("resume", 0)], timeout=30)
        assert tp.offset == 40
        c.subscribe(["resume"])
        deadline = time.monotonic() + 60
        first = None
        while first is None and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                first = m.offset()
        assert first == 40
    finally:
        c.close()


def test_a_member_that_leaves_hands_its_partitions_over_at_once(make_broker):
    """LeaveGroup, not the session timeout (45 s here), moves the partitions."""
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "handover", 6)
    cs = [consumer(b.bootstrap, "leavers", session_timeout_ms=45000) for _ in range(2)]
    for c in cs:
        c.subscribe(["handover"])
    try:
        poll_until(cs, lambda: all(len(assigned(c)) == 3 for c in cs), what="3 partitions each")
        cs[1].close()
        left = time.monotonic()
        poll_until(cs[:1], lambda: len(assigned(cs[0])) == 6, timeout=40, what="all 6 on the remaining member")
        assert time.monotonic() - left < 40
    finally:
        cs[0].close()


def test_a_killed_member_loses_its_partitions_after_its_session_timeout(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "expiry", 4)
    proc = start_member(b.bootstrap, "expirers", "expiry",
                        {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest"})
    c = consumer(b.bootstrap, "expirers")
    try:
        c.subscribe(["expiry"])
        poll_until([c], lambda: len(assigned(c)) == 2, what="the partitions split between two members")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        poll_until([c], lambda: len(assigned(c)) == 4, timeout=60, what="all 4 after the session timeout")
    finally:
        if proc.poll() is None:
            proc.kill()
        c.close()


def test_cooperative_sticky_moves_only_what_it_must(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "sticky", 6)
    conf = {"partition_assignment_strategy": "cooperative-sticky"}
    cs = [consumer(b.bootstrap, "stickies", **conf) for _ in range(2)]
    try:
        for c in cs:
            c.subscribe(["sticky"])
        poll_until(cs, lambda: all(len(assigned(c)) == 3 for c in cs), what="3 partitions each")
        before = [assigned(c) for c in cs]
        cs.append(consumer(b.bootstrap, "stickies", **conf))
        cs[2].subscribe(["sticky"])
        poll_until(cs, lambda: all(len(assigned(c)) == 2 for c in cs), what="2 partitions each")
        after = [assigned(c) for c in cs]
        assert after[0] <= before[0] and after[1] <= before[1], "a member was given a partition it didn't have"
        assert set().union(*after) == set(range(6))
    finally:
        for c in cs:
            c.close()


def commit_and_check(bootstrap, group, topic, offsets):
    c = consumer(bootstrap, group)
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def committed(bootstrap, group, topic, partitions, timeout=60):
    """The group's committed offsets, retried while the coordinator moves or loads."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        c = consumer(bootstrap, group)
        try:
            tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            if all(tp.error is None for tp in tps):
                return {tp.partition: tp.offset for tp in tps}
            last = [tp.error for tp in tps]
        except KafkaException as e:
            last = e
        finally:
            c.close()
    raise AssertionError(f"no committed offsets within {timeout} s: {last}")


def test_offsets_survive_sigkill_of_the_broker(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "kept", 3)
    produce(b.bootstrap, "kept", 30, 3)
    commit_and_check(b.bootstrap, "keepers", "kept", {0: 7, 1: 8, 2: 9})
    commit_and_check(b.bootstrap, "keepers", "kept", {0: 10})
    b.kill()
    b.start()
    assert committed(b.bootstrap, "keepers", "kept", [0, 1, 2]) == {0: 10, 1: 8, 2: 9}


def test_offsets_survive_the_coordinator_moving(cluster):
    """SIGKILL of the broker leading the group's offsets partition: the next leader loads the
    replicated records and answers with the same committed offsets."""
    _, brokers = cluster
    boot = ",".join(x.bootstrap for x in brokers)
    admin_create_topic(boot, "moved", 2)
    err, node, _ = find_coordinator_v0(brokers[0].port, "movers")
    assert err == 0
    commit_and_check(boot, "movers", "moved", {0: 3, 1: 4})
    victim = next(x for x in brokers if x.node_id == node)
    victim.kill()
    rest = ",".join(x.bootstrap for x in brokers if x is not victim)
    assert committed(rest, "movers", "moved", [0, 1]) == {0: 3, 1: 4}
    err, new_node, _ = find_coordinator_v0(next(x for x in brokers if x is not victim).port, "movers")
    assert err == 0 and new_node != node


def test_kcat_balanced_consumer_reads_everything(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "kc", 2)
    produce(b.bootstrap, "kc", 50, 2)
    out = kcat("-b", b.bootstrap, "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-c", "50",
               "-f", "%p:%o\n", "kc", timeout=90).stdout.decode().split()
    assert sorted(out) == sorted(f"{i % 2}:{i // 2}" for i in range(50))


def first_offset(c, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        return m.offset() if m.error() is None else m.error()
    return None


def test_auto_offset_reset_for_a_group_without_commits(make_broker):
    """earliest starts at the log start, latest at the end (only what comes after is read),
    none refuses to guess; a committed offset below the log start (records deleted since) is
    reset by the policy, as Kafka's OFFSET_OUT_OF_RANGE makes clients do."""
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, "resets", 1)
    produce(b.bootstrap, "resets", 10, 1)

    c = consumer(b.bootstrap, "reset-earliest", auto_offset_reset="earliest")
    c.subscribe(["resets"])
    assert first_offset(c) == 0
    c.close()

    c = consumer(b.bootstrap, "reset-latest", auto_offset_reset="latest", enable_partition_eof=True)
    c.subscribe(["resets"])
    # the end of the partition reached at 10: the reset to latest is done and fetching goes on
    # from there (position() stays unset until a record is read); then write more
    eof = first_offset(c)
    assert isinstance(eof, KafkaError) and eof.code() == KafkaError._PARTITION_EOF, eof
    produce(b.bootstrap, "resets", 5, 1)
    assert first_offset(c) == 10
    c.close()

    c = consumer(b.bootstrap, "reset-none", auto_offset_reset="error")
    c.subscribe(["resets"])
    err = first_offset(c)
    assert isinstance(err, KafkaError) and err.code() == KafkaError._AUTO_OFFSET_RESET, err
    c.close()

    commit_and_check(b.bootstrap, "reset-below-start", "resets", {0: 2})
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    if hasattr(admin, "delete_records"):
        admin.delete_records([TopicPartition("resets", 0, 6)])[TopicPartition("resets", 0, 6)].result(30)
    else:  # Debian's confluent-kafka 1.7 has no delete_records: Kafka's tool does it
        from harness import kafkajs
        kafkajs(b.bootstrap, "delete-records", "resets", 0, "6")
    c = consumer(b.bootstrap, "reset-below-start", auto_offset_reset="earliest")
    c.subscribe(["resets"])
    assert first_offset(c) == 6
    c.close()


MEMBER_READING = textwrap.dedent("""
    import sys
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest", "enable.auto.commit": True,
                  "auto.commit.interval.ms": 200})
    c.subscribe([sys.argv[3]])
    while True:
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            print(m.partition(), m.offset(), flush=True)
""")


def test_members_rejoin_and_read_on_when_the_coordinator_dies(cluster):
    """Two members reading a 4-partition topic; the broker coordinating their group is
    SIGKILLed: they find the new coordinator, rejoin, and every record is read (at least
    once: auto commits may lag a kill)."""
    _, brokers = cluster
    boot = ",".join(x.bootstrap for x in brokers)
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": boot})
    admin.create_topics([NewTopic("rejoin", 4, 3)])["rejoin"].result(30)
    err, node, _ = find_coordinator_v0(brokers[0].port, "rejoiners")
    assert err == 0
    procs = [subprocess.Popen([sys.executable, "-c", MEMBER_READING, boot, "rejoiners", "rejoin"],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    import threading
    seen = set()
    lock = threading.Lock()

    def read(p):
        for line in p.stdout:
            part, off = map(int, line.split())
            with lock:
                seen.add((part, off))

    threads = [threading.Thread(target=read, args=(p,), daemon=True) for p in procs]
    for t in threads:
        t.start()
    try:
        p = Producer({"bootstrap.servers": boot, "acks": "all"})
        for i in range(200):
            p.produce("rejoin", b"a%d" % i, partition=i % 4)
        assert p.flush(30) == 0
        deadline = time.monotonic() + 60
        while len(seen) < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(seen) == 200
        victim = next(x for x in brokers if x.node_id == node)
        victim.kill()
        for i in range(200, 400):
            p.produce("rejoin", b"a%d" % i, partition=i % 4)
        assert p.flush(60) == 0
        deadline = time.monotonic() + 90
        while len(seen) < 400 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen == {(i % 4, i // 4) for i in range(400)}, f"{400 - len(seen)} records not read"
        alive = next(x for x in brokers if x is not victim)
        err, new_node, _ = find_coordinator_v0(alive.port, "rejoiners")
        assert err == 0 and new_node != node
    finally:
        for p in procs:
            p.kill()
            p.wait()
