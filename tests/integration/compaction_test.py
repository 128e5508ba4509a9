"""Log compaction (cleanup.policy=compact) with a stock client: the newest value of each key
stays, older ones go, and a SIGKILL while the cleaner runs loses no acknowledged newest value."""
import re
import time
import urllib.request

from confluent_kafka import Producer

from harness import admin_create_topic, consume_all, free_port

COMPACT = {"cleanup.policy": "compact", "segment.bytes": "16384", "min.cleanable.dirty.ratio": "0.01"}
CLEANER = {"log.cleaner.backoff.ms": "50"}


def produce_keyed(bootstrap, topic, count, keys, tombstone_every=0):
    """Sends `count` records over `keys` keys; returns {key: (offset, value)} of the newest
    acknowledged record of each key (value None for a tombstone)."""
    newest = {}

    def done(err, msg):
        assert err is None, err
        k = msg.key()
        if k not in newest or newest[k][0] < msg.offset():
            newest[k] = (msg.offset(), msg.value())

    # Small batches: a segment rolls only between batches, and the active one is never cleaned.
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2, "batch.size": 2000})
    for i in range(count):
        key = b"key-%d" % (i % keys)
        value = None if tombstone_every and i % tombstone_every == tombstone_every - 1 else b"v-%d" % i
        p.produce(topic, value, key, partition=0, on_delivery=done)
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return newest


def cleaned_passes(broker, topic):
    return broker.log_text().count(f"cleaned {topic}-0 up to offset")


def cleaned_to(broker, topic):
    """How far the broker's cleaner has got in partition 0 of `topic` (its pass log lines)."""
    ends = re.findall(rf"cleaned {re.escape(topic)}-0 up to offset (\d+)", broker.log_text())
    return max((int(e) for e in ends), default=0)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_compaction_keeps_the_newest_value_of_each_key(make_broker):
    port = free_port()
    b = make_broker(overrides={**CLEANER, "tributary.http.listener": f"127.0.0.1:{port}"})
    admin_create_topic(b.bootstrap, "compacted", 1, config=COMPACT)
    newest = produce_keyed(b.bootstrap, "compacted", 20_000, 200, tombstone_every=97)
    # Cleaning needs rolled segments below the high watermark and the recovery point: wait
    # until the cleaner has gone past most of the log (the active segment, about 700
    # records, is never cleaned).
    wait_for(lambda: cleaned_to(b, "compacted") >= 18_000, 120, "the cleaner to pass offset 18000")
    got = consume_all(b.bootstrap, "compacted")[0]
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(set(offsets)), "offsets must increase"
    seen = {}
    for o, k, v in got:
        seen[k] = (o, v)
    # Every key's newest record (tombstones too: delete.retention.ms is a day) is there, at its
    # own offset; no key appears that was never written.
    assert seen == newest
    # Older values go: each key appears once below the active segment, so few records remain.
    assert len(got) < 20_000 // 4

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    for name in ("kafka_log_logcleaner_max_clean_time_secs", "kafka_log_logcleaner_cleaner_recopy_percent",
                 "kafka_log_logcleaner_max_buffer_utilization_percent",
                 "kafka_log_logcleanermanager_max_dirty_percent"):
        assert f"\n{name} " in metrics, name

    assert b.stop() == 0
    b.start()
    # The cleaner may go on after the restart (a pass under way, or the segment that was
    # active now below a new one): records may go, none may come back or change, and each
    # key's newest record stays.
    after = consume_all(b.bootstrap, "compacted")[0]
    assert set(after) <= set(got)
    assert {k: (o, v) for o, k, v in after} == newest


def test_sigkill_while_cleaning_loses_no_acknowledged_newest_value(make_broker):
    b = make_broker(overrides=CLEANER)
    admin_create_topic(b.bootstrap, "killed", 1, config=COMPACT)
    acked = {}  # key -> (offset, value) of its newest acknowledged record
    sent = 0
    mid_pass = 0  # kills after which a pass's .cleaned or .swap files were left on disk
    # At least three rounds; more (up to ten) until one kill has landed in the middle of a pass:
    # seeing the files and killing are not one step, so a pass may finish in between.
    round_no = 0
    while round_no < 3 or (mid_pass == 0 and round_no < 10):
        passes_before = cleaned_passes(b, "killed")
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 2, "batch.size": 2000,
                      "message.timeout.ms": 10000, "queue.buffering.max.messages": 100000})

        def done(err, msg):
            if err is None:
                k = msg.key()
                if k not in acked or acked[k][0] < msg.offset():
                    acked[k] = (msg.offset(), msg.value())

        def send(n):
            nonlocal sent
            for _ in range(n):
                try:
                    p.produce("killed", b"v-%d" % sent, b"key-%d" % (sent % 300), partition=0, on_delivery=done)
                    sent += 1
                except BufferError:
                    break
            p.poll(0.001)

        # Keep producing until the cleaner has made passes over this round's data, then until
        # a pass is half-way (its .cleaned or .swap files exist), and kill the broker there.
        deadline = time.monotonic() + 120
        while cleaned_passes(b, "killed") < passes_before + 2:
            assert time.monotonic() < deadline, "the cleaner made no pass"
            send(200)
        part = b.data_dir / "killed-0"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(part.glob("*.cleaned")) or any(part.glob("*.swap")):
                break
            send(50)
        b.kill()
        p.purge()
        p.flush(15)
        # What the dead broker left is what the restart must deal with.
        left = any(part.glob("*.cleaned")) or any(part.glob("*.swap"))
        mid_pass += left

        log_before = len(b.log_text())
        b.start()
        got = consume_all(b.bootstrap, "killed")[0]
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets)), f"round {round_no}: offsets must increase"
        stored = {}
        for o, k, v in got:
            stored[k] = (o, v)
        # The newest acknowledged value of each key is there, unless a newer record of the key
        # (sent, written, not yet acknowledged when the broker died) replaced it.
        lost = [(k, a) for k, a in acked.items()
                if k not in stored or stored[k][0] < a[0] or (stored[k][0] == a[0] and stored[k][1] != a[1])]
        assert not lost, f"round {round_no}: {len(lost)} newest acknowledged values lost, first {lost[:5]}"
        # What survives as a key's newest is always something it was sent.
        for k, (o, v) in stored.items():
            assert v.startswith(b"v-") and int(v[2:]) % 300 == int(k[4:]), (k, v)
        if left:
            restart_log = b.log_text()[log_before:]
            assert ("left by an unfinished compaction" in restart_log
                    or "committed by a compaction before a crash" in restart_log), \
                f"round {round_no}: the restart said nothing of the pass's leftover files"
            assert not any(part.glob("*.cleaned")) and not any(part.glob("*.swap"))
        round_no += 1
    assert mid_pass > 0, f"no kill in {round_no} rounds left a compaction pass half-way"


