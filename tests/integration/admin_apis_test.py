"""Admin and offset APIs the other tests don't reach: DeleteRecords, DescribeCluster,
ListOffsets by timestamp and CreateTopics validate-only, through stock clients; the
broker's /metrics, /healthz and /readyz (FindCoordinator: groups_test.py)."""
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import Coordinator, admin_create_topic, free_port, kafkajs


def produce(bootstrap, topic, values, timestamps=None):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i, v in enumerate(values):
        p.produce(topic, v, partition=0, timestamp=timestamps[i] if timestamps else 0)
        p.flush(30)  # one batch each, so timestamps map to offsets exactly
    assert p.flush(30) == 0


def test_delete_records_and_describe_cluster_with_kafkajs(make_broker):
    b = make_broker()
    admin_create_topic(b.bootstrap, "trim", 1)
    produce(b.bootstrap, "trim", [b"v%d" % i for i in range(100)])
    out = kafkajs(b.bootstrap, "delete-records", "trim", 0, "40")
    (p0,) = out["offsets"]
    assert (p0["low"], p0["high"]) == ("40", "100")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "lw"})
    assert c.get_watermark_offsets(TopicPartition("trim", 0), timeout=10) == (40, 100)
    c.close()

    cluster = kafkajs(b.bootstrap, "cluster")
    assert cluster["controller"] == 1
    assert [(x["nodeId"], x["port"]) for x in cluster["brokers"]] == [(1, b.port)]


def test_list_offsets_by_timestamp(make_broker):
    b = make_broker()
    admin_create_topic(b.bootstrap, "timed", 1)
    base = 1_700_000_000_000
    produce(b.bootstrap, "timed", [b"a", b"b", b"c", b"d"],
            timestamps=[base, base + 1000, base + 2000, base + 3000])
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ts"})
    try:
        def at(ts):
            (tp,) = c.offsets_for_times([TopicPartition("timed", 0, ts)], timeout=10)
            return tp.offset
        assert at(base) == 0
        assert at(base + 1500) == 2
        assert at(base + 3000) == 3
        assert at(base + 9999) == -1  # nothing at or after: Kafka answers -1
    finally:
        c.close()
    out = kafkajs(b.bootstrap, "offsets-by-time", "timed", base + 1000)
    assert out["offsets"] == [{"partition": 0, "offset": "1"}]


def test_create_topics_validate_only(make_broker):
    b = make_broker()
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic("just-checking", 3, 1)], validate_only=True)["just-checking"].result(30)
    assert "just-checking" not in a.list_topics(timeout=10).topics
    bad = a.create_topics([NewTopic("bad", 3, 1, config={"retention.ms": "x"})], validate_only=True)
    try:
        bad["bad"].result(30)
        raise AssertionError("an invalid config should be refused")
    except Exception as e:
        assert "INVALID_CONFIG" in str(e)


def test_metrics_health_and_readiness(make_broker):
    port = free_port()
    b = make_broker(overrides={"tributary.http.listener": f"127.0.0.1:{port}"})
    admin_create_topic(b.bootstrap, "measured", 2)
    produce(b.bootstrap, "measured", [b"x" * 100] * 10)

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()

    assert get("/healthz")[0] == 200
    assert get("/readyz")[0] == 200
    deadline = time.monotonic() + 10
    while True:  # log sizes are refreshed every second
        status, text = get("/metrics")
        if 'tributary_log_size_bytes{partition="0",topic="measured"}' in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200
    produce_count = [l for l in text.splitlines() if l.startswith('tributary_requests_total{api="Produce"}')]
    assert produce_count and float(produce_count[0].split()[-1]) >= 10
    bytes_in = [l for l in text.splitlines() if l.startswith('tributary_topic_bytes_in_total{topic="measured"}')]
    assert bytes_in and float(bytes_in[0].split()[-1]) >= 1000
    assert 'tributary_request_latency_seconds_bucket{api="Produce"' in text
    assert 'tributary_log_size_bytes{partition="0",topic="measured"}' in text


def test_coordinator_serves_metrics_health_and_readiness(tmp_path, make_broker):
    """The coordinator answers /healthz and /readyz (the Kubernetes probes use them; ready: its
    log replayed and a leader known, here itself) and counts in /metrics the brokers that joined
    it and the topics it knows, and says it is the active controller."""
    port = free_port()
    coord = Coordinator(tmp_path / "coordinator", overrides={"tributary.http.listener": f"127.0.0.1:{port}"})
    coord.start()
    try:
        b = make_broker(overrides={"controller.quorum.voters": coord.voters})
        admin_create_topic(b.bootstrap, "counted", 1)

        def get(path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, r.read().decode()

        assert get("/healthz")[0] == 200
        assert get("/readyz")[0] == 200
        wanted = ('tributary_coordinator_brokers{state="registered"} 1',
                  'tributary_coordinator_brokers{state="usable"} 1', "tributary_coordinator_topics 1",
                  "tributary_coordinator_active_controller 1")
        deadline = time.monotonic() + 10
        while True:  # refreshed every second
            text = get("/metrics")[1]
            if all(w in text for w in wanted) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(w in text for w in wanted), text
    finally:
        assert coord.stop() == 0
