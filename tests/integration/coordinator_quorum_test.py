"""The coordinator quorum as processes: three tributary-coordinators voting on the metadata log
(Raft), three brokers given all three as controller.quorum.voters, and a stream of topic
creations from an AdminClient. Faults are real: SIGKILL, SIGSTOP, a wiped data directory, a
lost majority. A creation counts as acknowledged when CreateTopics answered without error;
every acknowledged creation must be in every broker's metadata afterwards.

Which coordinator is the active controller comes from its /metrics
(tributary_coordinator_active_controller). The time a failover takes is a benchmark figure
(bench/), not a pass/fail condition here: these tests wait for a new leader with a bound
only generous enough to tell "elected" from "stuck".
"""
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import Broker, Coordinator, CoordinatorQuorum, consume_all, free_port, wait_until  # noqa: E402

ELECTION_TIMEOUT_MS = 1000  # Kafka's controller.quorum.election.timeout.ms default
LEADER_TIMEOUT_S = 30


@pytest.fixture
def quorum_cluster(request, tmp_path):
    yield from _quorum_cluster(request, tmp_path, {})


@pytest.fixture
def lone_coordinator_cluster(request, tmp_path):
    """One coordinator (100), the only voter, and three brokers given it alone."""
    yield from _quorum_cluster(request, tmp_path, {}, coordinators=1)


@pytest.fixture
def snapshotting_cluster(request, tmp_path):
    """The same with snapshots every few KiB and small segments, so the leader's log start
    moves and a follower that lost its data must be sent a snapshot."""
    yield from _quorum_cluster(request, tmp_path, {"metadata.log.max.record.bytes.between.snapshots": 4096,
                                                   "metadata.log.segment.bytes": 16384})


def _quorum_cluster(request, tmp_path, extra, coordinators=3):
    overrides = {"broker.session.timeout.ms": 6000, "broker.heartbeat.interval.ms": 500,
                 "controller.quorum.election.timeout.ms": ELECTION_TIMEOUT_MS, **extra}
    quorum = CoordinatorQuorum(tmp_path, coordinators, overrides)
    brokers = []
    try:
        quorum.start()
        quorum.leader(timeout=LEADER_TIMEOUT_S)
        for i in (1, 2, 3):
            brokers.append(Broker(tmp_path / f"broker-{i}", node_id=i,
                                  overrides={"controller.quorum.voters": quorum.voters}).start())
        yield quorum, brokers
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        for m in quorum.members:
            m.resume()
        for b in brokers:
            b.stop()
        codes = {m.node_id: m.stop() for m in quorum.members}
        if failed:
            for m in quorum.members:
                print(f"\n===== coordinator {m.node_id} log (exit {codes[m.node_id]}) =====\n{m.log_tail(8000)}")


def bootstrap(brokers):
    return ",".join(b.bootstrap for b in brokers)


class Creations:
    """A thread creating topics one after another (`prefix`-0, -1, ...) until stopped; keeps
    the names whose creation was acknowledged, and the errors of those that were not."""

    def __init__(self, brokers, prefix="t"):
        self.admin = AdminClient({"bootstrap.servers": bootstrap(brokers)})
        self.prefix = prefix
        self.acked = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(60)

    def _run(self):
        n = 0
        while not self._stop.is_set():
            name = f"{self.prefix}-{n}"
            n += 1
            fut = self.admin.create_topics([NewTopic(name, 1, 3)], request_timeout=20, operation_timeout=20)[name]
            try:
                fut.result(timeout=30)
                self.acked.append(name)
            except Exception as e:  # an unacknowledged creation: may or may not have happened
                self.errors.append((name, str(e)))

    def wait_acked(self, count, timeout=60):
        target = len(self.acked) + count
        wait_until(lambda: len(self.acked) >= target, f"{count} more acknowledged creations", timeout=timeout,
                   describe=lambda: (len(self.acked), self.errors[-3:]))


