"""SSL listeners (net/tls.h): a broker with a PLAINTEXT listener (inter-broker) and an SSL one,
used by stock clients (librdkafka through confluent-kafka and kcat, the Java client through
Kafka's tools) with PEM certificates made here: a CA, the broker's certificate for
127.0.0.1/localhost, a client certificate, one from another CA, an expired one."""
import datetime
import ipaddress
import os
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apache_kafka import kafka_tool
from faults import create_topic, isr_full, partition_states, same_data_everywhere
from harness import Coordinator, broker_binary, free_port, wait_until


# ---- certificates ---------------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_cn, key, issuer_cn, issuer_key, ca=False, san=True, days=(-1, 30)):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(_name(subject_cn)).issuer_name(_name(issuer_cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(days=days[0]))
         .not_valid_after(now + datetime.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san and not ca:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem_key(key, password=None):
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Files: ca.pem, broker.pem (key + cert), broker-enc.pem (encrypted key, password 'secret'),
    client.key/client.pem, other-ca.pem, other-broker.pem (key + cert from other CA),
    other-client.key/.pem (from other CA), expired-client.key/.pem."""
    d = tmp_path_factory.mktemp("pki")
    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", ca_key, "Test CA", ca_key, ca=True, days=(-1, 365))
    other_ca = _cert("Other CA", other_key, "Other CA", other_key, ca=True, days=(-1, 365))
    (d / "ca.pem").write_bytes(_pem(ca))
    (d / "other-ca.pem").write_bytes(_pem(other_ca))

    def leaf(name, cn, issuer, issuer_key, days=(-1, 30), password=None):
        k = ec.generate_private_key(ec.SECP256R1())
        c = _cert(cn, k, issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, issuer_key, days=days)
        (d / f"{name}.key").write_bytes(_pem_key(k, password))
        (d / f"{name}.pem").write_bytes(_pem(c))
        (d / f"{name}-bundle.pem").write_bytes(_pem_key(k, password) + _pem(c) + _pem(issuer))
        return k, c

    leaf("broker", "localhost", ca, ca_key)
    leaf("broker-enc", "localhost", ca, ca_key, password="secret")
    leaf("other-broker", "localhost", other_ca, other_key)
    leaf("client", "client", ca, ca_key)
    leaf("other-client", "intruder", other_ca, other_key)
    leaf("expired-client", "late", ca, ca_key, days=(-30, -1))
    return d


def ssl_broker(make_broker, pki, extra=None, keystore="broker-bundle.pem"):
    """A broker with PLAINTEXT (inter-broker, harness readiness) and SSL listeners; returns
    (broker, "127.0.0.1:<ssl port>")."""
    port, ssl_port = free_port(), free_port()
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki / keystore),
        "num.partitions": 1,
    }
    overrides.update(extra or {})
    b = make_broker(overrides=overrides, start=False)
    b.port = port
    b.start()
    return b, f"127.0.0.1:{ssl_port}"


def rdkafka_conf(bootstrap, pki, **extra):
    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SSL",
            "ssl.ca.location": str(pki / "ca.pem")}
    conf.update(extra)
    return conf


def produce_consume(conf, topic, n=200):
    """Produces n records and reads them back, both over `conf`'s connection settings."""
    from confluent_kafka import Consumer, Producer
    p = Producer({**conf, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(30) == 0, "records left unsent"
    c = Consumer({**conf, "group.id": "g-" + topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    try:
        def read():
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
            return len(got) >= n
        wait_until(read, f"{n} records back over SSL", timeout=60)
    finally:
        c.close()
    assert got == [b"v%d" % i for i in range(n)]


def metadata_error(conf):
    """Asks for metadata with `conf`; returns the error text librdkafka gives (None: it worked)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    errors = []
    a = AdminClient({**conf, "error_cb": lambda e: errors.append(str(e)), "socket.timeout.ms": 5000})
    try:
        a.list_topics(timeout=8)
        return None
    except KafkaException as e:
        # The connection's own error (the SSL reason) comes through error_cb, served by poll.
        wait_until(lambda: a.poll(0.2) is not None and errors, "librdkafka's error callback", timeout=10)
        return " | ".join(errors + [str(e)])


# ---- clients over SSL ----------------------------------------------------------------------

def test_confluent_kafka_produce_consume_over_ssl(make_broker, pki):
    b, ssl_bootstrap = ssl_broker(make_broker, pki)
    produce_consume(rdkafka_conf(ssl_bootstrap, pki), "over-ssl")
    # The plaintext listener still serves, and a plaintext client on the SSL port is refused.
    produce_consume({"bootstrap.servers": b.bootstrap}, "over-plaintext", n=10)
    err = metadata_error({"bootstrap.servers": ssl_bootstrap})
    assert err is not None
    assert b.wait_for_log("TLS handshake with 127.0.0.1:")


def test_big_fetch_over_ssl(make_broker, pki):
    """Fetch responses bigger than the inline limit (64 KiB) are sent with sendfile on
    plaintext; on SSL they go through OpenSSL and must arrive intact."""
    from confluent_kafka import Consumer, Producer
    _, ssl_bootstrap = ssl_broker(make_broker, pki)
    conf = rdkafka_conf(ssl_bootstrap, pki)
    p = Producer({**conf, "linger.ms": 20})
    values = [bytes([i % 251]) * 50000 for i in range(60)]
    for v in values:
        p.produce("big", value=v)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": "big", "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 4 << 20, "max.partition.fetch.bytes": 4 << 20})
    c.subscribe(["big"])
    got = []
    try:
        def read():
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
            return len(got) >= len(values)
        wait_until(read, "big records back", timeout=60)
    finally:
        c.close()
    assert got == values


def test_concurrent_connections_over_ssl(make_broker, pki):
    """Several clients writing at once: each TLS connection's bytes stay its own (the broker's
    cores serve many connections each)."""
    import threading
    from confluent_kafka import Consumer, Producer
    _, ssl_bootstrap = ssl_broker(make_broker, pki)
    conf = rdkafka_conf(ssl_bootstrap, pki)
    writers, per_writer, failures = 6, 1500, []

    def write(w):
        try:
            p = Producer({**conf, "linger.ms": 2, "batch.num.messages": 50})
            for i in range(per_writer):
                p.produce("many", key=b"w%d" % w, value=b"w%d-%d-" % (w, i) + b"p" * (i % 3000))
                p.poll(0)
            if p.flush(60) != 0:
                failures.append(f"writer {w}: records left unsent")
        except Exception as e:  # reported below, with the others
            failures.append(f"writer {w}: {e!r}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    c = Consumer({**conf, "group.id": "many", "auto.offset.reset": "earliest"})
    c.subscribe(["many"])
    got = set()
    try:
        def read():
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    got.add(m.value())
            return len(got) >= writers * per_writer
        wait_until(read, "every writer's records back", timeout=120,
                   describe=lambda: f"{len(got)} of {writers * per_writer}")
    finally:
        c.close()
    assert got == {b"w%d-%d-" % (w, i) + b"p" * (i % 3000) for w in range(writers) for i in range(per_writer)}


def test_encrypted_key_and_inline_pem(make_broker, pki):
    """ssl.key.password opens an encrypted key; ssl.keystore.key/.certificate.chain give the
    keystore inline, here for one listener (listener.name.ssl.*)."""
    _, ssl_bootstrap = ssl_broker(make_broker, pki, keystore="broker-enc-bundle.pem",
                                  extra={"ssl.key.password": "secret"})
    assert metadata_error(rdkafka_conf(ssl_bootstrap, pki)) is None

    key = (pki / "broker.key").read_text()
    chain = (pki / "broker.pem").read_text() + (pki / "ca.pem").read_text()
    port, ssl_port = free_port(), free_port()
    b = make_broker(name="inline", overrides={
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        "listener.name.ssl.ssl.keystore.key": key,
        "listener.name.ssl.ssl.keystore.certificate.chain": chain,
    }, start=False)
    b.port = port
    b.start()
    assert metadata_error(rdkafka_conf(f"127.0.0.1:{ssl_port}", pki)) is None


def test_kcat_over_ssl(make_broker, pki):
    _, ssl_bootstrap = ssl_broker(make_broker, pki)
    ssl = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}"]
    subprocess.run(["kcat", "-b", ssl_bootstrap, *ssl, "-P", "-t", "kcat-ssl"],
                   input=b"one\ntwo\nthree\n", check=True, capture_output=True, timeout=60)
    out = subprocess.run(["kcat", "-b", ssl_bootstrap, *ssl, "-C", "-t", "kcat-ssl", "-o", "beginning",
                          "-e", "-q"], check=True, capture_output=True, timeout=60).stdout
    assert out.split() == [b"one", b"two", b"three"]


def test_java_client_over_ssl(make_broker, pki, tmp_path):
    """Kafka's own tools (the Java client) with a PEM truststore."""
    _, ssl_bootstrap = ssl_broker(make_broker, pki)
    props = tmp_path / "client-ssl.properties"
    props.write_text("security.protocol=SSL\nssl.truststore.type=PEM\n"
                     f"ssl.truststore.location={pki / 'ca.pem'}\n")
    kafka_tool("kafka-topics", "--bootstrap-server", ssl_bootstrap, "--command-config", props,
               "--create", "--topic", "java-ssl", "--partitions", "2")
    out = kafka_tool("kafka-topics", "--bootstrap-server", ssl_bootstrap, "--command-config", props,
                     "--describe", "--topic", "java-ssl").stdout
    assert "PartitionCount: 2" in out, out
    kafka_tool("kafka-console-producer", "--bootstrap-server", ssl_bootstrap, "--topic", "java-ssl",
               "--command-config", props, input="alpha\nbeta\n")
    out = kafka_tool("kafka-console-consumer", "--bootstrap-server", ssl_bootstrap, "--topic", "java-ssl",
                     "--command-config", props, "--from-beginning", "--max-messages", "2",
                     "--timeout-ms", "60000").stdout
    assert sorted(out.split()) == ["alpha", "beta"], out


# ---- mutual TLS and refusals -----------------------------------------------------------------

def test_mtls_required(make_broker, pki):
    b, ssl_bootstrap = ssl_broker(make_broker, pki, extra={
        "ssl.client.auth": "required", "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki / "ca.pem")})
    good = rdkafka_conf(ssl_bootstrap, pki, **{"ssl.certificate.location": str(pki / "client.pem"),
                                               "ssl.key.location": str(pki / "client.key")})
    produce_consume(good, "mtls", n=20)

    # No certificate, one from another CA, an expired one: the client reports an SSL failure,
    # the broker logs OpenSSL's reason.
    for cert, reason in ((None, "peer did not return a certificate"),
                         ("other-client", "certificate verify failed"),
                         ("expired-client", "certificate has expired")):
        since = len(b.log_text())
        extra = {} if cert is None else {"ssl.certificate.location": str(pki / f"{cert}.pem"),
                                         "ssl.key.location": str(pki / f"{cert}.key")}
        err = metadata_error(rdkafka_conf(ssl_bootstrap, pki, **extra))
        assert err is not None and "SSL" in err, (cert, err)
        assert b.wait_for_log(reason, since=since), (cert, b.log_tail(3000))

    # kafkajs (Node's TLS) with the client certificate, and without one.
    from harness import kafkajs
    security = {"ca": str(pki / "ca.pem"), "cert": str(pki / "client.pem"), "key": str(pki / "client.key")}
    assert kafkajs(ssl_bootstrap, "create", "js-mtls", 1, security=security) == {"created": True}
    out = kafkajs(ssl_bootstrap, "produce", "js-mtls", 20, 1, "none", security=security)
    assert all(r["errorCode"] == 0 for send in out["results"] for r in send["partitions"]), out
    since = len(b.log_text())
    with pytest.raises(AssertionError, match="exited"):
        kafkajs(ssl_bootstrap, "list", security={"ca": str(pki / "ca.pem")}, timeout=60)
    assert b.wait_for_log("peer did not return a certificate", since=since), b.log_tail(3000)


def test_certificate_subject_is_the_principal(make_broker, pki):
    """With ACLs on: a client certificate's subject DN is the principal (User:CN=client, here a
    super user); a client without a certificate is User:ANONYMOUS, which no ACL allows."""
    from confluent_kafka import KafkaError, Producer
    b, ssl_bootstrap = ssl_broker(make_broker, pki, extra={
        "ssl.client.auth": "requested", "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki / "ca.pem"),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:CN=client"})
    with_cert = rdkafka_conf(ssl_bootstrap, pki, **{"ssl.certificate.location": str(pki / "client.pem"),
                                                    "ssl.key.location": str(pki / "client.key")})
    produce_consume(with_cert, "by-subject", n=20)

    outcome = []
    p = Producer({**rdkafka_conf(ssl_bootstrap, pki), "message.timeout.ms": 10000})
    p.produce("by-subject", b"v", on_delivery=lambda err, msg: outcome.append(err))
    p.flush(30)
    assert outcome and outcome[0] is not None and outcome[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, outcome


def test_client_refuses_broker_from_unknown_ca(make_broker, pki):
    b, ssl_bootstrap = ssl_broker(make_broker, pki, keystore="other-broker-bundle.pem")
    err = metadata_error(rdkafka_conf(ssl_bootstrap, pki))
    assert err is not None and "certificate verify failed" in err, err
    assert b.wait_for_log("TLS handshake with 127.0.0.1:"), b.log_tail(3000)


# ---- certificates read again ---------------------------------------------------------------

def _replace(path, content):
    """Puts new content at `path` the way a Kubernetes Secret volume does: renamed over it."""
    new = path.with_name(path.name + ".new")
    new.write_bytes(content)
    os.replace(new, path)


def test_changed_certificate_files_are_used_without_a_restart(make_broker, pki, tmp_path):
    """The keystore replaced by one from another CA: within the reload interval new
    connections get the new certificate (no restart), a connection made before keeps working;
    then a file that can't be used leaves the certificate in force, with the reason logged."""
    from confluent_kafka import Producer
    keystore = tmp_path / "keystore.pem"
    shutil.copy(pki / "broker-bundle.pem", keystore)
    b, ssl_bootstrap = ssl_broker(make_broker, pki, extra={"ssl.keystore.location": str(keystore),
                                                          "tributary.ssl.reload.interval.ms": 200})
    old_ca = rdkafka_conf(ssl_bootstrap, pki)
    new_ca = rdkafka_conf(ssl_bootstrap, pki, **{"ssl.ca.location": str(pki / "other-ca.pem")})
    assert metadata_error(old_ca) is None
    p = Producer({**old_ca, "linger.ms": 0})
    p.produce("reloaded", b"before")
    assert p.flush(30) == 0

    _replace(keystore, (pki / "other-broker-bundle.pem").read_bytes())
    assert b.wait_for_log("certificates read again from changed files"), b.log_tail(3000)
    assert metadata_error(new_ca) is None
    err = metadata_error(old_ca)
    assert err is not None and "certificate verify failed" in err, err
    p.produce("reloaded", b"after")
    assert p.flush(30) == 0, "the connection made before the change was dropped"

    _replace(keystore, b"-----BEGIN PRIVATE KEY-----\nhalf written\n")
    assert b.wait_for_log("the TLS files changed but can't be used"), b.log_tail(3000)
    assert metadata_error(new_ca) is None, "the certificate in force stays"


# ---- between brokers -------------------------------------------------------------------------

class InterBrokerCluster:
    """A coordinator and brokers 1, 2, 3 whose inter-broker listener INTERNAL speaks
    `protocol` (each also has a PLAINTEXT client listener), `settings` in every broker's
    configuration. fill() checks replication across them; misfit() adds a broker the others
    can't replicate with, and checks it leaves the ISR of a partition on 1, 2 and it."""

    def __init__(self, make_broker, tmp_path, protocol, settings):
        self.make_broker, self.protocol, self.settings = make_broker, protocol, settings
        self.coord = Coordinator(tmp_path / "coordinator")
        self.brokers = []

    def __enter__(self):
        self.coord.start()
        try:
            for i in (1, 2, 3):
                self.start_broker(i)
        except BaseException:
            self.__exit__()
            raise
        self.bootstrap = ",".join(b.bootstrap for b in self.brokers)
        return self

    def __exit__(self, *exc):
        for b in self.brokers:
            b.stop()
        self.coord.stop()

    def start_broker(self, i, **more):
        port, internal_port = free_port(), free_port()
        listeners = f"PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port}"
        b = self.make_broker(f"broker-{i}", node_id=i, start=False, overrides={
            "controller.quorum.voters": self.coord.voters,
            "listeners": listeners, "advertised.listeners": listeners,
            "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,INTERNAL:{self.protocol}",
            "inter.broker.listener.name": "INTERNAL",
            "replica.lag.time.max.ms": 3000,
            **self.settings, **more,
        })
        b.port = port
        self.brokers.append(b.start())
        return b

    def fill(self, topic):
        """Every ISR of a 3-partition RF=3 topic fills, acks=all works, every replica holds
        the same batches."""
        from confluent_kafka import Producer
        create_topic(self.bootstrap, topic, 3, replicas=3, min_isr=2)
        wait_until(lambda: isr_full(self.bootstrap, topic), timeout=60, what=f"every ISR full over {self.protocol}")
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        for n in range(300):
            p.produce(topic, value=b"v%d" % n, partition=n % 3)
        assert p.flush(60) == 0, "acks=all records left unacknowledged"
        wait_until(lambda: same_data_everywhere(self.brokers, topic, 3), timeout=60,
                   what="every replica to hold the same batches")

    def misfit(self, i, reason, **more):
        """Broker `i` with `more` settings: a partition "mixed" on 1, 2 and i; `reason` in its
        log, and it out of the ISR."""
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        odd = self.start_broker(i, **more)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic("mixed", 1, replica_assignment=[[1, 2, i]])])["mixed"].result(30)
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        p.produce("mixed", value=b"x")
        assert p.flush(60) == 0
        assert odd.wait_for_log(reason, timeout=30), odd.log_tail(3000)
        wait_until(lambda: self.isr("mixed") == [1, 2], timeout=60, what=f"broker {i} out of the ISR of mixed-0")
        return odd

    def isr(self, topic):
        return (partition_states(self.bootstrap, topic) or {}).get(0, (0, 0, []))[2]


def test_brokers_replicate_over_ssl_with_client_certificates(make_broker, pki, tmp_path):
    """Three brokers whose inter-broker listener is SSL with client certificates required:
    followers copy their leaders over TLS, checking the leader's certificate (every
    ISR fills, acks=all works, every replica holds the same batches). A broker that trusts
    another CA can't copy from the others (nor they from it): it stays out of their ISRs, the
    reason in its log; once its truststore file is replaced by the right CA, it copies again
    and rejoins the ISR without a restart (its connections to other brokers follow the file)."""
    settings = {"ssl.keystore.location": str(pki / "broker-bundle.pem"),
                "ssl.truststore.location": str(pki / "ca.pem"), "ssl.client.auth": "required"}
    with InterBrokerCluster(make_broker, tmp_path, "SSL", settings) as c:
        c.fill("over-tls")

        # Broker 4 trusts another CA: it can't copy from its leader, and leaves the ISR.
        truststore = tmp_path / "broker-4-truststore.pem"
        truststore.write_bytes((pki / "other-ca.pem").read_bytes())
        odd = c.misfit(4, "certificate verify failed", **{"ssl.truststore.location": str(truststore),
                                                          "tributary.ssl.reload.interval.ms": 500})

        # The right CA in broker 4's truststore (a new file renamed over it, as a Secret volume
        # changes): its fetcher's next connection uses it, and 4 is back in the ISR.
        fixed = tmp_path / "broker-4-truststore.pem.new"
        fixed.write_bytes((pki / "ca.pem").read_bytes())
        fixed.rename(truststore)
        assert odd.wait_for_log("new connections to other brokers use them", timeout=30), odd.log_tail(3000)
        wait_until(lambda: c.isr("mixed") == [1, 2, 4], timeout=60, what="broker 4 back in the ISR of mixed-0")
        wait_until(lambda: same_data_everywhere([c.brokers[0], c.brokers[1], odd], "mixed", 1), timeout=60,
                   what="broker 4 to hold mixed-0's batches")


# ---- bad configurations ----------------------------------------------------------------------

def start_fails(tmp_path, overrides):
    args = [broker_binary(), "--override", f"log.dirs={tmp_path / 'data'}"]
    for k, v in overrides.items():
        args += ["--override", f"{k}={v}"]
    p = subprocess.run(args, capture_output=True, timeout=30)
    assert p.returncode != 0, p
    return p.stderr.decode()


SSL_LISTENERS = {"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                 "inter.broker.listener.name": "PLAINTEXT"}


def test_bad_configs_stop_start_naming_the_key(tmp_path, pki):
    err = start_fails(tmp_path, {**SSL_LISTENERS, "ssl.keystore.location": str(tmp_path / "none.pem")})
    assert "ssl.keystore.location" in err and "none.pem" in err, err

    err = start_fails(tmp_path, {**SSL_LISTENERS, "ssl.keystore.type": "JKS",
                                 "ssl.keystore.location": str(pki / "broker-bundle.pem")})
    assert "ssl.keystore.type" in err and "PEM" in err, err

    err = start_fails(tmp_path, {**SSL_LISTENERS, "ssl.keystore.location": str(pki / "ca.pem")})
    assert "ssl.keystore.location" in err, err  # a certificate but no key

    err = start_fails(tmp_path, {**SSL_LISTENERS, "ssl.keystore.location": str(pki / "broker-enc-bundle.pem"),
                                 "ssl.key.password": "wrong"})
    assert "ssl.keystore.location" in err and "ssl.key.password" in err, err

    err = start_fails(tmp_path, {**SSL_LISTENERS, "listener.name.ssl.ssl.keystore.location":
                                 str(tmp_path / "gone.pem")})
    assert "listener.name.ssl.ssl.keystore.location" in err, err

    err = start_fails(tmp_path, {**SSL_LISTENERS, "listener.name.ssl.ssl.keystore.locaton": "x"})
    assert "listener.name.ssl.ssl.keystore.locaton" in err, err

    err = start_fails(tmp_path, {**SSL_LISTENERS, "ssl.keystore.location": str(pki / "broker-bundle.pem"),
                                 "ssl.client.auth": "required"})
    assert "ssl.client.auth" in err and "truststore" in err, err

    err = start_fails(tmp_path, {"listeners": "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"})
    assert "SASL_SSL" in err and "SASL" in err, err

    err = start_fails(tmp_path, {"ssl.principal.mapping.rules": "RULE:^CN=(.*)$/$1/,DEFAULT"})
    assert "ssl.principal.mapping.rules" in err and "DEFAULT" in err, err

    err = start_fails(tmp_path, {"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                                 "inter.broker.listener.name": "SSL",
                                 "ssl.keystore.location": str(pki / "broker-bundle.pem"),
                                 "ssl.endpoint.identification.algorithm": "dns"})
    assert "ssl.endpoint.identification.algorithm" in err, err
