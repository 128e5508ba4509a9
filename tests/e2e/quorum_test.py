"""The operator manages the coordinators' metadata quorum (operator/controller/quorum.h) on the
real control plane: spec.coordinators.replicas 1 -> 3 -> 5 -> 3, a lost coordinator replaced,
then -> 1, while an idempotent acks=all producer writes, a consumer group reads and the
brokers' Metadata is watched for leaderless partitions. Each step is a Raft membership change
(AddRaftVoter / RemoveRaftVoter) seen in kafka-metadata-quorum describe and in the
KafkaCluster's status; a coordinator lost with its claim (a new, empty disk) comes back as a
new voter (the old seat removed, the new directory added). Every acknowledged record is read
back, by the group and by Kafka's kafka-verifiable-consumer. And a drain through a coordinator
failover, then the coordinators rolled with the Raft leader last."""
import json
import os
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from kafkacluster_test import (bootstrap_of, condition, delete_with_claims, event_times,  # noqa: E402,F401
                               kafkacluster, operator, process_of_pod, ready_with, sample, wait_status)
from kube import wait_for  # noqa: E402
from workloads import pods, read_back_once, ready, under_load  # noqa: E402

TIMEOUT_S = 300
HTTP_PORT = 9644  # every pod's /metrics
ZERO_DIRECTORY = "AAAAAAAAAAAAAAAAAAAAAA"


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


def raft_leader(ips):
    """The coordinator that says it leads, from the tributary_coordinator_raft_* metrics of the
    coordinators at `ips` (the highest term's, should a deposed leader not know it yet); None
    while none that answers says so. A scrape, much quicker than kafka-metadata-quorum."""
    leaders = []
    for ip in ips:
        try:
            with urllib.request.urlopen(f"http://{ip}:{HTTP_PORT}/metrics", timeout=1) as r:
                text = r.read().decode()
        except OSError:
            continue  # stopping or not serving yet
        role = re.search(r'^tributary_coordinator_raft_role\{role="leader"\} (\S+)$', text, re.M)
        term = re.search(r"^tributary_coordinator_raft_term (\S+)$", text, re.M)
        me = re.search(r"^tributary_coordinator_raft_leader_id (\S+)$", text, re.M)
        if role and term and me and float(role.group(1)) == 1:
            leaders.append((float(term.group(1)), int(float(me.group(1)))))
    return max(leaders)[1] if leaders else None


def wait_raft_leader(ips):
    """raft_leader(ips) once one says it leads."""
    found = {}
    wait_for("the coordinators' Raft leader answering on /metrics",
             lambda: found.update(leader=raft_leader(ips)) or found["leader"] is not None, 60)
    return found["leader"]


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


