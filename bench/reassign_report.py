"""Writes the results file of bench/reassign_bench.sh from its raw folder:
  reassign_report.py RAW OUT "SYSTEMS"
RAW holds machine.txt, the limits (bench_common.sh) and per system <system>/fill-<mode>.json
(the fill's load generator), move-<mode>.json (bench/reassign_move.py), lat-<mode>.json (the
client load's report) and lat-<mode>.log (every measured message: "ack|e2e <send time, s>
<ms> <partition> <offset>", the send time on the move's clock)."""
import json
import os
import re
import sys

import bench_limits

raw, out, systems = sys.argv[1], sys.argv[2], sys.argv[3].split()
NAME = {"tributary": "Tributary", "kafka": "Apache Kafka"}
MODE = {"plain": "without throttle", "throttled": "with --throttle"}
GB = 1e9
T, K = "tributary", "kafka"

machine = bench_limits.machine(raw)
_, loop = bench_limits.loopbacks(raw)
pagecache = bench_limits.dd_rate(raw, "dd.txt")
direct = bench_limits.dd_rate(raw, "dd_direct.txt")
modes = machine.get("modes", "plain throttled").split()
throttle = int(machine.get("throttle", "0") or 0)
move_bytes = int(machine.get("move_bytes", "0") or 0)
wanted = int(machine.get("move_bytes_wanted", "0") or 0)


def load(s, name):
    try:
        with open(os.path.join(raw, s, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pct(xs, p):
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(p / 100.0 * (len(xs) - 1) + 0.5))]


def windows(s, mode, mv):
    """Client figures per window (baseline, move, after) from the per-message log."""
    path = os.path.join(raw, s, "lat-%s.log" % mode)
    acks, e2e = [], []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) < 3:
                    continue
                (acks if p[0] == "ack" else e2e if p[0] == "e2e" else []).append((float(p[1]), float(p[2])))
    except OSError:
        return None
    if not acks and not e2e:
        return None
    first = min(x[0] for x in (acks or e2e))
    last = max(x[0] for x in (acks or e2e))
    ex = mv.get("t_execute") if mv else None
    done = (mv.get("t_done") if mv else None) or last
    # the load's first seconds are its warm-up; every message is logged from the start, so
    # acks arriving in a window from messages sent before it count too
    first += float(machine.get("load_warmup_s", "0") or 0)
    bounds = {"baseline": (first, ex if ex else last), "move": (ex, done) if ex else None,
              "after": (done, last) if ex and done < last else None}
    res = {}
    for w, b in bounds.items():
        if not b or b[1] <= b[0]:
            continue
        lo, hi = b
        span = hi - lo
        lat = sorted(ms for t, ms in e2e if lo <= t < hi)
        ack = sorted(ms for t, ms in acks if lo <= t < hi)
        # throughput by the time the ack (or the message) arrived
        acked = sum(1 for t, ms in acks if lo <= t + ms / 1e3 < hi)
        got = sum(1 for t, ms in e2e if lo <= t + ms / 1e3 < hi)
        res[w] = {"span_s": span, "acked_per_s": acked / span, "consumed_per_s": got / span,
                  "p50": pct(lat, 50), "p99": pct(lat, 99), "p999": pct(lat, 99.9), "max": lat[-1] if lat else None,
                  "ack_p50": pct(ack, 50), "ack_p99": pct(ack, 99), "n": len(lat)}
    return res


