"""Consumer lag on /metrics (broker/lag_publisher.h, common/consumer_lag.h): the broker that
coordinates a group publishes kafka_exporter's kafka_consumergroup_* series for it. Lag equals
the partition's end minus the group's commit, as a client reads them (committed(), then
get_watermark_offsets()); it is never negative in any scrape while a consumer commits and a
producer writes; the sums and member counts add up; lag_seconds is the age of the next record
while behind and 0 when caught up; a partition without a commit is -1 as kafka_exporter
reports it; a deleted group's series go. In a three-broker cluster the group's partitions led
by other brokers than its coordinator are read from their leaders.

Runs on the newest confluent-kafka from PyPI (tools/venv)."""
import re
import threading
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cluster_test import create, wait_until
from harness import admin_create_topic
from replication_metrics_test import metrics_port

TOPIC = "lagged"
PARTITIONS = 3
FAST = {"group.initial.rebalance.delay.ms": 0, "tributary.http.listener": "127.0.0.1:0",
        "tributary.lag.interval.ms": 200}
SERIES = re.compile(r'(\w+)\{(.*)\}')


def scrape(broker):
    """[(name, {label: value}, value)] of the broker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port(broker)}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        m = SERIES.fullmatch(series)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.append((m.group(1), labels, float(value)))
    return out


def group_view(samples, group, topic=TOPIC):
    """{metric: {partition or None: value}} of one group and topic's kafka_consumergroup_* series."""
    out = {}
    for name, labels, value in samples:
        if not name.startswith("kafka_consumergroup_") or labels.get("consumergroup") != group:
            continue
        if "topic" in labels and labels["topic"] != topic:
            continue
        p = int(labels["partition"]) if "partition" in labels else None
        out.setdefault(name[len("kafka_consumergroup_"):], {})[p] = value
    return out


def check_consistent(view):
    """What must hold in any scrape: lag never negative (-1 only where nothing is committed),
    and the sums are the sums of their partitions."""
    lag, cur = view.get("lag", {}), view.get("current_offset", {})
    for p, v in lag.items():
        assert v >= 0 or (v == -1 and cur.get(p) == -1), f"negative lag {v} on partition {p}: {view}"
    for p, v in view.get("lag_seconds", {}).items():
        assert v >= 0, f"negative lag_seconds {v} on partition {p}"
    if "lag_sum" in view:
        assert view["lag_sum"][None] == sum(v for v in lag.values() if v >= 0), view
        assert view["current_offset_sum"][None] == sum(v for v in cur.values() if v >= 0), view


def client_view(c, topic=TOPIC, partitions=PARTITIONS):
    """{partition: (committed, end)}: commits read first, ends after, as the broker does."""
    committed = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    return {tp.partition: (tp.offset, ends[tp.partition]) for tp in committed}


def keep_writing(bootstrap, topic, partitions, stop):
    """A started thread writing to the partitions of `topic` in turn until `stop` is set."""
    def write():
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
        i = 0
        while not stop.is_set():
            p.produce(topic, b"v%d" % i, partition=i % partitions)
            i += 1
            if i % 50 == 0:
                p.flush(10)
                time.sleep(0.01)
        assert p.flush(30) == 0

    writer = threading.Thread(target=write)
    writer.start()
    return writer


