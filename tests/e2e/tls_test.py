"""A KafkaCluster with TLS listeners (issue 17): the operator makes the cluster CA and the
brokers' certificates, clients that trust the CA's Secret produce and consume over SSL with
host name checks on, a client that doesn't trust it is refused; listeners with SCRAM-SHA-512
and with client certificates (the clients CA the operator makes) let in only the KafkaUsers
whose credentials the operator made, and spec.authorization's ACLs, set from the KafkaUsers,
keep each user to its topics; a listener with oauth takes JWTs signed by a key of the
JWKS in the user's ConfigMap, another fetches the JWKS from the identity provider's HTTPS
endpoint trusting the CA in the user's Secret, and follows its key rotation; a cluster CA renewal asked for with tributary.io/force-renew
issues every broker certificate again under a new CA and rolls the brokers one at a time,
while an idempotent producer and a consumer group lose nothing and a TLS producer that
trusts only the old CA keeps writing; clients with the new ca.crt read it all back. With
spec.certificateAuthority.certManager, cert-manager (its CA issuer, stood in for by
tests/platform/cert-manager) issues the brokers' certificates instead. A new cluster's internal
listeners, REPLICATION and CONTROLLER, run mutual TLS from the cluster CA, which the operator
uses too (its own certificate), and which a renewal re-issues for the coordinators and the
operator."""
import base64
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from idp import JwksServer, Key, jwks, make_tls  # noqa: E402
from kafkacluster_test import (bootstrap_of, condition, delete_with_claims, kafkacluster, operator,  # noqa: E402,F401
                               process_of_pod, ready_with, sample, wait_status)  # operator: the chart (a fixture)
from kube import Component, wait_for  # noqa: E402
from workloads import pods, read_back_once, ready, under_load  # noqa: E402

TLS_PORT = 9096
SCRAM_PORT = 9097
MTLS_PORT = 9098
SSO_PORT = 9099


def secret_data(cp, ns, name):
    data = cp.get_json("secret", name, "-n", ns).get("data", {})
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def listener_bootstrap(kc, name):
    return next(l["bootstrapServers"] for l in kc["status"]["listeners"] if l["name"] == name)


def ssl_conf(bootstrap, ca_file):
    # librdkafka checks the broker's host name against the certificate (the default of
    # ssl.endpoint.identification.algorithm since 2.0); said here so a change of default can't
    # make the test weaker.
    return {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(ca_file),
            "ssl.endpoint.identification.algorithm": "https"}


def produce_and_read(conf, topic, n):
    p = Producer({**conf, "acks": "all"})
    for i in range(n):
        p.produce(topic, f"{topic}-{i}".encode())
    assert p.flush(60) == 0
    got = read_all(conf, topic, n, f"{topic}-reader")
    assert sorted(got) == sorted(f"{topic}-{i}" for i in range(n))


class TlsWriter(threading.Thread):
    """An idempotent acks=all producer writing "<topic>-<i>" over TLS until stopped; the values
    acknowledged and the delivery errors."""

    def __init__(self, conf, topic):
        super().__init__(daemon=True)
        self.topic, self.acked, self.failed, self.stopping = topic, [], [], threading.Event()
        self.producer = Producer({**conf, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000})

    def delivered(self, err, msg):
        (self.failed if err is not None else self.acked).append(err or msg.value().decode())

    def run(self):
        i = 0
        while not self.stopping.is_set():
            self.producer.produce(self.topic, f"{self.topic}-{i}".encode(), on_delivery=self.delivered)
            i += 1
            self.producer.poll(0.05)
        self.producer.flush(120)

    def stop(self):
        self.stopping.set()
        self.join(150)


class Rolled:
    """For wait_for: every broker of KafkaCluster `name` restarted since `before` (pod name ->
    uid), `count` of them Ready, no roll left in status, and `also()`; `most_down` is the most
    brokers seen not Ready at once."""

    def __init__(self, cp, ns, name, count, before, also=lambda: True):
        self.cp, self.ns, self.name, self.count, self.before, self.also = cp, ns, name, count, before, also
        self.most_down = 0

    def __call__(self):
        ps = pods(self.cp, self.ns, "broker", self.name)
        self.most_down = max(self.most_down, self.count - sum(ready(p) for p in ps.values()))
        current = kafkacluster(self.cp, self.ns, self.name)
        return (all(p["metadata"]["uid"] != self.before[n] for n, p in ps.items()) and ready_with(self.count)(current)
                and "rollingUpdate" not in current["status"] and self.also())


def read_all(conf, topic, n, group):
    """The values of `topic` read from the start by a new consumer group, until n of them came
    (or 90 s passed)."""
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 90
    try:
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value().decode())
    finally:
        c.close()
    return got


def certificates_in(pem):
    return pem.count("-----BEGIN CERTIFICATE-----")


def refused(conf, codes):
    """Whether a client with `conf` is refused, never let in, with an error whose code is one of
    `codes` (librdkafka's error callback)."""
    errors = []
    admin = AdminClient({**conf, "error_cb": errors.append})

    def seen():
        try:
            admin.list_topics(timeout=2)
        except KafkaException:
            pass
        else:
            raise AssertionError("the client was let in")
        admin.poll(0)
        return any(e.code() in codes for e in errors)
    wait_for(f"the client refused with one of {codes}", seen, 60)
    return True


def visible_topics(conf):
    admin = AdminClient(conf)
    admin.poll(1)  # serves oauth_cb: confluent-kafka 1.7's list_topics does not
    return set(admin.list_topics(timeout=30).topics)


