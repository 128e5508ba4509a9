"""Incremental fetch sessions (KIP-227, broker/fetch_session.h), as Apache Kafka answers them:

  test_full_then_incremental       raw Fetch v7 requests: a full fetch opens a session, an
                                   incremental one answers only what changed, forgotten
                                   partitions leave, epochs are checked (71), a session left
                                   empty or closed with epoch -1 is gone (70), errors are
                                   always answered
  test_same_answers_as_apache_kafka  the same requests to Apache Kafka: the same answers
  test_incremental_without_session session id 0 with epoch > 0: FETCH_SESSION_ID_NOT_FOUND
  test_session_from_other_connections  a session found from fresh connections, whichever
                                   core they land on (the id names the session's core)
  test_cache_is_bounded            max.incremental.fetch.session.cache.slots: no room, no
                                   session (id 0), and the client keeps full fetches
  test_java_consumer_uses_sessions kafka-console-consumer reads a topic through incremental
                                   fetches (the broker's session metrics count them)
  test_followers_use_sessions      three brokers, replication factor 3: followers copy the
                                   leaders through incremental sessions
  test_partitions_left_out_still_answer_what_changes  partitions an incremental fetch leaves
                                   out of its reads (nothing new since a read) still answer a
                                   moved log start and new records, and wake a waiting fetch"""
import concurrent.futures
import socket
import struct

from confluent_kafka import Producer
from kafka.protocol.fetch import FetchResponse

from apache_kafka import ApacheKafka, kafka_tool
from cluster_test import create, wait_until
from harness import admin_create_topic, read_response, send_request
from replication_metrics_test import scrape
from replication_test import produce, same_everywhere

API_FETCH = 1
VERSION = 7
NONE, UNKNOWN_TOPIC_OR_PARTITION, FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH = 0, 3, 70, 71
SESSIONS = "kafka_server_fetchsessioncache_numincrementalfetchsessions"
PARTITIONS_CACHED = "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached"
INCREMENTAL = 'tributary_fetch_session_requests_total{kind="incremental"}'
FULL = 'tributary_fetch_session_requests_total{kind="full"}'
WAITING_FETCHES = 'kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation="Fetch"}'

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
        self.log_starts = {}  # partition: log start offset, of the last answer

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
        self.log_starts = {p[0]: p[4] for _, ps in resp.topics for p in ps}
        return resp.error_code, resp.session_id, parts


def produce_to(broker, partition, n, topic="s"):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(topic, b"v%d" % i, partition=partition)
    assert p.flush(30) == 0


class Names:
    """Session ids by order of appearance ('A', 'B', ...; '-' for 0): two servers' answers
    compare though each picks its own ids. ids[name] gives the real one back."""

    def __init__(self):
        self.ids = {"-": 0}

    def name(self, sid):
        for n, i in self.ids.items():
            if i == sid:
                return n
        n = chr(ord("A") + len(self.ids) - 1)
        self.ids[n] = sid
        return n


def session_story(server):
    """Raw Fetch v7 requests through the life of sessions, on `server` (a Broker or
    ApacheKafka with topic "s" of 2 partitions, 3 records in partition 0, nothing else):
    [(step, (error, session, {partition: (error, high watermark, whether records came)}))]."""
    names = Names()
    c = Client(server)
    story = []

    def step(what, sid_name, epoch, partitions=(), forgotten=(), **kw):
        err, sid, parts = c.fetch(names.ids[sid_name], epoch, partitions, forgotten, **kw)
        story.append((what, (err, names.name(sid), {p: (e, hw, n > 0) for p, (e, hw, n) in parts.items()})))

    try:
        step("full fetch opens a session", "-", 0, [(0, 0), (1, 0)])
        step("nothing new: no partition", "A", 1, [(0, 3)])
        produce_to(server, 1, 2)
        step("records on 1: 1 alone", "A", 2, max_wait=5000, min_bytes=1)
        step("the same epoch again", "A", 2)
        step("an epoch ahead", "A", 9)
        step("at its epoch still", "A", 3, [(1, 2)])
        produce_to(server, 0, 1)
        step("forget 0: its records don't come", "A", 4, forgotten=[0])
        step("forget the last: closed", "A", 5, forgotten=[1])
        step("closed: not found", "A", 6)
        step("another session", "-", 0, [(0, 0)])
        step("epoch -1 closes it, answers in full", "B", -1, [(0, 0)])
        step("closed by epoch -1: not found", "B", 1)
        step("a third session", "-", 0, [(0, 4)])
        step("a full fetch naming it replaces it", "C", 0, [(0, 4)])
        step("replaced: not found", "C", 1)
        step("the new one lives", "D", 1)
        step("no session id, epoch 1", "-", 1, [(0, 0)])
        step("a session of an unknown topic", "-", 0, [(0, 0)], topic="nope")
        step("its error again, unasked", "E", 1, topic="nope")
    finally:
        c.close()
    return story