def topics_of(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    return set(admin.list_topics(timeout=10).topics)


def assert_every_broker_has(brokers, names, timeout=60):
    """Every broker's metadata lists every name (brokers follow the log: they catch up)."""
    missing = {}

    def complete():
        for b in brokers:
            missing[b.node_id] = sorted(set(names) - topics_of(b))[:5]
        return not any(missing.values())

    wait_until(complete, f"every broker to list {len(names)} acknowledged topics", timeout=timeout,
               describe=lambda: missing)


def records_in(brokers, topic):
    return sum(len(recs) for recs in consume_all(bootstrap(brokers), topic).values())


def committed(member):
    return member.metrics().get("tributary_coordinator_metadata_committed_offset", -1)


def wait_caught_up(quorum, member, timeout=60):
    """`member` applied as far as the active controller has committed (sampled after)."""
    def caught_up():
        leader = quorum.active()
        return len(leader) == 1 and committed(member) >= committed(leader[0]) > 0

    wait_until(caught_up, f"coordinator {member.node_id} to catch up", timeout=timeout,
               describe=lambda: {m.node_id: committed(m) for m in quorum.members})


RAFT_ROLES = ("follower", "pre_candidate", "candidate", "leader", "observer")


def raft_view(member):
    """(role, term, leader id) from a coordinator's tributary_coordinator_raft_* metrics; None
    when it does not answer or names no single role."""
    m = member.metrics()
    roles = [r for r in RAFT_ROLES if m.get(f'tributary_coordinator_raft_role{{role="{r}"}}') == 1]
    if len(roles) != 1 or "tributary_coordinator_raft_term" not in m:
        return None
    return roles[0], int(m["tributary_coordinator_raft_term"]), int(m["tributary_coordinator_raft_leader_id"])


def wait_raft_agreement(members, timeout=30):
    """Waits until exactly one of `members` says it is the Raft leader and all of them name it,
    in one term; returns {node id: (role, term, leader id)}."""
    views = {}

    def agree():
        views.clear()
        views.update({m.node_id: raft_view(m) for m in members})
        if None in views.values():
            return False
        leaders = [i for i, v in views.items() if v[0] == "leader"]
        return len(leaders) == 1 and {v[1:] for v in views.values()} == {views[leaders[0]][1:]} \
            and views[leaders[0]][2] == leaders[0]

    wait_until(agree, "one Raft leader every coordinator names, in one term", timeout=timeout,
               describe=lambda: views)
    return dict(views)


def test_raft_metrics_name_one_leader_all_agree_on(quorum_cluster):
    """What the "coordinator quorum" dashboard reads: one leader, one term, every voter naming
    the same leader, the leader's view of each voter's lag; and after a failover, a new term
    and a new leader everyone counts."""
    quorum, _ = quorum_cluster
    views = wait_raft_agreement(quorum.members)
    leader = quorum.leader()
    assert views[leader.node_id][0] == "leader", views
    # The leader shows each voter's lag once it has heard from each.
    lag_series = [f'tributary_coordinator_raft_voter_lag_records{{voter="{i}"}}' for i in (100, 101, 102)]
    wait_until(lambda: all(k in leader.metrics() for k in lag_series), "the leader's lag of every voter",
               describe=leader.metrics)
    m = leader.metrics()
    assert m["tributary_coordinator_raft_voters"] == 3
    assert m["tributary_coordinator_raft_elections_total"] >= 1
    assert m["tributary_coordinator_raft_transport_messages_sent_total"] > 0
    follower = next(x for x in quorum.members if x is not leader)
    assert not any(k.startswith("tributary_coordinator_raft_voter_lag_records") for k in follower.metrics()), \
        "only the leader shows voter lag"

    term = views[leader.node_id][1]
    changes = {x.node_id: x.metrics()["tributary_coordinator_raft_leader_changes_total"] for x in quorum.members}
    leader.kill()
    survivors = [x for x in quorum.members if x is not leader]
    after = wait_raft_agreement(survivors, timeout=LEADER_TIMEOUT_S)
    for x in survivors:
        assert after[x.node_id][1] > term, after
        assert x.metrics()["tributary_coordinator_raft_leader_changes_total"] > changes[x.node_id]
    leader.start()


def test_leader_sigkill_under_creations_loses_nothing(quorum_cluster):
    quorum, brokers = quorum_cluster
    with Creations(brokers) as c:
        c.wait_acked(20)
        old = quorum.leader()
        old.kill()
        new = quorum.leader(timeout=LEADER_TIMEOUT_S)
        assert new is not old
        c.wait_acked(20)  # creations go on through the new leader
        old.start()
        wait_caught_up(quorum, old)
        # The restarted voter holds everything: it may lead and lose nothing.
        new.kill()
        third = quorum.leader(timeout=LEADER_TIMEOUT_S)
        assert third is not new
        c.wait_acked(10)
        new.start()
    assert_every_broker_has(brokers, c.acked)
    for m in quorum.members:
        wait_caught_up(quorum, m)


def test_sigterm_of_the_leader_hands_the_leadership_over(quorum_cluster):
    """A clean stop of the active controller transfers the Raft leadership to the most
    caught-up voter before the process exits (no election timeout to wait for), under a
    stream of creations that loses nothing."""
    quorum, brokers = quorum_cluster
    with Creations(brokers) as c:
        c.wait_acked(10)
        old = quorum.leader()
        assert old.stop() == 0
        named = re.search(r"handing the leadership over to coordinator (\d+)", old.log_text())
        assert named, old.log_tail()
        assert "leadership handed over" in old.log_text(), old.log_tail()
        survivors = [m for m in quorum.members if m is not old]
        views = wait_raft_agreement(survivors, timeout=LEADER_TIMEOUT_S)
        assert {v[2] for v in views.values()} == {int(named.group(1))}, views
        c.wait_acked(10)
        old.start()
        wait_caught_up(quorum, old)
    assert_every_broker_has(brokers, c.acked)


def test_paused_leader_steps_down_on_resume(quorum_cluster):
    quorum, brokers = quorum_cluster
    with Creations(brokers) as c:
        c.wait_acked(10)
        old = quorum.leader()
        old.pause()
        others = [m for m in quorum.members if m is not old]
        new = quorum.leader(timeout=LEADER_TIMEOUT_S, among=others)
        c.wait_acked(10)
        old.resume()
        # It hears the newer term (or misses its quorum) and follows.
        wait_until(lambda: old.metrics().get("tributary_coordinator_active_controller") == 0,
                   "the resumed coordinator to step down", timeout=30)
        assert quorum.leader() is new
        c.wait_acked(5)
        wait_caught_up(quorum, old)
    assert_every_broker_has(brokers, c.acked)


def test_wiped_coordinator_rejoins_from_a_snapshot(snapshotting_cluster):
    quorum, brokers = snapshotting_cluster
    with Creations(brokers) as c:
        c.wait_acked(30)
        leader = quorum.leader()
        victim = next(m for m in quorum.members if m is not leader)
        victim.kill()
        shutil.rmtree(victim.data_dir)
        c.wait_acked(30)
        leader_dir = leader.data_dir / "__cluster_metadata-0"
        wait_until(lambda: any((leader_dir / "snapshots").glob("*.snapshot")), "a snapshot on the leader")
        victim.start()
        wait_caught_up(quorum, victim)
        assert any((victim.data_dir / "__cluster_metadata-0" / "snapshots").glob("*.snapshot")), \
            "the wiped coordinator caught up without a snapshot"
        # It holds the whole state: with the old leader gone it and the third voter go on.
        leader.kill()
        quorum.leader(timeout=LEADER_TIMEOUT_S)
        c.wait_acked(10)
        leader.start()
    assert_every_broker_has(brokers, c.acked)


def voter_directory_ids(brokers):
    """{voter id: the directory id kafka-metadata-quorum describe --status prints for it}."""
    out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "describe", "--status").stdout
    voters = re.search(r"^CurrentVoters:\s+(.*)$", out, re.M).group(1)
    return {int(i): d for i, d in re.findall(r'"id": (\d+), "directoryId": "?([^",}]*)"?', voters)}


