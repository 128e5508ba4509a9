"""The operator manages the coordinators' metadata quorum (operator/controller/quorum.h) on the
real control plane: spec.coordinators.replicas 1 -> 3 -> 1 while an idempotent acks=all
producer writes, each step a Raft membership change (AddRaftVoter / RemoveRaftVoter) seen in
kafka-metadata-quorum describe and in the KafkaCluster's status, every acknowledged record
read back; then a coordinator pod lost with its claim (a new, empty disk) comes back as a new
voter (the old seat removed, the new directory added)."""
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from kafkacluster_test import (bootstrap_of, condition, delete_with_claims, kafkacluster, operator,  # noqa: E402,F401
                               process_of_pod, ready_with, sample, wait_status)
from kube import wait_for  # noqa: E402
from workloads import idempotent_producer, pods, read_back, ready  # noqa: E402

TIMEOUT_S = 300


def quorum_status(bootstrap):
    """{voter id: directory id} and the leader, as kafka-metadata-quorum describe --status
    prints them (asked through a broker, which forwards to the coordinators)."""
    out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap, "describe", "--status").stdout
    voters = re.search(r"^CurrentVoters:\s+(.*)$", out, re.M).group(1)
    leader = int(re.search(r"^LeaderId:\s+(-?\d+)", out, re.M).group(1))
    return {int(i): d for i, d in re.findall(r'"id": (\d+), "directoryId": "?([^",}]*)"?', voters)}, leader


def current_leader(bootstrap):
    """The quorum's leader, or -1 while none answers (an election, the tool's request failed)."""
    try:
        return quorum_status(bootstrap)[1]
    except (AssertionError, AttributeError):
        return -1


def quorum_ready(voters):
    def predicate(kc):
        st = kc.get("status", {})
        return (condition(kc, "QuorumReady").get("status") == "True"
                and st.get("observedGeneration") == kc["metadata"]["generation"]
                and st.get("quorum", {}).get("voters") == voters
                and condition(kc, "Ready").get("status") == "True")
    return predicate


def coordinator_voters_line(cp, ns, name):
    cm = cp.get_json("configmap", f"{name}-coordinator-config", "-n", ns)
    return re.search(r"^controller\.quorum\.voters=(.*)$", cm["data"]["coordinator.properties"], re.M).group(1)


