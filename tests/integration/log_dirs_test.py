"""Several log directories (log.dirs=/a,/b): placement, restart, start-up refusals,
DescribeLogDirs (kafka-log-dirs), and moving a replica between directories while it is
produced to (AlterReplicaLogDirs, kafka-reassign-partitions with log_dirs), SIGKILL included."""
import json
import shutil
import socket
import struct
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from differential_test import Reader as DifferentialReader, compact_array, compact_str  # noqa: E402
from durability_test import AckRecorder, kill_rounds  # noqa: E402
from harness import (admin_create_topic, check_offsets_dense, consume_all, parse_api_versions_v0,  # noqa: E402
                     read_response, recv_exact, send_request, wait_until)

STORAGE_ERROR = 56
LOG_DIR_NOT_FOUND = 57
REPLICA_NOT_AVAILABLE = 9


# ---- flexible-version requests: DescribeLogDirs v4, AlterReplicaLogDirs v2 -------------------

class Reader(DifferentialReader):
    def array(self, item):
        return self.compact_array(item)

    def no_tags(self):
        assert self.uvarint() == 0, "unexpected tagged fields"


def flexible_call(port, api_key, version, body):
    """One request with a v2 header; the response body after its v1 header."""
    cid = b"log-dirs-test"
    payload = struct.pack(">hhih", api_key, version, 11, len(cid)) + cid + b"\x00" + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.settimeout(30)
        s.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", recv_exact(s, 4))
        frame = recv_exact(s, size)
    r = Reader(frame)
    assert r.take(">i") == 11
    r.no_tags()
    return r


def describe_log_dirs(port):
    """DescribeLogDirs v4 for every topic: {dir: {"error", "total", "usable", "replicas":
    {(topic, partition, is_future): (size, offset_lag)}}}."""
    r = flexible_call(port, 35, 4, b"\x00" + b"\x00")  # Topics: null (all); no tags
    r.take(">i")  # throttle
    assert r.take(">h") == 0

    def partition():
        index, size, lag, future = r.take(">iqq?")
        r.no_tags()
        return index, size, lag, future

    def topic():
        name = r.compact_str()
        parts = r.array(partition)
        r.no_tags()
        return name, parts

    def result():
        error = r.take(">h")
        path = r.compact_str()
        topics = r.array(topic)
        total, usable = r.take(">qq")
        r.no_tags()
        replicas = {(name, i, fut): (size, lag) for name, parts in topics for i, size, lag, fut in parts}
        return path, {"error": error, "total": total, "usable": usable, "replicas": replicas}

    out = dict(r.array(result))
    r.no_tags()
    r.done()
    return out


def alter_replica_log_dirs(port, moves):
    """AlterReplicaLogDirs v2 for {path: {topic: [partition]}}: {(topic, partition): error}."""
    def topic(item):
        name, parts = item
        return compact_str(name) + compact_array(parts, lambda p: struct.pack(">i", p)) + b"\x00"

    def directory(item):
        path, topics = item
        return compact_str(str(path)) + compact_array(list(topics.items()), topic) + b"\x00"

    r = flexible_call(port, 34, 2, compact_array(list(moves.items()), directory) + b"\x00")
    r.take(">i")

    def partition():
        index, error = r.take(">ih")
        r.no_tags()
        return index, error

    def result():
        name = r.compact_str()
        parts = r.array(partition)
        r.no_tags()
        return [((name, i), e) for i, e in parts]

    out = dict(x for rs in r.array(result) for x in rs)
    r.no_tags()
    return out


# ---- helpers -----------------------------------------------------------------------------------

def two_dir_broker(make_broker, tmp_path, overrides=None):
    """A broker (not started) whose log.dirs are <tmp>/d1 and <tmp>/d2."""
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    b = make_broker(overrides=overrides, start=False)
    b.data_dir = ",".join(map(str, dirs))  # the harness passes it as log.dirs
    return b, dirs


def where(dirs, topic):
    """{partition: [index of each directory holding <topic>-<partition>]} from the disk."""
    out = {}
    for i, d in enumerate(dirs):
        for p in d.glob(f"{topic}-*"):
            suffix = p.name[len(topic) + 1:]
            if suffix.isdigit():
                out.setdefault(int(suffix), []).append(i)
    return out


