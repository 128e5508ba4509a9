"""Incremental fetch sessions (KIP-227, broker/fetch_session.h), as Apache Kafka answers them:

  test_full_then_incremental       raw Fetch v7 requests: a full fetch opens a session, an
                                   incremental one answers only what changed, forgotten
                                   partitions leave, epochs are checked (71), a session left
                                   empty or closed with epoch -1 is gone (70)
  test_incremental_without_session session id 0 with epoch > 0: FETCH_SESSION_ID_NOT_FOUND
  test_session_from_other_connections  a session found from fresh connections, whichever
                                   core they land on (the id names the session's core)
  test_cache_is_bounded            max.incremental.fetch.session.cache.slots: no room, no
                                   session (id 0), and the client keeps full fetches
  test_java_consumer_uses_sessions kafka-console-consumer reads a topic through incremental
                                   fetches (the broker's session metrics count them)
  test_followers_use_sessions      three brokers, replication factor 3: followers copy the
                                   leaders through incremental sessions"""
import socket
import struct

from confluent_kafka import Producer
from kafka.protocol.fetch import FetchResponse

from apache_kafka import kafka_tool
from cluster_test import create, wait_until
from harness import admin_create_topic, read_response, send_request
from replication_metrics_test import scrape
from replication_test import produce, same_everywhere

API_FETCH = 1
VERSION = 7
NONE, FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH = 0, 70, 71
SESSIONS = "kafka_server_fetchsessioncache_numincrementalfetchsessions"
PARTITIONS_CACHED = "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached"
INCREMENTAL = 'tributary_fetch_session_requests_total{kind="incremental"}'
FULL = 'tributary_fetch_session_requests_total{kind="full"}'

WITH_METRICS = {"tributary.http.listener": "127.0.0.1:0"}


def string(s):
    return struct.pack(">h", len(s)) + s.encode()


# Fetch v7's request, written here: kafka-python 2.0.2 can't encode its forgotten topics
# (its schema names the String type where an instance belongs).
def fetch_topics(topic, partitions):
    if not partitions:
        return struct.pack(">i", 0)
    parts = b"".join(struct.pack(">iqqi", p, off, -1, 1 << 20) for p, off in partitions)
    return struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions)) + parts


def forgotten_topics(topic, partitions):
    if not partitions:
        return struct.pack(">i", 0)
    return (struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions)) +
            b"".join(struct.pack(">i", p) for p in partitions))


class Client:
    """One connection sending raw Fetch v7 requests."""

    def __init__(self, broker):
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def fetch(self, session_id, epoch, partitions=(), forgotten=(), topic="s", max_wait=0, min_bytes=0):
        """partitions: [(partition, fetch_offset)]; forgotten: [partition]. Returns
        (error_code, session_id, {partition: (error, high_watermark, record bytes)})."""
        body = struct.pack(">iiiibii", -1, max_wait, min_bytes, 64 << 20, 0, session_id, epoch)
        body += fetch_topics(topic, partitions) + forgotten_topics(topic, forgotten)
        self.correlation += 1
        send_request(self.sock, API_FETCH, VERSION, self.correlation, body)
        cid, body = read_response(self.sock)
        assert cid == self.correlation
        resp = FetchResponse[VERSION].decode(body)
        parts = {}
        for _, ps in resp.topics:
            for p in ps:
                parts[p[0]] = (p[1], p[2], len(p[6] or b""))
        return resp.error_code, resp.session_id, parts


def produce_to(broker, partition, n, topic="s"):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(topic, b"v%d" % i, partition=partition)
    assert p.flush(30) == 0


def test_full_then_incremental(make_broker):
    broker = make_broker(overrides=WITH_METRICS)
    admin_create_topic(broker.bootstrap, "s", 2)
    produce_to(broker, 0, 3)
    c = Client(broker)
    try:
        # Full fetch (epoch 0): a new session, every partition answered.
        err, sid, parts = c.fetch(0, 0, [(0, 0), (1, 0)])
        assert err == NONE and sid != 0
        assert set(parts) == {0, 1}
        assert parts[0][0] == NONE and parts[0][1] == 3 and parts[0][2] > 0
        assert parts[1][:2] == (NONE, 0)
        m = scrape(broker)
        assert m[SESSIONS] == 1 and m[PARTITIONS_CACHED] == 2

        # Incremental (epoch 1): partition 0 read to its end, nothing new anywhere: no partition.
        err, sid1, parts = c.fetch(sid, 1, [(0, 3)])
        assert (err, sid1, parts) == (NONE, sid, {})

        # New records on partition 1 only: partition 1 alone, though the request names none.
        produce_to(broker, 1, 2)
        err, _, parts = c.fetch(sid, 2, [], max_wait=5000, min_bytes=1)
        assert err == NONE and set(parts) == {1}
        assert parts[1][1] == 2 and parts[1][2] > 0

        # The same epoch again (a retried request): INVALID_FETCH_SESSION_EPOCH, no session id,
        # no partitions; the session stays at its epoch.
        assert c.fetch(sid, 2) == (INVALID_FETCH_SESSION_EPOCH, 0, {})
        assert c.fetch(sid, 9) == (INVALID_FETCH_SESSION_EPOCH, 0, {})
        err, _, parts = c.fetch(sid, 3, [(1, 2)])
        assert (err, parts) == (NONE, {})

        # Forget partition 0: records for it no longer come.
        produce_to(broker, 0, 1)
        err, _, parts = c.fetch(sid, 4, forgotten=[0])
        assert (err, parts) == (NONE, {})
        assert scrape(broker)[PARTITIONS_CACHED] == 1

        # Forget the last one: the session is closed (answered as sessionless, id 0) ...
        err, sid5, parts = c.fetch(sid, 5, forgotten=[1])
        assert (err, sid5) == (NONE, 0)
        assert scrape(broker)[SESSIONS] == 0
        # ... and no longer found.
        assert c.fetch(sid, 6) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})

        # A new session, closed by epoch -1 (FINAL_EPOCH): a sessionless full answer.
        err, sid, _ = c.fetch(0, 0, [(0, 0)])
        assert err == NONE and sid != 0
        err, sid_final, parts = c.fetch(sid, -1, [(0, 0)])
        assert (err, sid_final) == (NONE, 0) and set(parts) == {0}
        assert c.fetch(sid, 1) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})

        # A full fetch naming a live session closes it and opens another.
        err, first, _ = c.fetch(0, 0, [(0, 0)])
        err, second, _ = c.fetch(first, 0, [(0, 0)])
        assert err == NONE and second not in (0, first)
        assert c.fetch(first, 1) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})
        assert c.fetch(second, 1)[0] == NONE
        assert scrape(broker)[SESSIONS] == 1
    finally:
        c.close()


