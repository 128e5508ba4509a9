"""One partition move for bench/reassign_bench.sh: every partition of a topic from broker A to
broker B with Apache Kafka's own kafka-reassign-partitions (--execute, then --verify, which
also removes a throttle once the move is done), timed by polling Metadata every 0.5 s.

  reassign_move.py --bootstrap H:P,... --topic T --partitions N --source A --target B
                   --kafka-tool tools/kafka --target-dir DIR --out OUT.json
                   [--throttle BYTES_PER_S] [--timeout S]

Done is the first poll at which every partition's replicas and ISR are [B] and its leader is
B. Times are time.monotonic() (CLOCK_MONOTONIC, the clock of tributary-loadgen's send times):
  t_execute      just before kafka-reassign-partitions --execute starts (a JVM start follows)
  t_tool_done    when --execute exited
  t_started      the first poll listing B among any partition's replicas
  t_done         the first poll that found the move complete (None if it never did)
Every poll's sample (time, bytes of the topic's partition directories under DIR, which is B's
log dir, and the partitions done) is kept, so a copy rate can be read off the curve. With
--throttle, a rejected --execute (a server that refuses the throttle configs) is retried
without it and recorded as throttle_rejected with the tool's message. Exit status 0 when the
move completed, 1 otherwise (the JSON is written either way)."""
import argparse
import json
import os
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient


def dir_bytes(base, topic, partitions):
    """Bytes in the files of TOPIC's partition directories under BASE (B's copy so far)."""
    total = 0
    for p in range(partitions):
        d = os.path.join(base, "%s-%d" % (topic, p))
        try:
            for e in os.scandir(d):
                try:
                    if e.is_file(follow_symlinks=False):
                        total += e.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
        except OSError:
            pass
    return total


def state(admin, topic, target):
    """(partitions done, partitions listing target among their replicas, per-partition view)."""
    md = admin.list_topics(topic=topic, timeout=5)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return 0, 0, {}
    done = listed = 0
    view = {}
    for p, pm in t.partitions.items():
        view[p] = {"replicas": list(pm.replicas), "isr": list(pm.isrs), "leader": pm.leader}
        if target in pm.replicas:
            listed += 1
        if list(pm.replicas) == [target] and list(pm.isrs) == [target] and pm.leader == target:
            done += 1
    return done, listed, view


def tool(args, extra, log):
    """Runs kafka-reassign-partitions with EXTRA; (exit code, output)."""
    cmd = [args.kafka_tool, "kafka-reassign-partitions", "--bootstrap-server", args.bootstrap,
           "--reassignment-json-file", args.plan] + extra
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "a") as f:
        f.write(r.stdout + "(exit %d)\n" % r.returncode)
    return r.returncode, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--source", type=int, required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--kafka-tool", required=True)
    ap.add_argument("--target-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--throttle", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    base = os.path.splitext(args.out)[0]
    args.plan = base + ".plan.json"
    log = base + ".tool.txt"
    with open(args.plan, "w") as f:
        json.dump({"version": 1, "partitions": [{"topic": args.topic, "partition": p, "replicas": [args.target]}
                                                for p in range(args.partitions)]}, f)
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    done, _, before = state(admin, args.topic, args.target)
    doc = {"topic": args.topic, "partitions": args.partitions, "source": args.source, "target": args.target,
           "throttle": args.throttle, "before": before, "throttle_rejected": "", "samples": []}

    extra = ["--execute"] + (["--throttle", str(args.throttle)] if args.throttle else [])
    doc["t_execute"] = time.monotonic()
    rc, out = tool(args, extra, log)
    if rc != 0 and args.throttle:
        # a server that refuses the throttle configs: the move itself, unthrottled
        doc["throttle_rejected"] = " ".join(l.strip() for l in out.splitlines() if "rror" in l)[:500] or out[-500:]
        rc, out = tool(args, ["--execute"], log)
    doc["t_tool_done"] = time.monotonic()
    doc["execute_exit"] = rc
    doc["t_started"] = doc["t_done"] = None
    view = {}
    if rc == 0:
        deadline = doc["t_execute"] + args.timeout
        while time.monotonic() < deadline:
            t = time.monotonic()
            try:
                done, listed, view = state(admin, args.topic, args.target)
            except Exception as e:  # noqa: BLE001 - a slow or failed poll is just retried
                doc.setdefault("poll_errors", []).append("%.1f: %s" % (t - doc["t_execute"], e))
                continue
            doc["samples"].append([t, dir_bytes(args.target_dir, args.topic, args.partitions), done])
            if listed and doc["t_started"] is None:
                doc["t_started"] = t
            if done == args.partitions:
                doc["t_done"] = t
                break
            time.sleep(max(0.0, t + 0.5 - time.monotonic()))
    doc["after"] = view
    # --verify: the tool's own check; once the move is done it also removes the throttle
    t = time.monotonic()
    doc["verify_exit"], out = tool(args, ["--verify"], log)
    doc["verify_s"] = time.monotonic() - t
    doc["verify_output"] = out[-2000:]
    doc["target_bytes_end"] = dir_bytes(args.target_dir, args.topic, args.partitions)
    with open(args.out, "w") as f:
        json.dump(doc, f)
    if doc["t_done"] is None:
        print("move of %s not complete after %.0f s (execute exit %d): %s" % (
            args.topic, time.monotonic() - doc["t_execute"], rc, json.dumps(view)), file=sys.stderr)
        return 1
    print("moved %s (%d partitions, %.2f GB at the target) in %.1f s from --execute%s" % (
        args.topic, args.partitions, doc["target_bytes_end"] / 1e9, doc["t_done"] - doc["t_execute"],
        "; throttle rejected: " + doc["throttle_rejected"] if doc["throttle_rejected"] else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
