"""Idempotent producers: a retried batch is acknowledged once, not appended twice.

A proxy between the client and the broker lets every request through but drops the first
Produce response and closes that connection, as a network failure after the broker appended
the batch would. librdkafka (enable.idempotence) then sends the same batch again, with the
same producer id, epoch and sequence, on a new connection; the broker must answer it from
its producer state, and the topic must hold every record exactly once.
"""
import socket
import struct
import threading

from confluent_kafka import Producer

from harness import admin_create_topic, consume_all

PRODUCE = 0


class DropFirstProduceResponse:
    """TCP proxy: client <-> broker, frame-aware in both directions, per connection."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.target = None
        self.dropped = threading.Event()
        self._lock = threading.Lock()
        self._socks = []

    def start(self, target_port):
        self.target = ("127.0.0.1", target_port)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
            with self._lock:
                self._socks += [client, upstream]
            produce_ids = set()  # correlation ids of Produce requests on this connection
            threading.Thread(target=self._requests, args=(client, upstream, produce_ids), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, produce_ids), daemon=True).start()

    @staticmethod
    def _frames(sock):
        buf = bytearray()
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return
            buf += data
            while len(buf) >= 4:
                (size,) = struct.unpack(">i", buf[:4])
                if len(buf) < 4 + size:
                    break
                yield bytes(buf[:4 + size])
                del buf[:4 + size]

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _requests(self, src, dst, produce_ids):
        try:
            for frame in self._frames(src):
                key, _, corr = struct.unpack(">hhi", frame[4:12])
                if key == PRODUCE:
                    produce_ids.add(corr)
                dst.sendall(frame)
        except OSError:
            pass
        self._close(src, dst)

    def _responses(self, src, dst, produce_ids):
        try:
            for frame in self._frames(src):
                (corr,) = struct.unpack(">i", frame[4:8])
                if corr in produce_ids and not self.dropped.is_set():
                    self.dropped.set()
                    break  # the broker appended it; the client never hears so
                dst.sendall(frame)
        except OSError:
            pass
        self._close(src, dst)


def test_retried_batch_is_not_appended_twice(make_broker):
    proxy = DropFirstProduceResponse()
    b = make_broker(advertised_port=proxy.port)
    proxy.start(b.port)
    try:
        admin_create_topic(b.bootstrap, "idem", 1)
        p = Producer({"bootstrap.servers": f"127.0.0.1:{proxy.port}", "enable.idempotence": True,
                      "acks": "all", "linger.ms": 20, "socket.timeout.ms": 5000,
                      "message.timeout.ms": 60000, "retry.backoff.ms": 100})
        acked, errors = [], []

        def on_delivery(err, msg):
            (errors if err else acked).append(err or msg.value())

        total = 3000
        for i in range(total):
            p.produce("idem", b"v-%d" % i, b"k", on_delivery=on_delivery)
            if i % 500 == 0:
                p.poll(0)
        assert p.flush(90) == 0
        assert proxy.dropped.is_set(), "the proxy never saw a Produce response to drop"
        assert errors == []
        assert len(acked) == total

        records = consume_all(b.bootstrap, "idem")[0]
        values = [v for _, _, v in records]
        assert len(values) == total, f"{len(values) - total} duplicate or missing records"
        assert values == [b"v-%d" % i for i in range(total)]
    finally:
        proxy.stop()


def test_producer_state_survives_restart(make_broker):
    """After a restart the broker still knows each producer's last sequence: a producer that
    carries on (same id and epoch) is accepted in sequence, and the log has no duplicates."""
    b = make_broker()
    admin_create_topic(b.bootstrap, "idem-restart", 1)
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 60000})
    for i in range(1000):
        p.produce("idem-restart", b"a-%d" % i)
    assert p.flush(60) == 0
    assert b.stop() == 0
    b.start()
    for i in range(1000):
        p.produce("idem-restart", b"b-%d" % i)
    assert p.flush(60) == 0
    values = [v for _, _, v in consume_all(b.bootstrap, "idem-restart")[0]]
    assert values == [b"a-%d" % i for i in range(1000)] + [b"b-%d" % i for i in range(1000)]
