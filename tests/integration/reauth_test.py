"""SASL re-authentication (KIP-368) with connections.max.reauth.ms=2000: one coordinator and
one broker for the module, with a PLAINTEXT listener (the harness, kafka-configs) and a
SASL_PLAINTEXT one (PLAIN, SCRAM-SHA-256/512; static users and users in the metadata log).

Checked: librdkafka (confluent-kafka from PyPI) and the Java client (Kafka's tools) keep
producing and consuming across several session lifetimes while the broker counts their
re-authentications; a raw client that does not re-authenticate is told its lifetime and closed
at its first request after it (v0 too, which is not told); a re-authentication as another user
or with another mechanism is refused and closes the connection; a client still using a SCRAM
password changed with kafka-configs loses its connection at its next re-authentication.
"""
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import KAFKA_LAUNCHER, kafka_tool  # noqa: E402
from harness import connection_closed, free_port, read_response, send_request, start_sasl_broker, wait_until  # noqa: E402

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
LIFETIME_MS = 2000
LISTENER = "SASL_PLAINTEXT"
# Kafka's error codes.
ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 34, 58
SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 17, 36, 3


class Cluster:
    def __init__(self, broker, sasl_port, http_port):
        self.broker, self.sasl_port, self.http_port = broker, sasl_port, http_port
        self.sasl_bootstrap = f"127.0.0.1:{sasl_port}"

    def counter(self, name):
        """tributary_<name>_total of the SASL listener (0 before the first event)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        m = re.search(rf'^tributary_{name}_total{{listener="{LISTENER}"}} (\S+)$', text, re.M)
        return int(float(m.group(1))) if m else 0

    def conf(self, mechanism, user, password=None, **extra):
        return {"bootstrap.servers": self.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": mechanism, "sasl.username": user,
                "sasl.password": USERS[user] if password is None else password, **extra}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("reauth")
    http_port = free_port()
    jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required " +
            " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
    coord, b, sasl_port = start_sasl_broker(root, {
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        "tributary.sasl.scram.users": " ".join(f'user_{u}="{p}"' for u, p in USERS.items()),
        # the broker-wide key off, the listener's mechanisms each with their own
        "connections.max.reauth.ms": 0,
        **{f"listener.name.sasl_plaintext.{m}.connections.max.reauth.ms": LIFETIME_MS
           for m in ("plain", "scram-sha-256", "scram-sha-512")},
        "tributary.http.listener": f"127.0.0.1:{http_port}",
        "group.initial.rebalance.delay.ms": 0,
    })
    try:
        yield Cluster(b, sasl_port, http_port)
    finally:
        rc = b.stop()
        coord.stop()
        print(f"\n===== tributary log {b.log_path} (exit {rc}) =====\n{b.log_tail(8000)}")


# --- a raw client --------------------------------------------------------------------------

def string16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def handshake(sock, mechanism, corr):
    send_request(sock, SASL_HANDSHAKE, 1, corr, string16(mechanism))
    got, body = read_response(sock)
    assert got == corr
    return struct.unpack(">h", body[:2])[0]


def authenticate(sock, user, password, corr, version=1):
    """PLAIN in one SaslAuthenticate: (error code, error message, session lifetime or None for v0)."""
    token = f"\0{user}\0{password}".encode()
    send_request(sock, SASL_AUTHENTICATE, version, corr, struct.pack(">i", len(token)) + token)
    got, body = read_response(sock)
    assert got == corr
    err, = struct.unpack(">h", body[:2])
    n, = struct.unpack(">h", body[2:4])
    message = None if n < 0 else body[4:4 + n].decode()
    rest = body[4 + max(n, 0):]
    auth_len, = struct.unpack(">i", rest[:4])
    rest = rest[4 + max(auth_len, 0):]
    lifetime = struct.unpack(">q", rest[:8])[0] if version >= 1 else None
    return err, message, lifetime


def metadata_ok(sock, corr):
    send_request(sock, METADATA, 1, corr, struct.pack(">i", 0))  # Metadata v1, no topics
    got, _ = read_response(sock)
    return got == corr


def raw_login(cluster, user="alice", version=1):
    """A connection authenticated as `user`: (socket, a time at or before the broker's start of
    the session, the lifetime told)."""
    s = socket.create_connection(("127.0.0.1", cluster.sasl_port), timeout=10)
    assert handshake(s, "PLAIN", 1) == 0
    before = time.monotonic()
    err, message, lifetime = authenticate(s, user, USERS[user], 2, version)
    assert err == 0, message
    return s, before, lifetime


def closed_on_next_request(sock, corr):
    """Sends Metadata; True when the broker closed the connection instead of answering."""
    try:
        send_request(sock, METADATA, 1, corr, struct.pack(">i", 0))
        got, _ = read_response(sock)
        return False
    except (ConnectionError, OSError, EOFError):
        return True


@pytest.mark.parametrize("version", [1, 0])
def test_a_client_that_does_not_reauthenticate_is_closed_after_its_lifetime(cluster, version):
    killed = cluster.counter("expired_connections_killed")
    no_reauth = cluster.counter("successful_authentication_no_reauth")
    log_at = len(cluster.broker.log_text())
    s, authenticated_at, lifetime = raw_login(cluster, version=version)
    with s:
        # v1+ is told the lifetime; v0 has no field for it and is closed all the same (Kafka).
        assert lifetime == (LIFETIME_MS if version >= 1 else None)
        assert metadata_ok(s, 3)
        corr = [10]

        def closed():
            corr[0] += 1
            return closed_on_next_request(s, corr[0])
        wait_until(closed, "the broker closing the expired session", timeout=10)
        assert time.monotonic() - authenticated_at >= LIFETIME_MS / 1000
    assert cluster.counter("expired_connections_killed") == killed + 1
    assert cluster.counter("successful_authentication_no_reauth") == no_reauth + (1 if version == 0 else 0)
    assert cluster.broker.wait_for_log("expired SASL session of User:alice: Metadata request", since=log_at)


@pytest.mark.parametrize("mechanism, user, told", [
    ("PLAIN", "bob", ("User:bob", "User:alice")),                  # another principal
    ("SCRAM-SHA-256", "alice", ("PLAIN", "SCRAM-SHA-256")),        # another mechanism: as Kafka, the
])                                                                 # handshake answered, the next refused
def test_a_reauthentication_must_keep_the_principal_and_mechanism(cluster, mechanism, user, told):
    failed = cluster.counter("failed_reauthentication")
    s, _, _ = raw_login(cluster, "alice")
    with s:
        assert handshake(s, mechanism, 3) == 0
        err, message, _ = authenticate(s, user, USERS[user], 4)
        assert err == SASL_AUTHENTICATION_FAILED
        assert all(t in message for t in told), message
        assert connection_closed(s)
    assert cluster.counter("failed_reauthentication") == failed + 1


def test_a_raw_reauthentication_renews_the_session(cluster):
    ok = cluster.counter("successful_reauthentication")
    s, first, _ = raw_login(cluster, "alice")
    with s:
        corr = [10]

        def served_until(t):
            corr[0] += 1
            assert metadata_ok(s, corr[0]), "the session ended early"
            return time.monotonic() >= t
        # Half-way through the session, re-authenticate: a new lifetime from now.
        wait_until(lambda: served_until(first + LIFETIME_MS / 2000), "half the session", timeout=10)
        assert handshake(s, "PLAIN", 3) == 0
        err, message, lifetime = authenticate(s, "alice", USERS["alice"], 4)
        assert (err, lifetime) == (0, LIFETIME_MS), message
        renewed = time.monotonic()
        assert cluster.counter("successful_reauthentication") == ok + 1
        # Another within a second of the last is not a re-authentication (Kafka's rule):
        # ILLEGAL_SASL_STATE, the connection kept.
        assert handshake(s, "PLAIN", 5) == ILLEGAL_SASL_STATE
        # Past the first session's end the renewed one serves.
        wait_until(lambda: served_until(first + LIFETIME_MS / 1000 + 0.3), "the first session's end", timeout=10)
        assert time.monotonic() - renewed < LIFETIME_MS / 1000, "too slow to show the renewal"


# --- stock clients -------------------------------------------------------------------------

def test_librdkafka_produces_and_consumes_across_lifetimes(cluster):
    from confluent_kafka import Consumer, Producer
    topic = "reauth-rdkafka"
    errors = []
    start = cluster.counter("successful_reauthentication")
    killed = cluster.counter("expired_connections_killed")
    p = Producer(cluster.conf("SCRAM-SHA-512", "alice", **{"linger.ms": 5, "error_cb": errors.append}))
    c = Consumer(cluster.conf("SCRAM-SHA-256", "bob", **{
        "group.id": "reauth-g", "auto.offset.reset": "earliest", "error_cb": errors.append}))
    c.subscribe([topic])
    sent, got, failed = 0, [], []

    def step():
        nonlocal sent
        p.produce(topic, b"v%d" % sent, on_delivery=lambda err, msg: failed.append(err) if err else None)
        sent += 1
        p.poll(0)
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append(m.value())
        # Three lifetimes: each of the clients' connections (producer, consumer, its group
        # coordinator) re-authenticated more than once.
        return cluster.counter("successful_reauthentication") >= start + 6
    def consumed_all():
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value())
        return len(got) >= sent
    try:
        wait_until(step, "re-authentications of librdkafka's connections", timeout=30)
        assert p.flush(15) == 0
        wait_until(consumed_all, "every record consumed", timeout=20)
    finally:
        c.close()
    assert not failed and not errors, (failed, errors)
    assert sorted(got) == sorted(b"v%d" % i for i in range(sent))
    assert cluster.counter("expired_connections_killed") == killed


def test_java_client_produces_and_consumes_across_lifetimes(cluster, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     'username="bob" password="bob-secret";\n')
    topic = "reauth-java"
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.sasl_bootstrap, "--command-config", props,
               "--create", "--topic", topic, "--partitions", 1)
    start = cluster.counter("successful_reauthentication")
    killed = cluster.counter("expired_connections_killed")
    # The records go in one at a time, through the console producer's stdin, until the broker
    # has counted re-authentications over more than two lifetimes: a rate-limited tool (such as
    # kafka-producer-perf-test) catches up in one burst after a slow start, and then may finish
    # within one lifetime. The consumer reads on until it has every record, then gets SIGTERM.
    consumer_err, producer_log = tmp_path / "consumer.err", tmp_path / "producer.log"
    with open(consumer_err, "w") as cerr, open(producer_log, "w") as plog:
        consumer = subprocess.Popen(
            [str(KAFKA_LAUNCHER), "kafka-console-consumer", "--bootstrap-server", cluster.sasl_bootstrap,
             "--command-config", str(props), "--topic", topic, "--from-beginning"],
            stdout=subprocess.PIPE, stderr=cerr, text=True)
        producer = subprocess.Popen(
            [str(KAFKA_LAUNCHER), "kafka-console-producer", "--bootstrap-server", cluster.sasl_bootstrap,
             "--command-config", str(props), "--topic", topic, "--command-property", "acks=all"],
            stdin=subprocess.PIPE, stdout=plog, stderr=subprocess.STDOUT, text=True)
        got = []

        def read():
            for line in consumer.stdout:
                got.append(line.strip())
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        sent = 0

        def step():
            nonlocal sent
            producer.stdin.write(f"v{sent}\n")
            producer.stdin.flush()
            sent += 1
            return cluster.counter("successful_reauthentication") >= start + 2
        try:
            wait_until(step, "re-authentications of the Java clients' connections", timeout=60)
            producer.stdin.close()
            assert producer.wait(timeout=60) == 0, producer_log.read_text()[-4000:]
            wait_until(lambda: len(got) >= sent, "every record consumed", timeout=60,
                       describe=lambda: f"{len(got)} of {sent}")
            consumer.terminate()
            consumer.wait(timeout=30)
        finally:
            for proc in (producer, consumer):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        reader.join(timeout=10)
    assert sorted(got) == sorted(f"v{i}" for i in range(sent)), producer_log.read_text()[-4000:]
    assert f"Processed a total of {sent} messages" in consumer_err.read_text(), consumer_err.read_text()[-4000:]
    assert cluster.counter("expired_connections_killed") == killed


def test_changed_scram_password_ends_the_connection_at_its_next_reauthentication(cluster):
    from confluent_kafka import KafkaError, Producer

    def configs(*args):
        return kafka_tool("kafka-configs", "--bootstrap-server", cluster.broker.bootstrap, "--entity-type", "users",
                          "--entity-name", "carol", "--alter", *args).stdout
    configs("--add-config", "SCRAM-SHA-256=[iterations=4096,password=carol-old]")
    errors, failed = [], []
    p = Producer(cluster.conf("SCRAM-SHA-256", "carol", "carol-old", **{
        "linger.ms": 5, "error_cb": errors.append, "message.timeout.ms": 5000}))
    topic = "reauth-carol"
    ok = cluster.counter("successful_reauthentication")

    def produce_until(done, what):
        def step():
            p.produce(topic, b"x", on_delivery=lambda err, msg: failed.append(err) if err else None)
            p.poll(0.1)
            return done()
        wait_until(step, what, timeout=20)
    # Re-authenticated with the old password while it is valid.
    produce_until(lambda: cluster.counter("successful_reauthentication") > ok, "carol's re-authentication")
    assert p.flush(10) == 0 and not failed and not errors, (failed, errors)

    refused = cluster.counter("failed_reauthentication")
    log_at = len(cluster.broker.log_text())
    configs("--add-config", "SCRAM-SHA-256=[iterations=4096,password=carol-new]")
    produce_until(lambda: cluster.counter("failed_reauthentication") > refused, "carol's refused re-authentication")
    assert cluster.broker.wait_for_log("SASL/SCRAM-SHA-256 re-authentication of 127.0.0.1:", since=log_at)
    # The client hears why and can't come back with the old password.
    wait_until(lambda: p.poll(0.2) is not None and any(e.code() == KafkaError._AUTHENTICATION for e in errors),
               "an authentication error at the client", timeout=20)
    p.purge()