def describe_replication(brokers):
    """kafka-metadata-quorum describe --replication as rows: {id, directory, log_end, status}."""
    out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "describe",
                     "--replication").stdout
    lines = out.strip().splitlines()
    assert lines and lines[0].split()[:3] == ["NodeId", "DirectoryId", "LogEndOffset"], out
    rows = []
    for line in lines[1:]:
        cols = line.split()
        assert len(cols) == 7, out
        rows.append({"id": int(cols[0]), "directory": cols[1], "log_end": int(cols[2]),
                     "last_fetch": int(cols[4]), "status": cols[6]})
    return rows


def observer_rows(brokers, node_id):
    return [r for r in describe_replication(brokers) if r["id"] == node_id and r["status"] == "Observer"]


def wait_observer(brokers, node_id, directory, timeout=30):
    """Waits until the leader lists coordinator `node_id` as an Observer with `directory`."""
    seen = []

    def listed():
        seen[:] = describe_replication(brokers)
        return any(r["id"] == node_id and r["status"] == "Observer" and r["directory"] == directory for r in seen)

    wait_until(listed, f"coordinator {node_id} as an observer with directory {directory}", timeout=timeout,
               describe=lambda: seen)


def test_new_coordinator_is_an_observer_and_is_added_from_the_describe_output_alone(quorum_cluster, tmp_path):
    """What an operator does without the new coordinator's disk: the coordinator, started
    outside the voters, shows up in describe --replication as an Observer with the directory
    id of its meta.properties, and in describe --status with its endpoint; add-controller given
    only those (a properties file and a meta.properties written from the describe output, not
    the coordinator's own) makes it a voter, and it leaves the observers at once."""
    quorum, brokers = quorum_cluster
    new, _ = new_coordinator(quorum, tmp_path, 103)
    new.start()
    wait_observer(brokers, 103, directory_id(new))
    row = observer_rows(brokers, 103)[0]
    assert row["last_fetch"] > 0, row
    # Brokers stay observers beside it, without a directory id.
    brokers_listed = {r["id"]: r["directory"] for r in describe_replication(brokers) if r["status"] == "Observer"}
    assert {1, 2, 3} <= set(brokers_listed), brokers_listed

    status = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "describe",
                        "--status").stdout
    cluster_id = re.search(r"^ClusterId:\s+(\S+)$", status, re.M).group(1)
    observers = re.search(r"^CurrentObservers:\s+(.*)$", status, re.M).group(1)
    entry = re.search(r'\{"id": 103, "directoryId": "([^"]+)", "endpoints": \["([A-Z_]+)://([^:"]+):(\d+)"\]\}',
                      observers)
    assert entry, status
    directory, listener, host, port = entry.groups()
    assert directory == directory_id(new)
    assert (listener, host, int(port)) == ("CONTROLLER", "127.0.0.1", new.port), entry.group(0)
    voters = re.search(r"^CurrentVoters:\s+(.*)$", status, re.M).group(1)
    assert '"id": 103' not in voters, voters

    # add-controller reads the id from the properties and the directory id from a
    # meta.properties in log.dirs: both written here from the describe output.
    fake_dir = tmp_path / "from-describe"
    fake_dir.mkdir()
    (fake_dir / "meta.properties").write_text(f"version=1\ncluster.id={cluster_id}\nnode.id=103\n"
                                              f"directory.id={directory}\n")
    props = tmp_path / "from-describe.properties"
    props.write_text(f"node.id=103\nprocess.roles=controller\ncontroller.listener.names={listener}\n"
                     f"listeners={listener}://{host}:{port}\nlog.dirs={fake_dir}\n")
    add_controller(brokers, 103, props)
    assert voter_directory_ids(brokers)[103] == directory_id(new)
    assert observer_rows(brokers, 103) == [], "a voter is no observer"
    assert any(r["id"] == 103 and r["status"] == "Follower" for r in describe_replication(brokers))
    wait_caught_up(quorum, new)