def kafka_user(name, auth, topic):
    """A KafkaUser of cluster `secure` allowed everything on `topic` and its reader group."""
    return {"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaUser",
            "metadata": {"name": name, "labels": {"tributary.io/cluster": "secure"}},
            "spec": {"authentication": {"type": auth},
                     "authorization": {"type": "simple", "acls": [
                         {"resource": {"type": "topic", "name": topic}, "operations": ["All"]},
                         {"resource": {"type": "group", "name": f"{topic}-reader"}, "operations": ["All"]}]}}}


def user_ready(cp, ns, name):
    o = cp.get_json("kafkauser", name, "-n", ns)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions", []))


def check_users_and_acls(cp, ns, kc, ca_file, tmp_path):
    """KafkaUsers: alice logs in with SCRAM-SHA-512 and the password of her Secret, bob with the
    certificate the operator signed with the clients CA; each may use its own topic and group
    only; deleting alice takes her credential and ACLs away."""
    clients_ca = secret_data(cp, ns, "secure-clients-ca")
    assert set(clients_ca) == {"ca.key", "ca.crt"}
    assert secret_data(cp, ns, "secure-clients-ca-cert") == {"ca.crt": clients_ca["ca.crt"]}
    assert clients_ca["ca.crt"] != (tmp_path / "ca.crt").read_text(), "apart from the cluster CA"
    plain = bootstrap_of(kc)
    for topic in ("alice-topic", "bob-topic"):
        kafka_tool("kafka-topics", "--bootstrap-server", plain, "--create", "--topic", topic,
                   "--partitions", "1", "--replication-factor", "3")
    for u in (kafka_user("alice", "scram-sha-512", "alice-topic"), kafka_user("bob", "tls", "bob-topic")):
        cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(u))
    wait_for("alice and bob Ready", lambda: user_ready(cp, ns, "alice") and user_ready(cp, ns, "bob"), 90)

    a = secret_data(cp, ns, "alice")
    assert set(a) == {"password", "sasl.jaas.config"}
    owner = cp.get_json("secret", "alice", "-n", ns)["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("KafkaUser", "alice")
    scram_bootstrap = listener_bootstrap(kc, "scram")
    alice = {**ssl_conf(scram_bootstrap, ca_file), "security.protocol": "SASL_SSL",
             "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": a["password"]}
    produce_and_read(alice, "alice-topic", 50)
    assert visible_topics(alice) & {"alice-topic", "bob-topic"} == {"alice-topic"}, "bob's topic is hidden"
    assert refused({**alice, "sasl.password": "wrong"}, {KafkaError._AUTHENTICATION})
    # Kafka's own tools (the Java client) over SASL_SSL, with the Secret's JAAS line.
    props = tmp_path / "alice.properties"
    props.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                     f"sasl.jaas.config={a['sasl.jaas.config']}\n"
                     f"ssl.truststore.type=PEM\nssl.truststore.location={ca_file}\n")
    out = kafka_tool("kafka-topics", "--bootstrap-server", scram_bootstrap, "--command-config", str(props),
                     "--list").stdout.split()
    assert "alice-topic" in out and "bob-topic" not in out, out

    b = secret_data(cp, ns, "bob")
    assert set(b) == {"ca.crt", "user.crt", "user.key"} and b["ca.crt"] == clients_ca["ca.crt"]
    d = tmp_path / "bob"
    d.mkdir()
    for k in b:
        (d / k).write_text(b[k])
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", str(d / "user.crt")],
                             check=True, capture_output=True, text=True).stdout.strip()
    assert subject == "subject=CN=bob", subject  # the principal User:CN=bob
    mtls_bootstrap = listener_bootstrap(kc, "mtls")
    bob = {**ssl_conf(mtls_bootstrap, ca_file), "ssl.certificate.location": str(d / "user.crt"),
           "ssl.key.location": str(d / "user.key")}
    produce_and_read(bob, "bob-topic", 50)
    assert visible_topics(bob) & {"alice-topic", "bob-topic"} == {"bob-topic"}
    # No certificate, or one a broker holds (the cluster CA's): refused in the handshake (TLS
    # 1.3 checks the client's certificate after the client's side of the handshake, so the
    # client may see the refusal as a failed read instead).
    handshake = {KafkaError._SSL, KafkaError._TRANSPORT}
    assert refused(ssl_conf(mtls_bootstrap, ca_file), handshake)
    (d / "broker.pem").write_text(secret_data(cp, ns, "secure-broker-certs")["secure-broker-0.pem"])
    assert refused({**ssl_conf(mtls_bootstrap, ca_file), "ssl.certificate.location": str(d / "broker.pem"),
                    "ssl.key.location": str(d / "broker.pem")}, handshake)

    # Deleting alice (her finalizer runs first): her login and her ACLs go; bob keeps his.
    cp.kubectl("-n", ns, "delete", "kafkauser", "alice", "--timeout=60s")
    assert refused(alice, {KafkaError._AUTHENTICATION})
    acls = kafka_tool("kafka-acls", "--bootstrap-server", plain, "--list").stdout
    assert "User:alice" not in acls and "User:CN=bob" in acls, acls