def test_coordinators_1_3_1_under_a_producer_then_a_lost_coordinator_replaced(control_plane, namespace, operator):
    cp, ns = control_plane, namespace
    kc = sample("quorum")
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"deleteClaim": True}}
    kc["spec"]["brokers"]["storage"] = {"deleteClaim": True}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "quorum", "Ready, one voter", lambda kc: ready_with(3)(kc) and quorum_ready([1000])(kc))
    bootstrap = bootstrap_of(kc)
    voters, _ = quorum_status(bootstrap)
    assert set(voters) == {1000}, voters
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "q",
               "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    broker_uids = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "quorum").items()}
    seed_uid = pods(cp, ns, "coordinator", "quorum")["quorum-coordinator-0"]["metadata"]["uid"]

    with idempotent_producer(bootstrap, "q", "q") as (acked, failed):
        wait_for("records acknowledged before the change", lambda: len(acked) > 100, 60)

        # 1 -> 3: two AddRaftVoter, the new coordinators' directories from DescribeQuorum.
        cp.kubectl("-n", ns, "patch", "kafkacluster", "quorum", "--type=merge",
                   "-p", json.dumps({"spec": {"coordinators": {"replicas": 3}}}))
        kc = wait_status(cp, ns, "quorum", "three voters", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)
        voters, leader = quorum_status(bootstrap)
        assert set(voters) == {1000, 1001, 1002} and leader in voters, (voters, leader)
        assert all(voters[i] not in ("", "AAAAAAAAAAAAAAAAAAAAAA") for i in (1001, 1002)), voters
        assert kc["status"]["coordinators"] == {"replicas": 3, "ready": 3}, kc["status"]["coordinators"]
        assert coordinator_voters_line(cp, ns, "quorum").count("@") == 3
        n = len(acked)
        wait_for("records acknowledged with three voters", lambda: len(acked) > n + 100, 60)

        # 3 -> 1: the highest voters removed one at a time, then the StatefulSet shrinks.
        cp.kubectl("-n", ns, "patch", "kafkacluster", "quorum", "--type=merge",
                   "-p", json.dumps({"spec": {"coordinators": {"replicas": 1}}}))
        wait_status(cp, ns, "quorum", "one voter again", quorum_ready([1000]), TIMEOUT_S)
        wait_for("coordinator pods 1 and 2 gone",
                 lambda: set(pods(cp, ns, "coordinator", "quorum")) == {"quorum-coordinator-0"}, TIMEOUT_S)
        voters, leader = quorum_status(bootstrap)
        assert set(voters) == {1000} and leader == 1000, (voters, leader)
        n = len(acked)
        wait_for("records acknowledged with one voter", lambda: len(acked) > n + 100, 60)
    assert not failed, failed[:5]
    values, _ = read_back(bootstrap_of(kafkacluster(cp, ns, "quorum")), "q")
    assert len(values) == len(set(values)) and set(values) == set(acked), (len(values), len(acked))
    # Nothing was restarted for the voters line.
    assert {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "quorum").items()} == broker_uids
    assert pods(cp, ns, "coordinator", "quorum")["quorum-coordinator-0"]["metadata"]["uid"] == seed_uid
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=quorum")["items"]
    reasons = [e["reason"] for e in events]
    assert reasons.count("CoordinatorAdded") >= 2 and reasons.count("CoordinatorRemoved") >= 2, reasons

    # A lost coordinator: pod and claim deleted, so it comes back with an empty disk (a new
    # directory id) and can't vote; the operator removes its old seat and adds the new one.
    cp.kubectl("-n", ns, "patch", "kafkacluster", "quorum", "--type=merge",
               "-p", json.dumps({"spec": {"coordinators": {"replicas": 3}}}))
    wait_status(cp, ns, "quorum", "three voters", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)
    before, _ = quorum_status(bootstrap)
    old_uid = pods(cp, ns, "coordinator", "quorum")["quorum-coordinator-2"]["metadata"]["uid"]
    cp.kubectl("-n", ns, "delete", "pvc", "data-quorum-coordinator-2", "--wait=false")
    cp.kubectl("-n", ns, "delete", "pod", "quorum-coordinator-2")

    def replaced():
        p = pods(cp, ns, "coordinator", "quorum").get("quorum-coordinator-2")
        if not p or p["metadata"]["uid"] == old_uid or not ready(p):
            return False
        voters, _ = quorum_status(bootstrap)
        return set(voters) == {1000, 1001, 1002} and voters[1002] != before[1002]
    wait_for("coordinator 1002 a voter again with its new directory", replaced, TIMEOUT_S, interval=1)
    kc = wait_status(cp, ns, "quorum", "three voters", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=quorum")["items"]
    assert any(e["reason"] == "CoordinatorReplaced" and "1002" in e["message"] for e in events), \
        [(e["reason"], e["message"]) for e in events]
    values, _ = read_back(bootstrap_of(kc), "q")
    assert set(values) == set(acked)

    delete_with_claims(cp, ns, "quorum")


def test_a_drain_goes_on_through_a_coordinator_failover(control_plane, namespace, operator):
    """Three coordinators and four brokers; a scale-down to three brokers under an idempotent
    acks=all producer and a consumer group, and the coordinators' Raft leader SIGKILLed while
    broker 3 is drained: another coordinator leads, the drain finishes, broker 3 goes and is
    unregistered, and every acknowledged record is read back, by the group too. A topic of
    8 MB whose moving replicas copy at 0.1 MB/s (Kafka's replication throttle) keeps the drain
    going for several seconds, so that the leader dies in the middle of it. Then a change of
    the coordinators' resources rolls them one at a time under the same load."""
    from confluent_kafka import Consumer
    cp, ns = control_plane, namespace
    kc = sample("failover", replicas=4)
    kc["spec"]["coordinators"] = {"replicas": 3, "storage": {"deleteClaim": True}}
    kc["spec"]["brokers"]["storage"] = {"deleteClaim": True}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "failover", "Ready, four brokers and three voters",
                     lambda kc: ready_with(4)(kc) and quorum_ready([1000, 1001, 1002])(kc), TIMEOUT_S)
    bootstrap = bootstrap_of(kc)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "f",
               "--partitions", "8", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "bulk",
               "--partitions", "8", "--replication-factor", "3",
               "--config", "follower.replication.throttled.replicas=*")
    out = kafka_tool("kafka-producer-perf-test", "--topic", "bulk", "--num-records", 8000, "--record-size", 1000,
                     "--throughput", -1, "--producer-props", f"bootstrap.servers={bootstrap}").stdout
    assert re.search(r"^8000 records sent, ", out, re.M), out
    kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "brokers",
               "--entity-default", "--add-config", "follower.replication.throttled.rate=100000")

    group_read, reading = set(), threading.Event()

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-readers",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["f"])
        try:
            while not reading.is_set():
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    group_read.add(msg.value().decode())
        finally:
            c.close()
    reader = threading.Thread(target=consume)
    reader.start()
    try:
        with idempotent_producer(bootstrap, "f", "f") as (acked, failed):
            wait_for("records acknowledged and read before the drain",
                     lambda: len(acked) > 2000 and len(group_read) > 100, 120)
            cp.kubectl("-n", ns, "scale", "kafkacluster/failover", "--replicas=3")

            def under_way(kc):
                drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
                return drains == {3: "Draining"}
            wait_status(cp, ns, "failover", "the drain of broker 3 under way", under_way)
            _, leader = quorum_status(bootstrap)
            assert leader in (1000, 1001, 1002), leader
            killed = process_of_pod("tributary-coordinator", f"failover-coordinator-{leader - 1000}")
            assert killed, f"no process for coordinator {leader}"
            os.kill(killed, signal.SIGKILL)
            wait_for("another coordinator leading",
                     lambda: current_leader(bootstrap) not in (-1, leader), TIMEOUT_S, interval=1)
            # Still moving when the new leader took over: the failover came mid-drain.
            assert {d["id"]: d["state"] for d in kafkacluster(cp, ns, "failover")["status"]["drains"]} == {
                3: "Draining"}

            def unregistered(kc):
                drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
                return ready_with(3)(kc) and drains == {3: "Unregistered"}
            kc = wait_status(cp, ns, "failover", "broker 3 drained, gone and unregistered", unregistered, TIMEOUT_S)
            assert sorted(pods(cp, ns, "broker", "failover")) == [f"failover-broker-{i}" for i in range(3)]
            n = len(acked)
            wait_for("records acknowledged after the drain", lambda: len(acked) > n + 100, 60)

            # A change to the coordinators' pod template rolls the three of them, one at a
            # time (the Raft leader last), the quorum keeping a majority throughout.
            before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "failover").items()}
            assert len(before) == 3, before
            cp.kubectl("-n", ns, "patch", "kafkacluster", "failover", "--type=merge", "-p", json.dumps(
                {"spec": {"coordinators": {"resources": {"requests": {"memory": "200Mi"}}}}}))
            uids = {n: {u} for n, u in before.items()}
            most_down = 0

            def coordinators_rolled():
                nonlocal most_down
                ps = pods(cp, ns, "coordinator", "failover")
                down = 3 - sum(ready(p) for n, p in ps.items() if n in before)
                most_down = max(most_down, down)
                for n, p in ps.items():
                    uids.setdefault(n, set()).add(p["metadata"]["uid"])
                kc = kafkacluster(cp, ns, "failover")
                return (down == 0 and all(p["metadata"]["uid"] != before[n] for n, p in ps.items())
                        and "rollingUpdate" not in kc["status"] and quorum_ready([1000, 1001, 1002])(kc))
            wait_for("every coordinator restarted and the roll over", coordinators_rolled, TIMEOUT_S, interval=0.2)
            assert most_down <= 1
            assert all(len(u) == 2 for u in uids.values()), uids  # each pod replaced once
            events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=failover")["items"]
            assert sum(e["reason"] == "CoordinatorRestarted" for e in events) == 3, \
                [(e["reason"], e["message"]) for e in events]
            n = len(acked)
            wait_for("records acknowledged after the coordinators' roll", lambda: len(acked) > n + 100, 60)
        assert not failed, failed[:5]
        wait_for("the group to read every acknowledged record", lambda: set(acked) <= group_read, 120)
    finally:
        reading.set()
        reader.join(30)
    values, _ = read_back(bootstrap_of(kc), "f")
    assert len(values) == len(set(values)) and set(values) == set(acked), (len(values), len(acked))
    wait_status(cp, ns, "failover", "three voters again", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)

    delete_with_claims(cp, ns, "failover")