def leftovers(dirs, topic):
    """Future copies and old copies of a move that are on disk (removed replicas, named
    -delete until the broker's reaper thread has removed them, too)."""
    return sorted(p.name for d in dirs for p in d.glob(f"{topic}-*.*-*"))


def produce(bootstrap, topic, n, size=200, partition=None):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, (b"v-%d " % i).ljust(size, b"x"), b"k-%d" % i, **kw)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def check_acked(bootstrap, topic, acked):
    """Every acknowledged (partition, offset, value) is read back at its offset, offsets are
    dense and no value appears twice (every value sent was different): nothing was duplicated
    by a move."""
    got = consume_all(bootstrap, topic, timeout=180)
    stored = {}
    for p, records in got.items():
        check_offsets_dense(records)
        values = [v for _, _, v in records]
        assert len(values) == len(set(values)), f"partition {p}: a record is stored twice"
        for o, _, v in records:
            stored[(p, o)] = v
    missing = [(p, o) for p, o, v in acked if stored.get((p, o)) != v]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost or changed: {missing[:5]}"
    return got


# ---- several directories -------------------------------------------------------------------

def test_partitions_spread_over_directories_and_restart_finds_them(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "spread", 6)
    produce(b.bootstrap, "spread", 6000)  # acks=all: every partition is open once it returns
    placed = where(dirs, "spread")
    assert sorted(placed) == list(range(6)) and all(len(v) == 1 for v in placed.values()), placed
    # Each new replica goes to the directory holding fewer: 3 and 3.
    assert [sum(1 for v in placed.values() if v == [i]) for i in range(2)] == [3, 3], placed
    admin_create_topic(b.bootstrap, "more", 3)
    wait_until(lambda: len(where(dirs, "more")) == 3, "the partitions of more")
    everything = list(placed.values()) + list(where(dirs, "more").values())
    assert sorted(sum(1 for v in everything if v == [i]) for i in range(2)) == [4, 5], everything
    for d in dirs:
        props = (d / "meta.properties").read_text()
        assert "node.id=1\n" in props and "cluster.id=" in props, props
    before = consume_all(b.bootstrap, "spread")
    assert sum(len(v) for v in before.values()) == 6000

    assert b.stop() == 0
    b.start()
    assert where(dirs, "spread") == placed, "a restart must find each partition where it was"
    assert consume_all(b.bootstrap, "spread") == before

    # DescribeLogDirs v4: both directories, each partition in its own, with sizes and space.
    described = describe_log_dirs(b.port)
    assert sorted(described) == sorted(str(d.resolve()) for d in dirs), described
    for i, d in enumerate(dirs):
        entry = described[str(d.resolve())]
        assert entry["error"] == 0 and entry["total"] > 0 and 0 <= entry["usable"] <= entry["total"], entry
        mine = sorted(p for (t, p, fut) in entry["replicas"] if t == "spread" and not fut)
        assert mine == sorted(p for p, v in placed.items() if v == [i]), (d, entry)
        for (t, p, fut), (size, lag) in entry["replicas"].items():
            if t == "spread":
                assert size > 0 and lag == 0, (t, p, size, lag)

    # Kafka's own tool shows both directories with the partitions and their sizes.
    out = kafka_tool("kafka-log-dirs", "--bootstrap-server", b.bootstrap, "--describe").stdout
    report = json.loads(out.strip().splitlines()[-1])
    [broker] = report["brokers"]
    shown = {Path(d["logDir"]): d for d in broker["logDirs"]}
    assert sorted(shown) == sorted(d.resolve() for d in dirs), report
    for i, d in enumerate(dirs):
        entry = shown[d.resolve()]
        assert entry["error"] is None, entry
        names = sorted(p["partition"] for p in entry["partitions"] if p["partition"].startswith("spread-"))
        assert names == sorted(f"spread-{p}" for p, v in placed.items() if v == [i]), entry
        assert all(p["size"] > 0 and p["offsetLag"] == 0 and not p["isFuture"]
                   for p in entry["partitions"] if p["partition"].startswith("spread-")), entry