def check_oauth(kc, idp_key, ca_file):
    """carol logs in on the oauth listener with a JWT the identity provider signed; a token of
    a key the ConfigMap's JWKS lacks is refused; ACLs apply to User:carol."""
    plain = bootstrap_of(kc)
    kafka_tool("kafka-topics", "--bootstrap-server", plain, "--create", "--topic", "carol-topic",
               "--partitions", "1", "--replication-factor", "3")
    kafka_tool("kafka-acls", "--bootstrap-server", plain, "--add", "--allow-principal", "User:carol",
               "--operation", "All", "--topic", "carol-topic", "--group", "carol-topic-reader")

    def conf(key):
        token = key.token("carol")
        return {**ssl_conf(listener_bootstrap(kc, "sso"), ca_file), "security.protocol": "SASL_SSL",
                "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _: (token, time.time() + 300)}  # the older confluent-kafka here takes two
    produce_and_read(conf(idp_key), "carol-topic", 50)
    assert visible_topics(conf(idp_key)) & {"carol-topic", "alice-topic", "bob-topic"} == {"carol-topic"}
    assert refused(conf(Key("not-the-idp", "EC")), {KafkaError._AUTHENTICATION})


def test_a_tls_listener_serves_with_certificates_the_operator_made_and_renews(
        control_plane, node_agent, namespace, operator, tmp_path):
    cp, ns = control_plane, namespace
    kc = sample("secure", replicas=3, storage={"size": "1Gi", "deleteClaim": True})
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
    kc["spec"]["listeners"] += [
        {"name": "tls", "port": TLS_PORT, "type": "loadbalancer", "tls": True},
        {"name": "scram", "port": SCRAM_PORT, "type": "loadbalancer", "tls": True,
         "authentication": {"type": "scram-sha-512"}},
        {"name": "mtls", "port": MTLS_PORT, "type": "loadbalancer", "tls": True, "authentication": {"type": "tls"}},
        {"name": "sso", "port": SSO_PORT, "type": "loadbalancer", "tls": True,
         "authentication": {"type": "oauth", "jwksConfigMap": {"name": "idp-keys"}, "audience": ["kafka"]}}]
    # ACLs everywhere; the clients of the listeners without authentication are User:ANONYMOUS,
    # made a super user here so the load and the tools below need no credentials.
    kc["spec"]["authorization"] = {"superUsers": ["User:ANONYMOUS"]}
    # The identity provider's keys, which the user keeps in a ConfigMap.
    idp_key = Key("idp-1", "EC")
    cp.kubectl("-n", ns, "create", "configmap", "idp-keys", f"--from-literal=jwks.json={jwks([idp_key])}")
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "secure", "Ready with 3 running brokers", ready_with(3))

    # What the operator made: the CA's key only in secure-cluster-ca; clients get ca.crt.
    ca = secret_data(cp, ns, "secure-cluster-ca")
    assert set(ca) == {"ca.key", "ca.crt"}
    public = secret_data(cp, ns, "secure-cluster-ca-cert")
    assert public == {"ca.crt": ca["ca.crt"]}
    held = secret_data(cp, ns, "secure-broker-certs")
    assert set(held) == {f"secure-broker-{i}.pem" for i in range(3)}
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(public["ca.crt"])
    for name, pem in held.items():
        cert = subprocess.run(["openssl", "verify", "-CAfile", str(ca_file)], input=pem, capture_output=True, text=True)
        assert cert.returncode == 0, (name, cert.stdout, cert.stderr)
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=secure")["items"]
    reasons = [e["reason"] for e in events]
    assert "CertificateAuthorityCreated" in reasons and "CertificatesIssued" in reasons, reasons

    tls_bootstrap = listener_bootstrap(kc, "tls")
    produce_and_read(ssl_conf(tls_bootstrap, ca_file), "over-tls", 200)

    # Kafka's own tools (the Java client) with the CA as a PEM truststore.
    props = tmp_path / "ssl.properties"
    props.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={ca_file}\n")
    out = kafka_tool("kafka-topics", "--bootstrap-server", tls_bootstrap, "--command-config", str(props), "--list").stdout
    assert "over-tls" in out.split(), out

    # A client trusting another CA is refused in the handshake.
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(other / "ca.key"), "-out", str(other / "ca.crt"), "-days", "1",
                    "-subj", "/CN=not the cluster CA"], check=True, capture_output=True)
    admin = AdminClient(ssl_conf(tls_bootstrap, other / "ca.crt"))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)

    check_users_and_acls(cp, ns, kc, ca_file, tmp_path)
    check_oauth(kc, idp_key, ca_file)

    # The cluster CA renewed on demand (the annotation on its Secret) under load on the
    # plaintext listener and over TLS from a producer that trusts only the old CA: every broker
    # certificate is issued again under a new CA, the brokers restart one at a time, and the
    # old CA leaves ca.crt once they all run the new ones.
    plain_bootstrap = bootstrap_of(kc)
    for topic in ("during-renewal", "tls-during-renewal"):
        kafka_tool("kafka-topics", "--bootstrap-server", plain_bootstrap, "--create", "--topic", topic,
                   "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "secure").items()}
    coordinators_before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "secure").items()}
    old_ca = ca["ca.crt"]
    tls_writer = TlsWriter(ssl_conf(tls_bootstrap, ca_file), "tls-during-renewal")  # ca_file: the old CA alone
    tls_writer.start()
    bundle_file = tmp_path / "bundle.crt"
    with under_load(plain_bootstrap, "during-renewal", "renewal-readers", "r") as (acked, group_read):
        wait_for("records acknowledged and read before the renewal",
                 lambda: len(acked) > 100 and len(group_read) > 100 and len(tls_writer.acked) > 50, 60)
        # The operator watches its Secrets: the annotation alone starts a pass (the resync is
        # 5 minutes, beyond the wait below).
        cp.kubectl("-n", ns, "annotate", "secret", "secure-cluster-ca", "tributary.io/force-renew=true")

        def renewing():
            public = secret_data(cp, ns, "secure-cluster-ca-cert")["ca.crt"]
            if certificates_in(public) != 2:
                return False
            bundle_file.write_text(public)
            return True
        wait_for("ca.crt holding the new and the old CA", renewing, 60, interval=0.2)
        assert bundle_file.read_text().endswith(old_ca), "the new CA first, then the old one"
        rolled = Rolled(cp, ns, "secure", 3, before)
        wait_for("every broker restarted with a certificate of the new CA", rolled, 300, interval=0.2)
        assert rolled.most_down <= 1
        n, tls_n = len(acked), len(tls_writer.acked)
        wait_for("records acknowledged after the roll, over TLS too with only the old CA trusted",
                 lambda: len(acked) > n + 100 and len(tls_writer.acked) > tls_n + 50, 60)
    tls_writer.stop()
    assert not tls_writer.failed, tls_writer.failed[:5]

    def renewed():
        st = kafkacluster(cp, ns, "secure")["status"].get("certificateAuthority", {}).get("cluster", {})
        return st.get("phase") == "Valid" and certificates_in(secret_data(cp, ns, "secure-cluster-ca-cert")["ca.crt"]) == 1
    wait_for("the renewal to end: the old CA out of ca.crt", renewed, 60)
    new_ca = secret_data(cp, ns, "secure-cluster-ca")
    assert set(new_ca) == {"ca.key", "ca.crt"} and new_ca["ca.crt"] != old_ca and bundle_file.read_text().startswith(new_ca["ca.crt"])
    assert "tributary.io/force-renew" not in cp.get_json("secret", "secure-cluster-ca", "-n", ns)["metadata"].get(
        "annotations", {})
    new_file = tmp_path / "new-ca.crt"
    new_file.write_text(secret_data(cp, ns, "secure-cluster-ca-cert")["ca.crt"])
    for name, pem in secret_data(cp, ns, "secure-broker-certs").items():
        # The broker's chain (its certificate, then the rollover one) verifies under the new CA
        # and under the old one alone.
        chain = tmp_path / name
        chain.write_text(pem)
        for trusted in (new_file, ca_file):
            cert = subprocess.run(["openssl", "verify", "-CAfile", str(trusted), "-untrusted", str(chain), str(chain)],
                                  capture_output=True, text=True)
            assert cert.returncode == 0, (name, trusted, cert.stdout, cert.stderr)
    # Internal TLS: the coordinator's and the operator's certificates were issued again under
    # the new CA too, and the coordinator restarted to load its own.
    internal = {**secret_data(cp, ns, "secure-coordinator-certs"), **secret_data(cp, ns, "secure-operator-certs")}
    assert set(internal) == {f"secure-coordinator-{i}.pem" for i in range(5)} | {"secure-operator.pem"}, set(internal)
    for name, pem in internal.items():
        chain = tmp_path / name
        chain.write_text(pem)
        cert = subprocess.run(["openssl", "verify", "-CAfile", str(new_file), "-untrusted", str(chain), str(chain)],
                              capture_output=True, text=True)
        assert cert.returncode == 0, (name, cert.stdout, cert.stderr)
        alone = subprocess.run(["openssl", "verify", "-CAfile", str(new_file), str(chain)], capture_output=True,
                               text=True)
        assert alone.returncode == 0, (name, "issued by the new CA itself", alone.stdout, alone.stderr)
    coordinators_after = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "secure").items()}
    assert all(coordinators_after[n] != uid for n, uid in coordinators_before.items()), "the coordinator restarted"
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=secure")["items"]
    reasons = [e["reason"] for e in events]
    assert "CertificateAuthorityRenewing" in reasons and "CertificateAuthorityRenewed" in reasons, reasons
    read_back_once(bootstrap_of(kafkacluster(cp, ns, "secure")), "during-renewal", acked, tmp_path)
    # Clients with the bundle, and with the new CA alone, read everything the old-CA client wrote.
    tls_bootstrap = listener_bootstrap(kafkacluster(cp, ns, "secure"), "tls")
    got = read_all(ssl_conf(tls_bootstrap, bundle_file), "tls-during-renewal", len(tls_writer.acked), "bundle-reader")
    assert sorted(got) == sorted(tls_writer.acked), (len(got), len(tls_writer.acked))
    produce_and_read(ssl_conf(tls_bootstrap, new_file), "after-renewal", 50)
    # Kafka's Java client too, trusting the old CA alone (its PKIX path builder through the
    # rollover certificate), and the new one alone.
    new_props = tmp_path / "ssl-new.properties"
    new_props.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={new_file}\n")
    for config in (props, new_props):
        out = kafka_tool("kafka-topics", "--bootstrap-server", tls_bootstrap, "--command-config", str(config),
                         "--list").stdout
        assert "after-renewal" in out.split(), (config, out)

    delete_with_claims(cp, ns, "secure")


