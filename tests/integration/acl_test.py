"""ACLs: CreateAcls/DescribeAcls/DeleteAcls kept in the metadata log, and the authorizer
(authorizer.class.name = Kafka's StandardAuthorizer) enforced on the APIs clients use, each
refusal answered with the error code stock clients expect.

Each test runs a coordinator and a broker of its own. The broker has a PLAINTEXT listener
(brokers' own connections, trusted, and the harness's readiness check) and a SASL_PLAINTEXT one
the clients use, with PLAIN users from the JAAS config: `admin` (a super user), `alice` and
`bob`. Runs on the newest confluent-kafka (tools/venv), whose AdminClient has the ACL calls.
"""
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import Coordinator, free_port  # noqa: E402

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,  # noqa: E402
                                   AdminClient, ConfigResource, ConfigEntry, AlterConfigOpType, NewTopic,
                                   OffsetSpec, ResourcePatternType, ResourceType)

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TIMEOUT = 30


class Secured:
    """A coordinator and one SASL broker with ACLs on."""

    def __init__(self, coord, broker):
        self.coord = coord
        self.broker = broker
        self._admins = {}  # kept: a destroyed client fails its pending futures

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.broker.sasl_port}"

    def conf(self, user, **extra):
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": USERS[user], **extra}

    def admin(self, user="admin"):
        if user not in self._admins:
            self._admins[user] = AdminClient(self.conf(user))
        return self._admins[user]

    def grant(self, principal, operation, rtype, name, pattern=ResourcePatternType.LITERAL,
              permission=AclPermissionType.ALLOW, host="*"):
        b = AclBinding(rtype, name, pattern, principal, host, operation, permission)
        for f in self.admin().create_acls([b], request_timeout=TIMEOUT).values():
            f.result()
        return b


def start_secured(tmp_path, make_broker, extra=None, name="acl"):
    coord = Coordinator(tmp_path / f"{name}-coordinator")
    coord.start()
    b = make_broker(name, start=False)
    b.coord = coord
    b.port = free_port()
    b.sasl_port = free_port()
    jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required " +
            " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
    b.overrides.update({
        "controller.quorum.voters": coord.voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{b.port},SASL_PLAINTEXT://127.0.0.1:{b.sasl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{b.port},SASL_PLAINTEXT://127.0.0.1:{b.sasl_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        "authorizer.class.name": STANDARD_AUTHORIZER,
        "super.users": "User:admin",
        **(extra or {}),
    })
    b.start()
    return Secured(coord, b)


@pytest.fixture
def secured(tmp_path, make_broker):
    s = start_secured(tmp_path, make_broker)
    yield s
    s.broker.stop()
    s.coord.stop()


def create_topic(s, name, partitions=1):
    for f in s.admin().create_topics([NewTopic(name, partitions, 1)], request_timeout=TIMEOUT).values():
        f.result()


def error_code(exc):
    """The Kafka error code a client call raised."""
    assert isinstance(exc, KafkaException), exc
    return exc.args[0].code()


def produce_one(s, user, topic, **conf):
    """Produces one record as `user`; the delivery error code (None: delivered)."""
    fatal = []  # an idempotent producer refused its producer id fails fatally
    p = Producer(s.conf(user, **{"message.timeout.ms": 10000, "error_cb": lambda e: fatal.append(e), **conf}))
    outcome = []
    try:
        p.produce(topic, b"v", on_delivery=lambda err, msg: outcome.append(err))
        p.flush(TIMEOUT)
    except (KafkaException, SystemError) as e:  # the fatal error, raised through the callback
        return error_code(e if isinstance(e, KafkaException) else (e.__cause__ or e.__context__))
    fatal = [e for e in fatal if e.fatal()]
    if fatal:
        return fatal[0].code()
    assert outcome, "no delivery report"
    return outcome[0].code() if outcome[0] else None