def test_a_follower_catches_up_through_a_compacted_log(cluster):
    """A follower away while its leader compacts copies the gaps the cleaner left, joins the
    ISR again and, once it leads, serves the newest value of every key."""
    from cluster_test import bootstrap, describe, wait_until
    from replication_test import batches
    from confluent_kafka.admin import AdminClient, NewTopic

    _, brokers = cluster
    admin = AdminClient({"bootstrap.servers": bootstrap(brokers)})
    admin.create_topics([NewTopic("compacted-r", 1, 3, config=COMPACT)])["compacted-r"].result(30)
    leaders, _ = describe(brokers, "compacted-r")
    leader = next(b for b in brokers if b.node_id == leaders[0])
    away, other = [b for b in brokers if b is not leader]
    away.stop()
    newest = produce_keyed(bootstrap(brokers), "compacted-r", 20_000, 200, tombstone_every=97)
    # The leader's cleaner wakes up within log.cleaner.backoff.ms (15 s by default).
    wait_until(lambda: cleaned_to(leader, "compacted-r") >= 18_000, timeout=90,
               what="the leader's cleaner to pass offset 18000")
    leader_batches = batches(leader, "compacted-r", 0)
    assert len(leader_batches) < 20_000 // 10
    gaps = (leader_batches[0][0] > 0) + sum(1 for a, b in zip(leader_batches, leader_batches[1:])
                                            if b[0] > a[0] + a[1] + 1)
    assert gaps > 0, "the leader's log should have gaps to copy"

    away.start()
    wait_until(lambda: batches(away, "compacted-r", 0)[-1:] == leader_batches[-1:], timeout=60,
               what=f"broker {away.node_id} to copy the compacted log")
    # Every batch it holds is one of the leader's, at the same offsets.
    assert set(batches(away, "compacted-r", 0)) <= set(leader_batches) | set(batches(leader, "compacted-r", 0))
    # Make it the leader: stop the other follower, then the leader (a controlled shutdown hands
    # leadership to an in-sync replica: `away` once it is back in the ISR).
    other.stop()
    wait_until(lambda: describe([away, leader], "compacted-r")[0][0] in (leader.node_id, away.node_id),
               timeout=30, what="a leader")
    deadline = time.monotonic() + 60
    while True:
        leader.stop()
        if describe([away], "compacted-r")[0][0] == away.node_id:
            break
        # Not in the ISR yet: the shutdown left the leadership nowhere; start again and retry.
        assert time.monotonic() < deadline, f"broker {away.node_id} never took over"
        leader.start()
        time.sleep(1)
    got = consume_all(away.bootstrap, "compacted-r")[0]
    seen = {}
    for o, k, v in got:
        seen[k] = (o, v)
    assert seen == newest


def test_committed_offsets_survive_compaction_of_the_offsets_topic(make_broker):
    """__consumer_offsets is compacted: after many commits it shrinks to about one record per
    group and partition, and the last committed offsets are what a restarted broker loads."""
    from confluent_kafka import Consumer, TopicPartition
    b = make_broker(overrides={**CLEANER, "offsets.topic.num.partitions": "1",
                               "offsets.topic.segment.bytes": "4096"})
    admin_create_topic(b.bootstrap, "consumed", 4)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    try:
        for i in range(1, 400):
            c.commit(offsets=[TopicPartition("consumed", p, i * 10 + p) for p in range(4)], asynchronous=False)
        wait_for(lambda: cleaned_to(b, "__consumer_offsets") >= 300, 90, "the offsets topic to be cleaned")
        committed = c.committed([TopicPartition("consumed", p) for p in range(4)], timeout=30)
        assert [t.offset for t in committed] == [3990 + p for p in range(4)]
    finally:
        c.close()
    cleaned = cleaned_to(b, "__consumer_offsets")
    stored = consume_all(b.bootstrap, "__consumer_offsets")[0]
    # Below where the cleaner has got, one record per key is left: the newest of each of the
    # group's four partitions (how far it gets beyond 300 depends on the machine's load).
    below = [o for o, _, _ in stored if o < cleaned]
    assert len(below) <= 4, f"{len(below)} records left below offset {cleaned}, of {cleaned} written there"
    assert len(stored) < 399 * 4, "nothing was compacted"
    b.kill()
    b.start()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition("consumed", p) for p in range(4)], timeout=30)
        assert [t.offset for t in committed] == [3990 + p for p in range(4)]
    finally:
        c.close()
