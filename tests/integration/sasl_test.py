"""SASL on a SASL_PLAINTEXT listener: PLAIN and SCRAM-SHA-256/512 with stock clients
(confluent-kafka, kcat, Apache Kafka's Java tools), wrong passwords, and requests sent before
authenticating. Each broker has a PLAINTEXT listener too (brokers reach each other over it and
the harness checks readiness on it) and a SASL_PLAINTEXT one the tests use.

SCRAM users come from tributary.sasl.scram.users here; credentials in the metadata log
(AlterUserScramCredentials, kafka-configs --entity-type users) are tested in
scram_users_test.py, SASL over TLS in sasl_ssl_test.py.
"""
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import broker_binary, free_port, kcat, read_response, send_request  # noqa: E402

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def sasl_overrides(port, sasl_port):
    jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required " +
            " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        "tributary.sasl.scram.users": " ".join(f'user_{u}="{p}"' for u, p in USERS.items()),
    }


@pytest.fixture
def sasl_broker(make_broker):
    b = make_broker(start=False)
    b.port = free_port()
    b.sasl_port = free_port()
    b.overrides.update(sasl_overrides(b.port, b.sasl_port))
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{b.sasl_port}"
    return b


def client_config(broker, mechanism, user="alice", password=None):
    return {"bootstrap.servers": broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user,
            "sasl.password": USERS[user] if password is None else password}


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka_produces_and_consumes(sasl_broker, mechanism):
    from confluent_kafka import Consumer, Producer
    topic = "sasl-" + mechanism.lower()
    p = Producer({**client_config(sasl_broker, mechanism), "linger.ms": 5})
    for i in range(100):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(30) == 0
    c = Consumer({**client_config(sasl_broker, mechanism, user="bob"), "group.id": "g-" + topic,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 100 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert sorted(got) == sorted(b"v%d" % i for i in range(100))
    assert sasl_broker.wait_for_log(f"authenticated as User:alice with SASL/{mechanism}")
    assert sasl_broker.wait_for_log(f"authenticated as User:bob with SASL/{mechanism}")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kcat_produces_and_consumes(sasl_broker, mechanism):
    sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mechanism}",
            "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    kcat("-b", sasl_broker.sasl_bootstrap, *sasl, "-P", "-t", "kcat-sasl", input=b"one\ntwo\nthree\n")
    out = kcat("-b", sasl_broker.sasl_bootstrap, *sasl, "-C", "-t", "kcat-sasl", "-o", "beginning", "-e",
               "-q").stdout
    assert out.split() == [b"one", b"two", b"three"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_is_an_authentication_error(sasl_broker, mechanism):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    admin = AdminClient(client_config(sasl_broker, mechanism, password="not-the-secret"))
    with pytest.raises(KafkaException) as e:
        admin.list_topics(timeout=15)
    err = e.value.args[0]
    assert err.code() in (KafkaError._AUTHENTICATION, KafkaError._TRANSPORT), err
    # librdkafka reports the broker's message through its error callback; the broker logs why.
    assert sasl_broker.wait_for_log(f"SASL/{mechanism} authentication of 127.0.0.1:")
    assert sasl_broker.wait_for_log("authentication failed: invalid")


def test_authentication_error_reaches_the_client(sasl_broker):
    from confluent_kafka import KafkaError, Producer
    errors = []
    p = Producer({**client_config(sasl_broker, "SCRAM-SHA-256", password="nope"), "error_cb": errors.append})
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert errors, "no error reported"
    assert errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert "SASL authentication error" in errors[0].str() and "invalid user credentials" in errors[0].str()


def test_request_before_authentication_closes_the_connection(sasl_broker):
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        send_request(s, 18, 0, 1, b"")  # ApiVersions v0 is allowed first
        assert read_response(s)
        send_request(s, 3, 1, 2, struct.pack(">i", -1))  # Metadata v1, all topics
        assert s.recv(1) == b""  # closed without an answer
    assert sasl_broker.wait_for_log("Metadata request (correlation id 2) before SASL authentication")


def test_plaintext_listener_needs_no_authentication(sasl_broker):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": sasl_broker.bootstrap}).list_topics(timeout=15)
    assert 1 in md.brokers


def test_unsupported_mechanism_is_refused(sasl_broker):
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        mech = b"GSSAPI"
        send_request(s, 17, 1, 1, struct.pack(">h", len(mech)) + mech)  # SaslHandshake v1
        corr, body = read_response(s)
        err, n = struct.unpack(">hi", body[:6])  # error code, [mechanisms]
        assert (corr, err, n) == (1, 33, 3)  # UNSUPPORTED_SASL_MECHANISM, with the enabled ones
        assert s.recv(1) == b""


def test_java_client_with_scram(sasl_broker, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     'username="alice" password="alice-secret";\n')
    kafka_tool("kafka-topics", "--bootstrap-server", sasl_broker.sasl_bootstrap, "--command-config", props,
               "--create", "--topic", "java-scram", "--partitions", 2)
    out = kafka_tool("kafka-topics", "--bootstrap-server", sasl_broker.sasl_bootstrap, "--command-config", props,
                     "--list").stdout
    assert "java-scram" in out.split()
    kafka_tool("kafka-console-producer", "--bootstrap-server", sasl_broker.sasl_bootstrap,
               "--producer.config", props, "--topic", "java-scram", input="a\nb\n")
    out = kafka_tool("kafka-console-consumer", "--bootstrap-server", sasl_broker.sasl_bootstrap,
                     "--consumer.config", props, "--topic", "java-scram", "--from-beginning",
                     "--max-messages", 2, "--timeout-ms", 60000).stdout
    # Kafka 4's tools may print a deprecation notice for --consumer.config on stdout too.
    assert sorted(line for line in out.splitlines() if len(line) == 1) == ["a", "b"]


def start_fails(tmp_path, *overrides):
    args = [broker_binary(), "--override", f"log.dirs={tmp_path}"]
    for o in overrides:
        args += ["--override", o]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    p = subprocess.run(args, capture_output=True, timeout=30, env=env)
    assert p.returncode == 2, p
    return p.stderr.decode()


def test_bad_sasl_configurations_stop_start_up(tmp_path):
    port, sasl_port = free_port(), free_port()
    listeners = f"listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    err = start_fails(tmp_path, listeners)  # Kafka's default mechanism, GSSAPI
    assert "GSSAPI (Kerberos) is not supported" in err, err
    err = start_fails(tmp_path, listeners, "sasl.enabled.mechanisms=PLAIN")
    assert "listener.name.sasl_plaintext.plain.sasl.jaas.config" in err, err
    err = start_fails(tmp_path, listeners, "sasl.enabled.mechanisms=PLAIN",
                      "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                      "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\"")
    assert "missing ';'" in err, err
    # A SASL inter-broker listener: the broker's own login must be there (Kafka's default
    # mechanism for it, GSSAPI, is not served).
    plain_users = ("listener.name.sasl_plaintext.plain.sasl.jaas.config="
                   "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\";")
    err = start_fails(tmp_path, listeners, "sasl.enabled.mechanisms=PLAIN", plain_users,
                      "inter.broker.listener.name=SASL_PLAINTEXT")
    assert "sasl.mechanism.inter.broker.protocol: GSSAPI is not enabled" in err, err
    err = start_fails(tmp_path, listeners, "sasl.enabled.mechanisms=PLAIN", plain_users,
                      "inter.broker.listener.name=SASL_PLAINTEXT", "sasl.mechanism.inter.broker.protocol=PLAIN")
    assert "needs username" in err, err