EXPECTED_STORY = [
    ("full fetch opens a session", (NONE, "A", {0: (NONE, 3, True), 1: (NONE, 0, False)})),
    ("nothing new: no partition", (NONE, "A", {})),
    ("records on 1: 1 alone", (NONE, "A", {1: (NONE, 2, True)})),
    ("the same epoch again", (INVALID_FETCH_SESSION_EPOCH, "-", {})),
    ("an epoch ahead", (INVALID_FETCH_SESSION_EPOCH, "-", {})),
    ("at its epoch still", (NONE, "A", {})),
    ("forget 0: its records don't come", (NONE, "A", {})),
    ("forget the last: closed", (NONE, "-", {})),
    ("closed: not found", (FETCH_SESSION_ID_NOT_FOUND, "-", {})),
    ("another session", (NONE, "B", {0: (NONE, 4, True)})),
    ("epoch -1 closes it, answers in full", (NONE, "-", {0: (NONE, 4, True)})),
    ("closed by epoch -1: not found", (FETCH_SESSION_ID_NOT_FOUND, "-", {})),
    ("a third session", (NONE, "C", {0: (NONE, 4, False)})),
    ("a full fetch naming it replaces it", (NONE, "D", {0: (NONE, 4, False)})),
    ("replaced: not found", (FETCH_SESSION_ID_NOT_FOUND, "-", {})),
    ("the new one lives", (NONE, "D", {})),
    ("no session id, epoch 1", (FETCH_SESSION_ID_NOT_FOUND, "-", {})),
    ("a session of an unknown topic", (NONE, "E", {0: (UNKNOWN_TOPIC_OR_PARTITION, -1, False)})),
    ("its error again, unasked", (NONE, "E", {0: (UNKNOWN_TOPIC_OR_PARTITION, -1, False)})),
]


def prepare(server):
    admin_create_topic(server.bootstrap, "s", 2)
    produce_to(server, 0, 3)


def test_full_then_incremental(make_broker):
    broker = make_broker(overrides=WITH_METRICS)
    prepare(broker)
    assert session_story(broker) == EXPECTED_STORY
    # Sessions D (partition 0) and E (one of topic "nope") are left.
    m = scrape(broker)
    assert m[SESSIONS] == 2 and m[PARTITIONS_CACHED] == 2


def test_same_answers_as_apache_kafka(tmp_path):
    """The story above, told to Apache Kafka 4.4: the same answers."""
    kafka = ApacheKafka(tmp_path / "apache-kafka")
    try:
        kafka.start()
        prepare(kafka)
        assert session_story(kafka) == EXPECTED_STORY
    finally:
        rc = kafka.stop()
        print(f"\n===== Apache Kafka server.log (exit {rc}) =====\n{kafka.server_log_tail(8000)}")


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
    # fetching again and again meanwhile (and it ends that way, with a TimeoutException).
    # The time also covers its start on a busy machine before the first records come.
    p = kafka_tool("kafka-console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", "java",
                   "--partition", 0, "--from-beginning", "--timeout-ms", 10000, check=False)
    values = [line for line in p.stdout.splitlines() if line.startswith("v")]
    assert values == ["v%d" % i for i in range(20)], p.stdout + p.stderr
    after = scrape(broker)
    assert after[FULL] > before.get(FULL, 0)
    assert after[INCREMENTAL] > before.get(INCREMENTAL, 0), "the consumer made no incremental fetch"
    # It closed its session as it stopped (epoch -1).
    assert after[SESSIONS] == 0


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


def delete_records(broker, topic, partition, offset):
    """DeleteRecords v0 of one partition, written here (kafka-python has no such request):
    (error, low watermark)."""
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">iiqi", 1, partition, offset, 10000)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=30) as sock:
        send_request(sock, 21, 0, 1, body)
        _, resp = read_response(sock)
    # throttle time, 1 topic, its name, 1 partition: (partition, low watermark, error)
    (name_len,) = struct.unpack_from(">h", resp, 8)
    _, low, err = struct.unpack_from(">iqh", resp, 8 + 2 + name_len + 4)
    return err, low


def test_partitions_left_out_still_answer_what_changes(make_broker):
    broker = make_broker(overrides=WITH_METRICS)
    admin_create_topic(broker.bootstrap, "s", 2)
    produce_to(broker, 0, 3)
    produce_to(broker, 1, 3)
    c = Client(broker)
    try:
        err, sid, parts = c.fetch(0, 0, [(0, 3), (1, 3)])
        assert (err, parts) == (NONE, {0: (NONE, 3, 0), 1: (NONE, 3, 0)}) and sid != 0
        # Both read to their end: from here on the session leaves them out of its reads
        # until they change.
        assert c.fetch(sid, 1) == (NONE, sid, {})
        assert delete_records(broker, "s", 0, 2) == (NONE, 2)
        assert c.fetch(sid, 2) == (NONE, sid, {0: (NONE, 3, 0)}), "the moved log start is news"
        assert c.log_starts == {0: 2}
        assert c.fetch(sid, 3) == (NONE, sid, {})

        # A fetch that waits on nothing but partitions it left out: records on one of them
        # wake it. Its max wait (120 s) is past the socket's timeout (30 s), so only the wake
        # answers it in time.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(c.fetch, sid, 4, max_wait=120000, min_bytes=1)
            wait_until(lambda: scrape(broker).get(WAITING_FETCHES) == 1, what="the fetch to wait")
            produce_to(broker, 1, 1)  # one record: the fetch answers the first that comes
            err, got, parts = waiting.result()
        assert (err, got, set(parts)) == (NONE, sid, {1})
        assert parts[1][:2] == (NONE, 4) and parts[1][2] > 0
    finally:
        c.close()
    assert scrape(broker)[WAITING_FETCHES] == 0
