"""The coordinator's authorizer (coordinator/authorization.h): three coordinators with Kafka's
StandardAuthorizer on a SASL_PLAINTEXT controller listener, whose own login (User:controller)
and the first broker's (User:broker) are super users. That broker registers and serves
clients; a raw client that logs in as User:alice, valid but granted nothing, is answered
CLUSTER_AUTHORIZATION_FAILED when it tries to register a broker, change the voters or send
Raft messages, and the coordinator logs why; a second broker logging in as User:late is
refused until `kafka-acls --cluster --operation ClusterAction` (through the first broker, into
the metadata log the coordinators hold) grants it, then registers and holds replicas. Apart, a
coordinator on an mTLS (SSL) listener: the certificate's principal decides the same way."""
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from coordinator_tls_test import _spawn_without_waiting  # noqa: E402
from harness import Broker, Coordinator, CoordinatorQuorum, free_port, lists_itself, wait_until  # noqa: E402
from kafka_wire import Connection  # noqa: E402 (the coordinator's private APIs from protocol/defs)
from tls_test import pki, produce_consume  # noqa: E402,F401 (pki is a fixture)

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
USERS = {"controller": "c-secret", "broker": "b-secret", "late": "l-secret", "alice": "a-secret"}
CLUSTER_AUTHORIZATION_FAILED = 31

ADD_RAFT_VOTER = 80  # Kafka's API key, inside the coordinator's admin envelope


def plain_jaas(user):
    return ("org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{USERS[user]}" ' +
            " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")


def coordinator_overrides():
    return {
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain_jaas("controller"),
        "authorizer.class.name": STANDARD_AUTHORIZER,
        "super.users": "User:controller;User:broker",
        "broker.session.timeout.ms": 6000, "broker.heartbeat.interval.ms": 500,
    }


