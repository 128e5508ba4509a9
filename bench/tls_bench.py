"""The TLS benchmark (issue 17 item 6): P1 and C1 over an SSL listener beside the same over a
PLAINTEXT one, Tributary beside Apache Kafka 4.4, in one run on one machine, with the machine's
limits measured in the same run: loopback bandwidth (iperf3) and what one core encrypts with
the cipher the clients negotiate (`openssl speed`).

Both brokers run the whole time, each one node with a PLAINTEXT and an SSL listener (PEM
keystore made here with the openssl command-line tool). Each round runs, per protocol, on one
system and then the other (the order alternates by round):
  P1  produce N bytes of 1 KiB records to 16 partitions, acks=1, two producers
      (tributary-loadgen, librdkafka: linger.ms=5, batch.size=1 MiB, as bench/broker_bench.sh);
  C1d the first read of what P1 wrote, two consumers, assign() from the beginning (Tributary
      appends around the page cache, so its first read comes from disk: not compared);
  C1  the same read again, from the page cache: the figure compared.
then deletes the topic. The round whose P1 (or C1) is the median is reported, every round's
figure beside it, with each broker's CPU seconds per GB and the clients' CPU.

Tributary sends fetched data with sendfile(2) over PLAINTEXT; over TLS the bytes are read into
the response and go through OpenSSL (user-space TLS cannot splice; kTLS would need the
kernel's `tls` ULP, whose presence the results file records). The C1 ratio TLS / PLAINTEXT is
that cost.

  tools/venv/bin/python bench/tls_bench.py            # ~10 min on 2 cores with the defaults
  BENCH_TLS_BYTES=256m BENCH_TLS_ROUNDS=1 ...         # a quick check of the script
Settings: BENCH_TLS_BYTES (1g: P1's volume, k/m/g = 2^10...), BENCH_TLS_ROUNDS (3),
BENCH_SYSTEMS ("tributary kafka"), BENCH_SKIP_BUILD, TRIB_BENCH_BUILD (build-bench/),
BENCH_TLS_NOTE (a line for the results file). Writes results/<date>-tls-<host kind>.md.
"""
import datetime
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_run import ROOT, LoadSampler, host_kind, loadavg

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402
from apache_kafka import ApacheKafka  # noqa: E402

BUILD = Path(os.environ.get("TRIB_BENCH_BUILD", ROOT / "build-bench"))
LOADGEN = BUILD / "bench" / "tributary-loadgen"
PROTOCOLS = ("PLAINTEXT", "SSL")
PRODUCE = ["--acks", "1", "--linger-ms", "5", "--batch-size", "1048576", "--compression", "none"]


def size(s):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].lower()]) if s[-1].lower() in units else int(s)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def build():
    if os.environ.get("BENCH_SKIP_BUILD"):
        return
    print(f"== build ({BUILD})", flush=True)
    run("cmake", "-S", ROOT, "-B", BUILD, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DTRIB_BENCH=ON",
        "-DTRIB_TESTS=OFF")
    run("ninja", "-C", BUILD, "-j2", "tributary-broker", "tributary-loadgen")


def make_pki(d):
    """ca.pem, and broker.pem: the broker's key and certificate (127.0.0.1, localhost), PEM."""
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    run("openssl", "genpkey", *ec, "-out", d / "ca.key")
    run("openssl", "req", "-x509", "-new", "-key", d / "ca.key", "-subj", "/CN=tls-bench CA", "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE", "-out", d / "ca.pem")
    run("openssl", "genpkey", *ec, "-out", d / "broker.key")
    run("openssl", "req", "-new", "-key", d / "broker.key", "-subj", "/CN=localhost", "-out", d / "broker.csr")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", d / "broker.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", d / "san.ext", "-out", d / "broker.crt")
    (d / "broker.pem").write_bytes((d / "broker.key").read_bytes() + (d / "broker.crt").read_bytes())


def loopback(runs=3):
    """iperf3 over 127.0.0.1, one stream, 5 s, `runs` times: bytes/s of each run."""
    out = []
    for _ in range(runs):
        port = harness.free_port()
        server = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                c = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "5", "-J"],
                                   capture_output=True, text=True, timeout=30)
                try:
                    out.append(json.loads(c.stdout)["end"]["sum_received"]["bits_per_second"] / 8)
                    break
                except (ValueError, KeyError):
                    time.sleep(0.1)  # the server not listening yet: iperf3 answers {"error": ...}
        finally:
            server.kill()
            server.wait()
    return out


