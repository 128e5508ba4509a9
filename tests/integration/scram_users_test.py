"""SCRAM credentials kept in the metadata log (KIP-554): created, listed and deleted with
Kafka's kafka-configs --entity-type users (AlterUserScramCredentials and
DescribeUserScramCredentials, sent over a PLAINTEXT listener), used at once by stock clients
on a SASL_PLAINTEXT listener, kept across broker and coordinator restarts; bad requests
answered with Kafka's error codes."""
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from differential_test import Reader, Server, compact_array, compact_str  # noqa: E402
from harness import Coordinator, free_port, wait_until  # noqa: E402
from sasl_test import client_config, sasl_overrides  # noqa: E402

# Error codes (Kafka's Errors).
UNSUPPORTED_SASL_MECHANISM, RESOURCE_NOT_FOUND, DUPLICATE_RESOURCE, UNACCEPTABLE_CREDENTIAL = 33, 91, 92, 93


def start_sasl_broker(make_broker, name="broker", extra=None):
    b = make_broker(name, start=False)
    b.port = free_port()
    b.sasl_port = free_port()
    b.overrides.update(sasl_overrides(b.port, b.sasl_port))
    b.overrides.update(extra or {})
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{b.sasl_port}"
    return b


@pytest.fixture
def sasl_broker(make_broker):
    return start_sasl_broker(make_broker)


def configs(broker, *args, check=True):
    return kafka_tool("kafka-configs", "--bootstrap-server", broker.bootstrap, "--entity-type", "users", *args,
                      check=check)


def add_user(broker, user, password, mechanism="SCRAM-SHA-256", iterations=8192, check=True):
    return configs(broker, "--entity-name", user, "--alter", "--add-config",
                   f"{mechanism}=[iterations={iterations},password={password}]", check=check)