def copy_rates(mv):
    """Broker 2's copy on disk, in bytes per second: over the whole copy (from the first sample
    with data there to the one at which the move was done), over its second half (from the
    first sample holding half the final size: a windowed throttle lets the first window's worth
    through at full speed, then holds to its rate), and the fastest second (peak)."""
    smp = [x for x in (mv.get("samples") or []) if x[1] > 0]
    if len(smp) < 2 or not mv.get("t_done"):
        return None, None, None
    a, b = smp[0], smp[-1]
    whole = (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else None
    h = next(x for x in smp if x[1] >= b[1] / 2)
    half = (b[1] - h[1]) / (b[0] - h[0]) if b[0] - h[0] >= 2 else None
    peak = None
    for i, x in enumerate(smp):
        later = [y for y in smp[i + 1:] if y[0] - x[0] >= 1.0]
        if later:
            y = later[0]
            r = (y[1] - x[1]) / (y[0] - x[0])
            peak = r if peak is None or r > peak else peak
    return whole, half, peak


data = {}
for s in systems:
    for mode in modes:
        mv = load(s, "move-%s.json" % mode)
        lat = load(s, "lat-%s.json" % mode) or {}
        fill = load(s, "fill-%s.json" % mode) or {}
        d = {"move": mv, "lat": lat, "fill": fill, "win": windows(s, mode, mv)}
        if mv:
            ex, done = mv.get("t_execute"), mv.get("t_done")
            d["move_s"] = done - ex if done else None
            d["from_started_s"] = done - mv["t_started"] if done and mv.get("t_started") else None
            d["tool_s"] = mv["t_tool_done"] - ex if mv.get("t_tool_done") else None
            d["rate"] = move_bytes / d["move_s"] if d["move_s"] else None
            d["copy_rate"], d["copy_rate_half"], d["copy_peak"] = copy_rates(mv)
        data[(s, mode)] = d


def f(v, fmt="%.2f"):
    return "n/a" if v is None else fmt % v


def gbps(v):
    return "n/a" if v is None else "%.3f GB/s" % (v / GB)


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "n/a"


def honoured(s, mode):
    """For a throttled move: whether the copy kept to the throttle (within 25%)."""
    d = data[(s, mode)]
    if mode != "throttled" or not d.get("move"):
        return ""
    if d["move"].get("throttle_rejected"):
        return "throttle rejected by the server (%s): moved unthrottled" % d["move"]["throttle_rejected"]
    r = d.get("copy_rate_half") or d.get("copy_rate") or d.get("rate")
    if r is None:
        return "n/a"
    burst = d.get("copy_peak")
    burst = "; fastest second %.0f MB/s" % (burst / 1e6) if burst and burst > 2 * throttle else ""
    return ("throttle honoured (second half of the copy %.0f MB/s against %.0f MB/s%s)" if r <= 1.25 * throttle else
            "**throttle not honoured** (second half of the copy %.0f MB/s against %.0f MB/s asked%s)") % (
                r / 1e6, throttle / 1e6, burst)


res = []
kind = os.path.basename(out)[len("YYYY-MM-DD-reassign-"):-3]
res.append("# Reassignment benchmark: moving %.1f GB between brokers, Tributary and Apache Kafka, %s" % (
    move_bytes / GB, kind))
res.append("")
res.append(bench_limits.date_line(out, machine))
res.append("")
if move_bytes < 10 * GB * 0.99:
    res.append("**Size:** %.1f GB moved per run, not the issue's 10 GB: %s." % (
        move_bytes / GB, "capped from BENCH_MOVE_GB=%.1f to fit 60%% of the free disk" % (wanted / GB)
        if move_bytes < wanted * 0.99 else "BENCH_MOVE_GB=%.1f (a smaller run)" % (wanted / GB)))
    res.append("")
res.append("Load average (1, 5, 15 min) at the start: %s; at the end: %s; the 1-minute figure at each "
           "phase is beside every result below. **The machine was shared**: other builds and tests ran on "
           "its %s cores during the run, so absolute figures are lower and noisier than on a quiet "
           "machine; both systems ran under the same conditions, alternating, and both clusters stayed up "
           "for the whole run (8 server processes, 4 of them JVMs, and the load generator)." % (
               machine.get("loadavg_start", "?"), machine.get("loadavg_end", "?"), machine.get("nproc")))
res.append("")
res.extend(bench_limits.limits_section(raw))

res.append("## The move")
res.append("")
res.append("%s partitions, replication factor 1, all on broker 1, holding %.2f GB (%s records of %s B), moved "
           "to broker 2 by `kafka-reassign-partitions --execute` (Apache Kafka's tool for both systems); "
           "*move time* runs from the tool's start (its JVM start, a few seconds on this machine, is in it; "
           "the column after gives the time from the first metadata listing broker 2) to the first metadata "
           "poll (every 0.5 s) showing every partition's replicas and ISR as [2]. *Move rate* is the data "
           "over the move time; *copy rate* the growth of broker 2's copy on disk over the copy (sampled at each "
           "poll), over its second half and in its fastest second; the throttle is judged on the second half, "
           "as a windowed rate lets a first window's worth through at full speed. Throttled "
           "moves use `--throttle %d` (%.0f MB/s)." % (
               machine.get("partitions"), move_bytes / GB, machine.get("move_records"), machine.get("record_size"),
               throttle, throttle / 1e6))
res.append("")
res.append("| system | mode | move time | from broker 2 listed | tool's --execute | move rate | share of loopback | "
           "share of dd (page cache / direct) | copy rate | throttle | load avg before / after |")
res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for mode in modes:
    for s in systems:
        d = data[(s, mode)]
        mv = d.get("move")
        if not mv:
            res.append("| %s | %s | not run | | | | | | | | |" % (NAME[s], MODE[mode]))
            continue
        never = "" if d.get("move_s") else "**never completed** (%s)" % json.dumps(mv.get("after"))[:300]
        r = d.get("rate")
        res.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s / %s |" % (
            NAME[s], MODE[mode], never or f(d["move_s"], "%.1f s"), f(d.get("from_started_s"), "%.1f s"),
            f(d.get("tool_s"), "%.1f s"), gbps(r), ratio(r, loop), ratio(r, pagecache), ratio(r, direct),
            "n/a" if d.get("copy_rate") is None else "%.0f MB/s (second half %s, fastest second %s)" % (
                d["copy_rate"] / 1e6, f(d["copy_rate_half"] and d["copy_rate_half"] / 1e6, "%.0f MB/s"),
                f(d["copy_peak"] and d["copy_peak"] / 1e6, "%.0f MB/s")),
            honoured(s, mode) or "none", f(mv.get("loadavg_before")), f(mv.get("loadavg_after"))))
