"""SASL_SSL listeners: the TLS handshake (net/tls.h) then the SASL gate of SASL_PLAINTEXT, with
stock clients (confluent-kafka, kcat, Kafka's Java tools) using SCRAM-SHA-512 and PLAIN over
TLS, with PEM certificates made as tls_test.py makes them; the listener's own
listener.name.sasl_ssl.ssl.* and listener.name.sasl_ssl.plain.sasl.jaas.config keys; a wrong
password; and a user created with kafka-configs used over SASL_SSL at once."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import free_port, kcat, wait_until  # noqa: E402
from sasl_test import USERS  # noqa: E402
from tls_test import pki, produce_consume  # noqa: E402,F401 (pki is a fixture)


@pytest.fixture
def sasl_ssl_broker(make_broker, pki):  # noqa: F811
    """A broker with a PLAINTEXT listener (inter-broker, readiness, admin tools) and a
    SASL_SSL one whose certificate and PLAIN users are set for that listener alone."""
    port, sasl_ssl_port = free_port(), free_port()
    users = " ".join(f'user_{u}="{p}"' for u, p in USERS.items())
    b = make_broker(start=False, overrides={
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_ssl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_ssl_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(pki / "broker-bundle.pem"),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
        "tributary.sasl.scram.users": users,
        "num.partitions": 1,
    })
    b.port = port
    b.start()
    b.sasl_ssl_bootstrap = f"127.0.0.1:{sasl_ssl_port}"
    return b


def rdkafka(broker, pki, mechanism, user="alice", password=None):  # noqa: F811
    return {"bootstrap.servers": broker.sasl_ssl_bootstrap, "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(pki / "ca.pem"), "sasl.mechanism": mechanism, "sasl.username": user,
            "sasl.password": USERS.get(user) if password is None else password}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_confluent_kafka_over_sasl_ssl(sasl_ssl_broker, pki, mechanism):  # noqa: F811
    produce_consume(rdkafka(sasl_ssl_broker, pki, mechanism), "sasl-ssl-" + mechanism.lower(), n=100)
    assert sasl_ssl_broker.wait_for_log(f"authenticated as User:alice with SASL/{mechanism} on listener SASL_SSL")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_kcat_over_sasl_ssl(sasl_ssl_broker, pki, mechanism):  # noqa: F811
    conf = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}",
            "-X", f"sasl.mechanism={mechanism}", "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret"]
    topic = "kcat-sasl-ssl-" + mechanism.lower()
    kcat("-b", sasl_ssl_broker.sasl_ssl_bootstrap, *conf, "-P", "-t", topic, input=b"one\ntwo\nthree\n")
    out = kcat("-b", sasl_ssl_broker.sasl_ssl_bootstrap, *conf, "-C", "-t", topic, "-o", "beginning", "-e",
               "-q").stdout
    assert out.split() == [b"one", b"two", b"three"]


@pytest.mark.parametrize("mechanism,module", [
    ("SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule"),
    ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule")])
def test_java_client_over_sasl_ssl(sasl_ssl_broker, pki, tmp_path, mechanism, module):  # noqa: F811
    props = tmp_path / "client.properties"
    props.write_text("security.protocol=SASL_SSL\nssl.truststore.type=PEM\n"
                     f"ssl.truststore.location={pki / 'ca.pem'}\nsasl.mechanism={mechanism}\n"
                     f'sasl.jaas.config={module} required username="alice" password="alice-secret";\n')
    bootstrap = sasl_ssl_broker.sasl_ssl_bootstrap
    topic = "java-sasl-ssl-" + mechanism.lower()
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--command-config", props, "--create",
               "--topic", topic, "--partitions", 2)
    kafka_tool("kafka-console-producer", "--bootstrap-server", bootstrap, "--command-config", props,
               "--topic", topic, input="alpha\nbeta\n")
    out = kafka_tool("kafka-console-consumer", "--bootstrap-server", bootstrap, "--command-config", props,
                     "--topic", topic, "--from-beginning", "--max-messages", 2, "--timeout-ms", 60000).stdout
    assert sorted(line for line in out.splitlines() if line in ("alpha", "beta")) == ["alpha", "beta"], out
    assert sasl_ssl_broker.wait_for_log(f"authenticated as User:alice with SASL/{mechanism} on listener SASL_SSL")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_wrong_password_over_sasl_ssl(sasl_ssl_broker, pki, mechanism):  # noqa: F811
    from confluent_kafka import KafkaError, Producer
    errors = []
    p = Producer({**rdkafka(sasl_ssl_broker, pki, mechanism, password="not-it"), "error_cb": errors.append})
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert "SASL authentication error" in errors[0].str(), errors[0].str()
    assert sasl_ssl_broker.wait_for_log(f"SASL/{mechanism} authentication of 127.0.0.1:")


def test_plain_tls_without_sasl_is_refused(sasl_ssl_broker, pki):  # noqa: F811
    """A client that speaks TLS but not SASL gets nothing past ApiVersions."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    conf = {"bootstrap.servers": sasl_ssl_broker.sasl_ssl_bootstrap, "security.protocol": "SSL",
            "ssl.ca.location": str(pki / "ca.pem")}
    with pytest.raises(KafkaException):
        AdminClient(conf).list_topics(timeout=10)
    assert sasl_ssl_broker.wait_for_log("before SASL authentication")