def first_consumer_error(c, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() and m.error().code() != KafkaError._PARTITION_EOF:
            return m.error().code()
    return None


def command_config(tmp_path, user):
    props = tmp_path / f"{user}.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                     f'username="{user}" password="{USERS[user]}";\n')
    return props


def test_kafka_acls_tool_adds_lists_and_removes(secured, tmp_path):
    common = ["--bootstrap-server", secured.bootstrap, "--command-config", command_config(tmp_path, "admin")]
    kafka_tool("kafka-acls", *common, "--add", "--allow-principal", "User:alice", "--operation", "Read",
               "--topic", "t")
    kafka_tool("kafka-acls", *common, "--add", "--deny-principal", "User:bob", "--operation", "Write",
               "--topic", "logs-", "--resource-pattern-type", "prefixed")
    out = kafka_tool("kafka-acls", *common, "--list").stdout
    assert "name=t, patternType=LITERAL" in out and "principal=User:alice" in out and "operation=READ" in out
    assert "name=logs-, patternType=PREFIXED" in out and "permissionType=DENY" in out
    out = kafka_tool("kafka-acls", *common, "--list", "--topic", "t").stdout
    assert "User:alice" in out and "User:bob" not in out
    kafka_tool("kafka-acls", *common, "--remove", "--force", "--allow-principal", "User:alice", "--operation",
               "Read", "--topic", "t")
    out = kafka_tool("kafka-acls", *common, "--list").stdout
    assert "User:alice" not in out and "User:bob" in out


def test_describe_acls_needs_cluster_describe(secured, tmp_path):
    common = ["--bootstrap-server", secured.bootstrap, "--command-config", command_config(tmp_path, "alice")]
    p = kafka_tool("kafka-acls", *common, "--list", check=False)
    assert "ClusterAuthorizationException" in p.stdout + p.stderr
    secured.grant("User:alice", AclOperation.DESCRIBE, ResourceType.BROKER, "kafka-cluster")
    out = kafka_tool("kafka-acls", *common, "--list").stdout
    assert "operation=DESCRIBE" in out and "name=kafka-cluster" in out


def test_only_cluster_alter_and_describe_manage_acls(secured):
    b = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ,
                   AclPermissionType.ALLOW)
    for f in secured.admin("alice").create_acls([b], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # (librdkafka drops DescribeAcls' top-level error: that refusal is checked with the Java
    # tool in test_describe_acls_needs_cluster_describe.)
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    # Granted ALTER on the cluster, alice may.
    secured.grant("User:alice", AclOperation.ALTER, ResourceType.BROKER, "kafka-cluster")
    for f in secured.admin("alice").create_acls([b], request_timeout=TIMEOUT).values():
        f.result()
    listed = secured.admin().describe_acls(everything, request_timeout=TIMEOUT).result()
    assert b in listed


def test_acl_apis_without_an_authorizer_are_security_disabled(tmp_path, make_broker):
    s = start_secured(tmp_path, make_broker, extra={"authorizer.class.name": ""}, name="open")
    try:
        b = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice", "*",
                       AclOperation.READ, AclPermissionType.ALLOW)
        for f in s.admin("admin").create_acls([b], request_timeout=TIMEOUT).values():
            with pytest.raises(KafkaException) as e:
                f.result()
            assert error_code(e.value) == KafkaError.SECURITY_DISABLED
        # No authorizer: everyone may do everything, as before ACLs existed.
        assert produce_one(s, "bob", "anything") is None
    finally:
        s.broker.stop()
        s.coord.stop()


def test_bad_bindings_and_filters_are_invalid_requests(secured):
    bad = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "alice-without-type", "*",
                     AclOperation.READ, AclPermissionType.ALLOW)
    for f in secured.admin().create_acls([bad], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.INVALID_REQUEST


def test_produce_and_metadata(secured):
    create_topic(secured, "t")
    assert produce_one(secured, "alice", "t") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    topics = secured.admin("alice").list_topics(timeout=TIMEOUT).topics
    assert "t" not in topics, "a topic alice may not DESCRIBE is left out of Metadata"
    secured.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "t")
    assert produce_one(secured, "alice", "t") is None
    assert "t" in secured.admin("alice").list_topics(timeout=TIMEOUT).topics, "WRITE implies DESCRIBE"
    assert produce_one(secured, "bob", "t") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_one(secured, "admin", "t") is None, "a super user needs no ACL"


def test_list_offsets(secured):
    create_topic(secured, "t")
    spec = {TopicPartition("t", 0): OffsetSpec.latest()}
    # librdkafka asks Metadata first, where the topic is hidden (TOPIC_AUTHORIZATION_FAILED):
    # it gives up before ListOffsets with "no leaders found", as it does against Kafka.
    for f in secured.admin("alice").list_offsets(spec, request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._NOENT)
    secured.grant("User:alice", AclOperation.DESCRIBE, ResourceType.TOPIC, "t")
    fresh = AdminClient(secured.conf("alice"))  # without the first one's cached metadata
    for f in fresh.list_offsets(spec, request_timeout=TIMEOUT).values():
        assert f.result().offset == 0