def test_incremental_without_session(broker):
    admin_create_topic(broker.bootstrap, "s", 1)
    c = Client(broker)
    try:
        assert c.fetch(0, 1, [(0, 0)]) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})
        assert c.fetch(123456789, 1, [(0, 0)]) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})
        assert c.fetch(-5, 1, [(0, 0)]) == (FETCH_SESSION_ID_NOT_FOUND, 0, {})
        # Session id 0, epoch -1: today's sessionless full fetch.
        err, sid, parts = c.fetch(0, -1, [(0, 0)])
        assert (err, sid, set(parts)) == (NONE, 0, {0})
    finally:
        c.close()


def test_session_from_other_connections(make_broker):
    broker = make_broker(overrides={"num.io.threads": 2})
    admin_create_topic(broker.bootstrap, "s", 2)
    produce_to(broker, 1, 1)
    first = Client(broker)
    err, sid, _ = first.fetch(0, 0, [(0, 0), (1, 0)])
    first.close()
    assert err == NONE and sid != 0
    # Connections are spread over the cores: some of these land on another core than the
    # one holding the session, and must find it all the same.
    for epoch in range(1, 7):
        c = Client(broker)
        try:
            err, got, parts = c.fetch(sid, epoch, [(1, 1)] if epoch == 1 else [])
            assert (err, got, parts) == (NONE, sid, {}), f"epoch {epoch}"
        finally:
            c.close()


def test_cache_is_bounded(make_broker):
    broker = make_broker(overrides={"num.io.threads": 1, "max.incremental.fetch.session.cache.slots": 1,
                                    **WITH_METRICS})
    admin_create_topic(broker.bootstrap, "s", 1)
    a, b = Client(broker), Client(broker)
    try:
        err, sid, _ = a.fetch(0, 0, [(0, 0)])
        assert err == NONE and sid != 0
        # The one slot is taken by a young consumer session: another consumer gets none,
        # and its fetch is answered in full all the same.
        err, none, parts = b.fetch(0, 0, [(0, 0)])
        assert (err, none, set(parts)) == (NONE, 0, {0})
        assert a.fetch(sid, 1)[0] == NONE
        m = scrape(broker)
        assert m[SESSIONS] == 1
        assert m["kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total"] == 0
    finally:
        a.close()
        b.close()


def test_java_consumer_uses_sessions(make_broker):
    broker = make_broker(overrides=WITH_METRICS)
    admin_create_topic(broker.bootstrap, "java", 1)
    produce_to(broker, 0, 20, topic="java")
    before = scrape(broker)
    # No --max-messages: the consumer reads on until nothing has come for --timeout-ms,
    # fetching again and again meanwhile.
    p = kafka_tool("kafka-console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", "java",
                   "--partition", 0, "--from-beginning", "--timeout-ms", 3000, check=False)
    values = [line for line in p.stdout.splitlines() if line.startswith("v")]
    assert values == ["v%d" % i for i in range(20)], p.stdout + p.stderr
    after = scrape(broker)
    assert after[FULL] > before.get(FULL, 0)
    assert after[INCREMENTAL] > before.get(INCREMENTAL, 0), "the consumer made no incremental fetch"


def test_followers_use_sessions(cluster):
    _, brokers = cluster
    create(brokers, "replicated", 3, 3)
    produce(brokers, "replicated", 30)
    wait_until(lambda: same_everywhere(brokers, "replicated", 3, 30), what="replicas to agree")
    # Each broker leads a partition and follows the others' leaders: every leader holds its
    # followers' sessions, and serves them incremental fetches.
    wait_until(lambda: all(scrape(b).get(SESSIONS, 0) >= 1 for b in brokers), what="followers' sessions")
    before = sum(scrape(b)[INCREMENTAL] for b in brokers)
    produce(brokers, "replicated", 30, start=30)
    wait_until(lambda: same_everywhere(brokers, "replicated", 3, 60), what="replicas to agree again")
    assert sum(scrape(b)[INCREMENTAL] for b in brokers) > before