def logs_in(conf):
    """Whether a client with `conf` gets metadata (False: refused or not let in within the wait)."""
    errors = []
    admin = AdminClient({**conf, "error_cb": errors.append})
    admin.poll(1)  # serves oauth_cb (see visible_topics)
    try:
        admin.list_topics(timeout=5)
    except KafkaException:
        return False
    return True


def test_an_oauth_listener_fetches_the_jwks_from_the_identity_providers_endpoint(
        control_plane, node_agent, namespace, operator, tmp_path):
    """jwksEndpointUri: the brokers fetch the JWKS over HTTPS from the test's identity provider
    (127.0.0.1, its own CA, given to them by tlsTrustedCertificates from a Secret); a token it
    signed logs in and produces, one of a key it never published is refused; the provider
    rotating its key is followed without a broker restart; a changed jwksRefreshSeconds rolls
    the brokers, which fetch the keys again as they start."""
    cp, ns = control_plane, namespace
    ca, cert, key = make_tls(tmp_path / "idp")
    old_key, new_key = Key("idp-old", "EC"), Key("idp-new", "RSA")
    idp = JwksServer([old_key], cert, key)
    try:
        cp.kubectl("-n", ns, "create", "secret", "generic", "idp-ca", f"--from-file=ca.pem={ca}")
        kc = sample("fetching", replicas=1, storage={"size": "1Gi", "deleteClaim": True})
        kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
        kc["spec"]["listeners"] += [
            {"name": "sso", "port": SSO_PORT, "type": "loadbalancer",
             "authentication": {"type": "oauth", "jwksEndpointUri": idp.url, "audience": ["kafka"],
                                "jwksRefreshSeconds": 3600, "jwksMinRefreshPauseSeconds": 1,
                                "jwksRetryBackoffMaxSeconds": 5,
                                "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.pem"}]}}]
        cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
        kc = wait_status(cp, ns, "fetching", "Ready with 1 running broker", ready_with(1))
        assert idp.requests >= 1, "the broker fetched the JWKS at start-up"

        def conf(signer, sub="dave"):
            token = signer.token(sub)
            return {"bootstrap.servers": listener_bootstrap(kc, "sso"), "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _: (token, time.time() + 300)}
        produce_and_read(conf(old_key), "over-fetched-keys", 50)
        assert refused(conf(Key("never-published", "EC")), {KafkaError._AUTHENTICATION})

        # The provider rotates: the new key alone. A token naming it makes the broker fetch
        # at once (the first such login is refused, a later one gets in); the old key's tokens
        # stop working once the broker holds the new JWKS. No restart.
        before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "fetching").items()}
        fetched = idp.requests
        idp.keys = [new_key]
        wait_for("a token of the rotated-in key let in", lambda: logs_in(conf(new_key)), 60, interval=0.5)
        assert idp.requests > fetched
        produce_and_read(conf(new_key), "after-rotation", 50)
        assert refused(conf(old_key), {KafkaError._AUTHENTICATION})
        assert {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "fetching").items()} == before

        # A changed fetch setting is broker config: the broker restarts with it and fetches the
        # keys again over the same trusted CA.
        cp.kubectl("-n", ns, "patch", "kafkacluster", "fetching", "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/listeners/1/authentication/jwksRefreshSeconds", "value": 600}]))
        rolled = Rolled(cp, ns, "fetching", 1, before)
        wait_for("the broker restarted with the new refresh interval", rolled, 240, interval=0.5)
        kc = wait_status(cp, ns, "fetching", "Ready with 1 running broker", ready_with(1))
        produce_and_read(conf(new_key), "after-roll", 20)
        delete_with_claims(cp, ns, "fetching")
    finally:
        idp.stop()


