"""The operator's Kafka reader (operator/metrics/kafka_reader.h) against a real coordinator and
three brokers, through tributary-cluster-probe: the brokers, partitions, leaders, replicas,
in-sync sets and offsets it reads agree with what confluent-kafka sees, the kafka_exporter
metrics it publishes say the same, and bootstrap lists with dead addresses either work or
fail with a readable reason. Every consumer group of the cluster, wherever coordinated, is
published with its lag as the operator publishes it (common/consumer_lag.h): end minus
committed, never negative while a group commits and a producer writes, and the age of the
next record each group reads."""
import json
import re
import socket
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import free_port, tool_binary
from lag_test import client_view, keep_writing

# Records produced to partition p: distinct per partition, so offsets read from the wrong
# partition or broker show.
def records_for(p):
    return 5 + 3 * p


def probe_binary():
    return tool_binary("tributary-cluster-probe", "TRIB_CLUSTER_PROBE")


def probe(bootstrap, timeout_ms=10000, connect_timeout_ms=3000):
    """CompletedProcess of tributary-cluster-probe; the process itself is bounded well past
    the reader's own timeout, so a reader that ignores its deadline fails the test."""
    return subprocess.run([probe_binary(), bootstrap, str(timeout_ms), str(connect_timeout_ms)],
                          capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)


def probe_ok(bootstrap, **kw):
    p = probe(bootstrap, **kw)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def bootstrap_of(brokers):
    return ",".join(b.bootstrap for b in brokers)