def negotiated(port, ca):
    """The TLS version and cipher suite the SSL listener on `port` agrees with OpenSSL's client."""
    c = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
                        "-brief"], input="", capture_output=True, text=True, timeout=30)
    text = c.stdout + c.stderr
    version = re.search(r"Protocol version: (\S+)", text)
    cipher = re.search(r"Ciphersuite: (\S+)", text)
    return (version.group(1) if version else "?"), (cipher.group(1) if cipher else "?")


def cipher_speed(suite):
    """Bytes/s one core encrypts with the suite's bulk cipher, 16 KiB blocks (a TLS record)."""
    evp = {"TLS_AES_256_GCM_SHA384": "aes-256-gcm", "TLS_AES_128_GCM_SHA256": "aes-128-gcm",
           "TLS_CHACHA20_POLY1305_SHA256": "chacha20-poly1305"}.get(suite)
    if not evp:
        return None, None
    c = run("openssl", "speed", "-elapsed", "-seconds", "3", "-bytes", "16384", "-evp", evp)
    m = re.search(r"^\S+\s+([0-9.]+)k\s*$", c.stdout, re.M)  # "AES-256-GCM  1234567.89k" (1000s of bytes/s)
    return evp, (float(m.group(1)) * 1000 if m else None)


def ktls_available():
    try:
        return "tls" in Path("/proc/sys/net/ipv4/tcp_available_ulp").read_text().split()
    except OSError:
        return False


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class System:
    def __init__(self, name, process, ports, pid):
        self.name, self.process, self.ports, self.pid = name, process, ports, pid

    def client_settings(self, protocol, ca):
        if protocol == "SSL":
            return ["--set", "security.protocol=ssl", "--set", f"ssl.ca.location={ca}"]
        return []


def start_tributary(root, pki):
    port, ssl_port = harness.free_port(), harness.free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}"
    b = harness.Broker(root, overrides={
        "listeners": listeners, "advertised.listeners": listeners, "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki / "broker.pem"),
        "num.io.threads": os.cpu_count()})
    b.port = port
    b.start()
    return System("tributary", b, {"PLAINTEXT": port, "SSL": ssl_port}, b.proc.pid)


def start_kafka(root, pki):
    k = ApacheKafka(root)
    ssl_port = harness.free_port()
    k.overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{k.port},SSL://127.0.0.1:{ssl_port},"
                     f"CONTROLLER://127.0.0.1:{k.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{k.port},SSL://127.0.0.1:{ssl_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki / "broker.pem")}
    k.start()
    return System("kafka", k, {"PLAINTEXT": k.port, "SSL": ssl_port}, k.pid)


def scenario(system, protocol, pki, args):
    """One loadgen run against `system` over `protocol`: its JSON line, with the broker's and
    the client's CPU seconds and the wall time."""
    cmd = [str(LOADGEN), *args, "--brokers", f"127.0.0.1:{system.ports[protocol]}",
           *system.client_settings(protocol, pki / "ca.pem")]
    b0, c0, t0 = cpu_ticks(system.pid), children_cpu(), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    b1, c1, t1 = cpu_ticks(system.pid), children_cpu(), time.monotonic()
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"{system.name} {protocol}: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    doc = json.loads(lines[-1])
    tck = os.sysconf("SC_CLK_TCK")
    doc.update(broker_cpu_s=(b1 - b0) / tck, client_cpu_s=c1 - c0, wall_s=t1 - t0, cmd=" ".join(args))
    print(f"-- {system.name} {protocol} {args[0]}: {doc.get('mb_per_s', 0):.1f} MB/s, broker CPU "
          f"{doc['broker_cpu_s']:.1f} s", flush=True)
    return doc


def settle():
    """As bench_common.sh's settle: writes start 5 s after memory was last freed (a VM hands
    freed pages back to its host about 2 s later; writing into them again costs host faults)."""
    os.sync()
    time.sleep(5)


def delete_topic(system, topic):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{system.ports['PLAINTEXT']}"})
    for f in admin.delete_topics([topic], operation_timeout=30).values():
        f.result(60)
    harness.wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, f"{topic} deleted", timeout=60)


