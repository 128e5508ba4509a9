"""Apache Kafka's own command-line tools, typed as users type them, against the cluster that
./scripts/run.sh starts (three coordinators, three brokers).

The cluster is scripts/run.sh itself, moved to free ports and a temporary data folder with
its environment knobs (TRIBUTARY_PORT, TRIBUTARY_HTTP_PORT, TRIBUTARY_DATA) and given the
binaries under test (TRIB_BROKER, TRIB_COORDINATOR, so it skips its build). One start serves
the whole file (each tool is a JVM that takes seconds to start); the last test stops it with
SIGTERM and checks that every process stopped cleanly.

Consumer groups: kafka-console-consumer --group and kafka-consumer-groups.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apache_kafka import kafka_tool  # noqa: E402
from harness import (API_METADATA, SOURCE_DIR, broker_binary, consume_all,  # noqa: E402
                     coordinator_binary, free_port, kcat, loopback_port_range, java_partition, metadata_v1_no_topics,
                     parse_metadata_v1_brokers, read_response, send_request, wait_until)

RUN_SH = SOURCE_DIR / "scripts" / "run.sh"
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
BROKER_IDS = (1, 2, 3)
COORDINATOR_IDS = (100, 101, 102)


def free_port_run(count, attempts=50):
    """The first of `count` consecutive loopback ports that are all free right now."""
    for _ in range(attempts):
        base = free_port()
        if base + count > loopback_port_range()[1]:
            continue
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports in {attempts} attempts")


class RunSh:
    """scripts/run.sh as a child process (its own process group), output in `log_path`."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.log_path = self.root / "run.sh.log"
        # coordinator 100, brokers 1-3, coordinators 101-102, TLS 1-3, SASL_SSL 1-3
        self.port = free_port_run(12)
        self.http_port = free_port_run(6)  # three brokers, then the three coordinators
        self.proc = None
        self.exit_code = None

    def coordinator_port(self, node_id):
        """run.sh's layout: coordinator 100 first, the brokers, then coordinators 101 and 102."""
        return self.port if node_id == 100 else self.port + 3 + (node_id - 100)

    def coordinator_http_port(self, node_id):
        return self.http_port + 3 + (node_id - 100)

    @property
    def broker_ports(self):
        return [self.port + i for i in BROKER_IDS]

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.broker_ports)

    @property
    def tls_bootstrap(self):
        """The brokers' SSL listeners (run.sh: the three ports after the coordinators')."""
        return ",".join(f"127.0.0.1:{self.port + 5 + i}" for i in BROKER_IDS)

    @property
    def sasl_ssl_bootstrap(self):
        """The brokers' SASL_SSL listeners (run.sh: the three ports after the SSL ones)."""
        return ",".join(f"127.0.0.1:{self.port + 8 + i}" for i in BROKER_IDS)

    @property
    def ca_file(self):
        return self.data / "tls" / "ca.crt"

    def broker_address(self, node_id):
        return f"127.0.0.1:{self.port + node_id}"

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        env.update(TRIB_BROKER=broker_binary(), TRIB_COORDINATOR=coordinator_binary(),
                   TRIBUTARY_DATA=str(self.data), TRIBUTARY_PORT=str(self.port),
                   TRIBUTARY_HTTP_PORT=str(self.http_port))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["bash", str(RUN_SH)], stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"run.sh exited {self.proc.returncode}:\n{self.log_tail()}")
            if "start-up failed" in self.log_text():
                raise RuntimeError(f"a process of run.sh did not start:\n{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"run.sh's cluster not ready within {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def _ready(self):
        """run.sh said so, every coordinator's and every broker's /readyz answer 200, and every
        broker's Metadata lists all three brokers."""
        if "tributary: ready: bootstrap servers " + self.bootstrap not in self.log_text():
            return False
        for i in COORDINATOR_IDS:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.coordinator_http_port(i)}/readyz",
                                            timeout=2) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
        for i in BROKER_IDS:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port + i - 1}/readyz", timeout=2) as r:
                    if r.status != 200:
                        return False
                with socket.create_connection(("127.0.0.1", self.port + i), timeout=2) as s:
                    s.settimeout(2)
                    send_request(s, API_METADATA, 1, 1, metadata_v1_no_topics())
                    corr, body = read_response(s)
                    if corr != 1 or set(parse_metadata_v1_brokers(body)["brokers"]) != set(BROKER_IDS):
                        return False
            except (OSError, ValueError, EOFError, struct.error):
                return False
        return True

    def terminate(self):
        """SIGTERM to run.sh, as Ctrl-C or `kill` would; returns its exit code (None if it
        had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.exit_code = None
        else:
            self.exit_code = self.proc.returncode
        return self.exit_code

    def kill_leftovers(self):
        """SIGKILL to whatever of run.sh's process group is still alive (only after a failure)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def group_alive(self):
        """Whether any process of run.sh's group (the script, its brokers, the coordinators) lives."""
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars=20000):
        return self.log_text()[-chars:]