def broker_overrides(quorum, user, node_id):
    """A broker logging in to the coordinators as `user`, with a PLAINTEXT listener (clients,
    inter-broker) and a SASL_PLAINTEXT one where User:admin administers it."""
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    return port, sasl_port, {
        "controller.quorum.voters": quorum.voters,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "listeners": listeners, "advertised.listeners": listeners,
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain_jaas(user),
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";',
        "authorizer.class.name": STANDARD_AUTHORIZER, "super.users": "User:admin",
        "num.partitions": 1, "default.replication.factor": 1, "offsets.topic.replication.factor": 1,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("coordinator-authz")
    quorum = CoordinatorQuorum(root, 3, coordinator_overrides())
    brokers = []
    try:
        quorum.start()
        quorum.leader(timeout=30)
        b = Broker(root / "broker-1", node_id=1)
        b.port, b.sasl_port, b.overrides = broker_overrides(quorum, "broker", 1)
        brokers.append(b.start())
        yield quorum, brokers, root
    finally:
        for b in brokers:
            b.kill()
        quorum.stop()


def test_a_super_user_broker_registers_and_serves_clients(cluster):
    quorum, brokers, _ = cluster
    conf = {"bootstrap.servers": brokers[0].bootstrap}
    admin = AdminClient(conf)  # kept while its future runs
    admin.create_topics([NewTopic("authz", 1, 1)], operation_timeout=20)["authz"].result(timeout=30)
    produce_consume(conf, "authz", n=20)


def test_a_principal_without_rights_can_neither_register_nor_change_voters(cluster):
    quorum, _, _ = cluster
    leader = quorum.leader(timeout=30)
    since = len(leader.log_text())
    with Connection(leader.port, sasl=("alice", USERS["alice"])) as c:
        r = c.call("CoordinatorRegisterBroker", 0, {
            "ClusterId": "tributary-local", "BrokerId": 7, "IncarnationId": uuid.uuid4(),
            "Listeners": [{"Name": "PLAINTEXT", "Host": "127.0.0.1", "Port": 9092}]})
        assert r["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, r
        assert "CoordinatorRegisterBroker from User:alice needs ClusterAction" in r["ErrorMessage"], r
        # AddRaftVoter in the admin envelope: refused before its body is even read.
        r = c.call("CoordinatorAdmin", 0, {"RequestApiKey": ADD_RAFT_VOTER, "RequestApiVersion": 0, "Body": b"\x00"})
        assert r["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, r
        assert "CoordinatorAdmin (AddRaftVoter) from User:alice needs ClusterAction or Alter" in r["ErrorMessage"], r
        # Raft traffic as if from a voter.
        r = c.call("CoordinatorRaftMessages", 0, {"ClusterId": "tributary-local", "SenderId": 101,
                                                   "ReceiverId": leader.node_id, "Messages": []})
        assert r["ErrorCode"] == CLUSTER_AUTHORIZATION_FAILED, r
    wait_until(lambda: "CoordinatorRegisterBroker from User:alice needs ClusterAction" in
               leader.log_text()[since:], "the coordinator logging why it refused alice", timeout=10)
    assert "CLUSTER_AUTHORIZATION_FAILED" in leader.log_text()[since:]


def test_a_broker_refused_until_kafka_acls_grants_it_cluster_action(cluster):
    quorum, brokers, root = cluster
    b = Broker(root / "broker-2", node_id=2)
    b.port, b.sasl_port, b.overrides = broker_overrides(quorum, "late", 2)
    b.root.mkdir(parents=True, exist_ok=True)
    brokers.append(b)
    assert not _spawn_without_waiting(b)
    # The broker says the coordinator refuses it, and the coordinator why.
    wait_until(lambda: "coordinator refused registration of broker 2: CLUSTER_AUTHORIZATION_FAILED" in
               b.log_text(), "broker 2 logging its refusal", timeout=30)
    wait_until(lambda: any("CoordinatorRegisterBroker from User:late needs ClusterAction" in m.log_text()
                           for m in quorum.members), "a coordinator logging why it refused broker 2", timeout=10)
    assert not lists_itself(brokers[0].port, 2)

    admin = root / "admin.properties"
    admin.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                     'username="admin" password="admin-secret";\n')
    kafka_tool("kafka-acls", "--bootstrap-server", f"127.0.0.1:{brokers[0].sasl_port}",
               "--command-config", admin, "--add", "--allow-principal", "User:late",
               "--operation", "ClusterAction", "--cluster")
    # The ACL is in the coordinators' metadata image too: broker 2 registers and is listed.
    wait_until(lambda: lists_itself(b.port, 2) and lists_itself(brokers[0].port, 2),
               "broker 2 registered once granted CLUSTER_ACTION", timeout=30)
    # ... and holds a replica of a new topic (two replicas: one on each broker).
    conf = {"bootstrap.servers": f"{brokers[0].bootstrap},{b.bootstrap}"}
    admin = AdminClient(conf)
    admin.create_topics([NewTopic("granted", 1, 2)], operation_timeout=20)["granted"].result(timeout=30)
    produce_consume(conf, "granted", n=20)


def test_an_mtls_listener_authorizes_the_certificates_principal(tmp_path, pki):  # noqa: F811
    coord = Coordinator(tmp_path / "coordinator", {
        "listener.security.protocol.map": "CONTROLLER:SSL",
        "controller.listener.names": "CONTROLLER",
        "listener.name.controller.ssl.keystore.location": str(pki / "broker-bundle.pem"),
        "listener.name.controller.ssl.truststore.location": str(pki / "ca.pem"),
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": STANDARD_AUTHORIZER,
        # The coordinator's own certificate (CN=localhost) would be a voter's; the broker's is CN=client.
        "super.users": "User:CN=client",
    }).start()

    def broker(name, node_id, keystore):
        return Broker(tmp_path / name, node_id=node_id, overrides={
            "controller.quorum.voters": coord.voters,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            "listener.name.controller.ssl.keystore.location": str(pki / keystore),
            "listener.name.controller.ssl.truststore.location": str(pki / "ca.pem"),
            "num.partitions": 1, "default.replication.factor": 1, "offsets.topic.replication.factor": 1})

    good = broker("good", 1, "client-bundle.pem")
    other = broker("other", 2, "broker-bundle.pem")
    try:
        good.start()
        other.port = free_port()
        other.root.mkdir(parents=True, exist_ok=True)
        assert not _spawn_without_waiting(other)
        wait_until(lambda: "CLUSTER_AUTHORIZATION_FAILED" in other.log_text(), "broker 2 refused", timeout=30)
        wait_until(lambda: "CoordinatorRegisterBroker from User:CN=localhost needs ClusterAction" in coord.log_text(),
                   "the coordinator naming the certificate's principal", timeout=10)
        assert not lists_itself(good.port, 2)
    finally:
        other.kill()
        good.stop()
        coord.stop()