def events_of(cp, ns, name, reason):
    """The messages of `name`'s Events with `reason`, oldest first."""
    events = cp.get_json("events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return [m for _, m in sorted((e["firstTimestamp"] or "", e["message"]) for e in events if e["reason"] == reason)]


def scale_coordinators(cp, ns, bootstrap, replicas, acked):
    """spec.coordinators.replicas set to `replicas`; waits until the quorum is exactly the
    coordinators 1000.. of those ordinals, in status, in kafka-metadata-quorum describe and in
    the coordinators' voters line, the pods above them gone; then for more acknowledged
    records."""
    want = [1000 + i for i in range(replicas)]
    names = {f"quorum-coordinator-{i}" for i in range(replicas)}
    cp.kubectl("-n", ns, "patch", "kafkacluster", "quorum", "--type=merge",
               "-p", json.dumps({"spec": {"coordinators": {"replicas": replicas}}}))
    kc = wait_status(cp, ns, "quorum", f"{replicas} voters, {replicas} coordinators ready",
                     lambda kc: quorum_ready(want)(kc)
                     and kc["status"].get("coordinators") == {"replicas": replicas, "ready": replicas}
                     and set(pods(cp, ns, "coordinator", "quorum")) == names, TIMEOUT_S)
    voters, leader = quorum_status(bootstrap)
    assert sorted(voters) == want and leader in voters, (voters, leader)
    # Each voter's seat names its directory (what AddRaftVoter was given from DescribeQuorum).
    assert all(d not in ("", ZERO_DIRECTORY) for d in voters.values()), voters
    wait_for(f"the coordinators' voters line listing {replicas}",
             lambda: coordinator_voters_line(cp, ns, "quorum").count("@") == replicas, 60)
    n = len(acked)
    wait_for(f"records acknowledged with {replicas} voter(s)", lambda: len(acked) > n + 100, 60)


def test_coordinators_1_3_5_3_a_lost_one_replaced_then_1_under_a_producer_and_a_group(
        control_plane, namespace, operator, tmp_path):
    """1 -> 3 -> 5 -> 3, coordinator 1002 lost with its disk and replaced, -> 1, all under an
    idempotent acks=all producer (replication factor 3, min.insync.replicas 2), a consumer
    group and a watch of the topic's partition leaders. No broker pod, and no coordinator pod
    that stays, is restarted for a change of the voters line."""
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

    with under_load(bootstrap, "q", "quorum-readers", "q") as (acked, group_read):
        wait_for("records acknowledged and read before the first change",
                 lambda: len(acked) > 100 and len(group_read) > 100, 60)

        # 1 -> 3 -> 5: AddRaftVoter for each new coordinator, its directory from
        # DescribeQuorum; the coordinators already voting keep running.
        scale_coordinators(cp, ns, bootstrap, 3, acked)
        three = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "quorum").items()}
        scale_coordinators(cp, ns, bootstrap, 5, acked)
        # 5 -> 3: the highest voters removed one at a time, then the StatefulSet shrinks.
        scale_coordinators(cp, ns, bootstrap, 3, acked)
        assert {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "quorum").items()} == three

        # A lost coordinator: pod and claim deleted, so it comes back with an empty disk
        # (a new directory id) and can't vote; the operator removes its old seat and adds
        # the new one.
        before, _ = quorum_status(bootstrap)
        cp.kubectl("-n", ns, "delete", "pvc", "data-quorum-coordinator-2", "--wait=false")
        cp.kubectl("-n", ns, "delete", "pod", "quorum-coordinator-2")

        def replaced():
            p = pods(cp, ns, "coordinator", "quorum").get("quorum-coordinator-2")
            if not p or p["metadata"]["uid"] == three["quorum-coordinator-2"] or not ready(p):
                return False
            voters, _ = quorum_status(bootstrap)
            return set(voters) == {1000, 1001, 1002} and voters[1002] not in (before[1002], "", ZERO_DIRECTORY)
        wait_for("coordinator 1002 a voter again with its new directory", replaced, TIMEOUT_S, interval=1)
        wait_status(cp, ns, "quorum", "three voters", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)
        assert any("1002" in m for m in events_of(cp, ns, "quorum", "CoordinatorReplaced"))
        n = len(acked)
        wait_for("records acknowledged after the replacement", lambda: len(acked) > n + 100, 60)

        # 3 -> 1.
        scale_coordinators(cp, ns, bootstrap, 1, acked)
    bootstrap = bootstrap_of(kafkacluster(cp, ns, "quorum"))
    read_back_once(bootstrap, "q", acked, tmp_path)
    # Nothing was restarted for the voters line.
    assert {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "quorum").items()} == broker_uids
    assert pods(cp, ns, "coordinator", "quorum")["quorum-coordinator-0"]["metadata"]["uid"] == seed_uid
    added = [int(i) for m in events_of(cp, ns, "quorum", "CoordinatorAdded")
             for i in re.findall(r"^coordinator (\d+) joined", m)]
    removed = [int(i) for m in events_of(cp, ns, "quorum", "CoordinatorRemoved")
               for i in re.findall(r"^coordinator (\d+) left", m)]
    # 1001..1004 added, 1002 again after its replacement; each removed once (two may be
    # removed within the same second of the Events' timestamps: their order is not checked).
    assert sorted(added) == [1001, 1002, 1002, 1003, 1004], added
    assert sorted(removed) == [1001, 1002, 1003, 1004], removed

    delete_with_claims(cp, ns, "quorum")


