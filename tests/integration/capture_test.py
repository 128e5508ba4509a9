"""Captures the requests stock clients really send, for the protocol decoding test.

Each client runs through capture_proxy.CaptureProxy (the broker advertises the proxy's
address, so every connection goes through it) doing metadata, topic admin, produce with each
codec it supports, fetch and list offsets. The frames land in
$TRIB_CAPTURE_DIR/<client>/ (ctest: <build>/captured_requests/<client>/), read by
tests/unit/protocol/captured_requests_test.cc (ctest `captured_requests_decode`).

Convention the decoding test relies on: every topic produced to is named
`cap-<client>-<codec>`, and its batches must carry that codec.

The frames are written to a staging folder and swapped in when the module ends (the previous
capture is kept as captured_requests.old until the next run), so the unit test, which ctest
may run at the same time, never reads a half-written capture.
"""
import os
import shutil
import time
from pathlib import Path

import pytest

from apache_kafka import kafka_tool
from capture_proxy import CaptureProxy
from harness import SOURCE_DIR, kafkajs, kcat

CAPTURE_DIR = Path(os.environ.get("TRIB_CAPTURE_DIR") or SOURCE_DIR / "build" / "captured_requests")
ALL_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_VERSIONS, API_CREATE_TOPICS, API_DELETE_TOPICS, API_CREATE_PARTITIONS = 18, 19, 20, 37
API_DESCRIBE_PRODUCERS = 61


def records(codec, n=200):
    """Compressible records (librdkafka sends a batch uncompressed when that is smaller)."""
    return [(b"key-%d" % (i % 10), (b"%s record %d; " % (codec.encode(), i)) * 8) for i in range(n)]


@pytest.fixture(scope="module")
def staging():
    """A fresh staging folder; at the end its clients replace those of CAPTURE_DIR (clients
    not captured in this run are carried over)."""
    new = CAPTURE_DIR.with_name(CAPTURE_DIR.name + ".new")
    old = CAPTURE_DIR.with_name(CAPTURE_DIR.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    new.mkdir(parents=True)
    yield new
    if CAPTURE_DIR.is_dir():
        for client in CAPTURE_DIR.iterdir():
            if client.is_dir() and not (new / client.name).exists():
                shutil.copytree(client, new / client.name)
        os.rename(CAPTURE_DIR, old)
    os.rename(new, CAPTURE_DIR)


@pytest.fixture
def captured(make_broker, staging):
    """capture(client) -> (proxy, bootstrap through the proxy). The proxy is stopped at
    teardown."""
    proxies = []

    def capture(client):
        proxy = CaptureProxy(staging / client, client)
        proxies.append(proxy)
        b = make_broker(advertised_port=proxy.port, overrides={"num.partitions": 2})
        proxy.set_target("127.0.0.1", b.port)
        proxy.start()
        return proxy, f"127.0.0.1:{proxy.port}"

    yield capture
    for p in proxies:
        p.stop()


def check_captured(proxy, required):
    assert not proxy.errors, proxy.errors
    keys = proxy.api_keys()
    missing = set(required) - keys
    assert not missing, f"{proxy.client} sent no request of API keys {sorted(missing)}; got {sorted(keys)}"


def test_capture_kcat(captured):
    proxy, bootstrap = captured("kcat")
    kcat("-b", bootstrap, "-L")
    for codec in ALL_CODECS:
        topic = f"cap-kcat-{codec}"
        lines = b"".join(k + b"\t" + v + b"\n" for k, v in records(codec))
        kcat("-b", bootstrap, "-P", "-t", topic, "-K", "\t", "-z", codec, input=lines)
        out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout
        assert out.count(b"\n") == len(records(codec))
    kcat("-b", bootstrap, "-Q", "-t", "cap-kcat-gzip:0:-1")
    check_captured(proxy, [API_VERSIONS, API_METADATA, API_PRODUCE, API_FETCH, API_LIST_OFFSETS])


def test_capture_confluent_kafka(captured):
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    proxy, bootstrap = captured("confluent-kafka")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"cap-confluent-kafka-{codec}" for codec in ALL_CODECS]
    for f in admin.create_topics([NewTopic(t, 2, 1) for t in topics], operation_timeout=30).values():
        f.result(30)
    admin.list_topics(timeout=30)
    admin.create_partitions([NewPartitions(topics[0], 3)], operation_timeout=30)[topics[0]].result(30)

    for codec, topic in zip(ALL_CODECS, topics):
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20})
        for k, v in records(codec):
            p.produce(topic, v, k)
        assert p.flush(30) == 0

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "capture", "enable.auto.commit": False})
    try:
        topic = topics[1]
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        c.offsets_for_times([TopicPartition(topic, 0, 0)], timeout=30)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(2)])
        n = 0
        deadline = time.monotonic() + 60
        while n < len(records("gzip")) and time.monotonic() < deadline:
            n += sum(1 for m in c.consume(1000, timeout=0.5) if m.error() is None)
        assert n == len(records("gzip"))
    finally:
        c.close()

    for f in admin.delete_topics(topics, operation_timeout=30).values():
        f.result(30)
    check_captured(proxy, [API_VERSIONS, API_METADATA, API_PRODUCE, API_FETCH, API_LIST_OFFSETS,
                           API_CREATE_TOPICS, API_DELETE_TOPICS, API_CREATE_PARTITIONS])


