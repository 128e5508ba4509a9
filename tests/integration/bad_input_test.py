"""Hostile or broken input on a raw socket: the broker closes that one connection, says why
in its log, and keeps serving everyone else. Also: pipelined requests answer in order."""
import random
import socket
import struct

import pytest
from confluent_kafka import Producer

from harness import (API_METADATA, API_PRODUCE, API_VERSIONS, UNSUPPORTED_VERSION,
                     connection_closed, kcat, metadata_v1_all_topics, parse_api_versions_v0,
                     read_response, request_frame, send_request)


def connect(broker):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def logged_close(broker, peer, reason):
    """The broker's log says it closed the connection from `peer`, and why."""
    needle = f"closing connection from {peer}"
    assert broker.wait_for_log(needle), f"no close logged for {peer}"
    line = [l for l in broker.log_text().splitlines() if needle in l][-1]
    assert reason in line, line


def closed_with_reason(broker, sock, reason):
    """The broker closes `sock` and logs the reason, naming the client's address."""
    peer = "127.0.0.1:%d" % sock.getsockname()[1]
    assert connection_closed(sock), "the broker kept the connection open"
    logged_close(broker, peer, reason)


def still_serving(broker, topic="alive"):
    """A new client can produce and consume."""
    kcat("-b", broker.bootstrap, "-P", "-t", topic, input=b"ping\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "-1", "-e", "-q", "-f", "%s\n").stdout
    assert out == b"ping\n"


@pytest.mark.parametrize("size", [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 200 << 20])
def test_huge_size_prefix_closes_only_that_connection(broker, size):
    delivered = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 0})
    p.produce("huge", b"before", on_delivery=lambda e, m: delivered.append((e, m.offset())))
    assert p.flush(30) == 0

    with connect(broker) as s:
        s.sendall(struct.pack(">I", size) + b"\0" * 64)
        closed_with_reason(broker, s, "outside 0..")

    # The producer connected before keeps working, without reconnecting.
    p.produce("huge", b"after", on_delivery=lambda e, m: delivered.append((e, m.offset())))
    assert p.flush(30) == 0
    assert delivered == [(None, 0), (None, 1)]
    assert broker.alive()


def test_truncated_request_then_close(broker):
    with connect(broker) as s:
        peer = "127.0.0.1:%d" % s.getsockname()[1]
        s.sendall(struct.pack(">i", 100) + b"\x00\x12\x00\x00" + b"\x00" * 16)
    logged_close(broker, peer, "in the middle of a request")
    still_serving(broker)


@pytest.mark.parametrize("data,reason", [
    (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "outside 0.."),   # 'GET ' is ~1.2 GB
    (struct.pack(">i", 3) + b"\x00\x12\x00", "undecodable request header"),
    (struct.pack(">i", 8) + b"\x00\x03\x00\x01\x00\x00\x00\x07", "undecodable request header"),
], ids=["http", "frame-shorter-than-header", "header-without-client-id"])
def test_garbage_closes_connection(broker, data, reason):
    with connect(broker) as s:
        s.sendall(data)
        closed_with_reason(broker, s, reason)
    still_serving(broker)


def test_unknown_api_key_closes_connection(broker):
    with connect(broker) as s:
        send_request(s, 999, 0, 7, b"")
        closed_with_reason(broker, s, "unsupported API key 999")
    still_serving(broker)


def test_unsupported_produce_version_closes_connection(broker):
    with connect(broker) as s:
        send_request(s, API_PRODUCE, 99, 8, b"\0" * 16)
        closed_with_reason(broker, s, "unsupported version 99")
    still_serving(broker)


def test_api_versions_too_new_answered_in_v0_layout(broker):
    # What a newer client sends: ApiVersions v99 with a v2 (flexible) header and a v3-style body.
    cid = b"future-client"
    header = struct.pack(">hhih", API_VERSIONS, 99, 42, len(cid)) + cid + b"\x00"
    body = bytes([len(b"fut") + 1]) + b"fut" + bytes([len(b"9.9") + 1]) + b"9.9" + b"\x00"
    payload = header + body
    with connect(broker) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        corr, reply = read_response(s)
        assert corr == 42
        v0 = parse_api_versions_v0(reply)
        assert v0["error_code"] == UNSUPPORTED_VERSION
        assert v0["trailing"] == 0, "the reply must be exactly the v0 layout"
        keys = v0["api_keys"]
        assert keys[API_VERSIONS][0] == 0 and keys[API_VERSIONS][1] >= 3
        for key in (0, 1, 2, 3, 19, 20, 37):  # the APIs the broker serves
            assert key in keys and keys[key][0] <= keys[key][1]
        # The connection stays usable: the client retries with a version it now knows.
        send_request(s, API_VERSIONS, 0, 43, b"")
        corr, reply = read_response(s)
        assert corr == 43 and parse_api_versions_v0(reply)["error_code"] == 0


