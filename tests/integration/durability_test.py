"""Data survives a clean restart, and every acknowledged record (acks=1) survives SIGKILL."""
import time

import pytest
from confluent_kafka import Producer

from harness import admin_create_topic, check_offsets_dense, consume_all, stored_batches


def test_clean_restart_keeps_data(make_broker):
    b = make_broker()
    admin_create_topic(b.bootstrap, "kept", 3)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": 1, "linger.ms": 5})
    for i in range(20_000):
        p.produce("kept", b"value-%d" % i, b"key-%d" % (i % 300))
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    before = consume_all(b.bootstrap, "kept")
    assert sum(len(v) for v in before.values()) == 20_000

    assert b.stop() == 0, "SIGTERM should be a clean exit"
    b.start()
    after = consume_all(b.bootstrap, "kept")
    assert after == before


class AckRecorder:
    """A producer that keeps sending and remembers what the broker acknowledged."""

    def __init__(self, bootstrap, topic, value_size, linger_ms):
        self.topic = topic
        self.value_size = value_size
        self.acked = []          # (partition, offset, value)
        self.failed = 0
        self.sent = 0
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": 1, "linger.ms": linger_ms,
            "message.timeout.ms": 10000, "socket.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 500, "queue.buffering.max.messages": 100000,
        })

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def send_until(self, acked_target, timeout=120):
        """Keeps sending until `acked_target` records are acknowledged; returns right after
        queueing more, so records are in flight when the caller kills the broker."""
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"only {len(self.acked)} acked in {timeout} s"
            for _ in range(500):
                try:
                    self.producer.produce(self.topic, (b"record-%d " % self.sent).ljust(self.value_size, b"x"),
                                          b"k%d" % (self.sent % 64), on_delivery=self._on_delivery)
                    self.sent += 1
                except BufferError:
                    break
            if len(self.acked) >= acked_target:
                return
            self.producer.poll(0.001)

    def abandon(self):
        """After the broker died: drop what was not acknowledged, collect the last reports."""
        self.producer.purge()
        self.producer.flush(15)


def kill_rounds(b, topic, targets, value_size, linger_ms):
    """Per target: produce (acks=1) until that many records are acknowledged, SIGKILL the
    broker with more in flight, restart it and check every record acknowledged so far is read
    back at its offset, offsets dense."""
    acked = []
    for round_no, target in enumerate(targets):
        rec = AckRecorder(b.bootstrap, topic, value_size, linger_ms)
        rec.send_until(target)
        in_flight = rec.sent - len(rec.acked)
        b.kill()
        rec.abandon()
        acked += rec.acked
        assert in_flight > 0, "the broker should die with records in flight"

        b.start()
        got = consume_all(b.bootstrap, topic)
        stored = {}
        for p, records in got.items():
            check_offsets_dense(records)
            for o, _, v in records:
                stored[(p, o)] = v
        missing = [(p, o, v) for p, o, v in acked if stored.get((p, o)) != v]
        assert not missing, (f"round {round_no}: {len(missing)} of {len(acked)} acknowledged "
                             f"records lost or changed, first {missing[:5]}")


# Small records make small batches, which the broker writes through the page cache; big ones
# make batches over 64 KiB, which it writes with O_DIRECT (tributary.log.direct.writes).
@pytest.mark.parametrize("value_size,linger_ms", [(0, 2), (2000, 20)], ids=["small_batches", "direct_writes"])
def test_sigkill_during_acks1_produce_loses_no_acknowledged_record(make_broker, value_size, linger_ms):
    b = make_broker()
    admin_create_topic(b.bootstrap, "killed", 4)
    kill_rounds(b, "killed", [20_000, 27_000, 35_000], value_size, linger_ms)
    if value_size:
        biggest = max(size for size, _ in stored_batches(b, "killed"))
        assert biggest >= 64 << 10, f"largest batch on disk {biggest} B: no direct write was tested"