def authenticates(broker, mechanism, user, password):
    """Whether a confluent-kafka client gets metadata as `user` (None: it was refused)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    conf = {**client_config(broker, mechanism, user="alice", password=password), "sasl.username": user}
    try:
        AdminClient(conf).list_topics(timeout=15)
        return True
    except KafkaException:
        return False


def produce_consume(broker, mechanism, user, password, topic, n=50):
    from confluent_kafka import Consumer, Producer
    conf = {**client_config(broker, mechanism, password=password), "sasl.username": user}
    p = Producer({**conf, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=b"v%d" % i)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": "g-" + topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []

    def read():
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
        return len(got) >= n
    try:
        wait_until(read, f"{n} records as {user}", timeout=60)
    finally:
        c.close()
    assert sorted(got) == sorted(b"v%d" % i for i in range(n))


def test_kafka_configs_creates_lists_and_deletes_a_user(sasl_broker):
    b = sasl_broker
    assert not authenticates(b, "SCRAM-SHA-256", "carol", "carol-secret"), "no such user yet"
    out = add_user(b, "carol", "carol-secret").stdout
    assert "Completed updating config for user carol." in out, out
    # The next authentication sees the new user: no restart.
    produce_consume(b, "SCRAM-SHA-256", "carol", "carol-secret", "scram-carol")
    assert b.wait_for_log("authenticated as User:carol with SASL/SCRAM-SHA-256")
    assert not authenticates(b, "SCRAM-SHA-256", "carol", "wrong"), "wrong password"
    assert not authenticates(b, "SCRAM-SHA-512", "carol", "carol-secret"), "no SHA-512 credential"

    add_user(b, "carol", "carol-512", mechanism="SCRAM-SHA-512", iterations=4096)
    assert authenticates(b, "SCRAM-SHA-512", "carol", "carol-512")
    out = configs(b, "--describe", "--entity-name", "carol").stdout
    assert "SCRAM credential configs for user-principal 'carol' are" in out, out
    assert "SCRAM-SHA-256=iterations=8192" in out and "SCRAM-SHA-512=iterations=4096" in out, out
    assert "carol-secret" not in out
    add_user(b, "dave", "dave-secret")
    out = configs(b, "--describe").stdout
    assert "'carol'" in out and "'dave'" in out, out
    # The static users (tributary.sasl.scram.users) are not in the metadata: not listed.
    assert "'alice'" not in out, out

    out = configs(b, "--entity-name", "carol", "--alter", "--delete-config", "SCRAM-SHA-256").stdout
    assert "Completed updating config for user carol." in out, out
    assert not authenticates(b, "SCRAM-SHA-256", "carol", "carol-secret"), "deleted"
    assert b.wait_for_log("SASL/SCRAM-SHA-256 authentication of 127.0.0.1:")
    assert authenticates(b, "SCRAM-SHA-512", "carol", "carol-512"), "the other mechanism stays"
    out = configs(b, "--describe", "--entity-name", "carol").stdout
    assert "SCRAM-SHA-256" not in out and "SCRAM-SHA-512=iterations=4096" in out, out

    # A metadata credential wins over the static key's for the same user.
    add_user(b, "alice", "new-alice")
    assert authenticates(b, "SCRAM-SHA-256", "alice", "new-alice")
    assert not authenticates(b, "SCRAM-SHA-256", "alice", "alice-secret")
    assert authenticates(b, "SCRAM-SHA-512", "alice", "alice-secret"), "the static SHA-512 one still serves"


def test_kafka_configs_errors(sasl_broker):
    b = sasl_broker
    # (Too few iterations is refused by the tool itself; the raw test below sends them.)
    p = add_user(b, "erin", "pw", iterations=20000, check=False)
    assert p.returncode != 0 and "Too many iterations" in p.stdout + p.stderr, p
    p = configs(b, "--entity-name", "nobody", "--alter", "--delete-config", "SCRAM-SHA-512", check=False)
    assert p.returncode != 0 and "Attempt to delete a user credential that does not exist" in p.stdout + p.stderr, p
    # The Java client drops users answered RESOURCE_NOT_FOUND (the raw test checks the code).
    p = configs(b, "--describe", "--entity-name", "nobody")
    assert "nobody" not in p.stdout, p
    assert "erin" not in configs(b, "--describe").stdout


def alter_raw(broker, deletions=(), upsertions=()):
    """AlterUserScramCredentials v0 on the wire: {user: (error code, message)}."""
    def deletion(d):
        return compact_str(d[0]) + struct.pack(">b", d[1]) + b"\x00"

    def upsertion(u):
        name, mech, iterations = u
        salt, salted = b"s" * 16, b"p" * (32 if mech != 2 else 64)
        return (compact_str(name) + struct.pack(">bi", mech, iterations) + bytes([len(salt) + 1]) + salt +
                bytes([len(salted) + 1]) + salted + b"\x00")
    body = compact_array(list(deletions), deletion) + compact_array(list(upsertions), upsertion) + b"\x00"
    r = Reader(Server("tributary", broker.port).raw(51, 0, body, flexible_header=True))
    r.take(">i")  # throttle

    def result():
        user, err, msg = r.compact_str(), r.take(">h"), r.compact_str()
        r.tags()
        return user, (err, msg)
    out = dict(r.compact_array(result))
    r.tags()
    r.done()
    return out


def describe_raw(broker, users):
    """DescribeUserScramCredentials v0: (top error, {user: (error, [(mechanism, iterations)])})."""
    body = compact_array(users, lambda u: compact_str(u) + b"\x00") + b"\x00"
    r = Reader(Server("tributary", broker.port).raw(50, 0, body, flexible_header=True))
    r.take(">i")
    top = r.take(">h")
    r.compact_str()

    def info():
        v = r.take(">bi")
        r.tags()
        return v

    def result():
        user, err = r.compact_str(), r.take(">h")
        r.compact_str()
        infos = r.compact_array(info)
        r.tags()
        return user, (err, infos)
    out = dict(r.compact_array(result))
    r.tags()
    r.done()
    return top, out


def test_bad_requests_answer_kafkas_errors(sasl_broker):
    b = sasl_broker
    got = alter_raw(b, deletions=[("gone", 1)],
                    upsertions=[("", 1, 8192), ("mech", 3, 8192), ("few", 1, 10), ("twice", 1, 8192),
                                ("twice", 2, 8192), ("ok", 2, 4096)])
    codes = {u: e for u, (e, _) in got.items()}
    assert codes == {"gone": RESOURCE_NOT_FOUND, "twice": DUPLICATE_RESOURCE, "": UNACCEPTABLE_CREDENTIAL,
                     "mech": UNSUPPORTED_SASL_MECHANISM, "few": UNACCEPTABLE_CREDENTIAL, "ok": 0}, got
    assert got["ok"][1] is None and got["gone"][1], got

    top, described = describe_raw(b, ["ok", "gone", "ok2", "ok2"])
    assert top == 0
    assert described == {"ok": (0, [(2, 4096)]), "gone": (RESOURCE_NOT_FOUND, []),
                         "ok2": (DUPLICATE_RESOURCE, [])}, described
    top, described = describe_raw(b, None)
    assert described == {"ok": (0, [(2, 4096)])}, described


def test_credentials_survive_broker_and_coordinator_restarts(tmp_path, make_broker):
    coord = Coordinator(tmp_path / "coordinator")
    coord.start()
    b = None
    try:
        b = start_sasl_broker(make_broker, extra={"controller.quorum.voters": coord.voters})
        add_user(b, "frank", "frank-secret", mechanism="SCRAM-SHA-512")
        assert authenticates(b, "SCRAM-SHA-512", "frank", "frank-secret")

        b.restart()
        assert authenticates(b, "SCRAM-SHA-512", "frank", "frank-secret"), "after a broker restart"

        # The broker is stopped while the coordinator restarts, so what it gets afterwards
        # comes from the coordinator's log alone.
        b.stop()
        coord.stop()
        coord.start()
        b.start()
        assert authenticates(b, "SCRAM-SHA-512", "frank", "frank-secret"), "after a coordinator restart"
        out = configs(b, "--describe", "--entity-name", "frank").stdout
        assert "SCRAM-SHA-512=iterations=8192" in out, out
        configs(b, "--entity-name", "frank", "--alter", "--delete-config", "SCRAM-SHA-512")
        b.restart()
        assert not authenticates(b, "SCRAM-SHA-512", "frank", "frank-secret"), "the deletion is kept too"
    finally:
        if b:
            b.stop()  # before the coordinator: its controlled shutdown asks it
        rc = coord.stop()
        print(f"coordinator exit {rc}:\n{coord.log_tail(4000)}")


def test_in_process_coordinator_keeps_credentials(sasl_broker):
    add_user(sasl_broker, "gina", "gina-secret")
    sasl_broker.restart()
    assert authenticates(sasl_broker, "SCRAM-SHA-256", "gina", "gina-secret")
