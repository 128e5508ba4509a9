"""net::kafka_client (net/kafka_client.h) against a real broker, through tributary-client-probe:
it negotiates versions with ApiVersions, pipelines Metadata and Fetch on one connection, and
the record batches it fetches are the ones a stock producer wrote, whole and in order. A
broker that is not there is a clear error, not a hang."""
import json
import os
import subprocess

from confluent_kafka import Producer

from harness import admin_create_topic, free_port, tool_binary


def probe(address, topic, partition):
    return subprocess.run([tool_binary("tributary-client-probe", "TRIB_CLIENT_PROBE"), address, topic,
                           str(partition)], capture_output=True, text=True, timeout=60)


def test_fetches_what_a_producer_wrote(broker):
    admin_create_topic(broker.bootstrap, "probed", 2)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                         "compression.type": "lz4"})
    # Random values, so the batches stay big: the answer (about 1 MB) goes out with sendfile
    # and arrives in many reads.
    for i in range(1000):
        producer.produce("probed", key=f"k{i}", value=os.urandom(700).hex(), partition=1)
        if i % 100 == 99:
            producer.flush(30)  # several batches, not one
    assert producer.flush(30) == 0

    p = probe(broker.bootstrap, "probed", 1)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    # Tributary serves Metadata up to v12 and Fetch up to v12, as this build's codecs do.
    assert got["metadata_version"] == 12
    assert got["fetch_version"] == 12
    assert got["leader"] == broker.node_id
    assert got["error_code"] == 0
    assert got["high_watermark"] == 1000
    assert got["records"] == 1000
    assert got["next_offset"] == 1000
    assert got["batches"] >= 10
    assert got["record_bytes"] > 1000 * 700

    empty = probe(broker.bootstrap, "probed", 0)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["records"] == 0


def test_no_broker_is_a_readable_error():
    p = probe(f"127.0.0.1:{free_port()}", "t", 0)
    assert p.returncode == 1
    assert "connect: not connected to the broker" in p.stderr, p.stderr
