"""The seeds' cluster as the plain manifests describe it; waiting on workloads in the e2e tests:
pods by component label, their readiness, what the brokers' Metadata says about each other;
and records written and read back with stock clients."""
import contextlib
import json
import struct
import sys
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from harness import SOURCE_DIR, consume_all, kcat, metadata_brokers  # noqa: E402
from kube import wait_for  # noqa: E402

READY_TIMEOUT_S = 180
MANIFESTS = SOURCE_DIR / "manifests"
# The operator install and its sample KafkaCluster (tests/e2e/chart_test.py), not the seeds' cluster.
OPERATOR_MANIFESTS = ("operator.yaml", "kafkacluster.yaml")


def manifests(advertise_pod_ip):
    """Every object in manifests/, with ADVERTISED_HOST set to the pod IP if asked."""
    docs = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name not in OPERATOR_MANIFESTS:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    if advertise_pod_ip:
        for d in docs:
            if d["kind"] == "StatefulSet":
                for c in d["spec"]["template"]["spec"]["containers"]:
                    for e in c.get("env", []):
                        if e["name"] == "ADVERTISED_HOST":
                            e["value"] = "$(POD_IP)"
    return docs


def pods(cp, ns, component, instance=None):
    """Pods of `component` (and of KafkaCluster `instance`, if given) by name."""
    selector = f"app.kubernetes.io/component={component}"
    if instance:
        selector += f",app.kubernetes.io/instance={instance}"
    out = cp.kubectl("-n", ns, "get", "pods", "-l", selector, "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def ready(pod):
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def wait_ready(cp, ns, component, count, not_uid=None, timeout=READY_TIMEOUT_S, instance=None):
    """The `count` pods of `component`, once all are Ready (and none has uid `not_uid`)."""
    deadline = time.monotonic() + timeout
    while True:
        ps = pods(cp, ns, component, instance)
        if (len(ps) == count and all(ready(p) for p in ps.values())
                and all(p["metadata"]["uid"] != not_uid for p in ps.values())):
            return ps
        for name, p in ps.items():  # a pod that can never start: say so now
            for c in p.get("status", {}).get("containerStatuses", []):
                waiting = c.get("state", {}).get("waiting", {})
                assert waiting.get("reason") not in ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"), \
                    f"{name}: {waiting}"
        if time.monotonic() > deadline:
            summary = {n: (p.get("status", {}).get("phase"), p.get("status", {}).get("podIP"),
                           [(c["type"], c["status"]) for c in p.get("status", {}).get("conditions", [])])
                       for n, p in ps.items()}
            raise AssertionError(f"{component} pods not ready within {timeout} s: {summary}\n{cp.log_tail()}")
        time.sleep(0.5)


def broker_addresses(bootstrap):
    """node id -> host:port, from Metadata (kcat -L -J)."""
    meta = json.loads(kcat("-b", bootstrap, "-L", "-J").stdout)
    return {b["id"]: b["name"] for b in meta["brokers"]}


def listed(host, node_id):
    """Where the broker at host:9092 lists `node_id`; None if it doesn't answer."""
    try:
        return metadata_brokers(9092, host=host, timeout=2).get(node_id)
    except (OSError, ValueError, EOFError, struct.error):
        return None


def wait_everyone_lists(ips, node_id, timeout=60):
    """Until every broker's Metadata gives `node_id` at ips[node_id]:9092. A broker learns of a
    re-registered peer's new address from the coordinator a moment after the peer serves."""
    want = (ips[node_id], 9092)
    deadline = time.monotonic() + timeout
    while True:
        seen = {i: listed(ip, node_id) for i, ip in ips.items()}
        if all(v == want for v in seen.values()):
            return
        assert time.monotonic() < deadline, f"broker {node_id} at {want}: the brokers list it as {seen}"
        time.sleep(0.2)


def write_with_java_and_kcat(bootstrap, topic, partitions, count=300):
    """Kafka's tools (the Java client) create `topic` and write `count` lines, kcat `count`
    more, all acks=all. Returns every line written, sorted."""
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
               "--partitions", partitions, "--replication-factor", "1")
    java_lines = [f"java-{i}" for i in range(count)]
    kafka_tool("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
               "--producer-property", "acks=all", input="\n".join(java_lines) + "\n")
    kcat_lines = [f"kcat-{i}" for i in range(count)]
    kcat("-b", bootstrap, "-P", "-t", topic, "-X", "acks=all", input=("\n".join(kcat_lines) + "\n").encode())
    return sorted(java_lines + kcat_lines)