def test_lag_while_a_group_commits_and_a_producer_writes(make_broker):
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, TOPIC, PARTITIONS)
    stop = threading.Event()
    writer = keep_writing(b.bootstrap, TOPIC, PARTITIONS, stop)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    try:
        c.subscribe([TOPIC])
        scrapes = 0
        behind_seen = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (scrapes < 40 or not behind_seen):
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                c.commit(message=m, asynchronous=False)
            # The scrape shows a pass from before now: its commit is at most the client's
            # commit read after it, and its commit plus lag (its end) at most the end after it.
            view = group_view(scrape(b), "g")
            now = client_view(c)
            check_consistent(view)
            for p, committed in view.get("current_offset", {}).items():
                assert committed <= now[p][0] or committed == -1, (p, view, now)
                if p in view.get("lag", {}) and committed >= 0:
                    assert committed + view["lag"][p] <= now[p][1], (p, view, now)
                    behind_seen = behind_seen or view["lag"][p] > 0
            scrapes += 1
        assert behind_seen, "the group never showed a lag while the producer wrote"
    finally:
        stop.set()
        writer.join()

    # Writes stopped: commit 5 behind the end of each partition, then exactly the lag shown.
    ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(PARTITIONS)}
    c.commit(offsets=[TopicPartition(TOPIC, p, ends[p] - 5) for p in range(PARTITIONS)], asynchronous=False)
    want = client_view(c)
    assert all(committed == end - 5 for committed, end in want.values()), want

    def exact():
        view = group_view(scrape(b), "g")
        check_consistent(view)
        return (view.get("current_offset") == {p: float(cm) for p, (cm, _) in want.items()} and
                view.get("lag") == {p: float(e - cm) for p, (cm, e) in want.items()} and
                view.get("members") == {None: 1.0})
    wait_until(exact, timeout=20, what="lag == end - committed per partition")
    view = group_view(scrape(b), "g")
    assert view["lag_sum"] == {None: 15.0}
    assert view["current_offset_sum"] == {None: float(sum(cm for cm, _ in want.values()))}
    assert all(v > 0 for v in view["lag_seconds"].values()), view
    # An age: it grows while the group stands still.
    first = view["lag_seconds"]
    wait_until(lambda: all(group_view(scrape(b), "g")["lag_seconds"][p] > first[p] for p in first),
               timeout=10, what="lag_seconds growing while the group stands still")
    samples = scrape(b)
    published = {int(l["partition"]): v for n, l, v in samples
                 if n == "kafka_topic_partition_current_offset" and l["topic"] == TOPIC}
    assert published == {p: float(e) for p, (_, e) in want.items()}
    oldest = {int(l["partition"]): v for n, l, v in samples
              if n == "kafka_topic_partition_oldest_offset" and l["topic"] == TOPIC}
    assert oldest == {p: 0.0 for p in range(PARTITIONS)}

    # Caught up: lag and lag_seconds 0.
    c.commit(offsets=[TopicPartition(TOPIC, p, ends[p]) for p in range(PARTITIONS)], asynchronous=False)
    wait_until(lambda: group_view(scrape(b), "g").get("lag_seconds") == {p: 0.0 for p in range(PARTITIONS)} and
               group_view(scrape(b), "g").get("lag_sum") == {None: 0.0}, timeout=20, what="caught up")

    # The member leaves: 0 members, offsets kept; the group deleted: its series go.
    c.close()
    wait_until(lambda: group_view(scrape(b), "g").get("members") == {None: 0.0}, timeout=20, what="no members")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.delete_consumer_groups(["g"])["g"].result(30)
    wait_until(lambda: group_view(scrape(b), "g") == {}, timeout=20, what="the deleted group's series gone")