res.append("")
res.append("The fills (tributary-loadgen produce, acks=1, one producer), for reference:")
res.append("")
res.append("| system | mode | fill | MB/s | load avg before / after |")
res.append("| --- | --- | --- | --- | --- |")
for mode in modes:
    for s in systems:
        fl = data[(s, mode)]["fill"]
        if fl:
            res.append("| %s | %s | %s s | %s | %s / %s |" % (
                NAME[s], MODE[mode], f(fl.get("wall_s"), "%.1f"), f(fl.get("mb_per_s"), "%.0f"),
                f(fl.get("loadavg_before")), f(fl.get("loadavg_after"))))
res.append("")

res.append("## Client impact")
res.append("")
res.append("A steady load on another topic during each run: tributary-loadgen latency, %s msg/s x 1 KiB paced, "
           "acks=all, 6 partitions RF 3 (min.insync.replicas=2) spread over the three brokers, consumed in "
           "the same process. *Baseline* is the %s s before `--execute`, *during* from `--execute` to the "
           "move's end, *after* from then to the load's end (--verify and %s s); latencies of the messages sent "
           "in the window, throughput counted by the time the ack (or the message) arrived." % (
               machine.get("load_rate"), machine.get("baseline_s"), machine.get("tail_s", "?")))
res.append("")
res.append("| system | mode | window | length | acked msg/s | consumed msg/s | e2e p50 | e2e p99 | e2e p99.9 | "
           "e2e max | ack p50 | ack p99 | system cores busy | load avg |")
res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for mode in modes:
    for s in systems:
        d = data[(s, mode)]
        w = d.get("win") or {}
        lat = d["lat"]
        for name, label, cpu, wall, la in (
                ("baseline", "baseline", "cpu_baseline_s", "wall_baseline_s", "loadavg_baseline_start"),
                ("move", "during the move", "cpu_move_s", "wall_move_s", "loadavg_move_start"),
                ("after", "after the move", None, None, "loadavg_move_end")):
            x = w.get(name)
            if not x:
                continue
            busy = "%.2f" % (lat[cpu] / lat[wall]) if cpu and lat.get(wall) else ""
            res.append("| %s | %s | %s | %.1f s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                NAME[s], MODE[mode], label, x["span_s"], x["acked_per_s"], x["consumed_per_s"],
                f(x["p50"]), f(x["p99"]), f(x["p999"]), f(x["max"]), f(x["ack_p50"]), f(x["ack_p99"]), busy,
                f(lat.get(la))))
res.append("")
bad = []
for (s, mode), d in data.items():
    lat = d["lat"]
    if lat and (lat.get("exit_code") or lat.get("lost") or lat.get("delivery_errors")):
        bad.append("%s %s: exit %s, %s lost, %s delivery errors" % (
            NAME[s], MODE[mode], lat.get("exit_code"), lat.get("lost"), lat.get("delivery_errors")))
res.append("Client load problems (lost messages, delivery errors, a non-zero exit): %s. Latencies in ms. "
           "\"System cores busy\" is the CPU of the measured system's processes (utime+stime) over the "
           "window's wall time." % ("; ".join(bad) if bad else "none"))
res.append("")

res.append("## Side by side")
res.append("")
res.append("| figure | mode | Tributary | Apache Kafka | Tributary / Kafka |")
res.append("| --- | --- | --- | --- | --- |")


def side(label, mode, get, fmt):
    a = get(data.get((T, mode))) if T in systems else None
    b = get(data.get((K, mode))) if K in systems else None
    res.append("| %s | %s | %s | %s | %s |" % (label, MODE[mode], f(a, fmt), f(b, fmt), ratio(a, b)))