def test_user_from_kafka_configs_over_sasl_ssl(sasl_ssl_broker, pki):  # noqa: F811
    b = sasl_ssl_broker
    kafka_tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--alter", "--add-config",
               "SCRAM-SHA-256=[iterations=8192,password=hank-secret]", "--entity-type", "users",
               "--entity-name", "hank")
    conf = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}",
            "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=hank", "-X", "sasl.password=hank-secret"]
    kcat("-b", b.sasl_ssl_bootstrap, *conf, "-P", "-t", "hank", input=b"hello\n")
    out = kcat("-b", b.sasl_ssl_bootstrap, *conf, "-C", "-t", "hank", "-o", "beginning", "-e", "-q").stdout
    assert out.split() == [b"hello"]
    bad = subprocess.run(["kcat", "-b", b.sasl_ssl_bootstrap, *conf[:-1], "sasl.password=nope", "-L",
                          "-m", "10"], capture_output=True, timeout=60)
    assert bad.returncode != 0 and b"invalid user credentials" in bad.stderr + bad.stdout, bad


def test_kafkajs_over_sasl_ssl_with_scram(sasl_ssl_broker, pki):  # noqa: F811
    from harness import kafkajs
    security = {"ca": str(pki / "ca.pem"),
                "sasl": {"mechanism": "scram-sha-512", "username": "alice", "password": "alice-secret"}}
    bootstrap = sasl_ssl_broker.sasl_ssl_bootstrap
    assert kafkajs(bootstrap, "create", "js-sasl-ssl", 2, security=security) == {"created": True}
    out = kafkajs(bootstrap, "produce", "js-sasl-ssl", 100, 2, "none", security=security)
    assert all(r["errorCode"] == 0 for send in out["results"] for r in send["partitions"]), out
    offsets = kafkajs(bootstrap, "offsets", "js-sasl-ssl", security=security)["offsets"]
    assert sum(int(o["high"]) for o in offsets) == 100, offsets
    assert sasl_ssl_broker.wait_for_log("authenticated as User:alice with SASL/SCRAM-SHA-512 on listener SASL_SSL")
    bad = {**security, "sasl": {**security["sasl"], "password": "nope"}}
    with pytest.raises(AssertionError, match="exited"):
        kafkajs(bootstrap, "list", security=bad, timeout=60)


def test_brokers_replicate_over_sasl_ssl_with_scram(make_broker, pki, tmp_path):  # noqa: F811
    """Three brokers whose inter-broker listener is SASL_SSL with SCRAM-SHA-512: each logs in
    to the others as `broker` (sasl.mechanism.inter.broker.protocol and the listener's
    ScramLoginModule entry), every ISR fills and acks=all works. Sessions last 1.5 s
    (connections.max.reauth.ms, KIP-368): the brokers' fetchers replace their connections
    before the end and replication goes on, none closed as expired. A fourth broker with a wrong
    password is refused by the others: it stays out of the ISR, the reason in its log."""
    from tls_test import InterBrokerCluster

    def login(password):
        return {"listener.name.internal.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="broker" password="{password}";'}

    settings = {"ssl.keystore.location": str(pki / "broker-bundle.pem"),
                "ssl.truststore.location": str(pki / "ca.pem"),
                "sasl.enabled.mechanisms": "SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                "tributary.sasl.scram.users": 'user_broker="b-secret"', **login("b-secret"),
                "connections.max.reauth.ms": 1500}
    logged_in = "authenticated as User:broker with SASL/SCRAM-SHA-512 on listener INTERNAL"
    with InterBrokerCluster(make_broker, tmp_path, "SASL_SSL", settings) as c:
        c.fill("over-sasl")
        assert c.brokers[0].wait_for_log(logged_in, timeout=10), c.brokers[0].log_tail(3000)
        # Two more sessions of the other brokers' fetchers: they renewed their connections.
        logins = c.brokers[0].log_text().count(logged_in)
        wait_until(lambda: c.brokers[0].log_text().count(logged_in) >= logins + 2, "fetchers' new sessions",
                   timeout=20)
        c.fill("over-sasl-renewed")
        for b in c.brokers:
            assert "expired SASL session" not in b.log_text(), b.log_tail(3000)
        c.misfit(4, "SASL SCRAM-SHA-512 authentication as broker failed", **login("guess"))
