"""Replication metrics on each broker's /metrics (broker/replication_metrics.h), in a
coordinator and three brokers: a topic with three replicas is fully replicated; SIGKILL one
broker and, once the coordinator fences it and takes it out of the ISRs, the brokers left
report every partition under-replicated; start it again and, once it has caught up and the
leaders have taken it back into their ISRs (AlterPartition), the count falls to zero and the
leaders count those ISR expansions."""
import re
import urllib.request

from cluster_test import create, wait_until
from replication_test import produce

TOPIC = "watched"
PARTITIONS = 3


def metrics_port(broker):
    """The /metrics port of the broker's current run (the cluster fixture lets each choose)."""
    ports = re.findall(r"metrics and health on [^\s]+:(\d+) ", broker.log_text())
    assert ports, "the broker does not serve /metrics"
    return int(ports[-1])


def scrape(broker):
    """{'name{labels}': value} of one broker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port(broker)}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def total(brokers, name):
    """`name` (a series without labels) summed over the live brokers."""
    return sum(scrape(b).get(name, 0.0) for b in brokers if b.alive())


def partition_series(brokers, name):
    """{partition: value} of a per-partition series of TOPIC, from the brokers that lead
    (followers report 0, so the sum is the leader's)."""
    out = {}
    for b in brokers:
        if not b.alive():
            continue
        for series, value in scrape(b).items():
            m = re.fullmatch(name + r'\{partition="(\d+)",topic="' + TOPIC + r'"\}', series)
            if m:
                out[int(m.group(1))] = out.get(int(m.group(1)), 0.0) + value
    return out


URP = "kafka_server_replicamanager_underreplicatedpartitions"


def test_under_replicated_count_follows_a_broker_down_and_back(cluster):
    _, brokers = cluster
    create(brokers, TOPIC, PARTITIONS, 3)
    produce(brokers, TOPIC, 300)
    wait_until(lambda: total(brokers, "kafka_server_replicamanager_partitioncount") == 3 * PARTITIONS and
               total(brokers, "kafka_server_replicamanager_leadercount") == PARTITIONS and
               total(brokers, URP) == 0, timeout=30, what="every replica hosted, led once and in sync")
    assert partition_series(brokers, "kafka_cluster_partition_insyncreplicascount") == {p: 3 for p in range(PARTITIONS)}
    assert total(brokers, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    expands_before = total(brokers, "kafka_server_replicamanager_isrexpands_total")

    down = brokers[2]
    down.kill()
    wait_until(lambda: total(brokers, URP) == PARTITIONS, timeout=30,
               what=f"every partition under-replicated with broker {down.node_id} down")
    assert partition_series(brokers, "kafka_cluster_partition_underreplicated") == {p: 1 for p in range(PARTITIONS)}
    assert partition_series(brokers, "kafka_cluster_partition_insyncreplicascount") == {p: 2 for p in range(PARTITIONS)}
    # min.insync.replicas is 1 here: two in sync is above it.
    assert total(brokers, "kafka_server_replicamanager_underminisrpartitioncount") == 0
    assert total(brokers, "kafka_server_replicamanager_leadercount") == PARTITIONS

    down.start()
    produce(brokers, TOPIC, 100, start=300)
    wait_until(lambda: total(brokers, URP) == 0, timeout=60,
               what=f"the ISRs to take broker {down.node_id} back")
    assert partition_series(brokers, "kafka_cluster_partition_insyncreplicascount") == {p: 3 for p in range(PARTITIONS)}
    # Each leader asked for its partition's expansion: counted where it took effect.
    wait_until(lambda: total(brokers, "kafka_server_replicamanager_isrexpands_total") - expands_before >= PARTITIONS,
               timeout=10, what="the leaders to count their ISR expansions")