def test_consume_needs_group_and_topic_read(secured):
    create_topic(secured, "t")
    assert produce_one(secured, "admin", "t") is None

    def consumer(group):
        return Consumer(secured.conf("alice", **{"group.id": group, "auto.offset.reset": "earliest",
                                                  "enable.auto.commit": False}))

    c = consumer("g")
    c.subscribe(["t"])
    assert first_consumer_error(c) == KafkaError.GROUP_AUTHORIZATION_FAILED
    c.close()

    secured.grant("User:alice", AclOperation.READ, ResourceType.GROUP, "g")
    secured.grant("User:alice", AclOperation.DESCRIBE, ResourceType.TOPIC, "t")
    c = consumer("g")  # may see the topic and list its offsets, not fetch
    c.assign([TopicPartition("t", 0, 0)])
    assert first_consumer_error(c) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    c.close()

    secured.grant("User:alice", AclOperation.READ, ResourceType.TOPIC, "t")
    c = consumer("g")
    c.subscribe(["t"])
    deadline = time.monotonic() + TIMEOUT
    m = None
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            break
    assert m is not None and not m.error() and m.value() == b"v"
    c.commit(message=m, asynchronous=False)  # OffsetCommit
    committed = c.committed([TopicPartition("t", 0)], timeout=TIMEOUT)  # OffsetFetch
    assert committed[0].offset == 1 and committed[0].error is None
    c.close()

    # Another group alice has no ACL on: refused at JoinGroup/FindCoordinator.
    c = consumer("other")
    c.subscribe(["t"])
    assert first_consumer_error(c) == KafkaError.GROUP_AUTHORIZATION_FAILED
    c.close()