def test_wiped_added_coordinator_votes_again_only_once_added_back(quorum_cluster, tmp_path):
    """KIP-853: a voter is (id, directory id). A coordinator added with add-controller (its
    directory id in the voter set) loses its data directory and restarts: a new directory id,
    an empty log and no record of its votes. It follows and catches up, but does not vote:
    with the leader SIGKILLed, the two other voters of four elect nobody. remove-controller
    (id and old directory id) and add-controller (the new one) make it a voter again, and
    its vote then elects a leader with another member SIGKILLed."""
    quorum, brokers = quorum_cluster
    new, props = new_coordinator(quorum, tmp_path, 103)
    with Creations(brokers) as c:
        c.wait_acked(5)
        new.start()
        add_controller(brokers, 103, props)
        old_dir = directory_id(new)
        assert voter_directory_ids(brokers)[103] == old_dir
        wait_caught_up(quorum, new)

        new.kill()
        shutil.rmtree(new.data_dir)
        new.start()
        assert directory_id(new) != old_dir
        c.wait_acked(5)
        wait_caught_up(quorum, new)
        assert new not in quorum.active()
        assert voter_directory_ids(brokers)[103] == old_dir, "the voter set still names the wiped directory"
        # What an operator sees to repair it: the voter with the old directory id, and the
        # coordinator as an observer with its new one.
        wait_observer(brokers, 103, directory_id(new))
        wait_until(lambda: new.metrics().get("tributary_coordinator_raft_voter") == 0,
                   "the wiped coordinator to report itself no voter on /metrics")

        # Its vote is what a leader of four needs with one of them down: it grants none.
        leader = quorum.leader()
        leader.kill()
        others = [m for m in quorum.members if m is not leader]
        for m in others:
            wait_until(lambda: m.metrics() != {}, f"coordinator {m.node_id} to answer")
        # Five election timeouts without an active controller (waiting for one must time out).
        with pytest.raises(AssertionError, match="timed out"):
            wait_until(lambda: quorum.active() != [], "a leader elected with the vote of a wiped coordinator",
                       timeout=5 * ELECTION_TIMEOUT_MS / 1000)
        leader.start()
        quorum.leader(timeout=LEADER_TIMEOUT_S)
        assert new not in quorum.active()

        # The voter of the new directory is not the one in the set; the old one is removed.
        wrong = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "remove-controller",
                           "--controller-id", 103, "--controller-directory-id", directory_id(new), check=False)
        assert wrong.returncode != 0 and "VoterNotFoundException" in wrong.stderr, wrong
        out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "remove-controller",
                         "--controller-id", 103, "--controller-directory-id", old_dir).stdout
        assert re.search(r"Removed\s+KRaft controller 103 ", out), out
        assert current_voters(brokers) == [100, 101, 102]
        add_controller(brokers, 103, props)
        assert voter_directory_ids(brokers)[103] == directory_id(new)
        assert observer_rows(brokers, 103) == [], "seated again: no observer"
        c.wait_acked(5)
        wait_caught_up(quorum, new)
        wait_until(lambda: new.metrics().get("tributary_coordinator_raft_voter") == 1,
                   "coordinator 103 to report itself a voter again")

        # A voter again: with the leader SIGKILLed, its vote elects one of the other two.
        leader = quorum.leader()
        leader.kill()
        quorum.leader(timeout=LEADER_TIMEOUT_S, among=[m for m in quorum.members if m is not leader])
        c.wait_acked(10)
        leader.start()
    assert_every_broker_has(brokers, c.acked)


