"""Topic configs are honoured: segments roll at segment.bytes, retention.bytes deletes old
segments (the log start moves up), LogAppendTime stamps records with the broker's clock, and
configs can be read back and changed with the admin API."""
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import admin_create_topic, wait_until


def produce(bootstrap, topic, n, size=100):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for i in range(n):
        p.produce(topic, b"x" * size, b"k%d" % i)
        p.poll(0)
    assert p.flush(30) == 0


def watermarks(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def test_segment_bytes_and_retention_bytes(make_broker):
    b = make_broker(overrides={"log.retention.check.interval.ms": 200})
    admin_create_topic(b.bootstrap, "small-segments", 1,
                       config={"segment.bytes": "2000", "retention.bytes": "6000"})
    produce(b.bootstrap, "small-segments", 300)
    segments = sorted((b.data_dir / "small-segments-0").glob("*.log"))
    assert len(segments) >= 2, "segments should roll at segment.bytes"
    log_dir = b.data_dir / "small-segments-0"

    def kept_bytes():
        total = 0
        for f in log_dir.glob("*.log"):
            try:
                total += f.stat().st_size
            except FileNotFoundError:  # retention deleted it between the glob and the stat
                pass
        return total

    # Retention runs every 200 ms; wait for a pass after the last append.
    wait_until(lambda: kept_bytes() <= 6000 + 2000, "retention.bytes to delete old segments",
               timeout=20, describe=lambda: f"{kept_bytes()} bytes kept")
    lo, hi = watermarks(b.bootstrap, "small-segments")
    assert hi == 300
    assert lo > 0, "retention.bytes should have deleted the oldest segments"


def test_log_append_time_and_config_changes(make_broker):
    b = make_broker()
    admin_create_topic(b.bootstrap, "stamped", 1, config={"message.timestamp.type": "LogAppendTime"})
    before_ms = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("stamped", b"v", b"k", timestamp=1000)  # a client timestamp from 1970
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ts", "enable.auto.commit": False})
    c.assign([TopicPartition("stamped", 0, 0)])
    m = None
    deadline = time.monotonic() + 20
    while m is None and time.monotonic() < deadline:
        m = c.poll(0.5)
    c.close()
    assert m is not None and m.error() is None
    kind, ts = m.timestamp()
    assert kind == 2, "timestamp type should be LogAppendTime"  # TIMESTAMP_LOG_APPEND_TIME
    assert ts >= before_ms - 1000

    a = AdminClient({"bootstrap.servers": b.bootstrap})
    res = ConfigResource("topic", "stamped", set_config={"retention.ms": "123456",
                                                         "message.timestamp.type": "LogAppendTime"})
    for f in a.alter_configs([res]).values():
        f.result(timeout=30)
    cfg = list(a.describe_configs([ConfigResource("topic", "stamped")]).values())[0].result(timeout=30)
    assert cfg["retention.ms"].value == "123456"
    assert cfg["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.bytes"].source == 5  # DEFAULT_CONFIG

    bad = ConfigResource("topic", "stamped", set_config={"retention.ms": "soon"})
    err = None
    try:
        list(a.alter_configs([bad]).values())[0].result(timeout=30)
    except Exception as e:  # KafkaException with INVALID_CONFIG
        err = e
    assert err is not None and "INVALID_CONFIG" in str(err)


def test_dynamic_broker_configs_apply_under_topic_overrides(make_broker):
    """A dynamic broker config (AlterConfigs on broker 1) takes effect at once on topics
    without an override, and a topic override still wins over it."""
    from confluent_kafka import KafkaError
    b = make_broker()
    admin_create_topic(b.bootstrap, "dyn", 1)
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in a.alter_configs([ConfigResource("broker", "1", set_config={"message.max.bytes": "1000"})]).values():
        f.result(timeout=30)
    cfg = list(a.describe_configs([ConfigResource("topic", "dyn")]).values())[0].result(timeout=30)
    assert cfg["max.message.bytes"].value == "1000"
    assert cfg["max.message.bytes"].source == 2  # DYNAMIC_BROKER_CONFIG

    def send_big():
        errors = []
        p = Producer({"bootstrap.servers": b.bootstrap, "message.max.bytes": 10_000_000,
                      "compression.type": "none"})
        p.produce("dyn", b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
        assert p.flush(30) == 0
        return errors[0]

    err = send_big()
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE
    for f in a.alter_configs([ConfigResource("topic", "dyn", set_config={"max.message.bytes": "100000"})]).values():
        f.result(timeout=30)
    assert send_big() is None


def test_recreated_topic_starts_empty(make_broker):
    """Deleting a topic and creating it again under the same name gives an empty topic, also
    when the broker restarted in between (the log directory names the topic id it was for)."""
    from confluent_kafka.admin import AdminClient
    b = make_broker()
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    for round_ in range(2):
        admin_create_topic(b.bootstrap, "again", 1)
        assert watermarks(b.bootstrap, "again") == (0, 0), f"round {round_}: old data came back"
        produce(b.bootstrap, "again", 5)
        assert watermarks(b.bootstrap, "again") == (0, 5)
        a.delete_topics(["again"])["again"].result(30)
        if round_ == 0:
            b.stop()
            b.start()