def median_round(docs, key):
    """The index of the median run by `key` (the lower of the middle two)."""
    order = sorted(range(len(docs)), key=lambda i: docs[i].get(key, 0))
    return order[(len(order) - 1) // 2]


def main():
    volume = size(os.environ.get("BENCH_TLS_BYTES", "1g"))
    rounds = int(os.environ.get("BENCH_TLS_ROUNDS", 3))
    systems = os.environ.get("BENCH_SYSTEMS", "tributary kafka").split()
    records = volume // 1024
    build()
    os.environ.setdefault("TRIB_BROKER", str(BUILD / "broker" / "tributary-broker"))
    load_before, started = loadavg(), time.monotonic()
    print("== loopback (iperf3, 3 x 5 s)", flush=True)
    loops = loopback()
    results = {s: {p: {"P1": [], "C1d": [], "C1": []} for p in PROTOCOLS} for s in systems}
    sampler = LoadSampler()
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        tmp = Path(tmp)
        pki = tmp / "pki"
        pki.mkdir()
        make_pki(pki)
        running = {}
        try:
            for s in systems:
                start = start_tributary if s == "tributary" else start_kafka
                running[s] = start(tmp / s, pki)
            suites = {s: negotiated(running[s].ports["SSL"], pki / "ca.pem") for s in systems}
            evp, per_core = cipher_speed(suites[systems[0]][1])
            for r in range(rounds):
                order = systems if r % 2 == 0 else systems[::-1]
                for protocol in PROTOCOLS:
                    for s in order:
                        system, topic = running[s], f"tls-{protocol.lower()}-{r + 1}"
                        sampler.phase = s
                        settle()
                        results[s][protocol]["P1"].append(scenario(system, protocol, pki, [
                            "produce", "--topic", topic, "--partitions", "16", "--record-size", "1024",
                            "--records", str(records), "--clients", "2", *PRODUCE]))
                        for name in ("C1d", "C1"):
                            results[s][protocol][name].append(scenario(system, protocol, pki, [
                                "consume", "--topic", topic, "--bytes", str(records * 1024), "--seconds", "600",
                                "--clients", "2"]))
                        delete_topic(system, topic)
        finally:
            for system in running.values():
                system.process.stop()
            sampler.stop()
    minutes = (time.monotonic() - started) / 60
    write_results(results, systems, rounds, volume, loops, suites, evp, per_core, load_before, sampler, minutes)


def write_results(results, systems, rounds, volume, loops, suites, evp, per_core, load_before, sampler, minutes):
    import confluent_kafka
    date = datetime.date.today().isoformat()
    path = ROOT / "bench" / "results" / f"{date}-tls-{host_kind()}.md"
    loop = statistics.median(loops) if loops else None
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    mb = lambda v: f"{v / 1e6:,.0f} MB/s" if v else "?"  # noqa: E731

    def pick(s, p, n):
        docs = results[s][p][n]
        i = median_round(docs, "mb_per_s")
        return docs[i], ", ".join(f"{d['mb_per_s']:.0f}" for d in docs)

    def of_limits(v):
        parts = [f"{v * 1e6 / loop:.2f} of loopback" if loop else None,
                 f"{v * 1e6 / per_core:.2f} of one core's {evp}" if per_core else None]
        return "; ".join(x for x in parts if x)

    lines = [f"# TLS: P1 and C1 over SSL beside PLAINTEXT, Tributary beside Apache Kafka 4.4 ({date}, {host_kind()})",
             "",
             f"`bench/tls_bench.py` at {commit}: one node each, both running the whole time, on loopback; "
             f"{volume >> 20} MiB of 1 KiB records per P1 run, {rounds} rounds (each round: PLAINTEXT then SSL, "
             f"each on one system then the other, the order alternating by round). Clients: tributary-loadgen on "
             f"librdkafka {confluent_kafka.libversion()[0]} (the system's). {os.environ.get('BENCH_TLS_NOTE', '')}",
             "",
             f"Machine: {os.cpu_count()} CPUs, {Path('/proc/sys/kernel/osrelease').read_text().strip()}. Load average "
             f"(1, 5, 15 min) before: {load_before}; after: {loadavg()}; the 1-minute figure sampled every 5 s over "
             f"the {minutes:.1f} minutes: {sampler.summary()}.",
             "",
             "## Limits, measured in the same run", "",
             "| limit | figure |", "| --- | --- |",
             f"| loopback TCP, iperf3 one stream (median of {len(loops)}) | {mb(loop)} "
             f"({', '.join(mb(x) for x in loops)}) |",
             f"| one core encrypting 16 KiB blocks, `openssl speed -evp {evp}` | {mb(per_core)} |",
             f"| negotiated | " + "; ".join(f"{s}: {v} {c}" for s, (v, c) in suites.items()) + " |",
             f"| kernel TLS (tcp_available_ulp has `tls`) | {'yes' if ktls_available() else 'no'} |", ""]
    lines += ["## Throughput (median round; every round in brackets)", "",
              "| system | scenario | PLAINTEXT MB/s | SSL MB/s | SSL / PLAINTEXT | SSL against the limits |",
              "| --- | --- | --- | --- | --- | --- |"]
    for s in systems:
        for n in ("P1", "C1", "C1d"):
            (pd, pall), (sd, sall) = pick(s, "PLAINTEXT", n), pick(s, "SSL", n)
            lines.append(f"| {s} | {n} | {pd['mb_per_s']:.0f} ({pall}) | {sd['mb_per_s']:.0f} ({sall}) | "
                         f"{sd['mb_per_s'] / pd['mb_per_s']:.2f} | {of_limits(sd['mb_per_s'])} |")
    if "tributary" in systems and "kafka" in systems:
        lines += ["", "## Side by side (Tributary / Kafka, median rounds)", "",
                  "| scenario | PLAINTEXT | SSL | broker CPU s/GB over SSL, Tributary / Kafka |",
                  "| --- | --- | --- | --- |"]
        for n in ("P1", "C1"):
            t = {p: pick("tributary", p, n)[0] for p in PROTOCOLS}
            k = {p: pick("kafka", p, n)[0] for p in PROTOCOLS}
            cpu = lambda d: d["broker_cpu_s"] / (d["bytes"] / 1e9)  # noqa: E731
            lines.append(f"| {n} | {t['PLAINTEXT']['mb_per_s'] / k['PLAINTEXT']['mb_per_s']:.2f} | "
                         f"{t['SSL']['mb_per_s'] / k['SSL']['mb_per_s']:.2f} | "
                         f"{cpu(t['SSL']):.2f} / {cpu(k['SSL']):.2f} = {cpu(t['SSL']) / cpu(k['SSL']):.2f} |")
    lines += ["", "## CPU seconds per GB (median rounds): broker, clients", "",
              "| system | scenario | PLAINTEXT broker | SSL broker | PLAINTEXT clients | SSL clients |",
              "| --- | --- | --- | --- | --- | --- |"]
    for s in systems:
        for n in ("P1", "C1"):
            pd, sd = pick(s, "PLAINTEXT", n)[0], pick(s, "SSL", n)[0]
            per_gb = lambda d, k: d[k] / (d["bytes"] / 1e9)  # noqa: E731
            lines.append(f"| {s} | {n} | {per_gb(pd, 'broker_cpu_s'):.2f} | {per_gb(sd, 'broker_cpu_s'):.2f} | "
                         f"{per_gb(pd, 'client_cpu_s'):.2f} | {per_gb(sd, 'client_cpu_s'):.2f} |")
    lines += ["", "Commands (tributary-loadgen, `--brokers` the listener, over SSL also `--set security.protocol=ssl "
              "--set ssl.ca.location=<ca.pem>`):", ""]
    for n in ("P1", "C1d", "C1"):
        lines.append(f"- {n}: `tributary-loadgen {results[systems[0]]['PLAINTEXT'][n][0]['cmd']}`")
    lines += ["", "Tributary: `tributary-broker` with PLAINTEXT and SSL listeners, `num.io.threads` = the CPU "
              "count, the PEM keystore made by the script, every other setting default. Apache Kafka: "
              "`tests/integration/apache_kafka.py`'s node (KRaft, 1 GiB heap) with the same two listeners. C1d is "
              "the first read of P1's data (Tributary's direct writes left it out of the page cache; Kafka's "
              "buffered writes left it in), C1 the second, from the page cache. Broker CPU is utime + stime from "
              "/proc/<pid>/stat over the run; client CPU the load generators' (two clients, one process).", ""]
    path.write_text("\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