def test_a_drain_goes_on_through_a_coordinator_failover(control_plane, namespace, operator, tmp_path):
    """Three coordinators and four brokers; a scale-down to three brokers under an idempotent
    acks=all producer, a consumer group and a watch of the topic's partition leaders, and the
    coordinators' Raft leader SIGKILLed while broker 3 is drained: another coordinator leads,
    the drain finishes, broker 3 goes and is unregistered. A topic of 8 MB whose moving
    replicas copy at 0.1 MB/s (Kafka's replication throttle) in fetches of 64 KiB a partition
    keeps the drain going for several seconds, so that the leader dies in the middle of it.
    Then a change of the coordinators' resources rolls them one at a time under the same load,
    the Raft leader last. No Metadata answer shows a leaderless partition; every acknowledged
    record is read back, by the group, by confluent-kafka and by Kafka's
    kafka-verifiable-consumer."""
    cp, ns = control_plane, namespace
    kc = sample("failover", replicas=4)
    # The throttle paces the copy fetch by fetch, and a fetch takes up to replica.fetch.max.bytes
    # of each partition: at the default 1 MiB most of this topic's ~1 MB partitions came over in
    # one fetch, and the drain lasted little more than the operator's and coordinators' steps.
    kc["spec"]["brokers"]["config"]["replica.fetch.max.bytes"] = "65536"
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

    with under_load(bootstrap, "f", "failover-readers", "f") as (acked, group_read):
        wait_for("records acknowledged and read before the drain",
                 lambda: len(acked) > 2000 and len(group_read) > 100, 120)
        cp.kubectl("-n", ns, "scale", "kafkacluster/failover", "--replicas=3")

        def under_way(kc):
            drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
            return drains == {3: "Draining"}
        wait_status(cp, ns, "failover", "the drain of broker 3 under way", under_way)
        # The leader from the coordinators' /metrics, at once: kafka-metadata-quorum's JVM took
        # seconds on a loaded machine, and the drain could end meanwhile.
        leader = wait_raft_leader([p["status"]["podIP"] for p in pods(cp, ns, "coordinator", "failover").values()])
        assert leader in (1000, 1001, 1002), leader
        killed = process_of_pod("tributary-coordinator", f"failover-coordinator-{leader - 1000}")
        assert killed, f"no process for coordinator {leader}"
        # Still moving just before the kill. A move ends only when a coordinator commits the
        # new replica set, so a drain under way at the kill goes on through the failover,
        # however long the election takes on a loaded machine.
        assert under_way(kafkacluster(cp, ns, "failover"))
        killed_at = int(time.time())  # whole seconds, as the Events' timestamps
        os.kill(killed, signal.SIGKILL)
        wait_for("another coordinator leading",
                 lambda: current_leader(bootstrap) not in (-1, leader), TIMEOUT_S, interval=1)

        def unregistered(kc):
            drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
            return ready_with(3)(kc) and drains == {3: "Unregistered"}
        kc = wait_status(cp, ns, "failover", "broker 3 drained, gone and unregistered", unregistered, TIMEOUT_S)
        # The operator saw the drain end after the kill, not in the moment between the check
        # above and the kill.
        drained = event_times(cp, ns, "failover", "Drained")
        assert len(drained) == 1, drained
        assert drained[0] >= killed_at, (drained, killed_at)
        assert sorted(pods(cp, ns, "broker", "failover")) == [f"failover-broker-{i}" for i in range(3)]
        n = len(acked)
        wait_for("records acknowledged after the drain", lambda: len(acked) > n + 100, 60)

        # A change to the coordinators' pod template rolls the three of them, one at a
        # time, the quorum keeping a majority throughout. The operator reads the quorum
        # before each restart and restarts the coordinator leading it last; it does not
        # hand the leadership over, so that one leads until its pod is deleted.
        before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "coordinator", "failover").items()}
        assert len(before) == 3, before
        ips = {n: p["status"]["podIP"] for n, p in pods(cp, ns, "coordinator", "failover").items()}
        first = wait_raft_leader(ips.values())
        # pod: the Raft leader last seen while its first container ran
        leader_while_up = {n: first for n in before}
        leaders_seen = [first]
        went_down = []  # pods in the order they were seen deleted or replaced
        cp.kubectl("-n", ns, "patch", "kafkacluster", "failover", "--type=merge", "-p", json.dumps(
            {"spec": {"coordinators": {"resources": {"requests": {"memory": "200Mi"}}}}}))
        uids = {n: {u} for n, u in before.items()}
        most_down = 0

        def coordinators_rolled():
            nonlocal most_down
            # The leader first, then the pods: a pod still up (its first uid, not being
            # deleted) after the scrape was up during it.
            seen = raft_leader(ips.values())
            if seen is not None and leaders_seen[-1] != seen:
                leaders_seen.append(seen)
            ps = pods(cp, ns, "coordinator", "failover")
            ips.update({n: p["status"]["podIP"] for n, p in ps.items() if p.get("status", {}).get("podIP")})
            for n in before:
                p = ps.get(n)
                if p and p["metadata"]["uid"] == before[n] and not p["metadata"].get("deletionTimestamp"):
                    if seen is not None:
                        leader_while_up[n] = seen
                elif n not in went_down:
                    went_down.append(n)
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
        # The Events, oldest first, name the pods in the order they went (the order seen
        # breaks ties of their timestamps, which have whole seconds); only the last restart
        # is of the Raft leader.
        events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=failover")["items"]
        restarted = [(e["firstTimestamp"] or "", re.search(r"\(pod (\S+)\)", e["message"]).group(1), e["message"])
                     for e in events if e["reason"] == "CoordinatorRestarted"]
        assert len(restarted) == 3 and sorted(went_down) == sorted(before), (restarted, went_down)
        restarted.sort(key=lambda r: (r[0], went_down.index(r[1])))
        assert [pod for _, pod, _ in restarted] == went_down, (restarted, went_down)
        assert [m.endswith("(the Raft leader, last)") for _, _, m in restarted] == [False, False, True], restarted
        # ... and it was: the two pods restarted first were not leading when they went down
        # (as the coordinators' metrics said just before), the last one was.
        ids = {n: 1000 + int(n.rsplit("-", 1)[1]) for n in before}
        assert [leader_while_up.get(n) == ids[n] for n in went_down] == [False, False, True], \
            (went_down, leader_while_up, leaders_seen)
        n = len(acked)
        wait_for("records acknowledged after the coordinators' roll", lambda: len(acked) > n + 100, 60)
    bootstrap = bootstrap_of(kc)
    read_back_once(bootstrap, "f", acked, tmp_path)
    wait_status(cp, ns, "failover", "three voters again", quorum_ready([1000, 1001, 1002]), TIMEOUT_S)

    delete_with_claims(cp, ns, "failover")
