"""Reads back what bench/bench_common.sh left in a raw-results folder: machine.txt and the
machine limits (iperf3 loopback runs, the dd writes). Imported by the results writers of
bench/broker_bench.sh, bench/replication_bench.sh and bench/reassign_bench.sh. Rates are bytes
per second."""
import json
import os
import re


def machine(raw):
    """machine.txt's KEY=VALUE lines as a dict."""
    m = {}
    for line in open(os.path.join(raw, "machine.txt")):
        k, _, v = line.strip().partition("=")
        m[k] = v
    return m


def date_line(out, m):
    """The results file's "Date ..." line: the date (from the file name `out`), commit, machine,
    Kafka, Java and librdkafka versions, from machine.txt's dict `m`."""
    kafka = "Apache Kafka %s on %s; " % (m["kafka"], m.get("java", "?")) if m.get("kafka") else ""
    return ("Date %s UTC, commit %s; %s cores (%s), %s GiB RAM, %s, data on %s; %slibrdkafka %s." % (
        os.path.basename(out)[:10], m.get("commit", "?"), m.get("nproc"), m.get("cpu"), m.get("mem_gib"),
        m.get("kernel"), m.get("fs"), kafka, m.get("librdkafka")))


def loopbacks(raw):
    """Every iperf3 run's received bandwidth, and their median (None without any)."""
    loops = []
    for i in range(1, 100):
        try:
            with open(os.path.join(raw, "iperf3.%d.json" % i)) as f:
                loops.append(json.load(f)["end"]["sum_received"]["bits_per_second"] / 8)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return loops, (sorted(loops)[(len(loops) - 1) // 2] if loops else None)


def dd_rate(raw, name):
    """dd's "N bytes (...) copied, S s, ..." in file `name`, as bytes per second."""
    try:
        m = re.search(r"^(\d+) bytes .* copied, ([0-9.]+) s", open(os.path.join(raw, name)).read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) / float(m.group(2)) if m and float(m.group(2)) > 0 else None


def dd_parallel(raw):
    """The parallel dd's rate and writer count from dd_parallel.txt ("bytes ns writers")."""
    try:
        b, ns, w = open(os.path.join(raw, "dd_parallel.txt")).read().split()
        if int(ns) > 0:
            return int(b) / (int(ns) / 1e9), int(w)
    except (OSError, ValueError):
        pass
    return None, None


def gbps(v):
    """A rate in bytes per second as GB/s (10^9), or n/a."""
    return "n/a" if v is None else "%.2f GB/s" % (v / 1e9)


def limits_section(raw):
    """The "Machine limits (same run)" section of a results file, as Markdown lines."""
    loops, loop = loopbacks(raw)
    parallel, writers = dd_parallel(raw)
    return ["## Machine limits (same run)", "",
            "| limit | value |",
            "| --- | --- |",
            "| TCP loopback, iperf3, one stream (median of %d: %s) | %s |" % (
                len(loops), ", ".join(gbps(v) for v in loops), gbps(loop)),
            "| new data into the page cache, dd, one writer | %s |" % gbps(dd_rate(raw, "dd.txt")),
            "| the same, %s dd's in parallel | %s |" % (writers, gbps(parallel)),
            "| direct writes, dd oflag=direct bs=1M | %s |" % gbps(dd_rate(raw, "dd_direct.txt")),
            ""]


def kafka_props(raw, name):
    """A Kafka node's properties file saved in RAW/kafka/NAME, ports and temp dirs masked."""
    try:
        lines = [l.strip() for l in open(os.path.join(raw, "kafka", name)) if l.strip()]
    except OSError:
        return []
    lines = [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", l) for l in lines]
    return [re.sub(r"=/\S+", "=<temp dir>", l) for l in lines]
