#!/usr/bin/env python3
"""Restart time (issue 12 item 8): how soon a broker holding many partitions serves again,
after a clean stop (SIGTERM) and after SIGKILL in the middle of a load.

One coordinator and one broker (replication factor 1: the figure is the broker's own
start-up, not a follower catching up), on loopback, data in a temp folder under
build-bench/. The broker is filled with BENCH_RESTART_GB of 10 KB records spread round robin
over BENCH_RESTART_PARTITIONS partitions (10 topics), by tributary-loadgen. Then, for each
way of stopping:

  ready    from the start of the new process until it answers requests as a registered,
           unfenced broker (what tests/integration/harness.py waits for)
  serving  from the start until one acks=1 record was acknowledged on *every* partition
           (a librdkafka producer, started when the broker is ready, retrying until then)

The SIGKILL restart recovers with the broker's written marks (storage/README.md, Recovery).
With BENCH_RESTART_WITHOUT_MARKS=1 (the default) each run also kills it once more and deletes
the data directory's `written-marks` file before the restart: recovery as before the marks,
every batch since the recovery point CRC-checked, measured in the same run for comparison.

The page cache holds what fits of the data (24 GiB machine): the figures are for a warm
restart of the process, which is what a SIGKILL or a rolling restart sees. With
BENCH_RESTART_DROP_CACHES=1 (root) the caches are dropped before each start as well.

The size is capped to BENCH_RESTART_DISK_SHARE (0.6) of the free space of the data
filesystem; the results file says when the cap applied. Results: bench/results/<date>-restart-<host-kind>.md.

Environment: BENCH_RESTART_GB (50), BENCH_RESTART_PARTITIONS (2000), BENCH_RESTART_RUNS (3),
BENCH_RESTART_WITHOUT_MARKS (1), BENCH_RESTART_DISK_SHARE (0.6), BENCH_RESTART_TAG (in the results file's name),
TRIB_BENCH_BUILD (build-bench/), BENCH_SKIP_BUILD=1 (use the binaries already there),
BENCH_RESTART_KEEP=1 keeps the data folder.
"""
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import harness  # noqa: E402  (the integration tests' process handling, reused)
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPICS = 10
RECORD = 10_000


def env_int(name, default):
    return int(os.environ.get(name, default))


def build(build_dir):
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                    "-DTRIB_BENCH=ON", "-DTRIB_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(build_dir), f"-j{os.environ.get('BENCH_JOBS', '2')}",
                    "tributary-broker", "tributary-coordinator", "tributary-loadgen"], check=True,
                   stdout=subprocess.DEVNULL)


