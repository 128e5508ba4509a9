"""Balancing after scale-up (operator/controller/balancing.h) on the real control plane: a
KafkaCluster of three brokers with a replicated topic holding records, scaled to five; the
operator reassigns partitions onto the new brokers, a bounded number at a time, until replica
and preferred-leader counts per broker are within one, says Balanced in its status, and every
record still reads back. An idempotent acks=all producer and a consumer group run throughout,
and no Metadata answer shows a partition without a leader; every acknowledged record is read
back once, by the group, by kcat and by Kafka's kafka-verifiable-consumer."""
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from harness import kcat  # noqa: E402
from kafkacluster_test import bootstrap_of, condition, operator, ready_with, sample, wait_status  # noqa: E402,F401
from kube import wait_for  # noqa: E402
from workloads import read_back, read_back_once, under_load  # noqa: E402


def replicas_per_broker(bootstrap):
    """({broker id: replicas it holds}, {broker id: partitions it is the preferred leader of,
    the first replica}), over every topic the cluster lists."""
    md = json.loads(kcat("-b", bootstrap, "-L", "-J").stdout)
    counts = Counter({b["id"]: 0 for b in md["brokers"]})
    preferred = Counter({b["id"]: 0 for b in md["brokers"]})
    for t in md["topics"]:
        for p in t["partitions"]:
            counts.update(r["id"] for r in p["replicas"])
            preferred[p["replicas"][0]["id"]] += 1
    return counts, preferred


def test_brokers_joining_get_an_even_share_of_the_replicas(control_plane, namespace, operator, tmp_path):
    cp, ns = control_plane, namespace
    kc = sample("bal")
    kc["spec"]["balancing"] = {"maxMovesInFlight": 8}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "bal", "Ready with 3 brokers, balanced",
                     lambda kc: ready_with(3)(kc) and condition(kc, "Balanced").get("status") == "True")
    assert kc["status"]["balance"]["brokers"] == [0, 1, 2]
    bootstrap = bootstrap_of(kc)

    # Two topics of replication factor 3 with records: every replica on brokers 0..2.
    expected = {}
    for topic, partitions in (("orders", 6), ("events", 4)):
        kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                   "--partitions", partitions, "--replication-factor", 3)
        lines = [f"{topic}-{i}" for i in range(200)]
        kcat("-b", bootstrap, "-P", "-t", topic, "-X", "acks=all", input=("\n".join(lines) + "\n").encode())
        expected[topic] = sorted(lines)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "live",
               "--partitions", 6, "--replication-factor", 3, "--config", "min.insync.replicas=2")

    with under_load(bootstrap, "live", "bal-readers", "live") as (acked, group_read):
        wait_for("records acknowledged and read before the scale-up",
                 lambda: len(acked) > 100 and len(group_read) > 100, 60)
        before, _ = replicas_per_broker(bootstrap)  # __consumer_offsets too, now the group has it
        assert set(before) == {0, 1, 2}, before
        cp.kubectl("-n", ns, "scale", "kafkacluster/bal", "--replicas=5")
        kc = wait_status(cp, ns, "bal", "five brokers, balanced over all of them",
                         lambda kc: ready_with(5)(kc) and condition(kc, "Balanced").get("status") == "True"
                         and kc["status"].get("balance", {}).get("brokers") == [0, 1, 2, 3, 4], timeout=300)
        n = len(acked)
        wait_for("records acknowledged after balancing", lambda: len(acked) > n + 100, 60)
    balance = kc["status"]["balance"]
    assert balance["state"] == "Balanced" and balance["movesInFlight"] == 0, balance
    assert balance["movesDone"] > 0 and balance["movesDone"] == balance["movesPlanned"], balance
    assert balance.get("lastBalancedTime"), balance

    bootstrap = bootstrap_of(kc)
    after, preferred = replicas_per_broker(bootstrap)
    assert set(after) == {0, 1, 2, 3, 4}, after
    assert max(after.values()) - min(after.values()) <= 1, after
    assert max(preferred.values()) - min(preferred.values()) <= 1, preferred
    assert sum(after.values()) == sum(before.values()), (before, after)

    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=bal")["items"]
    reasons = {e["reason"] for e in events}
    assert {"RebalanceStarted", "RebalanceFinished"} <= reasons, reasons

    for topic, lines in expected.items():
        assert read_back(bootstrap, topic)[0] == lines, topic
    read_back_once(bootstrap, "live", acked, tmp_path)