def test_partition_without_commit_and_commit_past_the_end(make_broker):
    """As kafka_exporter: a partition of a topic the group committed to, but not that one,
    shows current_offset -1 and lag -1, counted in neither sum. A commit past the end shows
    lag 0 and is logged."""
    b = make_broker(overrides=FAST)
    admin_create_topic(b.bootstrap, TOPIC, PARTITIONS)
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(30):
        p.produce(TOPIC, b"v", partition=i % PARTITIONS)
    assert p.flush(30) == 0
    # Commits from outside any group (no subscribe): a "simple" group with no members.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "simple", "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(TOPIC, 0, 4), TopicPartition(TOPIC, 1, 10)], asynchronous=False)
    finally:
        c.close()

    def shown():
        view = group_view(scrape(b), "simple")
        check_consistent(view)
        view.pop("lag_seconds", None)
        return view == {"members": {None: 0.0},
                        "current_offset": {0: 4.0, 1: 10.0, 2: -1.0},
                        "lag": {0: 6.0, 1: 0.0, 2: -1.0},
                        "lag_sum": {None: 6.0},
                        "current_offset_sum": {None: 14.0}}
    wait_until(shown, timeout=20, what="partition 2 without a commit shown as -1")
    view = group_view(scrape(b), "simple")
    assert view["lag_seconds"][0] > 0 and view["lag_seconds"][1] == 0 and 2 not in view["lag_seconds"], view

    # A client may commit an offset it never read, past the end: lag 0, never negative, and
    # the broker says so in its log.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ahead", "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(TOPIC, 0, 1000)], asynchronous=False)
    finally:
        c.close()
    wait_until(lambda: group_view(scrape(b), "ahead").get("current_offset", {}).get(0) == 1000.0,
               timeout=20, what="the commit past the end shown")
    view = group_view(scrape(b), "ahead")
    check_consistent(view)
    assert view["lag"] == {0: 0.0, 1: -1.0, 2: -1.0} and view["lag_seconds"] == {0: 0.0}, view
    wait_until(lambda: "committed offset(s) above their partition's end, e.g. group ahead lagged-0: "
               "committed 1000, end 10" in b.log_text(), timeout=10, what="the log line")


def spread_group(brokers, replication):
    """A topic of 6 partitions led across `brokers`, 100 records in each, and a group "spread"
    committed at 10, 20, ... 60 from outside any generation: (bootstrap, client_view)."""
    bootstrap = ",".join(b.bootstrap for b in brokers)
    create(brokers, TOPIC, 6, replication)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(600):
        p.produce(TOPIC, b"v%d" % i, partition=i % 6)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "spread", "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(TOPIC, q, 10 * (q + 1)) for q in range(6)], asynchronous=False)
        want = client_view(c, partitions=6)
    finally:
        c.close()
    assert all(e == 100 for _, e in want.values()), want
    return bootstrap, want


def test_lag_of_partitions_led_by_other_brokers(cluster):
    """The group's coordinator reads the ends of the partitions led elsewhere from their
    leaders; every partition's kafka_topic_partition_current_offset comes from its leader
    only; the group is published by exactly one broker."""
    _, brokers = cluster
    bootstrap, want = spread_group(brokers, replication=1)
    leaders = {q: m.leader for q, m in
               AdminClient({"bootstrap.servers": bootstrap}).list_topics(TOPIC, timeout=30).topics[TOPIC]
               .partitions.items()}

    def views():
        return {b.node_id: group_view(scrape(b), "spread") for b in brokers}

    def exact():
        vs = [v for v in views().values() if v]
        return (len(vs) == 1 and
                vs[0].get("lag") == {q: float(e - cm) for q, (cm, e) in want.items()} and
                vs[0].get("current_offset") == {q: float(cm) for q, (cm, _) in want.items()} and
                set(vs[0].get("lag_seconds", {})) == set(range(6)))
    # The cluster's brokers read lag every 5 s (the default interval).
    wait_until(exact, timeout=40, what="lag of every partition on the coordinator, wherever it is led")
    coordinator, view = next((n, v) for n, v in views().items() if v)
    # Every partition is behind: the age of its next record, read from its leader's log or
    # fetched from it.
    assert all(v > 0 for v in view["lag_seconds"].values()), view
    assert any(leader != coordinator for leader in leaders.values()), \
        f"every partition is led by the coordinator {coordinator}: {leaders}"

    def published():
        out = {}
        for b in brokers:
            for n, l, v in scrape(b):
                if n == "kafka_topic_partition_current_offset" and l["topic"] == TOPIC:
                    out.setdefault(int(l["partition"]), []).append((b.node_id, v))
        return out
    want_published = {q: [(leaders[q], 100.0)] for q in range(6)}
    wait_until(lambda: published() == want_published, timeout=20,
               what="each partition's offsets published by its leader alone")