def start_run_sh(tmp_path_factory, attempts=3):
    """A started RunSh; tries other ports when one it picked was taken before run.sh bound it
    (tests run in parallel)."""
    for attempt in range(attempts):
        run = RunSh(tmp_path_factory.mktemp("run_sh"))
        try:
            return run.start()
        except RuntimeError:
            if run.proc is not None and run.proc.poll() is None:
                run.terminate()
            run.kill_leftovers()
            if attempt + 1 == attempts or "Address already in use" not in run.log_text():
                raise


@pytest.fixture(scope="module")
def tools_cluster(tmp_path_factory):
    run = start_run_sh(tmp_path_factory)
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.terminate()
        if run.group_alive():
            print(f"\n===== run.sh output =====\n{run.log_tail()}")
        run.kill_leftovers()


@pytest.fixture(autouse=True)
def show_output_on_failure(request, tools_cluster):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n===== run.sh output =====\n{tools_cluster.log_tail()}")


def topics_tool(tools_cluster, *args, **kw):
    return kafka_tool("kafka-topics", "--bootstrap-server", tools_cluster.broker_address(1), *args, **kw)


def describe_topic(tools_cluster, topic):
    """kafka-topics --describe parsed: ({"PartitionCount": .., "Configs": ..}, {partition:
    {"Leader": int, "Replicas": [int], "Isr": [int]}})."""
    out = topics_tool(tools_cluster, "--describe", "--topic", topic).stdout
    summary, partitions = None, {}
    for line in out.splitlines():
        fields = dict(f.split(": ", 1) if ": " in f else (f.rstrip(":"), "") for f in line.strip().split("\t"))
        if fields.get("Topic") != topic:
            continue
        if "Partition" in fields:
            partitions[int(fields["Partition"])] = {
                "Leader": int(fields["Leader"]),
                "Replicas": [int(x) for x in fields["Replicas"].split(",")],
                "Isr": [int(x) for x in fields["Isr"].split(",")]}
        else:
            summary = fields
    assert summary is not None, f"no summary line for {topic} in:\n{out}"
    return summary, partitions


def console_consume_partition(tools_cluster, topic, partition, count):
    """kafka-console-consumer on one partition from the beginning, printing keys and
    partitions; [(partition, key, value)] of the `count` records it reads."""
    p = kafka_tool("kafka-console-consumer", "--bootstrap-server", tools_cluster.bootstrap, "--topic", topic,
                   "--partition", partition, "--from-beginning",
                   "--property", "print.key=true", "--property", "print.partition=true",
                   "--max-messages", count, "--timeout-ms", 30000)
    records = []
    for line in p.stdout.splitlines():
        # Kafka 4.4 also prints, on stdout, that --property is deprecated
        # (--formatter-property is its new name); the seeds' commands use --property.
        if line.startswith("Option --property is deprecated"):
            continue
        part, key, value = line.split("\t")
        assert part.startswith("Partition:"), line
        records.append((int(part[len("Partition:"):]), key, value))
    assert f"Processed a total of {count} messages" in p.stderr, p.stderr
    return records


def get_offsets(tools_cluster, topic, time_spec=None):
    """kafka-get-offsets for `topic`: {partition: offset}."""
    args = ["--bootstrap-server", tools_cluster.bootstrap, "--topic", topic]
    if time_spec is not None:
        args += ["--time", time_spec]
    out = kafka_tool("kafka-get-offsets", *args).stdout
    offsets = {}
    for line in out.split():
        name, part, off = line.rsplit(":", 2)
        assert name == topic, out
        offsets[int(part)] = int(off)
    return offsets