def test_majority_loss_stops_changes_not_data(quorum_cluster):
    quorum, brokers = quorum_cluster
    admin = AdminClient({"bootstrap.servers": bootstrap(brokers)})
    admin.create_topics([NewTopic("data", 3, 3)])["data"].result(timeout=30)
    wait_until(lambda: all("data" in topics_of(b) for b in brokers), "topic data on every broker")
    leader = quorum.leader()
    survivor = next(m for m in quorum.members if m is not leader)
    lost = [m for m in quorum.members if m is not survivor]
    for m in lost:
        m.kill()

    # Brokers keep serving what they have: acks=all produce and reads.
    p = Producer({"bootstrap.servers": bootstrap(brokers), "acks": "all", "enable.idempotence": True})
    for i in range(300):
        p.produce("data", key=str(i).encode(), value=f"v{i}".encode())
    assert p.flush(60) == 0
    assert records_in(brokers, "data") == 300

    # Metadata changes wait, then fail with an error rather than hang or half-happen.
    fut = admin.create_topics([NewTopic("during-loss", 1, 1)], request_timeout=8, operation_timeout=8)["during-loss"]
    with pytest.raises(KafkaException):
        fut.result(timeout=30)
    assert quorum.active() == []

    for m in lost:
        m.start()
    quorum.leader(timeout=LEADER_TIMEOUT_S)
    admin.create_topics([NewTopic("after-loss", 1, 3)])["after-loss"].result(timeout=60)
    assert_every_broker_has(brokers, ["data", "after-loss"])
    assert records_in(brokers, "data") == 300


def directory_id(member):
    text = (member.data_dir / "meta.properties").read_text()
    return re.search(r"^directory\.id=(\S+)$", text, re.M).group(1)


