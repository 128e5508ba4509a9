"""Writes the results file of bench/replication_bench.sh from its raw folder:
  replication_report.py RAW OUT "SYSTEMS"
RAW holds machine.txt, the limits (bench_common.sh) and <system>/<scenario>.<run>.json."""
import json
import os
import re
import statistics
import sys

import bench_limits

raw, out, systems = sys.argv[1], sys.argv[2], sys.argv[3].split()
NAME = {"tributary": "Tributary", "kafka": "Apache Kafka"}
GB = 1e9
ACK_LAG_NS = 100000000  # see fk_figures
KAFKA_2014 = (421823, 821557)  # records/s, 3x synchronous replication vs none, 3 machines

machine = bench_limits.machine(raw)
_, loop = bench_limits.loopbacks(raw)


def load(s, name):
    try:
        with open(os.path.join(raw, s, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def valid(d):
    return d.get("exit_code") == 0 and not d.get("delivery_errors") and not d.get("lost")


def fk_figures(d):
    """kill -> first ack, the ack gap around the kill and the last ack's lead on the kill (ms),
    or a reason why not."""
    kill = int(d.get("kill_ns", 0) or 0)
    if not kill:
        return None, "no kill (no leader named)"
    # kill_ns is taken just before the signal goes out, kill_done_ns just after. An ack the
    # producer sees up to ACK_LAG after that was answered before the kill: responses already
    # in the socket, and the producer thread's own scheduling delay on a busy machine.
    done = int(d.get("kill_done_ns", 0) or 0) or kill
    frm, to, last = int(d.get("gap_from_ns", 0)), int(d.get("gap_to_ns", 0)), int(d.get("last_ack_ns", 0))
    if last <= done + ACK_LAG_NS:
        return None, "no ack after the kill within the run"
    if not (frm <= done + ACK_LAG_NS and kill <= to):
        return None, "the largest ack gap (%.0f ms) is not around the kill" % ((to - frm) / 1e6)
    return {"kill_to_ack_ms": (to - kill) / 1e6, "gap_ms": (to - frm) / 1e6,
            "before_ms": (kill - frm) / 1e6}, ""


def runs(s, sc):
    """[(run number, record)] of scenario sc on system s, with FK's figures added."""
    all_ = []
    for i in range(1, 100):
        d = load(s, "%s.%d" % (sc, i))
        if d is None:
            continue
        if sc == "FK":
            f, why = fk_figures(d)
            d.update(f or {}, fk_problem=why)
        all_.append((i, d))
    return all_


KEY = {"R3": "records_per_s", "R1": "records_per_s", "L1a": "p99_ms", "L1r": "p99_ms", "L11": "p99_ms",
       "FK": "kill_to_ack_ms"}
SCEN = list(KEY)
data = {s: {sc: runs(s, sc) for sc in SCEN} for s in systems}

# LS: L1a at several rates (raw files LS<rate>.<run>.json).
LS_TARGET = (5.0, 10.0)  # issue 12 item 10: L1's p99 and p99.9, ms, medians of 5 runs
ls_rates = sorted({int(m.group(1)) for s in systems if os.path.isdir(os.path.join(raw, s))
                   for m in [re.match(r"LS(\d+)\.\d+\.json$", n) for n in os.listdir(os.path.join(raw, s))] if m})
sweep = {s: {r: runs(s, "LS%d" % r) for r in ls_rates} for s in systems}


def median(s, sc):
    """The run with the median figure among those that measured it (None without any)."""
    have = [(i, d) for i, d in data[s][sc] if d.get(KEY[sc]) is not None]
    if not have:
        return None, None
    return sorted(have, key=lambda x: x[1][KEY[sc]])[(len(have) - 1) // 2]


def every(s, sc, fmt):
    rs = [fmt % d[KEY[sc]] + ("" if valid(d) else " (invalid)") for _, d in data[s][sc] if d.get(KEY[sc]) is not None]
    return " (runs: %s)" % ", ".join(rs) if len(rs) > 1 else ""


def invalid_note(s, sc):
    bad = ["run %d: exit %s, %s delivery errors%s%s" % (i, d.get("exit_code"), d.get("delivery_errors", 0),
                                                      ", %s lost" % d["lost"] if d.get("lost") else "",
                                                      ", first error: %s" % d["first_error"] if d.get("first_error") else "")
           for i, d in data[s][sc] if not valid(d)]
    return bad


res = []
kind = os.path.basename(out)[len("YYYY-MM-DD-replication-"):-3]
both = len(systems) > 1
# Each system's server processes, as bench_clusters.sh starts them.
SERVERS = {"tributary": "Tributary's 3 coordinators and 3 brokers",
           "kafka": "Kafka's controller and 3 brokers, 4 JVMs"}
SERVER_COUNT = {"tributary": 6, "kafka": 4}
res.append("# Replication benchmark: %s, three brokers%s, %s" % (
    " and ".join(NAME[s] for s in systems), " each" if both else "", kind))
res.append("")
res.append(bench_limits.date_line(out, machine))
res.append("")
res.append("Load average (1, 5, 15 min) at the start: %s; at the end: %s. The machine is shared: other "
           "builds and tests may run on it at the same time. %s for the whole run: %d server processes "
           "(%s) and the load generator on %s cores.%s" % (
               machine.get("loadavg_start", "?"), machine.get("loadavg_end", "?"),
               "Both clusters ran side by side" if both else "One cluster ran",
               sum(SERVER_COUNT[s] for s in systems), "; ".join(SERVERS[s] for s in systems),
               machine.get("nproc"),
               " The benchmark ran at niceness %s (under `nice`, yielding to other jobs)." % machine["niceness"]
               if machine.get("niceness", "0") != "0" else ""))
# Whether other jobs took CPU during the runs: the machine's busy time (/proc/stat) over each
# run less what the benchmark's own processes used (both systems' servers and the load
# generator). The load average can't tell: the benchmark's own 8 servers and load generator
# raise it past the cores by themselves. Older raw data lack machine_busy_s: then the load
# average is all there is.
FOREIGN_CORES = 0.25  # kernel threads (writeback, reclaim) and the script itself stay below it
foreign = []
for s in systems:
    # FK left out: the killed broker's CPU goes with it, so what it used would look foreign
    measured = [(sc, data[s][sc]) for sc in SCEN if sc != "FK"] + [("LS%d" % r, sweep[s][r]) for r in ls_rates]
    for sc, rs in measured:
        for i, d in rs:
            if d.get("machine_busy_s") is not None and d.get("wall_s"):
                own = d.get("cpu_s", 0) + d.get("other_cpu_s", 0) + d.get("client_cpu_s", 0)
                foreign.append((max(0.0, d["machine_busy_s"] - own) / d["wall_s"], "%s.%d %s" % (sc, i, NAME[s])))
if foreign:
    worst = max(foreign)
    res.append("")
    if worst[0] > FOREIGN_CORES:
        res.append("**This run shared the machine:** besides the benchmark's own processes, something "
                   "kept %.2f cores busy on average during %s (the most of any run; /proc/stat's busy "
                   "time less the servers' and the load generator's CPU), above the %.2f that kernel "
                   "threads alone take. %s"
                   % (worst[0], worst[1], FOREIGN_CORES,
                      "Both systems ran under the same conditions, alternating, but absolute figures are "
                      "lower than on a quiet machine and ratios noisier." if both else
                      "Absolute figures are lower than on a quiet machine."))
    else:
        res.append("Nothing else took the CPUs: in every run the machine's busy time (/proc/stat) was "
                   "the benchmark's own processes' CPU plus at most %.2f cores (during %s: kernel "
                   "threads, the script)." % worst)
else:
    busy = []
    for k in ("loadavg_start", "loadavg_end"):
        try:
            busy.append(float(machine.get(k, "").split()[0]))
        except (IndexError, ValueError):
            pass
    if busy and max(busy) > float(machine.get("nproc", 1) or 1):
        res.append("")
        res.append("**This run may have shared the machine:** a 1-minute load average of %s against %s "
                   "cores (the per-run load averages are in the cost table), though the benchmark's own "
                   "servers and load generator raise it past the cores by themselves; these raw data "
                   "don't record the machine's busy time, which would tell." % ("%.1f" % max(busy), machine.get("nproc")))
res.append("")
res.extend(bench_limits.limits_section(raw))

rows = []


def side(fig, tv, kv, tdesc, kdesc, limit=""):
    if tdesc == kdesc == "n/a":
        return  # not run
    r = "%.2f" % (tv / kv) if tv is not None and kv else "n/a"
    rows.append("| %s | %s | %s | %s | %s |" % (fig, tdesc, kdesc, r, limit))


def pick(s, sc):
    return median(s, sc)[1] if s in systems else None


def fig(s, sc, fmt, key=None):
    d = pick(s, sc)
    if d is None:
        return None, "n/a"
    v = d[key or KEY[sc]]
    return v, (fmt % v) + every(s, sc, "%.0f" if KEY[sc] == "records_per_s" else "%.2f") + (
        "" if valid(d) else " (INVALID: see below)")


T, K = "tributary", "kafka"
for sc, what in (("R3", "R3 acks=all, RF=3 min.insync=2"), ("R1", "R1 acks=all, RF=1")):
    tv, td = fig(T, sc, "%.0f")
    kv, kd = fig(K, sc, "%.0f")
    lim = []
    for s in systems:
        d = pick(s, sc)
        if d and loop and sc == "R3":
            # each byte goes producer -> leader, then leader -> each of two followers
            lim.append("%s: %.1f MB/s x 3 on loopback = %.3f of it" % (NAME[s], d["mb_per_s"], 3 * d["mb_per_s"] * 1e6 / loop))
        elif d and loop:
            lim.append("%s: %.1f MB/s = %.3f of loopback" % (NAME[s], d["mb_per_s"], d["mb_per_s"] * 1e6 / loop))
    side("%s: records/s, 100 B x 6 partitions, one producer, median run" % what, tv, kv, td, kd, "; ".join(lim))
ratios = {}
for s in systems:
    a, b = pick(s, "R3"), pick(s, "R1")
    ratios[s] = a["records_per_s"] / b["records_per_s"] if a and b and b["records_per_s"] else None
side("R3 / R1 (same run; Kafka 2014, 3 machines: %d / %d = %.2f, for context only)" % (
    KAFKA_2014[0], KAFKA_2014[1], KAFKA_2014[0] / KAFKA_2014[1]),
    ratios.get(T), ratios.get(K), "%.2f" % ratios[T] if ratios.get(T) else "n/a",
    "%.2f" % ratios[K] if ratios.get(K) else "n/a")
for sc, what in (("L1a", "L1a acks=all, RF=3"), ("L1r", "L1 acks=1, RF=3"), ("L11", "L1 acks=1, RF=1 (reference)")):
    tv, td = fig(T, sc, "%.2f")
    kv, kd = fig(K, sc, "%.2f")
    d0 = pick(T, sc) or pick(K, sc)
    side("%s: end-to-end p99, %s msg/s x 1 KiB, ms, median-p99 run" % (what, "%.0f" % d0["rate_target"] if d0 else "?"),
         tv, kv, td, kd)
    for key, label in (("p50_ms", "p50"), ("p999_ms", "p99.9"), ("max_ms", "max")):
        tv, td = fig(T, sc, "%.2f", key)
        kv, kd = fig(K, sc, "%.2f", key)
        side("(%s %s of that run, ms)" % (sc, label), tv, kv, td.split(" (runs")[0], kd.split(" (runs")[0])
acks_cost = {}
for s in systems:
    a, b = pick(s, "L1a"), pick(s, "L1r")
    acks_cost[s] = a["p99_ms"] / b["p99_ms"] if a and b and b["p99_ms"] else None
side("(L1a p99 / L1 acks=1 RF=3 p99: what waiting for the followers costs)", acks_cost.get(T), acks_cost.get(K),
     "%.2f" % acks_cost[T] if acks_cost.get(T) else "n/a", "%.2f" % acks_cost[K] if acks_cost.get(K) else "n/a")
tv, td = fig(T, "FK", "%.0f")
kv, kd = fig(K, "FK", "%.0f")
side("FK: SIGKILL of the partition's leader to the next acknowledged acks=all produce, ms, median run",
     tv, kv, td, kd, "broker.session.timeout.ms (both: 9000 by default)")
tv, td = fig(T, "FK", "%.0f", "gap_ms")
kv, kd = fig(K, "FK", "%.0f", "gap_ms")
side("(FK: last ack before the kill to the first after, ms, same run)", tv, kv, td.split(" (runs")[0], kd.split(" (runs")[0])

if rows:  # not with LS alone
    res.append("## Side by side: same run, same load generator" if both else "## Figures")
    res.append("")
    res.append("| figure | Tributary | Apache Kafka | Tributary / Kafka | limit (same run) |")
    res.append("| --- | --- | --- | --- | --- |")
    res.extend(rows)
    res.append("")
problems = []
for s in systems:
    for sc in SCEN:
        for b in invalid_note(s, sc):
            problems.append("%s %s %s" % (NAME[s], sc, b))
res.append("Invalid runs (delivery errors, lost messages or a non-zero exit; their figures are shown "
           "but marked): %s." % ("; ".join(problems) if problems else "none"))
res.append("")

if ls_rates:
    res.append("## acks=all latency by rate (LS)")
    res.append("")
    res.append("L1a (16 partitions, RF=3, min.insync.replicas=2, acks=all, linger.ms=0, 1 KiB records, "
               "consumed concurrently) at each rate; each figure is the median over the runs (issue 12 "
               "item 10 asks for p99 <= %g ms and p99.9 <= %g ms as the median of 5 runs). \"Cores busy\" "
               "is the system's servers' CPU over the run's wall time (the 2 s start and the warm-up "
               "included), median." % LS_TARGET)
    res.append("")
    res.append("| msg/s | system | runs | p50, ms | p99, ms (each run) | p99.9, ms (each run) | max, ms | "
               "cores busy | target met |")
    res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    met = {s: [] for s in systems}
    for r in ls_rates:
        for s in systems:
            rs = [d for _, d in sweep[s][r] if d.get("p99_ms") is not None]
            if not rs:
                continue
            fig_ = {k: statistics.median(d[k] for d in rs) for k in ("p50_ms", "p99_ms", "p999_ms")}
            busy = statistics.median(d["cpu_s"] / d["wall_s"] for d in rs)  # run_loadgen always sets wall_s
            bad = sum(not valid(d) for d in rs)
            ok = not bad and fig_["p99_ms"] <= LS_TARGET[0] and fig_["p999_ms"] <= LS_TARGET[1]
            if ok:
                met[s].append(r)
            res.append("| %d | %s | %d%s | %.2f | %.2f (%s) | %.2f (%s) | %.2f | %s | %s |" % (
                r, NAME[s], len(rs), " (%d invalid)" % bad if bad else "", fig_["p50_ms"], fig_["p99_ms"],
                ", ".join("%.2f" % d["p99_ms"] for d in rs), fig_["p999_ms"],
                ", ".join("%.2f" % d["p999_ms"] for d in rs), max(d["max_ms"] for d in rs),
                "%.2f" % busy, "yes" if ok else "no"))
    res.append("")
    res.append("Rates at which the target is met: %s." % "; ".join(
        "%s %s" % (NAME[s], ", ".join("%d" % r for r in met[s]) + " msg/s" if met[s] else "none of those run")
        for s in systems))
    res.append("")

fk_ran = any(data[s]["FK"] for s in systems)
if fk_ran:
    res.append("## Failover runs (FK)")
    res.append("")
    res.append("A 1-partition RF=3 topic (min.insync.replicas=2), %s msg/s of 100 B with acks=all and "
               "linger.ms=0 by one producer; once a second of acks is back, the leader the producer's "
               "metadata names is SIGKILLed; it is restarted after the run and is listed in metadata again "
               "before the next run starts. Ack times are the producer's delivery reports (polled every "
               "0.1 ms between sends). \"Kill to first ack\" runs from the time taken just before the "
               "signal goes out. Acks the producer sees up to 100 ms after the signal were answered "
               "before it (responses already in the socket, the producer thread's scheduling delay on "
               "a busy machine): they count as before the kill, shown as a negative \"before\"." % (data[systems[0]]["FK"][0][1].get("rate", "?") if data[systems[0]]["FK"] else "?"))
    res.append("")
    res.append("| system | run | killed node | leader after | last ack before the kill, ms before it | kill to first ack | ack gap | "
               "sent / acked | delivery errors | note |")
    res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in systems:
        for i, d in data[s]["FK"]:
            ms = lambda k: "%.0f ms" % d[k] if d.get(k) is not None else "n/a"
            res.append("| %s | %d | %s | %s | %s | %s | %s | %s / %s | %s | %s |" % (
                NAME[s], i, d.get("killed_node", "?"), d.get("leader_after", "?"), ms("before_ms"),
                ms("kill_to_ack_ms"), ms("gap_ms"), d.get("sent", "?"), d.get("acked", "?"),
                d.get("delivery_errors", "?"), d.get("fk_problem") or d.get("first_error", "")))
    res.append("")

cost = []
for sc in SCEN:
    for s in systems:
        for i, d in data[s][sc]:
            v = d.get(KEY[sc])
            f = "n/a" if v is None else ("%.0f records/s" % v if KEY[sc] == "records_per_s" else
                                          "p99 %.2f ms" % v if sc != "FK" else "%.0f ms" % v)
            # FK kills a process of the measured system: its CPU is lost, so no figure
            cpu = "n/a" if sc == "FK" else "%.1f s" % d["cpu_s"]
            busy = "n/a" if sc == "FK" or not d["wall_s"] else "%.2f" % (d["cpu_s"] / d["wall_s"])
            cost.append("| %s.%d | %s | %s%s | %.1f s | %s | %s | %.1f s | %.1f s | %.2f / %.2f |" % (
                sc, i, NAME[s], f, "" if valid(d) else " (invalid)", d["wall_s"], cpu, busy,
                d["other_cpu_s"], d.get("client_cpu_s", 0), d["loadavg_before"], d["loadavg_after"]))
if cost:  # LS's runs have their cost in its own table
    res.append("## Cost per run")
    res.append("")
    res.append("| run | system | figure | wall | system CPU (all its processes) | cores busy | other system "
               "CPU (idle) | load generator CPU | load avg before / after |")
    res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    res.extend(cost)
    res.append("")
    res.append("System CPU is utime+stime (/proc/<pid>/stat) of the system's broker and "
               "coordinator/controller processes over the load generator's run (topic creation and, for "
               "L1, the 2 s start and the warm-up included); \"cores busy\" is that over the wall time. "
               "The gap mode reports no client CPU; FK's system CPU is not given, the killed broker's "
               "CPU going with it.")
    res.append("")

res.append("## What limits these figures")
res.append("")
res.append("- %s cores for everything: during each run the measured system's processes%s and the load "
           "generator share them, and other jobs on the machine may too (load averages above). A "
           "figure here is the whole machine's, not one broker's." % (
               machine.get("nproc", "?"),
               ", the other system's idle ones (their CPU is the \"other system\" column; Kafka's JVMs "
               "keep some background work)" if both else ""))
if any(data[s]["R3"] for s in systems):
    res.append("- R3 moves every byte over loopback three times (producer to leader, two follower "
               "fetches) and writes it three times, against once in R1; on one machine the replicas "
               "compete for the same cores and disk, where Kafka 2014's three machines each had their "
               "own.")
res.append("- Latency with acks=all waits for the followers' next fetch: a follower's fetch "
           "waiting at the leader is answered when data arrives, so the added time is a fetch round "
           "trip plus the high watermark reaching the leader, on shared cores.")
if fk_ran:
    res.append("- FK is set by failure detection: a SIGKILLed broker is noticed by the controller "
               "(Tributary's coordinators, Kafka's KRaft controller) when its session expires "
               "(broker.session.timeout.ms, 9 s default on both), then a new leader is elected from "
               "the ISR and the producer finds it by a metadata refresh.")
res.append("")

res.append("## Commands and settings")
res.append("")
if "tributary" in systems:
    res.append("Tributary: `scripts/run.sh` with TRIB_BROKER/TRIB_COORDINATOR set to build-bench's "
               "binaries, fresh TRIBUTARY_DATA and free ports: three coordinators "
               "(default.replication.factor=3) and three brokers (default.replication.factor=3, "
               "min.insync.replicas=2, offsets.topic.replication.factor=3, "
               "transaction.state.log.replication.factor=3, num.io.threads = the machine's CPUs / 3, "
               "at least 1; every other setting default). A killed broker is restarted with its own "
               "command line.")
    res.append("")


if "kafka" in systems:
    try:
        jvm = open(os.path.join(raw, "kafka", "jvm.txt")).read().strip()
    except OSError:
        jvm = "?"
    res.append("Apache Kafka: each node formatted with `kafka-storage format -t <id> -c <props>` (a "
               "static voter set: the controller), then `tools/kafka kafka-server-start <props>` with "
               "KAFKA_HEAP_OPTS=\"-Xmx1G -Xms1G\" (the JVM ran `%s`). Broker (nodes 1-3) and controller "
               "(node 100) properties; everything else Kafka's defaults:" % re.sub(r"/\S*/", "", jvm))
    res.append("")
    res.append("```")
    res.extend(bench_limits.kafka_props(raw, "broker.properties"))
    res.append("")
    res.extend(bench_limits.kafka_props(raw, "controller.properties"))
    res.append("```")
    res.append("")
res.append("Load generator (tributary-loadgen, librdkafka %s), the median run's command per scenario "
           "(the others differ in the topic):" % machine.get("librdkafka"))
res.append("")
res.append("```")
for r in ls_rates[:1]:  # the sweep's runs differ only in the rate and the topic
    for s in systems:
        if sweep[s][r]:
            i = sweep[s][r][0][0]
            res.append("%s LS%d.%d: %s" % (NAME[s], r, i, open(os.path.join(raw, s, "LS%d.%d.cmd" % (r, i))).read().strip()))
for sc in SCEN:
    for s in systems:
        i, _ = median(s, sc)
        if i is not None:
            try:
                res.append("%s %s.%d: %s" % (NAME[s], sc, i, open(os.path.join(raw, s, "%s.%d.cmd" % (sc, i))).read().strip()))
            except OSError:
                pass
res.append("```")
res.append("")
res.append("R3/R1 use P2's producer settings (linger.ms=5, batch.size=1 MiB, no compression, no "
           "idempotence, round-robin over partitions) with acks=all; L1 variants broker_bench.sh's L1 "
           "(linger.ms=0, paced every 100 us, a consumer in the same process assign()ed at the end, "
           "fetch.min.bytes=1, fetch.wait.max.ms=500) with the acks and RF given; their topics are deleted "
           "after each run to keep the disk free. Loopback: iperf3 over 127.0.0.1 for 5 s; dd as "
           "broker_bench.sh. Reproduce: `bench/replication_bench.sh` (bench/README.md). Raw JSON and "
           "logs: `%s` (not committed)." % os.path.relpath(raw, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(out))))))
with open(out, "w") as f:
    f.write("\n".join(res) + "\n")
print("wrote", out)