def test_capture_kafka_python(captured):
    import kafka.codec
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewPartitions, NewTopic

    proxy, bootstrap = captured("kafka-python")
    codecs = ["none"] + [c for c in ALL_CODECS[1:] if getattr(kafka.codec, f"has_{c}")()]
    topics = [f"cap-kafka-python-{codec}" for codec in codecs]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(t, 2, 1) for t in topics], timeout_ms=30000)
        admin.describe_topics(topics)
        admin.create_partitions({topics[0]: NewPartitions(3)}, timeout_ms=30000)

        for codec, topic in zip(codecs, topics):
            p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                              compression_type=None if codec == "none" else codec)
            for k, v in records(codec):
                p.send(topic, key=k, value=v)
            p.flush(30)
            p.close(30)

        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topics[1], p) for p in range(2)]
            c.assign(tps)
            c.beginning_offsets(tps)
            c.end_offsets(tps)
            c.offsets_for_times({tps[0]: 0})
            c.seek_to_beginning(*tps)
            n = 0
            deadline = time.monotonic() + 60
            while n < len(records("x")) and time.monotonic() < deadline:
                n += sum(len(v) for v in c.poll(timeout_ms=500).values())
            assert n == len(records("x"))
        finally:
            c.close()
        admin.delete_topics(topics, timeout_ms=30000)
    finally:
        admin.close()
    check_captured(proxy, [API_VERSIONS, API_METADATA, API_PRODUCE, API_FETCH, API_LIST_OFFSETS,
                           API_CREATE_TOPICS, API_DELETE_TOPICS, API_CREATE_PARTITIONS])


def test_capture_kafkajs(captured):
    proxy, bootstrap = captured("kafkajs")
    for codec in ALL_CODECS:  # all but gzip through codec plugins
        topic = f"cap-kafkajs-{codec}"
        kafkajs(bootstrap, "create", topic, 2)
        kafkajs(bootstrap, "metadata", topic)
        out = kafkajs(bootstrap, "produce", topic, 200, 2, codec)
        assert all(r["errorCode"] == 0 for s in out["results"] for r in s["partitions"])
        offsets = kafkajs(bootstrap, "offsets", topic)["offsets"]
        assert sum(int(o["high"]) for o in offsets) == 200
        kafkajs(bootstrap, "delete", topic)
    check_captured(proxy, [API_VERSIONS, API_METADATA, API_PRODUCE, API_LIST_OFFSETS,
                           API_CREATE_TOPICS, API_DELETE_TOPICS])


def test_capture_kafka_transactions(captured):
    """Kafka's own tools (the Java Admin): the DescribeProducers that `kafka-transactions
    describe-producers` sends, and the CreateTopics of kafka-topics."""
    proxy, bootstrap = captured("kafka-transactions")
    topic = "cap-kafka-transactions"
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", 1)
    out = kafka_tool("kafka-transactions", "--bootstrap-server", bootstrap, "describe-producers",
                     "--topic", topic, "--partition", 0).stdout
    assert out.split()[:1] == ["ProducerId"], out
    check_captured(proxy, [API_VERSIONS, API_METADATA, API_CREATE_TOPICS, API_DESCRIBE_PRODUCERS])
