"""kcat (librdkafka) against the broker: metadata and produce/consume with every codec."""
import json

import pytest

from harness import assert_stored_with, kcat, librdkafka_partition

PARTITIONS = 3
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.fixture
def broker3(make_broker):
    """A broker that auto-creates topics with 3 partitions."""
    return make_broker(overrides={"num.partitions": PARTITIONS})


def test_metadata_lists_advertised_broker(broker3):
    kcat("-b", broker3.bootstrap, "-P", "-t", "listed", input=b"one\n")
    md = json.loads(kcat("-b", broker3.bootstrap, "-L", "-J").stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, broker3.bootstrap)]
    # Admin clients send CreateTopics/DeleteTopics to the controller Metadata names.
    assert md["controllerid"] == 1
    topics = {t["topic"]: t for t in md["topics"]}
    assert "listed" in topics
    parts = topics["listed"]["partitions"]
    assert sorted(p["partition"] for p in parts) == list(range(PARTITIONS))
    assert all(p["leader"] == 1 for p in parts)

    text = kcat("-b", broker3.bootstrap, "-L").stdout.decode()
    assert f"broker 1 at {broker3.bootstrap} (controller)" in text


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_codec(broker3, codec):
    topic = f"kcat-{codec}"
    records = []
    for i in range(3000):
        key = b"key-%d" % (i % 97)
        value = b"value %d of %s;" % (i, codec.encode()) + b"x" * (i % 200)
        records.append((key, value))
    lines = b"".join(k + b"\t" + v + b"\n" for k, v in records)
    kcat("-b", broker3.bootstrap, "-P", "-t", topic, "-K", "\t", "-z", codec,
         "-X", "linger.ms=20", input=lines, timeout=120)
    assert_stored_with(broker3, topic, codec)

    out = kcat("-b", broker3.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%p\t%o\t%k\t%s\n", timeout=120).stdout
    got = {p: [] for p in range(PARTITIONS)}
    for line in out.split(b"\n")[:-1]:
        p, o, k, v = line.split(b"\t", 3)
        got[int(p)].append((int(o), k, v))

    want = {p: [] for p in range(PARTITIONS)}
    for k, v in records:
        want[librdkafka_partition(k, PARTITIONS)].append((k, v))
    assert sum(len(r) for r in got.values()) == len(records)
    for p in range(PARTITIONS):
        assert [o for o, _, _ in got[p]] == list(range(len(got[p]))), f"partition {p} offsets"
        assert [(k, v) for _, k, v in got[p]] == want[p], f"partition {p} records"
