"""The controller listener secured (coordinator_config.h, net/client_security.h): three
coordinators whose CONTROLLER listener is SASL_SSL with client certificates required (mTLS) and
SASL/PLAIN, reaching each other over it for Raft, and two brokers reaching them over it with
their own certificate and login. A stock client (confluent-kafka) creates a topic, produces and
consumes; the active coordinator is killed and the one elected over TLS creates a topic; a
broker with a wrong password, one with a certificate from another CA and one speaking
plaintext never register, and the coordinators and the broker log why. Apart, a coordinator
whose SASL_PLAINTEXT listener bounds sessions (connections.max.reauth.ms, KIP-368, the broker's
session rules in net/sasl_session.h): a raw client is told the lifetime and closed after it,
while a broker keeps working across several lifetimes, logging in again each time."""
import socket
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Broker, Coordinator, CoordinatorQuorum, connection_closed, send_request, wait_until  # noqa: E402
from reauth_test import authenticate, handshake  # noqa: E402 (the raw SASL requests)
from tls_test import pki, produce_consume  # noqa: E402,F401 (pki is a fixture)

JAAS_USERS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="controller" password="c-secret" user_controller="c-secret" user_broker="b-secret";')


def broker_jaas(password):
    return ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            f'username="broker" password="{password}";')


def controller_overrides(pki):  # noqa: F811
    return {
        "listener.security.protocol.map": "CONTROLLER:SASL_SSL",
        "controller.listener.names": "CONTROLLER",
        "listener.name.controller.ssl.keystore.location": str(pki / "broker-bundle.pem"),
        "listener.name.controller.ssl.truststore.location": str(pki / "ca.pem"),
        "listener.name.controller.ssl.client.auth": "required",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": JAAS_USERS,
        "broker.session.timeout.ms": 6000, "broker.heartbeat.interval.ms": 500,
    }


def broker_overrides(quorum, pki, password="b-secret", keystore="client-bundle.pem", protocol="SASL_SSL"):  # noqa: F811
    return {
        "controller.quorum.voters": quorum.voters,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,CONTROLLER:{protocol}",
        "listener.name.controller.ssl.keystore.location": str(pki / keystore),
        "listener.name.controller.ssl.truststore.location": str(pki / "ca.pem"),
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": broker_jaas(password),
        "num.partitions": 1, "default.replication.factor": 2, "offsets.topic.replication.factor": 2,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pki):  # noqa: F811
    root = tmp_path_factory.mktemp("coordinator-tls")
    quorum = CoordinatorQuorum(root, 3, controller_overrides(pki))
    brokers = []
    try:
        quorum.start()
        quorum.leader(timeout=30)
        for i in (1, 2):
            brokers.append(Broker(root / f"broker-{i}", node_id=i, overrides=broker_overrides(quorum, pki)).start())
        yield quorum, brokers, root
    finally:
        for b in brokers:
            b.stop()
        for m in quorum.members:
            m.stop()


def bootstrap(brokers):
    return ",".join(b.bootstrap for b in brokers if b.alive())


def create(brokers, name):
    admin = AdminClient({"bootstrap.servers": bootstrap(brokers)})
    admin.create_topics([NewTopic(name, 1, 2)], operation_timeout=20)[name].result(timeout=30)


def test_clients_work_through_brokers_of_a_secured_quorum(cluster):
    quorum, brokers, _ = cluster
    create(brokers, "secured")
    produce_consume({"bootstrap.servers": bootstrap(brokers)}, "secured", n=50)
    # The coordinators logged each broker's login on the controller listener.
    logs = "".join(m.log_text() for m in quorum.members)
    assert "authenticated as User:broker with SASL/PLAIN on listener CONTROLLER" in logs
    assert "authenticated as User:controller with SASL/PLAIN on listener CONTROLLER" in logs


def test_a_new_leader_is_elected_over_tls_after_a_kill(cluster):
    quorum, brokers, _ = cluster
    old = quorum.leader(timeout=30)
    old.kill()
    try:
        new = quorum.leader(timeout=30, among=[m for m in quorum.members if m is not old])
        assert new is not old
        # The new leader decides: a topic is created through it.
        wait_until(lambda: _created(brokers, "after-failover"), "a topic created after the failover", timeout=30)
    finally:
        old.start()


def _created(brokers, name):
    try:
        create(brokers, name)
        return True
    except Exception as e:  # noqa: BLE001 (any refusal while the quorum settles: try again)
        return "TOPIC_ALREADY_EXISTS" in str(e)