def current_voters(brokers):
    out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "describe", "--status").stdout
    voters = re.search(r"^CurrentVoters:\s+(.*)$", out, re.M).group(1)
    return sorted(int(i) for i in re.findall(r'"id": (\d+)', voters))


def new_coordinator(quorum, tmp_path, node_id):
    """Coordinator `node_id`, not yet started, given the quorum's voters (it is not among
    them: it follows until added), and the properties file add-controller reads it from."""
    first = quorum.members[0]
    new = Coordinator(tmp_path / f"coordinator-{node_id}", first.overrides, node_id=node_id, http_port=free_port(),
                      voters=quorum.voters)
    quorum.members.append(new)  # stopped (and its log shown on failure) by the fixture
    props = tmp_path / f"controller-{node_id}.properties"
    props.write_text(f"node.id={node_id}\nprocess.roles=controller\ncontroller.listener.names=CONTROLLER\n"
                     f"listeners=CONTROLLER://127.0.0.1:{new.port}\nlog.dirs={new.data_dir}\n")
    return new, props


def add_controller(brokers, node_id, props):
    out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers),
                     "--command-config", props, "add-controller").stdout
    assert f"Added controller {node_id}" in out, out


def test_one_coordinator_grows_to_three_and_outlives_the_first(lone_coordinator_cluster, tmp_path):
    """The operator's scale-up of the quorum, by hand: a lone coordinator (100) gets 101 and
    102 added with add-controller while topics are created; then 100 is SIGKILLed. The two
    elect a leader, and the brokers, configured with 100 alone, go on through them (every
    metadata answer names the voters). 100, restarted with its first configuration, follows
    the three-voter set in its log instead of leading alone."""
    quorum, brokers = lone_coordinator_cluster
    first = quorum.members[0]
    with Creations(brokers) as c:
        c.wait_acked(10)
        for node_id in (101, 102):
            new, props = new_coordinator(quorum, tmp_path, node_id)
            new.start()
            add_controller(brokers, node_id, props)
            c.wait_acked(5)
        assert current_voters(brokers) == [100, 101, 102]
        for m in quorum.members:
            wait_caught_up(quorum, m)
        first.kill()
        quorum.leader(timeout=LEADER_TIMEOUT_S, among=quorum.members[1:])
        c.wait_acked(10)
        first.start()
        wait_caught_up(quorum, first)
        c.wait_acked(5)
        # One active controller among the three (a 100 leading alone would make two).
        quorum.leader(timeout=LEADER_TIMEOUT_S)
    assert current_voters(brokers) == [100, 101, 102]
    assert_every_broker_has(brokers, c.acked)


def test_replace_a_voter_with_kafka_metadata_quorum_under_creations(quorum_cluster, tmp_path):
    """The operator's pod replacement, by hand with Kafka's tool: a new coordinator (103) starts
    outside the voters, is added with add-controller (it catches up first), then 102 is removed
    with remove-controller and stopped; topic creations go on throughout and none is lost."""
    quorum, brokers = quorum_cluster
    old = next(m for m in quorum.members if m.node_id == 102)
    new, props = new_coordinator(quorum, tmp_path, 103)
    with Creations(brokers) as c:
        c.wait_acked(10)
        new.start()
        add_controller(brokers, 103, props)
        assert current_voters(brokers) == [100, 101, 102, 103]
        c.wait_acked(10)
        out = kafka_tool("kafka-metadata-quorum", "--bootstrap-server", bootstrap(brokers), "remove-controller",
                         "--controller-id", 102, "--controller-directory-id", directory_id(old)).stdout
        assert re.search(r"Removed\s+KRaft controller 102 ", out), out
        assert current_voters(brokers) == [100, 101, 103]
        # Still running, it is an observer now (with the directory of its meta.properties).
        wait_observer(brokers, 102, directory_id(old))
        old.stop()
        quorum.members.remove(old)
        c.wait_acked(10)
        wait_caught_up(quorum, new)
        # The new voter counts: with one of the two old ones gone, it makes the majority.
        leader = quorum.leader()
        victim = leader if leader is not new else next(m for m in quorum.members if m is not new)
        victim.kill()
        quorum.leader(timeout=LEADER_TIMEOUT_S, among=[m for m in quorum.members if m is not victim])
        c.wait_acked(10)
        victim.start()
    assert_every_broker_has(brokers, c.acked)