def test_an_unusable_directory_is_reported_with_its_error(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "before", 2)
    wait_until(lambda: len(where(dirs, "before")) == 2, "the partitions of before")
    assert where(dirs, "before") == {0: [0], 1: [1]} or where(dirs, "before") == {0: [1], 1: [0]}
    dirs[1].rename(tmp_path / "moved-away")  # gone while the broker runs
    described = describe_log_dirs(b.port)
    assert described[str(dirs[1].resolve())]["error"] == STORAGE_ERROR, described
    assert described[str(dirs[1].resolve())]["replicas"] == {}, described
    assert described[str(dirs[0].resolve())]["error"] == 0, described
    # New replicas go to the directory that is left.
    admin_create_topic(b.bootstrap, "after", 3)
    wait_until(lambda: len(where(dirs, "after")) == 3, "the partitions of after")
    assert where(dirs, "after") == {0: [0], 1: [0], 2: [0]}
    assert not dirs[1].exists()


def test_start_up_refuses_a_partition_in_two_directories_or_another_nodes_directory(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "twice", 2)
    produce(b.bootstrap, "twice", 100)
    assert b.stop() == 0
    placed = where(dirs, "twice")
    src = dirs[placed[0][0]] / "twice-0"
    copy = dirs[1 - placed[0][0]] / "twice-0"
    shutil.copytree(src, copy)
    with pytest.raises(RuntimeError):
        b.start()
    assert "twice-0 is in two log directories" in b.log_tail(), b.log_tail(3000)
    shutil.rmtree(copy)

    props = dirs[1] / "meta.properties"
    saved = props.read_text()
    props.write_text(saved.replace("node.id=1", "node.id=7"))
    with pytest.raises(RuntimeError):
        b.start()
    assert "belongs to node 7" in b.log_tail(), b.log_tail(3000)
    props.write_text(saved)

    b.start()
    assert sum(len(v) for v in consume_all(b.bootstrap, "twice").values()) == 100


@pytest.mark.parametrize("value_size,linger_ms", [(0, 2), (2000, 20)], ids=["small_batches", "direct_writes"])
def test_sigkill_under_load_loses_nothing_in_either_directory(make_broker, tmp_path, value_size, linger_ms):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "killed", 4)
    wait_until(lambda: len(where(dirs, "killed")) == 4, "the partitions of killed")
    assert {i for v in where(dirs, "killed").values() for i in v} == {0, 1}, "both directories hold partitions"
    kill_rounds(b, "killed", [15_000, 22_000], value_size, linger_ms)
    assert "after an unclean shutdown" in b.log_text()


# ---- moving replicas between directories ---------------------------------------------------

def test_alter_replica_log_dirs_errors(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "errs", 1)
    answers = alter_replica_log_dirs(b.port, {tmp_path / "elsewhere": {"errs": [0]},
                                              dirs[0]: {"errs": [5], "no-such-topic": [0]}})
    assert answers == {("errs", 0): LOG_DIR_NOT_FOUND, ("errs", 5): REPLICA_NOT_AVAILABLE,
                       ("no-such-topic", 0): REPLICA_NOT_AVAILABLE}, answers
    # Asking for the directory it is in changes nothing.
    [here] = where(dirs, "errs")[0]
    assert alter_replica_log_dirs(b.port, {dirs[here]: {"errs": [0]}}) == {("errs", 0): 0}
    assert where(dirs, "errs") == {0: [here]} and leftovers(dirs, "errs") == []