@pytest.mark.parametrize("case,overrides,broker_says,coordinator_says", [
    # the coordinators know no such password
    ("wrong-password", {"password": "nope"}, "invalid username or password", "SASL/PLAIN authentication of"),
    # the broker's certificate comes from a CA the coordinators don't trust (mTLS required)
    ("other-ca", {"keystore": "other-client-bundle.pem"}, "unknown ca", "TLS handshake with"),
    # a broker that does not speak TLS to the SASL_SSL listener
    ("plaintext", {"protocol": "SASL_PLAINTEXT"}, "SASL_PLAINTEXT controller listener CONTROLLER",
     "TLS handshake with"),
])
def test_a_broker_that_cannot_log_in_never_registers(cluster, pki, case, overrides, broker_says,  # noqa: F811
                                                     coordinator_says):
    quorum, brokers, root = cluster
    since = [len(m.log_text()) for m in quorum.members]
    b = Broker(root / f"broker-bad-{case}", node_id=9, overrides=broker_overrides(quorum, pki, **overrides))
    b.port = _free()
    b.root.mkdir(parents=True, exist_ok=True)
    try:
        assert not _spawn_without_waiting(b)
        wait_until(lambda: "controller listener CONTROLLER" in b.log_text(), "the broker says why", timeout=20)
        text = b.log_text()
        assert broker_says in text, text[-3000:]
        # The coordinators refused it and logged why; none registered broker 9.
        wait_until(lambda: any(coordinator_says in m.log_text()[s:] for m, s in zip(quorum.members, since)),
                   f"a coordinator logging '{coordinator_says}'", timeout=20)
        metadata = AdminClient({"bootstrap.servers": bootstrap(brokers)}).list_topics(timeout=10)
        assert 9 not in metadata.brokers
    finally:
        b.kill()


def _free():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _spawn_without_waiting(b):
    """Starts the broker process without the harness's readiness wait (it never becomes
    ready); False while it runs."""
    args = [__import__("harness").broker_binary(),
            "--override", f"node.id={b.node_id}",
            "--override", f"listeners=PLAINTEXT://127.0.0.1:{b.port}",
            "--override", f"log.dirs={b.data_dir}"]
    for k, v in b.overrides.items():
        args += ["--override", f"{k}={v}"]
    b._spawn(args)
    return b.proc.poll() is not None


def test_a_coordinator_with_connections_max_reauth_ms_ends_sessions(tmp_path):
    lifetime_ms = 1500
    sasl = {"listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "sasl.mechanism.controller.protocol": "PLAIN"}
    coord = Coordinator(tmp_path / "coordinator", {
        **sasl, "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": JAAS_USERS,
        "listener.name.controller.plain.connections.max.reauth.ms": lifetime_ms,
        "broker.session.timeout.ms": 6000, "broker.heartbeat.interval.ms": 500}).start()
    b = None
    try:
        b = Broker(tmp_path / "broker", overrides={
            **sasl, "controller.quorum.voters": coord.voters,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "listener.name.controller.plain.sasl.jaas.config": broker_jaas("b-secret"),
            "num.partitions": 1, "default.replication.factor": 1, "offsets.topic.replication.factor": 1}).start()
        # A raw client is told the lifetime; past it, any request but a re-authentication's
        # SaslHandshake closes the connection.
        with socket.create_connection(("127.0.0.1", coord.port), timeout=10) as raw:
            assert handshake(raw, "PLAIN", 1) == 0
            err, message, told = authenticate(raw, "broker", "b-secret", 2)
            assert (err, told) == (0, lifetime_ms), message
            wait_until(lambda: "expired SASL session of User:broker: ApiVersions request (correlation id 3)" in
                       _expire(raw, coord),
                       "the coordinator closing the expired session", timeout=10)
            assert connection_closed(raw)
        # The broker's connections to the coordinator are replaced before their sessions end:
        # it logs in again and again and keeps serving clients.
        logins = "authenticated as User:broker with SASL/PLAIN on listener CONTROLLER; session lifetime 1500 ms"
        wait_until(lambda: coord.log_text().count(logins) >= 4, "the broker logging in across several lifetimes",
                   timeout=30)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("bounded-sessions", 1, 1)], operation_timeout=20)["bounded-sessions"].result(
            timeout=30)
        produce_consume({"bootstrap.servers": b.bootstrap}, "bounded-sessions", n=10)
    finally:
        if b:
            b.stop()
        coord.stop()


def _expire(raw, coord):
    """Sends ApiVersions on `raw` (refused once its session has ended) and returns the
    coordinator's log."""
    try:
        send_request(raw, 18, 0, 3, b"")
    except OSError:
        pass
    return coord.log_text()
