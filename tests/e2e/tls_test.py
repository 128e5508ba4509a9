"""A KafkaCluster with a TLS listener (issue 17): the operator makes the cluster CA and the
brokers' certificates, clients that trust the CA's Secret produce and consume over SSL with
host name checks on, a client that doesn't trust it is refused, and a certificate issued again
rolls the brokers one at a time while an idempotent producer and a consumer group lose
nothing."""
import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from kafkacluster_test import (bootstrap_of, delete_with_claims, kafkacluster, operator, ready_with,  # noqa: E402,F401
                               sample, wait_status)  # operator: the chart installed (a fixture)
from kube import wait_for  # noqa: E402
from workloads import pods, read_back_once, ready, under_load  # noqa: E402

TLS_PORT = 9096


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


def produce_and_read(bootstrap, ca_file, topic, n):
    p = Producer({**ssl_conf(bootstrap, ca_file), "acks": "all"})
    for i in range(n):
        p.produce(topic, f"{topic}-{i}".encode())
    assert p.flush(60) == 0
    c = Consumer({**ssl_conf(bootstrap, ca_file), "group.id": f"{topic}-reader", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 90
    try:
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value().decode())
    finally:
        c.close()
    assert sorted(got) == sorted(f"{topic}-{i}" for i in range(n))


def test_a_tls_listener_serves_with_certificates_the_operator_made_and_renews(
        control_plane, node_agent, namespace, operator, tmp_path):
    cp, ns = control_plane, namespace
    kc = sample("secure", replicas=3, storage={"size": "1Gi", "deleteClaim": True})
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
    kc["spec"]["listeners"] += [{"name": "tls", "port": TLS_PORT, "type": "loadbalancer", "tls": True}]
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
    produce_and_read(tls_bootstrap, ca_file, "over-tls", 200)

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

    # A certificate issued again (its keystore entry lost here) rolls the brokers, one at a
    # time, under load on the plaintext listener; then TLS clients carry on with the new one.
    plain_bootstrap = bootstrap_of(kc)
    kafka_tool("kafka-topics", "--bootstrap-server", plain_bootstrap, "--create", "--topic", "during-renewal",
               "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "secure").items()}
    with under_load(plain_bootstrap, "during-renewal", "renewal-readers", "r") as (acked, group_read):
        wait_for("records acknowledged and read before the renewal",
                 lambda: len(acked) > 100 and len(group_read) > 100, 60)
        held.pop("secure-broker-1.pem")
        cp.kubectl("-n", ns, "patch", "secret", "secure-broker-certs", "--type=json",
                   "-p", json.dumps([{"op": "remove", "path": "/data/secure-broker-1.pem"}]))
        # The operator reads Secrets on each pass; any change of the KafkaCluster starts one.
        cp.kubectl("-n", ns, "annotate", "kafkacluster", "secure", "tributary.io/test-nudge=1")
        most_down = 0

        def rolled():
            nonlocal most_down
            ps = pods(cp, ns, "broker", "secure")
            most_down = max(most_down, 3 - sum(ready(p) for p in ps.values()))
            current = kafkacluster(cp, ns, "secure")
            return (all(p["metadata"]["uid"] != before[n] for n, p in ps.items()) and ready_with(3)(current)
                    and "rollingUpdate" not in current["status"])
        wait_for("every broker restarted with the new certificate", rolled, 300, interval=0.2)
        assert most_down <= 1
        n = len(acked)
        wait_for("records acknowledged after the roll", lambda: len(acked) > n + 100, 60)
    renewed = secret_data(cp, ns, "secure-broker-certs")
    assert set(renewed) == {f"secure-broker-{i}.pem" for i in range(3)}
    assert renewed["secure-broker-0.pem"] == held["secure-broker-0.pem"], "only the lost one is issued again"
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=secure")["items"]
    assert any(e["reason"] == "CertificatesIssued" and "secure-broker-1 (new)" in e["message"] for e in events), \
        [(e["reason"], e["message"]) for e in events]
    read_back_once(bootstrap_of(kafkacluster(cp, ns, "secure")), "during-renewal", acked, tmp_path)
    produce_and_read(listener_bootstrap(kafkacluster(cp, ns, "secure"), "tls"), ca_file, "after-renewal", 50)

    delete_with_claims(cp, ns, "secure")