class PacedProducer:
    """Sends records of `size` bytes, numbered (every value different), a few at a time, each
    turn waiting for its acknowledgements: a steady load slower than a throttled move."""

    def __init__(self, bootstrap, topic, size):
        self.topic, self.size = topic, size
        self.acked, self.failed, self.sent = [], 0, 0
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 2,
                                  "queue.buffering.max.messages": 100000})

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def send(self, n):
        for _ in range(n):
            while True:
                try:
                    self.producer.produce(self.topic, (b"record-%d " % self.sent).ljust(self.size, b"x"),
                                          b"k%d" % (self.sent % 64), on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.sent += 1
        assert self.producer.flush(60) == 0


def test_move_under_produce_load_loses_and_duplicates_nothing(make_broker, tmp_path):
    # At 6 MB/s the 12 MB already in partition 0 take about 2 s to copy, while records keep
    # coming (2 KB a turn, each turn waiting for its acks: far below the move's rate, so the
    # copy catches up).
    b, dirs = two_dir_broker(make_broker, tmp_path, {"tributary.log.dirs.move.max.bytes.per.second": 6_000_000,
                                                     "log.segment.bytes": 4 << 20})
    b.start()
    admin_create_topic(b.bootstrap, "moving", 2)
    load = PacedProducer(b.bootstrap, "moving", 1000)
    load.send(24_000)
    [src] = where(dirs, "moving")[0]
    dst = 1 - src

    assert alter_replica_log_dirs(b.port, {dirs[dst]: {"moving": [0]}}) == {("moving", 0): 0}
    seen_future = []

    def moved():
        d = describe_log_dirs(b.port)[str(dirs[dst].resolve())]["replicas"]
        if ("moving", 0, True) in d:
            seen_future.append(d[("moving", 0, True)])
        return ("moving", 0, False) in d

    deadline = time.monotonic() + 120
    while not moved():
        assert time.monotonic() < deadline, "the move did not end within 120 s"
        load.send(2)
    assert len(seen_future) >= 3, "the move should have been seen under way (IsFutureKey) while records came in"
    assert where(dirs, "moving")[0] == [dst]
    # The old copy is renamed -delete at the swap and removed off the cores, soon after.
    wait_until(lambda: not leftovers(dirs, "moving"), "the old copy removed")
    load.send(2000)  # appends after the swap go to the new directory
    assert load.failed == 0
    check_acked(b.bootstrap, "moving", load.acked)
    assert b.wait_for_log("moving-0: log moved to")

    # A restart finds it in its new directory.
    assert b.stop() == 0
    b.start()
    assert where(dirs, "moving")[0] == [dst]
    check_acked(b.bootstrap, "moving", load.acked)


def future_size(port, d, topic):
    """The size of the future log of <topic>-0 DescribeLogDirs shows in directory `d`, or None."""
    replica = describe_log_dirs(port)[str(d.resolve())]["replicas"].get((topic, 0, True))
    return None if replica is None else replica[0]


@pytest.mark.parametrize("how", ["sigkill", "clean_stop"])
def test_a_move_interrupted_by_a_restart_resumes_from_its_copy(make_broker, tmp_path, how):
    b, dirs = two_dir_broker(make_broker, tmp_path, {"tributary.log.dirs.move.max.bytes.per.second": 4_000_000})
    b.start()
    admin_create_topic(b.bootstrap, "halfway", 1)
    rec = AckRecorder(b.bootstrap, "halfway", 1000, 5)
    rec.send_until(30_000)  # 30 MB at 4 MB/s: the stop comes long before the copy ends
    [src] = where(dirs, "halfway")[0]
    dst = 1 - src
    assert alter_replica_log_dirs(b.port, {dirs[dst]: {"halfway": [0]}}) == {("halfway", 0): 0}
    wait_until(lambda: (future_size(b.port, dirs[dst], "halfway") or 0) >= 4_000_000, "4 MB in the future log")
    rec.send_until(len(rec.acked) + 3000)
    copied = future_size(b.port, dirs[dst], "halfway")
    [future] = leftovers(dirs, "halfway")
    assert future.endswith("-future") and (dirs[dst] / future).is_dir()
    if how == "sigkill":
        b.kill()
        rec.abandon()
    else:
        rec.abandon()
        assert b.stop() == 0

    # The same future log is opened again beside the replica, nothing it held is copied
    # again, and DescribeLogDirs shows it as the future replica (IsFutureKey) meanwhile.
    b.start()
    assert b.wait_for_log("halfway-0: resuming its move")
    size = future_size(b.port, dirs[dst], "halfway")
    if size is not None:  # else the move ended already
        assert size >= copied, "the copy restarted instead of going on from its end"
        assert (dirs[dst] / future).is_dir(), "the move goes on in the future log it had"
    wait_until(lambda: where(dirs, "halfway") == {0: [dst]} and not leftovers(dirs, "halfway"), "the move",
               timeout=120)
    assert b.wait_for_log("halfway-0: log moved to")
    check_acked(b.bootstrap, "halfway", rec.acked)
    produce(b.bootstrap, "halfway", 10)  # appends after the swap go to the new directory
    assert b.stop() == 0
    b.start()
    assert where(dirs, "halfway") == {0: [dst]}
    got = check_acked(b.bootstrap, "halfway", rec.acked)
    assert sum(1 for records in got.values() for _, _, v in records if v.startswith(b"v-")) == 10


MOVE_RATE_KEY = "replica.alter.log.dirs.io.max.bytes.per.second"


def move_rate_in_force(bootstrap, node="1"):
    """replica.alter.log.dirs.io.max.bytes.per.second as broker `node` describes it (its own
    metadata view, installed after the rate is applied to its moves), or None when unset."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource("broker", node)
    entries = admin.describe_configs([res])[res].result(30)
    entry = entries.get(MOVE_RATE_KEY)
    return None if entry is None or entry.is_default else entry.value


def broker_configs(b, *args):
    """kafka-configs --entity-type brokers `args`."""
    out = kafka_tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "brokers", *args).stdout
    assert "Completed updating" in out, out


def test_the_dynamic_alter_log_dirs_throttle_bounds_a_move_and_removing_it_lets_it_finish(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "throttled", 1)
    produce(b.bootstrap, "throttled", 25_000)  # about 5 MB
    [src] = where(dirs, "throttled")[0]
    dst = 1 - src
    size = describe_log_dirs(b.port)[str(dirs[src].resolve())]["replicas"][("throttled", 0, False)][0]
    assert size > 4_000_000

    # Set with Kafka's kafka-configs, for this broker: the move copies at most `rate` bytes/s.
    rate = 1_000_000
    broker_configs(b, "--entity-name", "1", "--alter", "--add-config", f"{MOVE_RATE_KEY}={rate}")
    wait_until(lambda: move_rate_in_force(b.bootstrap) == str(rate), "the broker to apply the throttle")
    started = time.monotonic()
    assert alter_replica_log_dirs(b.port, {dirs[dst]: {"throttled": [0]}}) == {("throttled", 0): 0}
    wait_until(lambda: where(dirs, "throttled") == {0: [dst]}, "the throttled move", timeout=120)
    took = time.monotonic() - started
    # A lower bound only (slowness can only make it longer): the quota lets through at most a
    # tenth of a second's worth saved up plus one read (up to 1 MiB) beyond the rate.
    least = (size - (1 << 20) - rate / 10) / rate
    assert took >= least, f"{size} bytes moved in {took:.2f} s at {rate} bytes/s (at least {least:.2f} s expected)"
    print(f"{size} bytes moved in {took:.2f} s at {rate} bytes/s")
    check_offsets_dense(consume_all(b.bootstrap, "throttled")[0])

    # The cluster-wide default, almost nothing: a move back stays under way...
    broker_configs(b, "--entity-default", "--alter", "--add-config", f"{MOVE_RATE_KEY}=1")
    broker_configs(b, "--entity-name", "1", "--alter", "--delete-config", MOVE_RATE_KEY)
    wait_until(lambda: move_rate_in_force(b.bootstrap) == "1", "the broker to apply the default")
    assert alter_replica_log_dirs(b.port, {dirs[src]: {"throttled": [0]}}) == {("throttled", 0): 0}
    wait_until(lambda: future_size(b.port, dirs[src], "throttled") is not None, "the future log")
    assert where(dirs, "throttled") == {0: [dst]}, "5 MB at 1 byte/s cannot have moved"
    # ...until the throttle is removed: then nothing bounds it (no static limit) and it ends.
    broker_configs(b, "--entity-default", "--alter", "--delete-config", MOVE_RATE_KEY)
    wait_until(lambda: where(dirs, "throttled") == {0: [src]} and not leftovers(dirs, "throttled"),
               "the move once the throttle is removed", timeout=120)
    assert sum(len(v) for v in consume_all(b.bootstrap, "throttled").values()) == 25_000


def test_a_future_log_of_another_topic_id_is_discarded_at_start(make_broker, tmp_path):
    """A future log whose partition.metadata names another topic (one deleted and created
    again while it was copied) is not resumed: the replica stays, the copy goes."""
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "other-id", 1)
    produce(b.bootstrap, "other-id", 1000)
    before = consume_all(b.bootstrap, "other-id")
    assert b.stop() == 0
    [src] = where(dirs, "other-id")[0]
    dst = 1 - src
    future = dirs[dst] / "other-id-0.0123456789abcdef0123456789abcdef-future"
    shutil.copytree(dirs[src] / "other-id-0", future)
    (future / "partition.metadata").write_text("topic_id: AAAAAAAAAAAAAAAAAAAAAA\n")
    b.start()
    assert b.wait_for_log("other-id-0: discarding the unfinished move")
    wait_until(lambda: not leftovers(dirs, "other-id"), "the copy removed")
    assert where(dirs, "other-id") == {0: [src]}
    assert consume_all(b.bootstrap, "other-id") == before


def test_a_stop_between_the_swaps_two_renames_completes_the_move(make_broker, tmp_path):
    """On disk as the swap leaves it between its renames (the old log renamed -delete, the
    complete copy still named -future): the next start takes the copy as the replica."""
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    admin_create_topic(b.bootstrap, "renamed", 1)
    produce(b.bootstrap, "renamed", 3000)
    before = consume_all(b.bootstrap, "renamed")
    assert b.stop() == 0
    [src] = where(dirs, "renamed")[0]
    dst = 1 - src
    shutil.copytree(dirs[src] / "renamed-0", dirs[dst] / "renamed-0.0123456789abcdef0123456789abcdef-future")
    (dirs[src] / "renamed-0").rename(dirs[src] / "renamed-0.0123456789abcdef0123456789abcdef-delete")
    b.start()
    assert where(dirs, "renamed") == {0: [dst]}
    wait_until(lambda: not leftovers(dirs, "renamed"), "the old copy removed")
    assert consume_all(b.bootstrap, "renamed") == before
    produce(b.bootstrap, "renamed", 10)
    assert sum(len(v) for v in consume_all(b.bootstrap, "renamed").values()) == 3010


def api_keys(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        send_request(s, 18, 0, 1, b"")
        _, body = read_response(s)
    return parse_api_versions_v0(body)["api_keys"]


def test_kafka_reassign_partitions_moves_a_replica_to_the_named_directory(make_broker, tmp_path):
    b, dirs = two_dir_broker(make_broker, tmp_path)
    b.start()
    # The tool lists and alters reassignments before it moves replicas between directories.
    if not {45, 46} <= set(api_keys(b.port)):
        pytest.skip("the broker serves no AlterPartitionReassignments/ListPartitionReassignments yet")
    admin_create_topic(b.bootstrap, "tool-moved", 2)
    produce(b.bootstrap, "tool-moved", 2000)
    before = consume_all(b.bootstrap, "tool-moved")
    placed = where(dirs, "tool-moved")
    targets = {p: dirs[1 - v[0]] for p, v in placed.items()}  # each partition to the other directory
    plan = {"version": 1, "partitions": [
        {"topic": "tool-moved", "partition": p, "replicas": [1], "log_dirs": [str(targets[p].resolve())]}
        for p in sorted(targets)]}
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    kafka_tool("kafka-reassign-partitions", "--bootstrap-server", b.bootstrap, "--execute",
               "--reassignment-json-file", plan_file)

    def verified():
        out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", b.bootstrap, "--verify",
                         "--reassignment-json-file", plan_file, check=False).stdout
        done = out.count("is completed.") == len(targets) and out.count("completed successfully.") == len(targets)
        return done, out

    wait_until(lambda: verified()[0], "kafka-reassign-partitions --verify", describe=lambda: verified()[1])
    assert where(dirs, "tool-moved") == {p: [1 - v[0]] for p, v in placed.items()}
    out = kafka_tool("kafka-log-dirs", "--bootstrap-server", b.bootstrap, "--describe",
                     "--topic-list", "tool-moved").stdout
    report = json.loads(out.strip().splitlines()[-1])
    shown = {p["partition"]: Path(d["logDir"]) for d in report["brokers"][0]["logDirs"] for p in d["partitions"]}
    assert shown == {f"tool-moved-{p}": targets[p].resolve() for p in targets}, report
    assert consume_all(b.bootstrap, "tool-moved") == before