def test_console_round_trip_and_kcat_over_tls(tools_cluster, tmp_path):
    """The TLS listeners run.sh starts: Kafka's console producer and consumer with the CA of
    data/tls as a PEM truststore, kcat checking the host name against the certificate, and a
    client that does not trust the CA refused."""
    topics_tool(tools_cluster, "--create", "--topic", "over-tls", "--partitions", 3, "--replication-factor", 3)
    client = tmp_path / "ssl.properties"
    client.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={tools_cluster.ca_file}\n")
    lines = [f"line-{i}" for i in range(50)]
    kafka_tool("kafka-console-producer", "--bootstrap-server", tools_cluster.tls_bootstrap, "--topic", "over-tls",
               "--producer.config", client, "--producer-property", "acks=all", input="\n".join(lines) + "\n")
    p = kafka_tool("kafka-console-consumer", "--bootstrap-server", tools_cluster.tls_bootstrap, "--topic", "over-tls",
                   "--consumer.config", client, "--from-beginning", "--max-messages", 50, "--timeout-ms", 30000)
    assert sorted(l for l in p.stdout.splitlines() if l.startswith("line-")) == sorted(lines), p.stderr
    got = kcat("-b", tools_cluster.tls_bootstrap, "-X", "security.protocol=SSL",
               "-X", f"ssl.ca.location={tools_cluster.ca_file}", "-X", "ssl.endpoint.identification.algorithm=https",
               "-C", "-t", "over-tls", "-o", "beginning", "-e", "-q").stdout.decode().split()
    assert sorted(got) == sorted(lines)
    refused = subprocess.run(["kcat", "-b", tools_cluster.tls_bootstrap, "-X", "security.protocol=SSL", "-L",
                              "-m", "10"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr, refused.stderr


def readme_block(heading):
    """The first ```sh block after `heading` in the top README."""
    text = (SOURCE_DIR / "README.md").read_text()
    m = re.search(re.escape(heading) + r"\n.*?```sh\n(.*?)```", text, re.S)
    assert m, f"no sh block under {heading!r} in README.md"
    return m.group(1)


def test_readme_tls_and_scram_quick_start(tools_cluster):
    """The README's TLS + SCRAM quick start, run as written (its ports and data folder moved
    to this cluster's): a user made with kafka-configs, listed, used by kcat over SASL_SSL at
    once, then removed, after which kcat is refused."""
    script = readme_block("### TLS + SCRAM")
    broker1 = tools_cluster.broker_address(1)
    sasl1 = tools_cluster.sasl_ssl_bootstrap.split(",")[0]
    script = (script.replace("127.0.0.1:19092", broker1).replace("127.0.0.1:19100", sasl1)
              .replace("data/tls/ca.crt", str(tools_cluster.ca_file)))
    assert "19092" not in script and "19100" not in script and "data/" not in script.replace(str(tools_cluster.data), "")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=SOURCE_DIR, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p
    assert "Completed updating config for user alice." in p.stdout, p.stdout
    assert "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192" in p.stdout, p.stdout
    assert "hello" in p.stdout.splitlines(), p.stdout
    # After the last command of the block (the deletion) alice is refused.
    sasl = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={tools_cluster.ca_file}",
            "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    refused = subprocess.run(["kcat", "-b", sasl1, *sasl, "-L", "-m", "10"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and "invalid user credentials" in refused.stderr + refused.stdout, refused


def test_topics_and_keyed_console_round_trip(tools_cluster):
    """The seed commands: create topic1, list, describe, produce keyed records with the
    console producer, read each partition with the console consumer, grow to 6 partitions,
    delete."""
    out = topics_tool(tools_cluster, "--create", "--topic", "topic1", "--partitions", 3,
                      "--replication-factor", 3).stdout
    assert "Created topic topic1." in out

    assert "topic1" in topics_tool(tools_cluster, "--list").stdout.split()

    summary, partitions = describe_topic(tools_cluster, "topic1")
    assert summary["PartitionCount"] == "3" and summary["ReplicationFactor"] == "3", summary
    # no topic overrides (test_configs_for_topic_and_broker sets some); run.sh's brokers set
    # min.insync.replicas, which Kafka's tool shows as a static broker config
    assert summary["Configs"] == "min.insync.replicas=2", summary
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", summary["TopicId"]), summary
    assert sorted(partitions) == [0, 1, 2]
    for p in partitions.values():
        assert p["Leader"] == p["Replicas"][0] and sorted(p["Replicas"]) == [1, 2, 3], p
        assert sorted(p["Isr"]) == [1, 2, 3], p  # every replica is in sync at creation
    # three partitions on three brokers: each leads one
    assert sorted(p["Leader"] for p in partitions.values()) == [1, 2, 3], partitions

    keys = [f"user-{i}" for i in range(12)]
    lines = [f"{k}:value-{k}-{n}" for n in range(5) for k in keys]
    kafka_tool("kafka-console-producer", "--bootstrap-server", tools_cluster.bootstrap, "--topic", "topic1",
               "--property", "parse.key=true", "--property", "key.separator=:",
               input="\n".join(lines) + "\n")

    want = {p: [] for p in range(3)}
    for line in lines:
        k, v = line.split(":", 1)
        want[java_partition(k.encode(), 3)].append((k, v))
    assert all(want.values()), f"keys chosen do not cover all three partitions: {want}"
    with ThreadPoolExecutor(3) as pool:
        got = dict(zip(range(3), pool.map(lambda p: console_consume_partition(tools_cluster, "topic1", p, len(want[p])),
                                          range(3))))
    for p in range(3):
        assert all(part == p for part, _, _ in got[p]), got[p]
        # same key, one partition, in the order produced; that partition is murmur2's
        assert [(k, v) for _, k, v in got[p]] == want[p]

    out = topics_tool(tools_cluster, "--alter", "--topic", "topic1", "--partitions", 6).stdout
    summary, partitions = describe_topic(tools_cluster, "topic1")
    assert summary["PartitionCount"] == "6" and sorted(partitions) == list(range(6)), (summary, partitions, out)
    assert all(p["Leader"] in BROKER_IDS for p in partitions.values()), partitions
    # the first three partitions keep their records
    assert get_offsets(tools_cluster, "topic1") == {p: (len(want[p]) if p < 3 else 0) for p in range(6)}

    topics_tool(tools_cluster, "--delete", "--topic", "topic1")
    assert "topic1" not in topics_tool(tools_cluster, "--list").stdout.split()
    p = topics_tool(tools_cluster, "--describe", "--topic", "topic1", check=False)
    assert p.returncode != 0 and "topic1" in p.stdout + p.stderr and "does not exist" in p.stdout + p.stderr, p


def test_configs_for_topic_and_broker(tools_cluster):
    topics_tool(tools_cluster, "--create", "--topic", "configured", "--partitions", 1, "--replication-factor", 3)
    configs = ["kafka-configs", "--bootstrap-server", tools_cluster.bootstrap]

    out = kafka_tool(*configs, "--entity-type", "topics", "--entity-name", "configured", "--describe").stdout
    assert "Dynamic configs for topic configured are:" in out and "retention.ms" not in out, out

    out = kafka_tool(*configs, "--entity-type", "topics", "--entity-name", "configured", "--alter",
                     "--add-config", "retention.ms=3600000,max.message.bytes=65536").stdout
    assert "Completed updating config for topic configured." in out, out
    out = kafka_tool(*configs, "--entity-type", "topics", "--entity-name", "configured", "--describe").stdout
    assert re.search(r"retention\.ms=3600000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=3600000",
                     out), out
    assert "max.message.bytes=65536" in out, out
    # kafka-topics --describe shows the topic's own configs too
    summary, _ = describe_topic(tools_cluster, "configured")
    assert set(summary["Configs"].split(",")) == {"retention.ms=3600000", "max.message.bytes=65536",
                                                  "min.insync.replicas=2"}, summary

    out = kafka_tool(*configs, "--entity-type", "topics", "--entity-name", "configured", "--alter",
                     "--delete-config", "max.message.bytes").stdout
    assert "Completed updating config for topic configured." in out, out
    out = kafka_tool(*configs, "--entity-type", "topics", "--entity-name", "configured", "--describe").stdout
    assert "retention.ms=3600000" in out and "max.message.bytes" not in out, out

    out = kafka_tool(*configs, "--entity-type", "brokers", "--entity-name", 1, "--describe").stdout
    assert "Dynamic configs for broker 1 are:" in out and "log.retention.ms" not in out, out
    out = kafka_tool(*configs, "--entity-type", "brokers", "--entity-name", 1, "--alter",
                     "--add-config", "log.retention.ms=7200000").stdout
    assert "Completed updating config for broker 1." in out, out
    out = kafka_tool(*configs, "--entity-type", "brokers", "--entity-name", 1, "--describe").stdout
    assert re.search(r"log\.retention\.ms=7200000 sensitive=false synonyms=\{DYNAMIC_BROKER_CONFIG:"
                     r"log\.retention\.ms=7200000", out), out
    # every broker config, with the static and default sources
    out = kafka_tool(*configs, "--entity-type", "brokers", "--entity-name", 1, "--describe", "--all").stdout
    assert "All configs for broker 1 are:" in out and re.search(r"^\s*node\.id=1 ", out, re.M), out


def test_offsets_and_delete_records(tools_cluster, tmp_path):
    topics_tool(tools_cluster, "--create", "--topic", "trimmed", "--partitions", 2, "--replication-factor", 3)
    kafka_tool("kafka-console-producer", "--bootstrap-server", tools_cluster.bootstrap, "--topic", "trimmed",
               "--property", "parse.key=true", "--property", "key.separator=:",
               input="".join(f"k{i}:v{i}\n" for i in range(40)))
    counts = {p: 0 for p in range(2)}
    for i in range(40):
        counts[java_partition(f"k{i}".encode(), 2)] += 1
    assert get_offsets(tools_cluster, "trimmed") == counts
    assert get_offsets(tools_cluster, "trimmed", -2) == {0: 0, 1: 0}

    cut = counts[0] // 2
    offsets_file = tmp_path / "offsets.json"
    offsets_file.write_text(json.dumps({"partitions": [{"topic": "trimmed", "partition": 0, "offset": cut}],
                                        "version": 1}))
    out = kafka_tool("kafka-delete-records", "--bootstrap-server", tools_cluster.bootstrap,
                     "--offset-json-file", offsets_file).stdout
    assert re.search(rf"partition: trimmed-0\s+low_watermark: {cut}\b", out), out
    assert get_offsets(tools_cluster, "trimmed", -2) == {0: cut, 1: 0}
    assert get_offsets(tools_cluster, "trimmed", -1) == counts

    # a reader from the beginning now starts at the cut
    records = console_consume_partition(tools_cluster, "trimmed", 0, counts[0] - cut)
    produced0 = [f"v{i}" for i in range(40) if java_partition(f"k{i}".encode(), 2) == 0]
    assert [v for _, _, v in records] == produced0[cut:]


def test_leader_election(tools_cluster):
    """kafka-leader-election reaches the coordinator through a broker (ElectLeaders): the
    preferred replicas lead already, so nothing is elected; an unknown partition fails."""
    topics_tool(tools_cluster, "--create", "--topic", "elected", "--partitions", 3, "--replication-factor", 3)
    _, before = describe_topic(tools_cluster, "elected")
    election = ("kafka-leader-election", "--bootstrap-server", tools_cluster.bootstrap)
    out = kafka_tool(*election, "--election-type", "preferred", "--topic", "elected", "--partition", 1).stdout
    assert "Valid replica already elected for partitions elected-1" in out, out
    kafka_tool(*election, "--election-type", "preferred", "--all-topic-partitions")
    out = kafka_tool(*election, "--election-type", "unclean", "--topic", "elected", "--partition", 2).stdout
    assert "Valid replica already elected for partitions elected-2" in out, out
    p = kafka_tool(*election, "--election-type", "preferred", "--topic", "no-such-topic", "--partition", 0,
                   check=False)
    assert p.returncode != 0 and "UnknownTopicOrPartitionException" in p.stdout + p.stderr, p
    _, after = describe_topic(tools_cluster, "elected")
    assert after == before


def test_reassign_partitions(tools_cluster, tmp_path):
    """The README's move: kafka-topics --replica-assignment, then kafka-reassign-partitions
    --execute --throttle, --list and --verify until every partition is completed; the replicas
    are then the plan's, and nothing is listed as moving."""
    reassign = ("kafka-reassign-partitions", "--bootstrap-server", tools_cluster.bootstrap)
    topics_tool(tools_cluster, "--create", "--topic", "moving", "--replica-assignment", "1:2,2:3")
    plan = tmp_path / "move.json"
    plan.write_text('{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[3,1]},\n'
                    '      {"topic":"moving","partition":1,"replicas":[1,2]}]}')
    out = kafka_tool(*reassign, "--reassignment-json-file", plan, "--execute", "--throttle", 50000000).stdout
    assert "Successfully started partition reassignments for moving-0,moving-1" in out, out
    kafka_tool(*reassign, "--list")
    seen = {}

    def completed():
        seen["out"] = kafka_tool(*reassign, "--reassignment-json-file", plan, "--verify", check=False).stdout
        return seen["out"].count("is completed.") == 2

    wait_until(completed, "--verify to report both partitions completed", timeout=60, describe=lambda: seen)
    _, partitions = describe_topic(tools_cluster, "moving")
    assert [partitions[0]["Replicas"], partitions[1]["Replicas"]] == [[3, 1], [1, 2]], partitions
    out = kafka_tool(*reassign, "--list").stdout
    assert "No partition reassignments found." in out, out


def test_metadata_quorum(tools_cluster):
    """kafka-metadata-quorum reaches the quorum through a broker (DescribeQuorum): one of the
    three coordinators leads the metadata log, the other two follow it as voters, the three
    brokers as observers, and all of them catch up."""
    quorum = ("kafka-metadata-quorum", "--bootstrap-server", tools_cluster.bootstrap, "describe")
    topics_tool(tools_cluster, "--create", "--topic", "quorum-probe", "--partitions", 1, "--replication-factor", 1)
    out = kafka_tool(*quorum, "--status").stdout
    status = dict(re.findall(r"^(\w+):\s+(.*?)\s*$", out, re.M))
    assert status["ClusterId"] == "tributary-local", out
    leader = int(status["LeaderId"])
    assert int(status["HighWatermark"]) > 0, out
    assert leader in COORDINATOR_IDS, out
    assert status["CurrentVoters"] == ", ".join(
        '{"id": %d, "endpoints": ["CONTROLLER://127.0.0.1:%d"]}' % (v, tools_cluster.coordinator_port(v))
        for v in COORDINATOR_IDS).join("[]"), out
    assert status["CurrentObservers"] == ", ".join('{"id": %d}' % b for b in BROKER_IDS).join("[]"), out

    def replication():
        rows = {}
        for line in kafka_tool(*quorum, "--replication").stdout.splitlines()[1:]:
            node, _, end, lag, _, _, role = line.split()
            rows[int(node)] = (int(end), int(lag), role)
        return rows

    # The brokers' heartbeats carry how far each has applied the log: they catch up.
    seen = {}

    def caught_up():
        seen.update(rows=replication())
        return all(b in seen["rows"] and seen["rows"][b][1] == 0 for b in BROKER_IDS)

    def all_caught_up():
        return caught_up() and all(v in seen["rows"] and seen["rows"][v][1] == 0 for v in COORDINATOR_IDS)

    wait_until(all_caught_up, "every voter and observer caught up", timeout=30, describe=lambda: seen)
    rows = seen["rows"]
    assert rows[leader][2] == "Leader" and rows[leader][1] == 0, rows
    assert sorted(n for n, r in rows.items() if r[2] == "Follower") == sorted(set(COORDINATOR_IDS) - {leader}), rows
    assert sorted(n for n, r in rows.items() if r[2] == "Observer") == sorted(BROKER_IDS), rows


def test_broker_api_versions(tools_cluster):
    out = kafka_tool("kafka-broker-api-versions", "--bootstrap-server", tools_cluster.bootstrap).stdout
    blocks = re.findall(r"^(127\.0\.0\.1:(\d+) \(id: (\d+) rack: \S+ isFenced: (\w+)\) -> \((.*?)\n\))", out,
                        re.M | re.S)
    assert sorted((int(port), int(node)) for _, port, node, _, _ in blocks) == \
        [(tools_cluster.port + i, i) for i in BROKER_IDS], out
    for _, _, node, fenced, body in blocks:
        assert fenced == "false", node
        apis = {}
        for name, key, rest in re.findall(r"^\s*(\w+)\((\d+)\): (.*?),?$", body, re.M):
            apis[name] = (int(key), rest)
        for name, key in [("Produce", 0), ("Fetch", 1), ("ListOffsets", 2), ("Metadata", 3),
                          ("ApiVersions", 18), ("CreateTopics", 19), ("DeleteRecords", 21),
                          ("DescribeConfigs", 32), ("DescribeLogDirs", 35), ("DescribeCluster", 60)]:
            assert name in apis and apis[name][0] == key, (node, name, apis.get(name))
            m = re.fullmatch(r"(\d+) to (\d+) \[usable: (\d+)\]", apis[name][1])
            assert m, (node, name, apis[name])
            lo, hi, usable = map(int, m.groups())
            assert lo <= usable <= hi, (node, name, apis[name])
        supported = [n for n, (_, rest) in apis.items() if rest != "UNSUPPORTED"]
        assert len(supported) >= 15, supported


def test_log_dirs(tools_cluster):
    topics_tool(tools_cluster, "--create", "--topic", "sized", "--partitions", 3, "--replication-factor", 3)
    kafka_tool("kafka-console-producer", "--bootstrap-server", tools_cluster.bootstrap, "--topic", "sized",
               "--property", "parse.key=true", "--property", "key.separator=:",
               input="".join(f"key-{i}:{'x' * 200}\n" for i in range(60)))
    _, partitions = describe_topic(tools_cluster, "sized")

    out = kafka_tool("kafka-log-dirs", "--bootstrap-server", tools_cluster.bootstrap, "--describe",
                     "--topic-list", "sized").stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert sorted(b["broker"] for b in report["brokers"]) == list(BROKER_IDS), report
    seen = {}  # (broker, partition) -> entry: every broker holds a replica of each
    for b in report["brokers"]:
        assert len(b["logDirs"]) == 1, b
        d = b["logDirs"][0]
        assert d["error"] is None, d
        assert Path(d["logDir"]) == (tools_cluster.data / f"broker-{b['broker']}").resolve(), d
        for p in d["partitions"]:
            seen[(b["broker"], p["partition"])] = p
    assert sorted(seen) == [(b, f"sized-{i}") for b in BROKER_IDS for i in range(3)], report
    for (broker, name), p in seen.items():
        index = int(name.rsplit("-", 1)[1])
        assert broker in partitions[index]["Replicas"], (name, broker, partitions)
        # 60 records of > 200 bytes over three partitions: each holds some
        assert p["size"] > 0 and p["offsetLag"] == 0 and p["isFuture"] is False, p
    for i in range(3):  # the console producer waited for acks=all: every copy is whole
        sizes = {seen[(b, f"sized-{i}")]["size"] for b in BROKER_IDS}
        assert len(sizes) == 1, (i, sizes)
    assert sum(seen[(1, f"sized-{i}")]["size"] for i in range(3)) > 60 * 200, seen

    # The tool asks for every topic (a null list); a list of topic partitions gets those this
    # broker hosts, the others (not here, or not existing) left out.
    for node in BROKER_IDS:
        asked = describe_log_dirs_v1(tools_cluster.port + node, [("sized", [0, 1, 2, 7]), ("no-such-topic", [0])])
        assert len(asked) == 1 and asked[0]["error_code"] == 0, asked
        here = {f"{t}-{i}": size for t, parts in asked[0]["topics"].items() for i, size in parts.items()}
        assert here == {name: p["size"] for (broker, name), p in seen.items() if broker == node}, (node, asked)


def describe_log_dirs_v1(port, topics):
    """DescribeLogDirs v1 on a raw socket for [(topic, [partition])]: [{"error_code",
    "log_dir", "topics": {topic: {partition: size}}}]."""
    body = struct.pack(">i", len(topics))
    for name, parts in topics:
        body += struct.pack(">h", len(name)) + name.encode() + struct.pack(">i", len(parts))
        body += b"".join(struct.pack(">i", p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.settimeout(10)
        send_request(s, 35, 1, 7, body)
        corr, resp = read_response(s)
    assert corr == 7
    pos = 4  # throttle time

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from(fmt, resp, pos)
        pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string():
        nonlocal pos
        n = take(">h")
        pos += n
        return resp[pos - n:pos].decode()

    results = []
    for _ in range(take(">i")):
        error_code = take(">h")
        log_dir = string()
        found = {}
        for _ in range(take(">i")):
            name = string()
            found[name] = {}
            for _ in range(take(">i")):
                index, size, lag, future = take(">iqq?")
                assert lag == 0 and not future
                found[name][index] = size
        results.append({"error_code": error_code, "log_dir": log_dir, "topics": found})
    assert pos == len(resp), "trailing bytes in the DescribeLogDirs response"
    return results


def test_producer_perf_test(tools_cluster):
    """20,000 records of 100 bytes with the producer's defaults (acks=all, idempotence on),
    then every one read back."""
    topics_tool(tools_cluster, "--create", "--topic", "perf", "--partitions", 3, "--replication-factor", 3)
    out = kafka_tool("kafka-producer-perf-test", "--topic", "perf", "--num-records", 20000,
                     "--record-size", 100, "--throughput", -1,
                     "--producer-props", f"bootstrap.servers={tools_cluster.bootstrap}").stdout
    assert re.search(r"^20000 records sent, ", out, re.M), out
    assert sum(get_offsets(tools_cluster, "perf").values()) == 20000
    records = consume_all(tools_cluster.bootstrap, "perf")
    values = [v for recs in records.values() for _, _, v in recs]
    assert len(values) == 20000 and all(len(v) == 100 for v in values)
    # idempotence is on by default: every batch on disk carries a producer id
    ids = stored_producer_ids(tools_cluster.data, "perf")
    assert ids and all(i >= 0 for i in ids), ids


def stored_producer_ids(data_dir, topic):
    """The producer id of every batch of `topic` in the brokers' log files under `data_dir`
    (run.sh's broker-N folders), read from the batch headers on disk."""
    ids = []
    for log in sorted(Path(data_dir).glob(f"broker-*/{topic}-*/*.log")):
        data = log.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            if length < 49:
                break  # the zero padding after a running broker's last batch
            ids.append(struct.unpack_from(">q", data, pos + 43)[0])
            pos += 12 + length
    return ids


def groups_tool(tools_cluster, *args, **kw):
    return kafka_tool("kafka-consumer-groups", "--bootstrap-server", tools_cluster.bootstrap, *args, **kw)


def describe_group(tools_cluster, group):
    """kafka-consumer-groups --describe parsed: {partition: (current offset, log end, lag)}
    ("-" where the tool prints one)."""
    out = groups_tool(tools_cluster, "--describe", "--group", group).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        if len(f) >= 6 and f[0] == group and f[2].isdigit():
            rows[int(f[2])] = tuple(int(x) if x.lstrip("-").isdigit() else x for x in f[3:6])
    return rows


def test_console_consumer_group_and_consumer_groups_tool(tools_cluster):
    """The seeds' group commands: kafka-console-consumer --group reads everything and commits;
    kafka-consumer-groups --list, --describe (lag = log end - committed, per partition),
    --reset-offsets --to-earliest / --shift-by / --to-datetime --execute, and --delete."""
    from confluent_kafka import Producer
    topics_tool(tools_cluster, "--create", "--topic", "grouped", "--partitions", 3, "--replication-factor", 3)

    def produce(n):
        p = Producer({"bootstrap.servers": tools_cluster.bootstrap})
        for i in range(n):
            p.produce("grouped", b"v%d" % i, partition=i % 3)
        assert p.flush(30) == 0

    produce(30)
    p = kafka_tool("kafka-console-consumer", "--bootstrap-server", tools_cluster.bootstrap, "--topic", "grouped",
                   "--group", "console-group", "--from-beginning", "--max-messages", 30, "--timeout-ms", 60000)
    assert len([x for x in p.stdout.splitlines() if x.startswith("v")]) == 30, p.stdout
    assert "console-group" in groups_tool(tools_cluster, "--list").stdout.split()
    assert describe_group(tools_cluster, "console-group") == {i: (10, 10, 0) for i in range(3)}
    produce(6)
    assert describe_group(tools_cluster, "console-group") == {i: (10, 12, 2) for i in range(3)}
    reset = ["--reset-offsets", "--group", "console-group", "--topic", "grouped", "--execute"]
    groups_tool(tools_cluster, *reset, "--to-earliest")
    assert describe_group(tools_cluster, "console-group") == {i: (0, 12, 12) for i in range(3)}
    groups_tool(tools_cluster, *reset, "--shift-by", 5)
    assert describe_group(tools_cluster, "console-group") == {i: (5, 12, 7) for i in range(3)}
    groups_tool(tools_cluster, *reset, "--to-datetime", "2999-01-01T00:00:00.000")
    assert describe_group(tools_cluster, "console-group") == {i: (12, 12, 0) for i in range(3)}
    out = groups_tool(tools_cluster, "--delete", "--group", "console-group").stdout
    assert "successful" in out, out
    assert "console-group" not in groups_tool(tools_cluster, "--list").stdout.split()


def test_run_sh_stops_cleanly_on_sigterm(tools_cluster):
    """SIGTERM to run.sh: it stops the brokers, then the coordinators, which each log a clean
    stop, and exits 0 with nothing of its group left running. Runs last (file order)."""
    assert tools_cluster.terminate() == 0, tools_cluster.log_tail()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while tools_cluster.group_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tools_cluster.group_alive(), "a process of run.sh's group is still running"
    log = tools_cluster.log_text()
    assert "tributary: stopping" in log
    for c in COORDINATOR_IDS:
        assert f"coordinator {c} stopped" in log, log[-5000:]
    coordinator_stop = min(log.index(f"coordinator {c} stopped") for c in COORDINATOR_IDS)
    for i in BROKER_IDS:
        assert f"broker {i} stopped" in log, log[-5000:]
        assert log.index(f"broker {i} stopped") < coordinator_stop, \
            f"broker {i} stopped after the coordinator:\n{log[-5000:]}"