def test_topic_admin_apis(secured):
    alice = secured.admin("alice")
    for f in alice.create_topics([NewTopic("alice-x", 1, 1)], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # CREATE on a prefix: topics under it only.
    secured.grant("User:alice", AclOperation.CREATE, ResourceType.TOPIC, "alice-", ResourcePatternType.PREFIXED)
    futures = alice.create_topics([NewTopic("alice-x", 1, 1), NewTopic("bob-x", 1, 1)], request_timeout=TIMEOUT)
    futures["alice-x"].result()
    with pytest.raises(KafkaException) as e:
        futures["bob-x"].result()
    assert error_code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED

    topic = ConfigResource(ResourceType.TOPIC, "alice-x")
    for f in alice.describe_configs([topic], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    change = ConfigResource(ResourceType.TOPIC, "alice-x", incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    for f in alice.incremental_alter_configs([change], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    secured.grant("User:alice", AclOperation.ALTER_CONFIGS, ResourceType.TOPIC, "alice-",
                  ResourcePatternType.PREFIXED)
    for f in alice.incremental_alter_configs([change], request_timeout=TIMEOUT).values():
        f.result()
    for f in alice.describe_configs([topic], request_timeout=TIMEOUT).values():  # implied by ALTER_CONFIGS
        assert f.result()["retention.ms"].value == "3600000"
    for f in alice.describe_configs([ConfigResource(ResourceType.BROKER, "1")], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.CLUSTER_AUTHORIZATION_FAILED

    for f in alice.delete_topics(["alice-x"], request_timeout=TIMEOUT).values():
        with pytest.raises(KafkaException) as e:
            f.result()
        assert error_code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    secured.grant("User:alice", AclOperation.DELETE, ResourceType.TOPIC, "alice-x")
    for f in alice.delete_topics(["alice-x"], request_timeout=TIMEOUT).values():
        f.result()


def test_idempotent_producer_needs_idempotent_write_or_write_on_a_topic(secured):
    create_topic(secured, "t")
    create_topic(secured, "u")
    secured.grant("User:alice", AclOperation.DESCRIBE, ResourceType.TOPIC, "t")
    assert produce_one(secured, "alice", "t", **{"enable.idempotence": True}) == \
        KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # WRITE on some topic is enough for InitProducerId (Kafka 3.0+)...
    secured.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "u")
    assert produce_one(secured, "alice", "u", **{"enable.idempotence": True}) is None
    # ...and IDEMPOTENT_WRITE on the cluster too.
    secured.grant("User:bob", AclOperation.IDEMPOTENT_WRITE, ResourceType.BROKER, "kafka-cluster")
    secured.grant("User:bob", AclOperation.WRITE, ResourceType.TOPIC, "t")
    assert produce_one(secured, "bob", "t", **{"enable.idempotence": True}) is None


def test_prefixed_allow_and_deny_beats_allow(secured):
    for t in ("p-open", "p-secret"):
        create_topic(secured, t)
    secured.grant("User:alice", AclOperation.ALL, ResourceType.TOPIC, "p-", ResourcePatternType.PREFIXED)
    secured.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "p-secret",
                  permission=AclPermissionType.DENY)
    assert produce_one(secured, "alice", "p-open") is None
    assert produce_one(secured, "alice", "p-secret") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # A deny for every host and principal beats the super user? No: super users skip ACLs.
    secured.grant("User:*", AclOperation.ALL, ResourceType.TOPIC, "p-open", permission=AclPermissionType.DENY)
    assert produce_one(secured, "alice", "p-open") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_one(secured, "admin", "p-open") is None


def test_allow_everyone_if_no_acl_found(tmp_path, make_broker):
    s = start_secured(tmp_path, make_broker, extra={"allow.everyone.if.no.acl.found": "true"}, name="everyone")
    try:
        create_topic(s, "free")
        create_topic(s, "guarded")
        s.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "guarded")
        assert produce_one(s, "bob", "free") is None
        assert produce_one(s, "bob", "guarded") == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert produce_one(s, "alice", "guarded") is None
    finally:
        s.broker.stop()
        s.coord.stop()


def test_delete_acls_answers_what_each_filter_removed(secured):
    a = secured.grant("User:alice", AclOperation.READ, ResourceType.TOPIC, "orders")
    b = secured.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "ord", ResourcePatternType.PREFIXED)
    c = secured.grant("User:bob", AclOperation.READ, ResourceType.GROUP, "g")
    # MATCH: every binding that applies to topic "orders" (literal and prefixed).
    match = AclBindingFilter(ResourceType.TOPIC, "orders", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    removed = secured.admin().delete_acls([match], request_timeout=TIMEOUT)[match].result()
    assert sorted(map(str, removed)) == sorted(map(str, [a, b]))
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    assert secured.admin().describe_acls(everything, request_timeout=TIMEOUT).result() == [c]


def test_acls_survive_coordinator_and_broker_restarts(secured):
    create_topic(secured, "t")
    b = secured.grant("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "t")
    secured.coord.stop()
    secured.coord.start()
    secured.broker.restart()
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    assert secured.admin().describe_acls(everything, request_timeout=TIMEOUT).result() == [b]
    assert produce_one(secured, "alice", "t") is None
    assert produce_one(secured, "bob", "t") == KafkaError.TOPIC_AUTHORIZATION_FAILED



def test_scram_credential_apis_need_the_cluster(secured, tmp_path):
    """kafka-configs --entity-type users: AlterUserScramCredentials needs ALTER on the cluster,
    the describe (DescribeClientQuotas, then DescribeUserScramCredentials) DESCRIBE_CONFIGS and
    DESCRIBE (Kafka's rules); refused, nothing is stored. (The Java tool, not confluent-kafka:
    its describe_user_scram_credentials crashed the interpreter on a refusal.)"""
    def configs(user, *args):
        return kafka_tool("kafka-configs", "--bootstrap-server", secured.bootstrap, "--command-config",
                          command_config(tmp_path, user), "--entity-type", "users", *args, check=False)
    add = ["--alter", "--entity-name", "carol", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=c-secret]"]
    p = configs("alice", *add)
    assert "ClusterAuthorizationException" in p.stdout + p.stderr, p.stdout + p.stderr
    p = configs("alice", "--describe")
    assert "ClusterAuthorizationException" in p.stdout + p.stderr, p.stdout + p.stderr
    p = configs("admin", "--describe")
    assert p.returncode == 0 and "carol" not in p.stdout, "a refused alteration stored nothing: " + p.stdout

    # Granted, alice may.
    for op in (AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS):
        secured.grant("User:alice", op, ResourceType.BROKER, "kafka-cluster")
    p = configs("alice", *add)
    assert p.returncode == 0, p.stdout + p.stderr
    p = configs("alice", "--describe")
    assert p.returncode == 0 and "SCRAM credential configs for user-principal 'carol'" in p.stdout, p.stdout + p.stderr