def parse_metrics(text):
    """{(name, frozenset of (label, value))): value} of Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, f"unparsable metrics line {line!r}"
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(metrics, name, **labels):
    want = frozenset({("namespace", "ns"), ("kafkacluster", "probe"), *labels.items()})
    return metrics.get((name, want))


def setup_topics(brokers):
    admin = AdminClient({"bootstrap.servers": bootstrap_of(brokers)})
    topics = {"probe-one": (6, 1), "probe-three": (3, 3)}
    futures = admin.create_topics([NewTopic(t, n, rf) for t, (n, rf) in topics.items()])
    for f in futures.values():
        f.result(30)
    producer = Producer({"bootstrap.servers": bootstrap_of(brokers), "linger.ms": 5})
    for topic, (partitions, _) in topics.items():
        for p in range(partitions):
            for i in range(records_for(p)):
                producer.produce(topic, b"v%d" % i, partition=p)
    assert producer.flush(60) == 0
    return admin, topics


def test_view_and_metrics_match_the_cluster(cluster):
    _, brokers = cluster
    admin, topics = setup_topics(brokers)
    md = admin.list_topics(timeout=30)

    out = probe_ok(bootstrap_of(brokers))
    view, metrics = out["view"], parse_metrics(out["metrics"])
    assert view["problems"] == []
    assert view["cluster_id"] == md.cluster_id and view["cluster_id"]
    # A Tributary broker names itself as the controller (broker/handlers/metadata.cc), as a
    # KRaft broker does: the first bootstrap address answered.
    assert view["controller_id"] == brokers[0].node_id
    assert [(b["id"], b["host"], b["port"]) for b in view["brokers"]] == \
        [(b.node_id, "127.0.0.1", b.port) for b in sorted(brokers, key=lambda b: b.node_id)]

    seen = {(p["topic"], p["partition"]): p for p in view["partitions"]}
    expected = {(t, p) for t, (n, _) in topics.items() for p in range(n)}
    assert expected <= set(seen), f"missing {expected - set(seen)}"
    for (topic, partition) in sorted(expected):
        p = seen[(topic, partition)]
        client = md.topics[topic].partitions[partition]
        assert p["leader"] == client.leader
        assert p["replicas"] == list(client.replicas)
        assert p["isr"] == list(client.isrs)
        assert len(p["replicas"]) == topics[topic][1]
        assert p["oldest_offset"] == 0
        assert p["current_offset"] == records_for(partition), (topic, partition)

        labels = {"topic": topic, "partition": str(partition)}
        assert series(metrics, "kafka_topic_partition_current_offset", **labels) == records_for(partition)
        assert series(metrics, "kafka_topic_partition_oldest_offset", **labels) == 0
        assert series(metrics, "kafka_topic_partition_leader", **labels) == client.leader
        assert series(metrics, "kafka_topic_partition_replicas", **labels) == len(client.replicas)
        assert series(metrics, "kafka_topic_partition_in_sync_replica", **labels) == len(client.isrs)
        assert series(metrics, "kafka_topic_partition_under_replicated_partition", **labels) == \
            (1 if len(client.isrs) < len(client.replicas) else 0)
        assert series(metrics, "kafka_topic_partition_leader_is_preferred", **labels) == \
            (1 if client.replicas[0] == client.leader else 0)
    # Leaders spread over all three brokers, so ListOffsets really went to each of them.
    assert {seen[k]["leader"] for k in expected} == {1, 2, 3}
    assert series(metrics, "kafka_brokers") == 3
    assert series(metrics, "tributary_operator_cluster_reachable") == 1
    for b in brokers:
        assert series(metrics, "kafka_broker_info", address=b.bootstrap, id=str(b.node_id)) == 1
    for topic, (n, _) in topics.items():
        assert series(metrics, "kafka_topic_partitions", topic=topic) == n


def test_dead_and_silent_bootstrap_addresses_are_skipped(cluster):
    _, brokers = cluster
    dead = f"127.0.0.1:{free_port()}"
    with socket.socket() as silent:
        # Accepts connections (the kernel completes the handshake) but never answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_addr = f"127.0.0.1:{silent.getsockname()[1]}"
        view = probe_ok(f"{dead},{silent_addr},{brokers[1].bootstrap}", timeout_ms=15000,
                        connect_timeout_ms=1000)["view"]
    assert [b["id"] for b in view["brokers"]] == [1, 2, 3]
    assert view["controller_id"] == brokers[1].node_id  # the one that answered


def test_no_reachable_address_is_a_readable_error():
    dead = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_addr = f"127.0.0.1:{silent.getsockname()[1]}"
        p = probe(",".join(dead + [silent_addr]), timeout_ms=3000, connect_timeout_ms=1000)
    assert p.returncode == 1
    assert p.stdout == ""
    msg = p.stderr.strip()
    assert msg.startswith("tributary-cluster-probe: no bootstrap broker answered: "), msg
    for d in dead:
        assert f"{d}: Connection refused" in msg
    assert f"{silent_addr}: ApiVersions v0: timed out" in msg


def test_bad_bootstrap_lists_are_readable_errors():
    for bad, needle in [("", "empty bootstrap address list"), ("no-port", "missing ':port'"),
                        ("127.0.0.1:99999", "bad bootstrap address list")]:
        p = probe(bad, timeout_ms=2000)
        assert p.returncode == 1, bad
        assert needle in p.stderr, p.stderr


def test_a_dead_brokers_partitions_lose_their_offsets_and_the_rest_are_read(cluster):
    _, brokers = cluster
    setup_topics(brokers)
    brokers[2].kill()
    live = bootstrap_of(brokers[:2])
    # The coordinator fences broker 3 after its session timeout (2 s in the fixture).
    deadline = time.monotonic() + 30
    while True:
        out = probe_ok(live)
        if [b["id"] for b in out["view"]["brokers"]] == [1, 2] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    view, metrics = out["view"], parse_metrics(out["metrics"])
    assert [b["id"] for b in view["brokers"]] == [1, 2], view["brokers"]
    assert series(metrics, "kafka_brokers") == 2
    one = [p for p in view["partitions"] if p["topic"] == "probe-one"]
    assert len(one) == 6
    for p in one:
        labels = {"topic": "probe-one", "partition": str(p["partition"])}
        if 3 in p["replicas"]:
            # Its only replica is gone: no leader (nothing to move to until replication
            # lands), no offsets.
            assert p["leader"] == -1, p
            assert (p["oldest_offset"], p["current_offset"]) == (-1, -1), p
            assert series(metrics, "kafka_topic_partition_current_offset", **labels) is None
            assert series(metrics, "kafka_topic_partition_leader", **labels) == -1
        else:
            assert p["leader"] in (1, 2), p
            assert (p["oldest_offset"], p["current_offset"]) == (0, records_for(p["partition"])), p
            assert series(metrics, "kafka_topic_partition_current_offset", **labels) == records_for(p["partition"])
    assert any(3 in p["replicas"] for p in one) and any(3 not in p["replicas"] for p in one)


LAG_TOPIC = "probe-lag"
LAG_PARTITIONS = 6


def group_series(metrics, group, topic=LAG_TOPIC):
    """{metric: {partition or None: value}} of one group's kafka_consumergroup_* series (with
    the operator's namespace and kafkacluster labels) on `topic`."""
    out = {}
    for (name, labels), value in metrics.items():
        d = dict(labels)
        if not name.startswith("kafka_consumergroup_") or d.get("consumergroup") != group:
            continue
        assert (d["namespace"], d["kafkacluster"]) == ("ns", "probe"), (name, d)
        if "topic" in d and d["topic"] != topic:
            continue
        p = int(d["partition"]) if "partition" in d else None
        out.setdefault(name[len("kafka_consumergroup_"):], {})[p] = value
    return out