def read_back(bootstrap, topic):
    """(every value in `topic`, sorted; the records by partition), read with confluent-kafka."""
    got = consume_all(bootstrap, topic)
    return sorted(v.decode() for records in got.values() for (_, _, v) in records), got


def read_with_java(bootstrap, topic, by_partition):
    """Every value, sorted, as Kafka's console consumer reads each partition (as many records
    as `by_partition` has for it)."""
    values = []
    for partition, records in by_partition.items():
        values += kafka_tool("kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", topic,
                             "--partition", partition, "--from-beginning", "--timeout-ms", 20000,
                             "--max-messages", len(records)).stdout.split()
    return sorted(values)


@contextlib.contextmanager
def idempotent_producer(bootstrap, topic, prefix):
    """Writes "<prefix>-<i>" to `topic` with an idempotent acks=all producer on a thread of its
    own while the block runs; yields (acknowledged values, errors), complete once the block
    has ended (the producer is flushed)."""
    from confluent_kafka import Producer
    acked, failed, stop = [], [], threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})

        def done(err, msg):
            (failed if err else acked).append(str(err) if err else msg.value().decode())
        i = 0
        while not stop.is_set():
            p.produce(topic, value=f"{prefix}-{i}".encode(), on_delivery=done)
            i += 1
            p.poll(0.005)
        if p.flush(120) != 0:
            failed.append("records left unflushed")
    writer = threading.Thread(target=produce)
    writer.start()
    try:
        yield acked, failed
    finally:
        stop.set()
        writer.join(180)


@contextlib.contextmanager
def group_reader(bootstrap, topic, group):
    """A consumer of group `group` reading `topic` on a thread of its own while the block runs;
    yields the set of values it has read so far; the thread stops when the block ends."""
    from confluent_kafka import Consumer
    read, stop = set(), threading.Event()

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        try:
            while not stop.is_set():
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    read.add(msg.value().decode())
        finally:
            c.close()
    reader = threading.Thread(target=consume)
    reader.start()
    try:
        yield read
    finally:
        stop.set()
        reader.join(60)


@contextlib.contextmanager
def leader_watch(bootstrap, topic):
    """Asks the brokers for `topic`'s Metadata over and over while the block runs; yields a
    list of (partition, error) for every answer that showed a partition without a leader,
    which should stay empty while a cluster keeps every partition writable."""
    from confluent_kafka.admin import AdminClient
    offline, stop = [], threading.Event()

    def watch():
        admin = AdminClient({"bootstrap.servers": bootstrap})
        while not stop.is_set():
            try:
                md = admin.list_topics(topic, timeout=5)
            except Exception:
                continue  # the broker asked was going down: another is asked next
            for p in md.topics[topic].partitions.values():
                if p.leader < 0:
                    offline.append((p.id, str(p.error)))
            stop.wait(0.2)  # a sampling interval, not a wait for a condition
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield offline
    finally:
        stop.set()
        watcher.join(30)


@contextlib.contextmanager
def under_load(bootstrap, topic, group, prefix):
    """The load every scaling and rolling scenario runs under: an idempotent acks=all producer
    writing "<prefix>-<i>" to `topic`, a consumer of `group` reading it, and a leader_watch of
    it. Yields (acknowledged values, values the group read). When the block ends the producer
    is flushed, the group is waited for until it has read every acknowledged record, and no
    send may have failed nor any Metadata answer have shown a partition without a leader."""
    with group_reader(bootstrap, topic, group) as read, leader_watch(bootstrap, topic) as offline:
        with idempotent_producer(bootstrap, topic, prefix) as (acked, failed):
            yield acked, read
        wait_for("the consumer group to read every acknowledged record", lambda: set(acked) <= read, 150)
    assert not failed, failed[:5]
    assert not offline, f"partitions without a leader in Metadata answers: {offline[:5]}"


def read_back_once(bootstrap, topic, acked, tmp_path):
    """Every acknowledged value of `topic`, once and nothing else, read back with confluent-kafka
    and again with Kafka's kafka-verifiable-consumer."""
    from faults import verifiable_consume
    values, _ = read_back(bootstrap, topic)
    assert len(values) == len(set(values)) and set(values) == set(acked), (len(values), len(acked))
    verified = verifiable_consume(bootstrap, topic, tmp_path, len(values))
    assert sorted(v.decode() for records in verified.values() for (_, _, v) in records) == values