def win(name, key):
    return lambda d: ((d or {}).get("win") or {}).get(name, {}).get(key)


def growth(key):
    def g(d):
        a, b = win("baseline", key)(d), win("move", key)(d)
        return b / a if a and b is not None else None
    return g


for mode in modes:
    side("move time, s (lower is better)", mode, lambda d: (d or {}).get("move_s"), "%.1f")
    side("move rate, GB/s", mode, lambda d: (d or {}).get("rate") and d["rate"] / GB, "%.3f")
    side("e2e p99 during the move, ms", mode, win("move", "p99"), "%.2f")
    side("e2e p99 during / baseline", mode, growth("p99"), "%.2f")
    side("e2e p50 during / baseline", mode, growth("p50"), "%.2f")
    side("acked msg/s during / baseline", mode, growth("acked_per_s"), "%.3f")
res.append("")

res.append("## What limits these figures")
res.append("")
res.append("- Two cores for everything: both clusters, the load generator, the reassignment tool's JVM and other "
           "jobs on the machine (load averages above). The copy competes with the client load for them, and "
           "so do the reassignment tool's JVM starts: --execute's at the start of the move window, --verify's "
           "in the window after it (several seconds of CPU each on this machine, the same for both systems), "
           "which is why the latency tail there is not yet back to the baseline's.")
res.append("- An unthrottled move is bound by the target's fetches from the source (Kafka: one replica fetcher "
           "per source broker, num.replica.fetchers=1 by default), loopback and the disk writes at the target; the source's data may be "
           "in the page cache or not (Tributary writes big batches with O_DIRECT, so its fill is mostly not "
           "cached; Kafka's buffered writes leave it cached on a machine with RAM to spare).")
res.append("- A throttled move is bound by the throttle: %.0f MB/s on the leader and on the follower "
           "(leader/follower.replication.throttled.rate set by the tool, the moving replicas listed in "
           "leader/follower.replication.throttled.replicas), so %.0f s for %.1f GB at best." % (
               throttle / 1e6, move_bytes / throttle if throttle else 0, move_bytes / GB))
res.append("")

res.append("## Commands and settings")
res.append("")
res.append("Tributary: `scripts/run.sh` with build-bench's binaries, fresh data and free ports (three "
           "coordinators, three brokers; default.replication.factor=3, min.insync.replicas=2).")
res.append("")


if K in systems:
    res.append("Apache Kafka: a controller (node 100, a static voter set of one) and brokers 1-3, each formatted "
               "with `kafka-storage format` and started by `tools/kafka kafka-server-start` with "
               "KAFKA_HEAP_OPTS=\"-Xmx1G -Xms1G\"; Kafka's defaults except these (log.segment.delete.delay.ms=1000 "
               "so a deleted topic's files go before the next fill, as Tributary's do; it does not touch the move):")
    res.append("")
    res.append("```")
    res.extend(bench_limits.kafka_props(raw, "broker.properties"))
    res.append("```")
    res.append("")
res.append("Per run (the topic names differ by mode):")
res.append("")
res.append("```")
res.append("kafka-topics --create --topic mv-<mode> --replica-assignment %s" % ",".join(
    ["1"] * int(machine.get("partitions", "4") or 4)))
def first_file(pattern):
    """The first existing raw file of PATTERN % (system, mode)."""
    for s in systems:
        for mode in modes:
            p = os.path.join(raw, pattern % (s, mode))
            if os.path.exists(p):
                return p
    return None


for name in ("%s/fill-%s.cmd", "%s/lat-%s.cmd"):
    p = first_file(name)
    if p:
        res.append(open(p).read().strip())
for mode in modes:
    for s in systems:
        p = os.path.join(raw, s, "move-%s.tool.txt" % mode)
        if os.path.exists(p):
            for line in open(p):
                if line.startswith("$ "):
                    c = re.sub(r"127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*", "<brokers>", line[2:].strip())
                    res.append(re.sub(r"\S*/(tools/kafka|move-)", r"\1", c))
            break
res.append("```")
res.append("")
res.append("The reassignment plan moves every partition to `[2]`; the load generator's send loop stops on "
           "SIGTERM %s s after the move and reports. Reproduce: `bench/reassign_bench.sh` (bench/README.md). "
           "Raw outputs: `%s` (not committed)." % (
               machine.get("tail_s", "?"), os.path.relpath(raw, os.path.dirname(os.path.dirname(os.path.dirname(
                   os.path.abspath(out)))))))
with open(out, "w") as fh:
    fh.write("\n".join(res) + "\n")
print("wrote", out)