def test_consumer_lag_of_every_group_while_a_group_commits_and_a_producer_writes(cluster):
    _, brokers = cluster
    bootstrap = bootstrap_of(brokers)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(LAG_TOPIC, LAG_PARTITIONS, 1)]).values():
        f.result(30)
    stop = threading.Event()
    writer = keep_writing(bootstrap, LAG_TOPIC, LAG_PARTITIONS, stop)
    live = Consumer({"bootstrap.servers": bootstrap, "group.id": "lag-live", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    try:
        live.subscribe([LAG_TOPIC])
        probes = 0
        behind_seen = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (probes < 15 or not behind_seen):
            for _ in range(20):
                m = live.poll(0.05)
                if m is not None and m.error() is None:
                    live.commit(message=m, asynchronous=False)
            # The probe read commits, then ends; the client reads both after it, so the
            # probe's commit is at most the client's and its commit plus lag (its end) at
            # most the client's end.
            view = group_series(parse_metrics(probe_ok(bootstrap)["metrics"]), "lag-live")
            now = client_view(live, LAG_TOPIC, LAG_PARTITIONS)  # commits first, ends after
            for p, committed in view.get("current_offset", {}).items():
                lag = view["lag"][p]
                if committed == -1:
                    assert lag == -1, (p, view)
                    continue
                assert lag >= 0, f"negative lag on partition {p}: {view}"
                assert committed <= now[p][0], (p, view, now)
                assert committed + lag <= now[p][1], (p, view, now)
                behind_seen = behind_seen or lag > 0
            if "lag_sum" in view:
                assert view["lag_sum"][None] == sum(v for v in view["lag"].values() if v >= 0), view
            for p, v in view.get("lag_seconds", {}).items():
                assert v >= 0 and (v == 0) == (view["lag"][p] == 0), (p, view)
            probes += 1
        assert behind_seen, "the group never showed a lag while the producer wrote"
    finally:
        stop.set()
        writer.join()

    # Writes stopped. lag-live commits 5 behind each end; groups of commits from outside a
    # group (no members), coordinated wherever their ids hash, commit other offsets, one of
    # them on some partitions only.
    ends = {p: live.get_watermark_offsets(TopicPartition(LAG_TOPIC, p), timeout=10)[1]
            for p in range(LAG_PARTITIONS)}
    assert all(e >= 10 for e in ends.values()), ends
    want = {"lag-live": {p: ends[p] - 5 for p in range(LAG_PARTITIONS)}}
    live.commit(offsets=[TopicPartition(LAG_TOPIC, p, o) for p, o in want["lag-live"].items()], asynchronous=False)
    for i in range(8):
        group = f"lag-simple-{i}"
        want[group] = {p: (i + p) % (ends[p] + 1) for p in range(LAG_PARTITIONS) if i == 0 or p != i % LAG_PARTITIONS}
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            c.commit(offsets=[TopicPartition(LAG_TOPIC, p, o) for p, o in want[group].items()], asynchronous=False)
        finally:
            c.close()

    out = probe_ok(bootstrap)
    view, metrics = out["view"], parse_metrics(out["metrics"])
    groups = {g["group_id"]: g for g in view["groups"]}
    assert set(want) <= set(groups), (set(want) - set(groups), view["problems"])
    # The groups are coordinated by several brokers: each broker's ListGroups was read.
    assert len({groups[g]["coordinator"] for g in want}) > 1, {g: groups[g]["coordinator"] for g in want}
    for group, commits in want.items():
        s = group_series(metrics, group)
        assert s["current_offset"] == {p: float(commits.get(p, -1)) for p in range(LAG_PARTITIONS)}, (group, s)
        assert s["lag"] == {p: float(ends[p] - commits[p]) if p in commits else -1.0
                            for p in range(LAG_PARTITIONS)}, (group, s)
        assert s["lag_sum"] == {None: float(sum(ends[p] - o for p, o in commits.items()))}, (group, s)
        assert s["current_offset_sum"] == {None: float(sum(commits.values()))}, (group, s)
        assert s["members"] == {None: 1.0 if group == "lag-live" else 0.0}, (group, s)
        # The age of the record each partition's group reads next, fetched from its leader;
        # 0 where caught up.
        assert {p: v > 0 for p, v in s["lag_seconds"].items()} == \
            {p: ends[p] > o for p, o in commits.items()}, (group, s)
    live.close()

    # The partitions' offsets are published once each, by the topic metrics, not again by
    # the lag component.
    for name in ("kafka_topic_partition_current_offset", "kafka_topic_partition_oldest_offset"):
        lines = [l for l in out["metrics"].splitlines() if l.startswith(name + "{") and f'topic="{LAG_TOPIC}"' in l]
        assert len(lines) == LAG_PARTITIONS, lines
    for p in range(LAG_PARTITIONS):
        assert series(metrics, "kafka_topic_partition_current_offset", topic=LAG_TOPIC, partition=str(p)) == ends[p]


def test_a_group_of_the_new_consumer_protocol_is_described_and_its_lag_published(cluster):
    """A KIP-848 group (group.protocol=consumer): ConsumerGroupDescribe gives its members,
    OffsetFetch its commits, as for a classic group."""
    _, brokers = cluster
    bootstrap = bootstrap_of(brokers)
    topic = "probe-848"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        f.result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(30):
        producer.produce(topic, b"v%d" % i, partition=i % 3)
    assert producer.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "new-848", "group.protocol": "consumer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(c.assignment()) < 3 and time.monotonic() < deadline:
            c.poll(0.1)
        assert len(c.assignment()) == 3, c.assignment()
        c.commit(offsets=[TopicPartition(topic, p, 4) for p in range(3)], asynchronous=False)
        out = probe_ok(bootstrap)
        groups = {g["group_id"]: g for g in out["view"]["groups"]}
        assert "new-848" in groups, out["view"]
        assert (groups["new-848"]["type"], groups["new-848"]["members"]) == ("consumer", 1), groups["new-848"]
        s = group_series(parse_metrics(out["metrics"]), "new-848", topic=topic)
        assert s["members"] == {None: 1.0}, s
        assert s["current_offset"] == {p: 4.0 for p in range(3)}, s
        assert s["lag"] == {p: 6.0 for p in range(3)}, s
        assert all(v > 0 for v in s["lag_seconds"].values()) and len(s["lag_seconds"]) == 3, s
    finally:
        c.close()