def api_versions_request():
    """ApiVersions v0 as a Kafka client sends it first: size, key 18, version 0, correlation 1,
    client id "probe"."""
    body = struct.pack(">hhih", 18, 0, 1, 5) + b"probe"
    return struct.pack(">i", len(body)) + body


def kafka_answers(sock):
    """Whether the peer answers an ApiVersions request on `sock` (a socket or a TLS socket):
    False when it closes the connection or fails the TLS session instead."""
    try:
        sock.sendall(api_versions_request())
        head = sock.recv(4)
        return len(head) == 4
    except (OSError, ssl.SSLError):
        return False


def tls_client(ca_file, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.check_hostname = False  # pod IPs: the chain is what is checked, as the operator does
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def tls_answers(address, ctx):
    """Whether a Kafka request over TLS with `ctx` to host:port is answered; the certificates
    the peer showed (DER), or an empty list when the handshake failed."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                shown = s.getpeercert(binary_form=True)
                return kafka_answers(s), [shown] if shown else []
    except (OSError, ssl.SSLError):
        return False, []


def plaintext_answers(address):
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.settimeout(10)
            return kafka_answers(s)
    except OSError:
        return False


def split_keystore(pem, dir, name):
    """The key and the certificate chain of a PEM keystore as two files."""
    texts = re.findall(r"(-----BEGIN ([A-Z ]+)-----.*?-----END \2-----)", pem, re.S)
    assert texts, pem[:80]
    key, cert = dir / f"{name}.key", dir / f"{name}.crt"
    key.write_text("\n".join(t for t, label in texts if "PRIVATE KEY" in label) + "\n")
    cert.write_text("\n".join(t for t, label in texts if "PRIVATE KEY" not in label) + "\n")
    return cert, key


def issued_by(cert_der, ca_file):
    """Whether `cert_der` verifies under the certificates of `ca_file` alone (openssl)."""
    pem = ssl.DER_cert_to_PEM_cert(cert_der)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(ca_file)], input=pem, capture_output=True, text=True)
    return out.returncode == 0


def test_the_internal_listeners_run_mutual_tls_from_the_cluster_ca(
        control_plane, node_agent, namespace, operator, tmp_path):
    """A new cluster (no TLS listener of its own) runs REPLICATION and CONTROLLER with mutual TLS
    from the cluster CA: the config says so, a client with the operator's certificate gets an
    answer from a broker's REPLICATION and a coordinator's CONTROLLER, which show certificates of
    the cluster CA; a plaintext client and one with a certificate of another CA are refused on
    both, and the refusals are logged; records go through the cluster; the active coordinator
    SIGKILLed, metadata stays writable (the brokers and the operator reach the new leader over
    TLS)."""
    cp, ns = control_plane, namespace
    kc = sample("inside", replicas=2, storage={"size": "1Gi", "deleteClaim": True})
    kc["spec"]["coordinators"] = {"replicas": 3, "storage": {"size": "1Gi", "deleteClaim": True}}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "inside", "Ready with 2 brokers and 3 voters",
                     lambda kc: ready_with(2)(kc) and len(kc["status"].get("quorum", {}).get("voters", [])) == 3)
    internal = condition(kc, "InternalTLS")
    assert internal.get("status") == "True" and internal.get("reason") == "MutualTLS", internal

    brokers_file = cp.get_json("configmap", "inside-broker-config", "-n", ns)["data"]["broker.properties"]
    assert re.search(r"^listener\.security\.protocol\.map=REPLICATION:SSL,.*,CONTROLLER:SSL$", brokers_file, re.M), (
        brokers_file)
    assert "listener.name.replication.ssl.client.auth=required\n" in brokers_file
    coordinators_file = cp.get_json("configmap", "inside-coordinator-config", "-n", ns)["data"]["coordinator.properties"]
    for line in ("listener.security.protocol.map=CONTROLLER:SSL", "listener.name.controller.ssl.client.auth=required",
                 "super.users=User:CN=inside-broker,O=tributary;User:CN=inside-coordinator,O=tributary;"
                 "User:CN=inside-operator,O=tributary"):
        assert line + "\n" in coordinators_file, (line, coordinators_file)

    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(secret_data(cp, ns, "inside-cluster-ca-cert")["ca.crt"])
    operator_pem = secret_data(cp, ns, "inside-operator-certs")["inside-operator.pem"]
    op_cert, op_key = split_keystore(operator_pem, tmp_path, "operator")
    # One for every coordinator there may be (1, 3 or 5), so scaling the quorum restarts no one.
    assert set(secret_data(cp, ns, "inside-coordinator-certs")) == {f"inside-coordinator-{i}.pem" for i in range(5)}
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(other / "ca.key"), "-out", str(other / "ca.crt"), "-days", "1",
                    "-subj", "/CN=tributary-cluster-ca"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(other / "client.key"), "-out", str(other / "client.crt"), "-days", "1",
                    "-CA", str(other / "ca.crt"), "-CAkey", str(other / "ca.key"),
                    "-subj", "/O=tributary/CN=inside-operator"], check=True, capture_output=True)

    broker_pods = pods(cp, ns, "broker", "inside")
    coordinator_pods = pods(cp, ns, "coordinator", "inside")
    targets = {name: f"{p['status']['podIP']}:9091" for name, p in broker_pods.items()}
    targets.update({name: f"{p['status']['podIP']}:9093" for name, p in coordinator_pods.items()})
    for name, address in targets.items():
        answered, shown = tls_answers(address, tls_client(ca_file, op_cert, op_key))
        assert answered, (name, address, "the operator's certificate")
        assert shown and issued_by(shown[0], ca_file), (name, "shows a certificate of the cluster CA")
        assert not plaintext_answers(address), (name, address, "plaintext")
        assert not tls_answers(address, tls_client(ca_file, other / "client.crt", other / "client.key"))[0], (
            name, address, "a certificate of another CA")
        assert not tls_answers(address, tls_client(ca_file))[0], (name, address, "no certificate")

    def refusals_logged():
        logs = {}
        for name, p in {**broker_pods, **coordinator_pods}.items():
            container = "broker" if name in broker_pods else "coordinator"
            log = node_agent.pod_dir(ns, name) / f"{container}.log"
            logs[name] = log.read_text(errors="replace") if log.exists() else ""
        return all("TLS handshake with" in text and "failed" in text for text in logs.values())
    wait_for("every broker and coordinator logged the refused handshakes", refusals_logged, 30)

    bootstrap = bootstrap_of(kc)
    produce_and_read({"bootstrap.servers": bootstrap}, "through-inside", 100)

    # The Raft leader SIGKILLed: another leads, reached over TLS by the brokers (a topic can be
    # made) and by the operator (status.quorum names it).
    leader = kc["status"]["quorum"]["leaderId"]
    killed = process_of_pod("tributary-coordinator", f"inside-coordinator-{leader - 1000}")
    assert killed, f"no process for coordinator {leader}"
    os.kill(killed, signal.SIGKILL)

    def topic_made():
        out = kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--if-not-exists",
                         "--topic", "after-failover", "--partitions", "2", "--replication-factor", "2",
                         check=False)
        return out.returncode == 0
    wait_for("a topic made after the failover", topic_made, 120, interval=1)
    wait_status(cp, ns, "inside", "the operator reading the new leader over TLS",
                lambda kc: kc["status"].get("quorum", {}).get("leaderId") not in (None, -1, leader)
                and condition(kc, "QuorumReady").get("status") == "True", 120)
    produce_and_read({"bootstrap.servers": bootstrap}, "after-failover", 50)
    delete_with_claims(cp, ns, "inside")


CERT_MANAGER = Path(__file__).resolve().parents[1] / "platform" / "cert-manager"


def make_ca(dir, cn):
    dir.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(dir / "ca.key"), "-out", str(dir / "ca.crt"), "-days", "30", "-subj", f"/CN={cn}",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True)
    return dir / "ca.crt", dir / "ca.key"


def renew_with_cert_manager(cp, ns, certificate):
    """What `cmctl renew` does: the Certificate's Issuing condition set, for cert-manager to
    issue it again; returns the revision it had."""
    status = cp.get_json("certificate", certificate, "-n", ns).get("status", {})
    revision = status.get("revision", 0)
    conditions = [c for c in status.get("conditions", []) if c["type"] != "Issuing"]  # Ready stays as it is
    conditions.append({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                       "message": "Certificate re-issuance manually triggered",
                       "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    issuing = {"status": {"conditions": conditions}}
    cp.kubectl("-n", ns, "patch", "certificate", certificate, "--subresource=status", "--type=merge",
               "-p", json.dumps(issuing))
    return revision


def test_cert_manager_issues_the_brokers_certificates(control_plane, node_agent, namespace, operator, tmp_path):
    """spec.certificateAuthority.certManager: before cert-manager is installed the cluster says
    so; then a Certificate per broker from the user's CA Issuer, keystores from cert-manager's
    Secrets, no cluster CA of the operator's; the internal listeners on mutual TLS with the
    coordinators' and the operator's certificates from the same issuer; a certificate
    cert-manager issues again rolls its broker only; after a scale-down, a new issuer CA is
    trusted beside the old one until no keystore in service (brokers', coordinators',
    operator's) is under the old: the one a scaled-away broker keeps doesn't hold it."""
    cp, ns = control_plane, namespace
    kc = sample("managed", replicas=2, storage={"size": "1Gi", "deleteClaim": True})
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
    kc["spec"]["listeners"] += [{"name": "tls", "port": TLS_PORT, "type": "loadbalancer", "tls": True}]
    kc["spec"]["certificateAuthority"] = {"certManager": {"issuerRef": {"name": "users-ca"}}}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))

    def not_installed(k):
        return any(c["type"] == "Reconciling" and c.get("reason") == "CertManagerNotInstalled"
                   for c in k.get("status", {}).get("conditions", []))
    wait_status(cp, ns, "managed", "a condition saying cert-manager is missing", not_installed, 120)

    cp.kubectl("apply", "-f", str(CERT_MANAGER / "crds.yaml"))
    cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/certificates.cert-manager.io",
               "crd/issuers.cert-manager.io")
    standin = Component("cert-manager-standin", tmp_path / "cert-manager-standin.log")
    standin.start([sys.executable, CERT_MANAGER / "standin.py", "--kubeconfig", cp.kubeconfig])
    try:
        ca_crt, ca_key = make_ca(tmp_path / "users-ca", "users-ca")
        cp.kubectl("-n", ns, "create", "secret", "tls", "users-ca-key-pair", f"--cert={ca_crt}", f"--key={ca_key}")
        cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps({
            "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "users-ca"},
            "spec": {"ca": {"secretName": "users-ca-key-pair"}}}))
        kc = wait_status(cp, ns, "managed", "Ready with 2 running brokers", ready_with(2))

        # cert-manager's certificates, the operator's keystores; no CA of the operator's.
        for i in range(2):
            cert = cp.get_json("certificate", f"managed-broker-{i}", "-n", ns)
            assert cert["metadata"]["ownerReferences"][0]["name"] == "managed"
            assert cert["spec"]["issuerRef"]["name"] == "users-ca"
            issued = secret_data(cp, ns, f"managed-broker-{i}-tls")
            assert secret_data(cp, ns, "managed-broker-certs")[f"managed-broker-{i}.pem"] == \
                issued["tls.key"] + issued["tls.crt"]
        assert cp.kubectl("-n", ns, "get", "secret", "managed-cluster-ca", check=False).returncode != 0
        assert secret_data(cp, ns, "managed-cluster-ca-cert")["ca.crt"] == ca_crt.read_text()
        tls_bootstrap = listener_bootstrap(kc, "tls")
        produce_and_read(ssl_conf(tls_bootstrap, ca_crt), "over-cert-manager-tls", 100)

        # The internal listeners too: the coordinators' and the operator's certificates from the
        # same issuer; REPLICATION and CONTROLLER answer the operator's certificate and show ones
        # of the issuer's CA, and refuse plaintext.
        internal = condition(kc, "InternalTLS")
        assert internal.get("status") == "True" and internal.get("reason") == "MutualTLS", internal
        brokers_file = cp.get_json("configmap", "managed-broker-config", "-n", ns)["data"]["broker.properties"]
        assert re.search(r"^listener\.security\.protocol\.map=REPLICATION:SSL,.*,CONTROLLER:SSL$", brokers_file,
                         re.M), brokers_file
        coordinators_file = cp.get_json("configmap", "managed-coordinator-config", "-n", ns)["data"][
            "coordinator.properties"]
        assert "listener.security.protocol.map=CONTROLLER:SSL\n" in coordinators_file, coordinators_file
        internal_certs = [f"managed-coordinator-{i}" for i in range(5)] + ["managed-operator"]
        for name in internal_certs:
            cert = cp.get_json("certificate", name, "-n", ns)
            assert cert["spec"]["issuerRef"]["name"] == "users-ca", name
        issued = secret_data(cp, ns, "managed-coordinator-0-tls")
        assert secret_data(cp, ns, "managed-coordinator-certs")["managed-coordinator-0.pem"] == \
            issued["tls.key"] + issued["tls.crt"]
        issued = secret_data(cp, ns, "managed-operator-tls")
        operator_pem = secret_data(cp, ns, "managed-operator-certs")["managed-operator.pem"]
        assert operator_pem == issued["tls.key"] + issued["tls.crt"]
        op_cert, op_key = split_keystore(operator_pem, tmp_path, "operator")
        targets = {name: f"{p['status']['podIP']}:9091" for name, p in pods(cp, ns, "broker", "managed").items()}
        targets.update({name: f"{p['status']['podIP']}:9093"
                        for name, p in pods(cp, ns, "coordinator", "managed").items()})
        for name, address in targets.items():
            answered, shown = tls_answers(address, tls_client(ca_crt, op_cert, op_key))
            assert answered, (name, address, "the operator's certificate")
            assert shown and issued_by(shown[0], ca_crt), (name, "shows a certificate of the issuer's CA")
            assert not plaintext_answers(address), (name, address, "plaintext")
        produce_and_read({"bootstrap.servers": bootstrap_of(kc)}, "through-cert-manager-inside", 100)

        # cert-manager issues broker 1's certificate again: its keystore changes, and the brokers
        # restart one at a time (the serials are on the pod template, as for the operator's CA).
        before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "managed").items()}
        old_pem = secret_data(cp, ns, "managed-broker-certs")["managed-broker-1.pem"]
        revision = renew_with_cert_manager(cp, ns, "managed-broker-1")
        rolled = Rolled(cp, ns, "managed", 2, before, also=lambda: (
            cp.get_json("certificate", "managed-broker-1", "-n", ns).get("status", {}).get("revision", 0) > revision
            and secret_data(cp, ns, "managed-broker-certs")["managed-broker-1.pem"] != old_pem))
        wait_for("the brokers restarted with broker 1's new certificate", rolled, 240, interval=0.5)
        assert rolled.most_down <= 1
        pem = secret_data(cp, ns, "managed-broker-certs")["managed-broker-1.pem"]
        issued = secret_data(cp, ns, "managed-broker-1-tls")
        assert pem == issued["tls.key"] + issued["tls.crt"]

        # Scaled down to one broker: broker 1 drained, its pod gone. Its Certificate and its
        # keystore in C-broker-certs stay (the ordinal may come back), under the first CA.
        cp.kubectl("-n", ns, "scale", "kafkacluster/managed", "--replicas=1")

        def scaled_down(kc):
            drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
            return ready_with(1)(kc) and drains == {1: "Unregistered"}
        wait_status(cp, ns, "managed", "broker 1 drained, gone and unregistered", scaled_down)
        wait_for("broker 1's pod gone", lambda: sorted(pods(cp, ns, "broker", "managed")) == ["managed-broker-0"], 60)
        scaled_away = secret_data(cp, ns, "managed-broker-certs")["managed-broker-1.pem"]
        assert scaled_away == pem

        # The issuer's CA replaced: broker 0 issued again under the new one; clients with ca.crt
        # (both CAs while the coordinators and the operator hold ones of the old) reach it; once
        # they moved too, the old CA leaves ca.crt.
        new_crt, new_key = make_ca(tmp_path / "users-ca-2", "users-ca-2")
        cp.kubectl("-n", ns, "apply", "-f", "-", input=cp.kubectl(
            "-n", ns, "create", "secret", "tls", "users-ca-key-pair", f"--cert={new_crt}", f"--key={new_key}",
            "--dry-run=client", "-o", "json").stdout)
        renew_with_cert_manager(cp, ns, "managed-broker-0")
        bundle = tmp_path / "bundle.crt"

        def both_trusted():
            public = secret_data(cp, ns, "managed-cluster-ca-cert")["ca.crt"]
            bundle.write_text(public)
            issued = secret_data(cp, ns, "managed-broker-0-tls")
            taken = secret_data(cp, ns, "managed-broker-certs")["managed-broker-0.pem"] == \
                issued["tls.key"] + issued["tls.crt"]
            return certificates_in(public) == 2 and taken and ready_with(1)(kafkacluster(cp, ns, "managed")) and \
                "rollingUpdate" not in kafkacluster(cp, ns, "managed")["status"]
        wait_for("ca.crt holding the old and the new issuer CA, broker 0 rolled with its new keystore", both_trusted,
                 240, interval=0.5)
        assert new_crt.read_text() in bundle.read_text() and ca_crt.read_text() in bundle.read_text()
        produce_and_read(ssl_conf(tls_bootstrap, bundle), "across-issuer-cas", 100)
        # Everything else in service under the old CA moves too: the coordinators' (the
        # coordinator rolls) and the operator's. Broker 1's Certificate is not issued again.
        for name in internal_certs:
            renew_with_cert_manager(cp, ns, name)

        def only_new():
            public = secret_data(cp, ns, "managed-cluster-ca-cert")["ca.crt"]
            return public == new_crt.read_text() and ready_with(1)(kafkacluster(cp, ns, "managed")) and \
                "rollingUpdate" not in kafkacluster(cp, ns, "managed")["status"]
        wait_for("the old issuer CA out of ca.crt once no keystore in service is under it", only_new, 480,
                 interval=0.5)
        assert secret_data(cp, ns, "managed-broker-certs")["managed-broker-1.pem"] == scaled_away, \
            "the scaled-away broker's keystore is kept, under the old CA"
        produce_and_read(ssl_conf(tls_bootstrap, new_crt), "under-the-new-issuer-ca", 100)
        delete_with_claims(cp, ns, "managed")
    finally:
        standin.stop()
