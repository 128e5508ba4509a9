"""tributary-admin rebalance against a running cluster: three brokers hold some topics, two
more join, and the plan the command prints (kafka-reassign-partitions JSON) spreads replicas
and preferred leaders evenly over the five, moving only what it must; executed, the moves
complete and, after a preferred leader election, replica and leader counts are even within one.
A plan with --leaving empties the brokers named."""
import json
import subprocess
from collections import Counter

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from apache_kafka import kafka_tool
from cluster_test import bootstrap, create, wait_until
from harness import program_binary


def admin(*args, check=True, timeout=120):
    p = subprocess.run([program_binary("admin", "TRIB_ADMIN"), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"tributary-admin {' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"stdout: {p.stdout[-4000:]}\nstderr: {p.stderr[-4000:]}")
    return p


def assignment(brokers):
    """{(topic, partition): (replicas, isr, leader)} as a client sees them."""
    md = AdminClient({"bootstrap.servers": bootstrap(brokers)}).list_topics(timeout=30)
    return {(t, p): (list(m.replicas), sorted(m.isrs), m.leader)
            for t, tm in md.topics.items() for p, m in tm.partitions.items()}


def replica_counts(lists, ids):
    c = Counter({i: 0 for i in ids})
    for replicas in lists:
        c.update(replicas)
    return c


def spread(counter, ids):
    return max(counter[i] for i in ids) - min(counter[i] for i in ids)


@pytest.fixture
def grown(cluster, make_broker):
    """The three-broker cluster with topics and data, then brokers 4 and 5 joined (empty)."""
    coord, brokers = cluster
    create(brokers, "orders", 6, 3)
    create(brokers, "clicks", 8, 2)
    create(brokers, "audit", 5, 1)
    p = Producer({"bootstrap.servers": bootstrap(brokers), "acks": "all", "linger.ms": 5})
    for i in range(3000):
        p.produce(["orders", "clicks", "audit"][i % 3], b"x" * (100 + i % 400), b"k-%d" % i)
    assert p.flush(60) == 0
    for i in (4, 5):
        brokers.append(make_broker(f"broker-{i}", node_id=i,
                                   overrides={"controller.quorum.voters": coord.voters,
                                              "tributary.http.listener": "127.0.0.1:0"}))
    wait_until(lambda: len(AdminClient({"bootstrap.servers": bootstrap(brokers)}).list_topics(timeout=30).brokers) == 5,
               what="five brokers listed")
    wait_until(lambda: all(len(isr) == len(r) for r, isr, _ in assignment(brokers).values()),
               what="every partition in sync")
    return brokers


def plan_of(stdout):
    plan = json.loads(stdout)
    assert plan["version"] == 1
    for e in plan["partitions"]:
        assert set(e) == {"topic", "partition", "replicas", "log_dirs"}, e
        assert e["log_dirs"] == ["any"] * len(e["replicas"]), e
    return {(e["topic"], e["partition"]): e["replicas"] for e in plan["partitions"]}


def test_plan_for_two_new_brokers_evens_replicas_and_leaders(grown, tmp_path):
    brokers = grown
    before = assignment(brokers)
    p = admin("rebalance", "--bootstrap-server", brokers[0].bootstrap)
    plan = plan_of(p.stdout)
    assert "replica counts balanced, leader counts balanced" in p.stderr, p.stderr
    after = {tp: plan.get(tp, r) for tp, (r, _, _) in before.items()}
    ids = [1, 2, 3, 4, 5]
    counts = replica_counts(after.values(), ids)
    assert spread(counts, ids) <= 1, counts
    leaders = Counter({i: 0 for i in ids})
    leaders.update(r[0] for r in after.values())
    assert spread(leaders, ids) <= 1, leaders
    for tp, new in plan.items():
        old = before[tp][0]
        assert len(new) == len(old) and len(set(new)) == len(new), (tp, old, new)
    # Counts alone (bytes left out): only what the new brokers need moves, each receives its
    # share and nothing else moves.
    counts_only = plan_of(admin("rebalance", "--bootstrap-server", brokers[0].bootstrap,
                                "--bytes-tolerance", 1000).stdout)
    after = {tp: counts_only.get(tp, r) for tp, (r, _, _) in before.items()}
    counts = replica_counts(after.values(), ids)
    assert spread(counts, ids) <= 1, counts
    moved = 0
    for tp, new in counts_only.items():
        old = before[tp][0]
        gained = set(new) - set(old)
        assert gained <= {4, 5}, f"{tp}: only the new brokers receive replicas: {old} -> {new}"
        moved += len(gained)
    assert moved == counts[4] + counts[5], (moved, counts)
    # --output writes the same plan; --topics limits what moves.
    admin("rebalance", "--bootstrap-server", brokers[1].bootstrap, "--output", tmp_path / "plan.json",
          "--rollback-output", tmp_path / "rollback.json")
    assert plan_of((tmp_path / "plan.json").read_text()) == plan
    rollback = plan_of((tmp_path / "rollback.json").read_text())
    assert rollback == {tp: before[tp][0] for tp in plan}
    only = plan_of(admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--topics", "orders").stdout)
    assert only and {t for t, _ in only} == {"orders"}


def test_bad_arguments_are_refused_with_a_reason(grown):
    brokers = grown
    p = admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--leaving", "9", check=False)
    assert p.returncode == 2 and "broker 9" in p.stderr, p
    p = admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--leaving", "1,2,3,4", check=False)
    assert p.returncode == 1 and "replicas but only 1 brokers remain" in p.stderr, p
    p = admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--frobnicate", check=False)
    assert p.returncode == 2 and "--frobnicate" in p.stderr, p


def test_executed_plan_completes_with_even_counts_and_leaving_brokers_empty(grown, tmp_path):
    brokers = grown
    ids = [1, 2, 3, 4, 5]
    before = assignment(brokers)
    admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--output", tmp_path / "plan.json")
    plan = plan_of((tmp_path / "plan.json").read_text())
    # Kafka's own tool reads the plan and starts it.
    kafka_tool("kafka-reassign-partitions", "--bootstrap-server", brokers[0].bootstrap,
               "--reassignment-json-file", tmp_path / "plan.json", "--execute")
    admin("reassignments", "--bootstrap-server", brokers[1].bootstrap, "--wait", "--timeout-ms", 120000,
          timeout=180)

    def done():
        now = assignment(brokers)
        return all(now[tp][0] == r and sorted(now[tp][1]) == sorted(r) for tp, r in plan.items())
    wait_until(done, timeout=60, what="every partition on its planned replicas, all in sync")
    out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", brokers[0].bootstrap,
                     "--reassignment-json-file", tmp_path / "plan.json", "--verify").stdout
    assert "is completed" in out and "is still in progress" not in out, out
    kafka_tool("kafka-leader-election", "--bootstrap-server", brokers[0].bootstrap, "--election-type", "PREFERRED",
               "--all-topic-partitions", check=False)  # exits 1 when some partitions needed no election

    def leaders_even():
        now = assignment(brokers)
        leaders = Counter({i: 0 for i in ids})
        leaders.update(leader for _, _, leader in now.values())
        return spread(leaders, ids) <= 1
    wait_until(leaders_even, timeout=60, what="leaders even within one")
    now = assignment(brokers)
    assert set(now) == set(before)
    assert spread(replica_counts([r for r, _, _ in now.values()], ids), ids) <= 1

    # Brokers 4 and 5 leave again: the tool moves everything off them, with --execute itself.
    p = admin("rebalance", "--bootstrap-server", brokers[0].bootstrap, "--leaving", "4,5", "--execute")
    assert "refused for 0" in p.stderr, p.stderr
    admin("reassignments", "--bootstrap-server", brokers[0].bootstrap, "--wait", "--timeout-ms", 120000,
          timeout=180)

    def emptied():
        now = assignment(brokers)
        return all(not ({4, 5} & set(r)) and sorted(isr) == sorted(r) for r, isr, _ in now.values())
    wait_until(emptied, timeout=60, what="brokers 4 and 5 hold no replica")
    now = assignment(brokers)
    assert spread(replica_counts([r for r, _, _ in now.values()], [1, 2, 3]), [1, 2, 3]) <= 1