def test_pipelined_requests_answer_in_order(broker):
    n = 50
    frames = []
    for i in range(n):
        if i % 2:
            frames.append(request_frame(API_METADATA, 1, 1000 + i, metadata_v1_all_topics()))
        else:
            frames.append(request_frame(API_VERSIONS, 0, 1000 + i, b""))
    with connect(broker) as s:
        s.sendall(b"".join(frames))
        corrs = []
        for i in range(n):
            corr, body = read_response(s)
            corrs.append(corr)
            if i % 2 == 0:
                assert parse_api_versions_v0(body)["error_code"] == 0
        assert corrs == [1000 + i for i in range(n)]


def fuzz_inputs(rng, count):
    """Random bytes, random bytes behind a valid size, and valid headers of real APIs (at
    versions they serve or not) with random or bit-flipped bodies."""
    metadata = request_frame(API_METADATA, 1, 5, struct.pack(">i", 1) + struct.pack(">h", 4) + b"fuzz")
    for i in range(count):
        kind = i % 4
        if kind == 0:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
        elif kind == 1:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            yield struct.pack(">i", len(body)) + body
        elif kind == 2:
            key = rng.choice([0, 1, 2, 3, 18, 19, 20, 37, rng.randint(-5, 80)])
            version = rng.randint(-1, 14)
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            yield request_frame(key, version, i, body)
        else:
            frame = bytearray(metadata)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(4, len(frame))
                frame[pos] ^= 1 << rng.randrange(8)
            yield bytes(frame)


def test_random_input_fuzz_broker_survives(broker):
    rng = random.Random(20241122)
    for data in fuzz_inputs(rng, 200):
        with connect(broker) as s:
            s.sendall(data)
            s.settimeout(0.05)
            try:
                s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
        assert broker.alive(), f"broker died on input {data.hex()}"
    still_serving(broker)
    with connect(broker) as s:
        send_request(s, API_VERSIONS, 0, 1, b"")
        assert read_response(s)[0] == 1


def test_acks0_produce_failure_closes_the_connection(make_broker):
    """acks=0 gets no response, so a failed one closes the connection, as Kafka does: the
    client reconnects and refreshes its metadata instead of writing into the void."""
    from kafka.protocol.produce import ProduceRequest
    from kafka.record.memory_records import MemoryRecordsBuilder
    from harness import admin_create_topic, connection_closed

    b = make_broker(overrides={"auto.create.topics.enable": "false"})
    admin_create_topic(b.bootstrap, "zero", 1)

    def acks0(sock, topic):
        records = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
        records.append(timestamp=None, key=b"k", value=b"v")
        records.close()
        req = ProduceRequest[3](transactional_id=None, required_acks=0, timeout=1000,
                                topics=[(topic, [(0, records.buffer())])])
        send_request(sock, 0, 3, 5, req.encode())

    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as ok:
        acks0(ok, "zero")
        send_request(ok, API_VERSIONS, 0, 6, b"")
        corr, _ = read_response(ok)
        assert corr == 6, "a successful acks=0 produce gets no response and keeps the connection"
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as bad:
        acks0(bad, "no-such-topic")
        assert connection_closed(bad, timeout=10)
    assert "acks=0 produce to no-such-topic-0 failed" in b.log_text()


def test_client_closing_during_a_large_fetch_response(broker):
    """A consumer that goes away while its Fetch response is being sent (zero-copy from the
    log) costs only its own connection: the send fails with EPIPE, no SIGPIPE kills the
    broker. librdkafka does this when a response exceeds its receive.message.max.bytes."""
    from kafka.protocol.fetch import FetchRequest

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 20,
                  "batch.size": 1 << 20})
    value = b"x" * 1024
    for _ in range(48 * 1024):  # 48 MiB: far more than the socket buffers hold
        p.produce("bigfetch", value, partition=0)
        p.poll(0)
    assert p.flush(60) == 0

    req = FetchRequest[4](replica_id=-1, max_wait_time=100, min_bytes=1, max_bytes=64 << 20,
                          isolation_level=0,
                          topics=[("bigfetch", [(0, 0, 64 << 20)])])
    for i in range(5):
        with connect(broker) as s:
            send_request(s, 1, 4, 100 + i, req.encode())
            assert len(s.recv(65536)) > 0  # the response has started
            # Close with unread data and no linger: the kernel answers further data with a
            # reset, so the broker's next sendfile meets a closed peer.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert broker.alive(), "the broker died when a client closed during a Fetch response"
    still_serving(broker)