def host_kind():
    out = subprocess.run(["bash", "-c", f"source {ROOT}/bench/host_kind.sh && echo $host_kind"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "host"


def topics_of(partitions):
    per = partitions // TOPICS
    return [(f"restart-{i}", per + (1 if i < partitions % TOPICS else 0)) for i in range(TOPICS)]


def fill(loadgen, bootstrap, topics, total_bytes, started_load=False):
    """Produces total_bytes of RECORD-byte values over the topics (one loadgen per topic, in
    turn); returns the seconds taken."""
    t0 = time.monotonic()
    per_topic = total_bytes // len(topics)
    for name, parts in topics:
        subprocess.run([loadgen, "produce", "--brokers", bootstrap, "--topic", name, "--partitions", str(parts),
                        "--record-size", str(RECORD), "--records", str(max(1, per_topic // RECORD)),
                        "--acks", "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def one_record_everywhere(bootstrap, topics, started):
    """Seconds from `started` until a record is acknowledged on every partition."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "message.timeout.ms": 600000,
                  "linger.ms": 5, "retry.backoff.ms": 20})
    pending = {"n": 0, "errors": []}

    def done(err, _msg):
        pending["n"] -= 1
        if err is not None:
            pending["errors"].append(str(err))

    for name, parts in topics:
        for i in range(parts):
            p.produce(name, b"x", partition=i, on_delivery=done)
            pending["n"] += 1
    while pending["n"] > 0:
        p.poll(0.01)
    if pending["errors"]:
        raise RuntimeError(f"{len(pending['errors'])} partitions refused: {pending['errors'][:3]}")
    return time.monotonic() - started


def restart(broker, bootstrap_of, topics, drop_caches, forget_marks=False):
    if forget_marks:
        (broker.data_dir / "written-marks").unlink(missing_ok=True)
    if drop_caches:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    started = time.monotonic()
    broker.start()
    ready = time.monotonic() - started
    serving = one_record_everywhere(bootstrap_of(broker), topics, started)
    return ready, serving


def recovery_lines(broker):
    """The broker log's lines about recovering logs after its last start."""
    text = broker.log_path.read_text(errors="replace")
    last = text.rsplit("==== start", 1)[-1]
    return [l for l in last.splitlines() if "recover" in l.lower() or "scanned" in l.lower()]


def main():
    build_dir = Path(os.environ.get("TRIB_BENCH_BUILD", ROOT / "build-bench"))
    if os.environ.get("BENCH_SKIP_BUILD") != "1":
        build(build_dir)
    os.environ["TRIB_BROKER"] = str(build_dir / "broker" / "tributary-broker")
    os.environ["TRIB_COORDINATOR"] = str(build_dir / "coordinator" / "tributary-coordinator")
    loadgen = str(build_dir / "bench" / "tributary-loadgen")
    harness.START_TIMEOUT_S = 900  # a broker recovering a large log answers late
    harness.STOP_TIMEOUT_S = 300   # and closes thousands of partitions on SIGTERM

    load_before = os.getloadavg()[0]
    partitions = env_int("BENCH_RESTART_PARTITIONS", 2000)
    runs = env_int("BENCH_RESTART_RUNS", 3)
    drop = os.environ.get("BENCH_RESTART_DROP_CACHES") == "1"
    want = env_int("BENCH_RESTART_GB", 50) * 10**9
    work = Path(tempfile.mkdtemp(prefix="restart-", dir=build_dir))
    free = shutil.disk_usage(work).free
    share = float(os.environ.get("BENCH_RESTART_DISK_SHARE", "0.6"))
    total = min(want, int(free * share))
    topics = topics_of(partitions)

    coord = harness.Coordinator(work / "coordinator").start()
    broker = harness.Broker(work / "broker", node_id=1, overrides={
        "controller.quorum.voters": coord.voters, "num.partitions": 1, "default.replication.factor": 1,
        "offsets.topic.replication.factor": 1, "transaction.state.log.replication.factor": 1})
    broker.start()
    bootstrap_of = lambda b: b.bootstrap  # noqa: E731
    without_marks = os.environ.get("BENCH_RESTART_WITHOUT_MARKS", "1") == "1"
    results = {"clean": [], "kill": []} | ({"kill_nomarks": []} if without_marks else {})
    try:
        a = AdminClient({"bootstrap.servers": broker.bootstrap})
        for f in a.create_topics([NewTopic(n, p, 1) for n, p in topics]).values():
            f.result(120)
        fill_s = fill(loadgen, broker.bootstrap, topics, total)
        recovered = {}
        on_disk = sum(f.stat().st_size for f in (work / "broker" / "data").rglob("*.log"))
        print(f"filled {on_disk / 1e9:.1f} GB in {partitions} partitions in {fill_s:.0f} s", file=sys.stderr)
        for run in range(runs):
            broker.stop()  # SIGTERM: clean close
            ready, serving = restart(broker, bootstrap_of, topics, drop)
            results["clean"].append((ready, serving))
            print(f"clean stop, run {run + 1}: ready {ready:.2f} s, serving {serving:.2f} s", file=sys.stderr)
            for kind in [k for k in ("kill", "kill_nomarks") if k in results]:
                # SIGKILL while a producer writes to every partition
                load = subprocess.Popen([loadgen, "produce", "--brokers", broker.bootstrap, "--topic", topics[0][0],
                                         "--partitions", str(topics[0][1]), "--record-size", str(RECORD),
                                         "--seconds", "30", "--acks", "1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(3)  # the kill lands in the middle of the load (a bench, not a test)
                broker.kill()
                load.send_signal(signal.SIGTERM)
                load.wait(60)
                ready, serving = restart(broker, bootstrap_of, topics, drop, forget_marks=kind == "kill_nomarks")
                results[kind].append((ready, serving))
                recovered.setdefault(kind, recovery_lines(broker))
                print(f"{kind}, run {run + 1}: ready {ready:.2f} s, serving {serving:.2f} s", file=sys.stderr)
    finally:
        broker.stop()
        coord.stop()
        if os.environ.get("BENCH_RESTART_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)

    write_results(results, on_disk, total, want, partitions, fill_s, drop, recovered,
                  (load_before, os.getloadavg()[0]))


def write_results(results, on_disk, total, want, partitions, fill_s, drop, recovered, load):
    date = datetime.date.today().isoformat()
    tag = os.environ.get("BENCH_RESTART_TAG", "")
    share = float(os.environ.get("BENCH_RESTART_DISK_SHARE", "0.6"))
    out = ROOT / "bench" / "results" / f"{date}-restart-{tag + '-' if tag else ''}{host_kind()}.md"
    lines = [f"# Restart time, {date}", "",
             f"`bench/restart_bench.py`: one broker (RF 1) with {on_disk / 1e9:.1f} GB in {partitions} partitions "
             f"({TOPICS} topics, {RECORD} B records, filled in {fill_s:.0f} s)"
             + ("" if total >= want else f"; the issue asks for {want / 1e9:.0f} GB, capped to {share:.0%} of the free disk")
             + f". Page cache {'dropped before each start' if drop else 'warm (24 GiB RAM)'}. "
             f"Load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end: "
             "2 cores shared with whatever else ran.", "",
             "| stop | run | ready (s) | serving every partition (s) |", "| --- | --- | --- | --- |"]
    for kind, label in (("clean", "SIGTERM (clean)"), ("kill", "SIGKILL under load"),
                        ("kill_nomarks", "SIGKILL under load, marks file deleted")):
        if kind not in results:
            continue
        for i, (r, s) in enumerate(results[kind]):
            lines.append(f"| {label} | {i + 1} | {r:.2f} | {s:.2f} |")
        lines.append(f"| {label} | median | {statistics.median(r for r, _ in results[kind]):.2f} | "
                     f"{statistics.median(s for _, s in results[kind]):.2f} |")
    for kind, lines_of_kind in recovered.items():
        lines += ["", f"Recovery lines of the broker's log after its first `{kind}` restart:", "", "```",
                  *lines_of_kind[-20:], "```"]
    lines.append("")
    out.write_text("\n".join(lines))
    print(json.dumps({k: v for k, v in results.items()}))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
