"""The operator as a user meets it: `helm install` of charts/tributary (two operator replicas,
one leading), then a KafkaCluster (manifests/kafkacluster.yaml) reconciled into a running
cluster on the test control plane, with pods run by the node agent.

Clients here are outside the cluster network's DNS, so the test sets the internal listener's
advertisedHost to "{podIP}", as a user without pod DNS would; the status then lists the
brokers' pod addresses as the bootstrap servers."""
import calendar
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from apache_kafka import kafka_tool  # noqa: E402
from chart_monitoring import expressions, metric_names, rule_file  # noqa: E402
from harness import SOURCE_DIR, admin_create_topic, free_port, kcat, metadata_brokers  # noqa: E402
from kube import wait_for  # noqa: E402
from node_agent import NODES  # noqa: E402
from workloads import (broker_addresses, pods, read_back, read_back_once, read_with_java, ready,  # noqa: E402
                       under_load, wait_ready, write_with_java_and_kcat)

CHART = SOURCE_DIR / "charts" / "tributary"
SAMPLE = SOURCE_DIR / "manifests" / "kafkacluster.yaml"
READY_TIMEOUT_S = 240
LEASE = "tributary-operator"
ZONE = "topology.kubernetes.io/zone"


def sample(name, **brokers):
    """The shipped sample KafkaCluster, renamed, advertising pod IPs, with `brokers` fields
    merged into spec.brokers."""
    kc = next(d for d in yaml.safe_load_all(SAMPLE.read_text()) if d and d["kind"] == "KafkaCluster")
    kc["metadata"] = {"name": name}
    for listener in kc["spec"].get("listeners", [{"name": "plain", "port": 9092, "type": "internal"}]):
        if listener.get("type", "internal") == "internal":
            listener["advertisedHost"] = "{podIP}"
    kc["spec"].setdefault("listeners", [])
    if not kc["spec"]["listeners"]:
        kc["spec"]["listeners"] = [{"name": "plain", "port": 9092, "type": "internal", "advertisedHost": "{podIP}"}]
    kc["spec"].setdefault("brokers", {}).update(brokers)
    return kc


def kafkacluster(cp, ns, name):
    return cp.get_json("kafkacluster", name, "-n", ns)


def condition(kc, type_):
    return next((c for c in kc.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def wait_status(cp, ns, name, what, predicate, timeout=READY_TIMEOUT_S):
    """The KafkaCluster once predicate(kc) holds; the last status in the failure message."""
    seen = {}

    def check():
        seen["kc"] = kafkacluster(cp, ns, name)
        return predicate(seen["kc"])
    try:
        wait_for(f"KafkaCluster {name}: {what}", check, timeout, interval=0.5)
    except Exception as e:
        raise AssertionError(f"{e}\nlast status: {json.dumps(seen.get('kc', {}).get('status'), indent=1)}")
    return seen["kc"]


def ready_with(count):
    def predicate(kc):
        st = kc.get("status", {})
        return (condition(kc, "Ready").get("status") == "True"
                and st.get("observedGeneration") == kc["metadata"]["generation"]
                and len(st.get("brokers", [])) == count
                and all(b.get("state") == "Running" for b in st["brokers"]))
    return predicate


def bootstrap_of(kc):
    return kc["status"]["listeners"][0]["bootstrapServers"]


def operator_pods(cp, ns):
    return {p["metadata"]["name"]: p for p in cp.get_json("pods", "-n", ns)["items"]
            if p["metadata"]["name"].startswith("tributary-operator") and not p["metadata"].get("deletionTimestamp")}


def lease_holder(cp, ns):
    """The pod whose operator holds the lease (holderIdentity is <pod>_<process suffix>)."""
    r = cp.kubectl("-n", ns, "get", "lease", LEASE, "-o", "json", check=False)
    holder = json.loads(r.stdout)["spec"].get("holderIdentity") if r.returncode == 0 else None
    return holder.rsplit("_", 1)[0] if holder else None


def scrape(pod):
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/metrics", timeout=5) as r:
        return r.read().decode()


def metric_lines(text):
    """[(name, {label: value}, value)] of Prometheus text."""
    out = []
    for m in re.finditer(r'^(\w+)\{(.*)\} (\S+)$', text, re.M):
        out.append((m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))))
    return out


def operator_pid(pod_name):
    """The pid of the tributary-operator process the node agent runs for `pod_name`."""
    return process_of_pod("tributary-operator", pod_name)


def process_of_pod(program, pod_name):
    """The pid of the `program` process the node agent runs for `pod_name` (its HOSTNAME is
    the pod's name)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not os.readlink(proc / "exe").endswith("/" + program):
                continue
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"HOSTNAME={pod_name}".encode() in env:
            return int(proc.name)
    return None


def delete_with_claims(cp, ns, name):
    """Deletes KafkaCluster `name` and waits until it is gone and its claims (deleteClaim
    true) are removed."""
    cp.kubectl("-n", ns, "delete", "kafkacluster", name, "--wait=false")
    wait_for(f"KafkaCluster {name} gone and its claims removed",
             lambda: cp.kubectl("-n", ns, "get", "kafkacluster", name, check=False).returncode != 0
             and not [c for c in cp.get_json("pvc", "-n", ns)["items"]
                      if c["metadata"]["name"].startswith(f"data-{name}-") and not c["metadata"].get("deletionTimestamp")],
             120)


@contextlib.contextmanager
def prometheus(tmp_path, scrape_configs):
    """Debian's Prometheus on loopback, scraping every second, with the chart's alert rules
    (the PrometheusRule `helm template` renders) loaded; yields its base URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: scripts/install-deps.sh installs Debian's prometheus package"
    rules = rule_file(tmp_path / "alerts.yaml")
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                  "rule_files": [str(rules)], "scrape_configs": scrape_configs}))
    port = free_port()
    with open(tmp_path / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


def prom_api(base, path, **params):
    """The `data` of a Prometheus HTTP API answer; None while it does not answer."""
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            answer = json.loads(r.read().decode())
    except OSError:
        return None
    assert answer["status"] == "success", answer
    return answer["data"]


def prom_query(base, query):
    """[(labels, value)] of an instant query; [] while Prometheus does not answer."""
    data = prom_api(base, "query", query=query)
    return [(r["metric"], float(r["value"][1])) for r in data["result"]] if data else []


def consumer_groups_lag(bootstrap, group):
    """{(topic, partition): lag} as Kafka's kafka-consumer-groups --describe prints it."""
    out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group).stdout
    lines = [line.split() for line in out.splitlines() if line.strip()]
    header = next(line for line in lines if "LAG" in line)
    col = {name: i for i, name in enumerate(header)}
    return {(f[col["TOPIC"]], int(f[col["PARTITION"]])): int(f[col["LAG"]])
            for f in lines if f is not header and len(f) == len(header) and f[col["GROUP"]] == group}


def kill_active_operator(cp, operator_ns, still=None):
    """SIGKILLs the operator process that holds the lease and waits until the other replica
    holds it (the node agent restarts the killed container). `still`, if given, is asserted
    just before the signal: the work the kill is meant to interrupt is not over yet, so a test
    cannot pass without a takeover in the middle of it. Returns the time of the kill in whole
    seconds, as Events' timestamps have it."""
    old = lease_holder(cp, operator_ns)
    assert old, "no operator holds the lease"
    pid = operator_pid(old)
    assert pid, f"no process for {old}"
    if still is not None:
        assert still(), "what the operator kill was to interrupt was over before it"
    killed_at = int(time.time())
    os.kill(pid, signal.SIGKILL)
    wait_for("the other operator replica to take the lease",
             lambda: lease_holder(cp, operator_ns) not in (None, old), 60)
    return killed_at


def event_times(cp, ns, name, reason):
    """The first timestamps (whole seconds since the epoch) of `name`'s Events of `reason`."""
    events = cp.get_json("events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return sorted(calendar.timegm(time.strptime(e["firstTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
                  for e in events if e["reason"] == reason and e.get("firstTimestamp"))


@pytest.fixture(scope="module")
def operator(control_plane, node_agent):
    """The chart installed with helm in its own namespace; both replicas Ready, one leading."""
    cp = control_plane
    ns = cp.new_namespace("tributary-system")
    cp.helm("install", "tributary", str(CHART), "--namespace", ns)
    wait_for("two operator pods Ready and a lease holder",
             lambda: sum(ready(p) for p in operator_pods(cp, ns).values()) == 2 and lease_holder(cp, ns),
             READY_TIMEOUT_S, interval=0.5)
    yield ns
    cp.helm("uninstall", "tributary", "--namespace", ns, check=False)
    cp.delete_namespace(ns)


def test_install_run_scale_and_delete_a_cluster(control_plane, node_agent, namespace, operator, tmp_path):
    cp, ns = control_plane, namespace
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(sample("demo")))

    # Ready: a coordinator and three brokers with ids 0..2 in status, one per pod.
    kc = wait_status(cp, ns, "demo", "Ready with 3 running brokers", ready_with(3))
    assert sorted((b["id"], b["pod"]) for b in kc["status"]["brokers"]) == [
        (i, f"demo-broker-{i}") for i in range(3)]
    assert kc["status"]["replicas"] == 3 and kc["status"]["clusterId"]
    assert cp.get_json("pods", "-n", ns, "-l", kc["status"]["selector"])["items"].__len__() == 3
    bootstrap = bootstrap_of(kc)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods(cp, ns, "broker", "demo").values()}
    assert broker_addresses(bootstrap) == {i: f"{ips[f'demo-broker-{i}']}:9092" for i in range(3)}
    printed = cp.kubectl("-n", ns, "get", "kafkacluster", "demo").stdout
    assert re.search(r"demo\s+True\s+3\s+", printed), printed

    # Records through the bootstrap address: Kafka's Java tools and kcat write, both read.
    expected = write_with_java_and_kcat(bootstrap, "k8s", 3)
    values, by_partition = read_back(bootstrap, "k8s")
    assert values == expected
    assert read_with_java(bootstrap, "k8s", by_partition) == expected

    # kubectl scale (the scale subresource) to 5: two more brokers register and new topics
    # use them. The three running brokers are not restarted: the new brokers' certificates
    # (internal TLS) leave their pod template as it is.
    running = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "demo").items()}
    assert len(running) == 3
    revision = cp.get_json("statefulset", "demo-broker", "-n", ns)["status"]["updateRevision"]
    cp.kubectl("-n", ns, "scale", "kafkacluster/demo", "--replicas=5")
    kc = wait_status(cp, ns, "demo", "Ready with 5 running brokers, no roll",
                     lambda k: ready_with(5)(k) and "rollingUpdate" not in k.get("status", {}))
    assert sorted(b["id"] for b in kc["status"]["brokers"]) == [0, 1, 2, 3, 4]
    assert condition(kc, "InternalTLS").get("status") == "True", kc["status"]
    after = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "demo").items()}
    assert {n: after.get(n) for n in running} == running, "a running broker was restarted by the scale-up"
    # The pods 3 and 4 were made from the template the scale wrote: it is the one 0-2 run.
    assert cp.get_json("statefulset", "demo-broker", "-n", ns)["status"]["updateRevision"] == revision
    bootstrap = bootstrap_of(kc)
    assert sorted(broker_addresses(bootstrap)) == [0, 1, 2, 3, 4]
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "wide",
               "--partitions", "10", "--replication-factor", "1")
    leaders = {p["leader"] for t in json.loads(kcat("-b", bootstrap, "-L", "-J", "-t", "wide").stdout)["topics"]
               for p in t["partitions"]}
    assert leaders == {0, 1, 2, 3, 4}

    # Scaling down drains the brokers that go. Below the replication factor of a topic it is
    # refused first: a condition that says why, an Event, every broker still running.
    bootstrap = bootstrap_of(kc)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "rf3",
               "--partitions", "3", "--replication-factor", "3")
    cp.kubectl("-n", ns, "scale", "kafkacluster/demo", "--replicas=2")
    kc = wait_status(cp, ns, "demo", "ScalingBlocked",
                     lambda kc: condition(kc, "ScalingBlocked").get("status") == "True"
                     and kc["status"].get("observedGeneration") == kc["metadata"]["generation"])
    blocked = condition(kc, "ScalingBlocked")
    assert blocked["reason"] == "DrainRefused" and "only 2 broker(s) would remain" in blocked["message"], blocked
    assert cp.get_json("statefulset", "demo-broker", "-n", ns)["spec"]["replicas"] == 5
    assert len(wait_ready(cp, ns, "broker", 5, instance="demo")) == 5
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=demo")["items"]
    assert any(e["reason"] == "ScalingBlocked" and e["type"] == "Warning" for e in events), \
        [(e["type"], e["reason"]) for e in events]

    # To 3 under an idempotent acks=all producer and a consumer group: brokers 3 and 4
    # drained, their pods gone, unregistered (Metadata lists 0..2); no Metadata answer shows
    # a partition without a leader; every acknowledged record read back once, by the group,
    # by kcat and by Kafka's kafka-verifiable-consumer.
    with under_load(bootstrap, "rf3", "drain-readers", "drain") as (acked, group_read):
        wait_for("records acknowledged and read before the drain",
                 lambda: len(acked) > 50 and len(group_read) > 50, 60)
        cp.kubectl("-n", ns, "scale", "kafkacluster/demo", "--replicas=3")
        # The active operator SIGKILLed once the drain is under way, and before either broker
        # is unregistered: the other replica finds it in the cluster and the status, and
        # finishes it.

        def under_way(kc):
            drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
            return drains.keys() == {3, 4} and "Unregistered" not in drains.values()
        wait_status(cp, ns, "demo", "the drain of brokers 3 and 4 under way", under_way)
        killed_at = kill_active_operator(cp, operator, still=lambda: under_way(kafkacluster(cp, ns, "demo")))

        def unregistered(kc):
            drains = {d["id"]: d["state"] for d in kc.get("status", {}).get("drains", [])}
            return ready_with(3)(kc) and drains == {3: "Unregistered", 4: "Unregistered"}
        kc = wait_status(cp, ns, "demo", "brokers 3 and 4 drained, gone and unregistered", unregistered)
        assert cp.get_json("statefulset", "demo-broker", "-n", ns)["spec"]["replicas"] == 3
        assert sorted(pods(cp, ns, "broker", "demo")) == [f"demo-broker-{i}" for i in range(3)]
        assert sorted(broker_addresses(bootstrap_of(kc))) == [0, 1, 2]
        assert condition(kc, "ScalingBlocked").get("status") == "False"
        # The replica that took over unregistered them, after the kill (or in its second).
        unregistered_at = event_times(cp, ns, "demo", "Unregistered")
        assert len(unregistered_at) == 2 and min(unregistered_at) >= killed_at, (unregistered_at, killed_at)
        floor = len(acked)
        wait_for("records acknowledged after the scale-down", lambda: len(acked) > floor + 50, 60)
    bootstrap = bootstrap_of(kc)
    read_back_once(bootstrap, "rf3", acked, tmp_path)
    assert read_back(bootstrap, "k8s")[0] == expected
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=demo")["items"]
    reasons = {e["reason"] for e in events}
    assert {"Draining", "Drained", "Unregistered"} <= reasons, reasons

    # Back to 5: ids 3 and 4 return as fresh brokers, undrained.
    cp.kubectl("-n", ns, "scale", "kafkacluster/demo", "--replicas=5")
    kc = wait_status(cp, ns, "demo", "Ready with 5 again, nothing drained",
                     lambda kc: ready_with(5)(kc) and not kc["status"].get("drains")
                     and sorted(broker_addresses(bootstrap_of(kc))) == [0, 1, 2, 3, 4])

    # A deleted broker pod comes back as the same broker, on its claim, with its data.
    old = pods(cp, ns, "broker", "demo")["demo-broker-1"]
    cp.kubectl("-n", ns, "delete", "pod", "demo-broker-1", "--wait=false")
    wait_ready(cp, ns, "broker", 5, not_uid=old["metadata"]["uid"], instance="demo")
    kc = wait_status(cp, ns, "demo", "broker 1 running again in a new pod",
                     lambda kc: ready_with(5)(kc) and all(b["state"] == "Running" for b in kc["status"]["brokers"])
                     and broker_addresses(bootstrap_of(kc)).keys() == {0, 1, 2, 3, 4})
    assert {b["id"]: b["pod"] for b in kc["status"]["brokers"]}[1] == "demo-broker-1"
    wait_for("every record readable after broker 1's restart",
             lambda: read_back(bootstrap_of(kafkacluster(cp, ns, "demo")), "k8s")[0] == expected, 60)

    # A broker that fails at every start says why, and the cluster is Degraded until it runs
    # again: broker 1's data directory is made another cluster's (its meta.properties), as a
    # broken disk would stop it, its pod deleted, then the file mended.
    meta = node_agent.claim_dir(ns, "data-demo-broker-1") / "data" / "meta.properties"
    good = meta.read_text()
    meta.write_text(re.sub(r"(?m)^cluster\.id=.*$", "cluster.id=another-cluster", good))
    cp.kubectl("-n", ns, "delete", "pod", "demo-broker-1", "--wait=false")

    def broker_1(kc):
        return {b["id"]: b for b in kc["status"]["brokers"]}[1]

    def crash_looping(kc):
        return (condition(kc, "Degraded").get("reason") == "BrokerCrashLooping"
                and "another-cluster" in broker_1(kc).get("lastTermination", ""))
    kc = wait_status(cp, ns, "demo", "broker 1 failing at start, and why", crash_looping)
    last = broker_1(kc)["lastTermination"]
    assert re.fullmatch(r"exit code 1 \(Error\): .* start-up failed: .*belongs to cluster another-cluster", last), last
    assert broker_1(kc)["state"] != "Running", broker_1(kc)
    degraded = condition(kc, "Degraded")
    assert degraded["status"] == "True" and degraded["message"].startswith("broker 1 keeps failing (restarts: "), \
        degraded
    assert last in degraded["message"], degraded
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=demo")["items"]
    assert any(e["reason"] == "BrokerCrashLooping" and e["type"] == "Warning" for e in events), \
        [(e["type"], e["reason"]) for e in events]
    meta.write_text(good)
    kc = wait_status(cp, ns, "demo", "broker 1 running again, the cluster no longer degraded",
                     lambda kc: ready_with(5)(kc) and condition(kc, "Degraded").get("status") == "False"
                     and broker_1(kc)["state"] == "Running")
    assert "lastTermination" not in broker_1(kc), broker_1(kc)
    wait_for("every record readable after broker 1 came back",
             lambda: read_back(bootstrap_of(kafkacluster(cp, ns, "demo")), "k8s")[0] == expected, 60)

    # The active operator publishes the cluster's topic metrics (kafka_exporter's names) and
    # its own.
    leader = operator_pods(cp, operator)[lease_holder(cp, operator)]

    def offsets_exported():
        text = scrape(leader)
        offsets = [float(m.group(1)) for m in re.finditer(
            r'^kafka_topic_partition_current_offset\{[^}]*topic="k8s"[^}]*\} (\S+)$', text, re.M)]
        brokers = re.search(r'^kafka_brokers\{[^}]*kafkacluster="demo"[^}]*\} (\S+)$', text, re.M)
        return len(offsets) == 3 and sum(offsets) == 600 and brokers and float(brokers.group(1)) == 5
    wait_for("the leader's /metrics to give the cluster's brokers and offsets", offsets_exported, 60)
    assert re.search(r'^tributary_operator_reconcile_total\{[^}]*kafkacluster="demo"', scrape(leader), re.M)

    # ... and the lag of every consumer group of the cluster: a group that committed half of
    # each partition of k8s shows end - committed per partition, with the cluster's labels,
    # and the age of the next record it reads.
    c = Consumer({"bootstrap.servers": bootstrap_of(kafkacluster(cp, ns, "demo")), "group.id": "k8s-lag",
                  "enable.auto.commit": False})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition("k8s", p), timeout=30)[1] for p in range(3)}
        committed = {p: end // 2 for p, end in ends.items()}
        c.commit(offsets=[TopicPartition("k8s", p, o) for p, o in committed.items()], asynchronous=False)
    finally:
        c.close()
    assert sum(ends.values()) == 600, ends

    def lag_exported():
        lag = {}
        for name, labels, value in metric_lines(scrape(leader)):
            if (labels.get("consumergroup"), labels.get("topic"), labels.get("kafkacluster"),
                    labels.get("namespace")) == ("k8s-lag", "k8s", "demo", ns):
                lag[(name, labels.get("partition"))] = value
        # The age of the record the group reads next: positive where it is behind.
        ages = {p for (name, p), v in lag.items() if name == "kafka_consumergroup_lag_seconds" and v > 0}
        lag = {k: v for k, v in lag.items() if k[0] != "kafka_consumergroup_lag_seconds"}
        return ages == {str(p) for p, o in committed.items() if ends[p] > o} and lag == {
            **{("kafka_consumergroup_lag", str(p)): float(ends[p] - o) for p, o in committed.items()},
            **{("kafka_consumergroup_current_offset", str(p)): float(o) for p, o in committed.items()},
            ("kafka_consumergroup_lag_sum", None): float(600 - sum(committed.values())),
            ("kafka_consumergroup_current_offset_sum", None): float(sum(committed.values()))}
    # The operator reads each cluster every 30 s.
    wait_for("the group's lag on the leader's /metrics", lag_exported, 90)

    # A real Prometheus scraping the leading operator (as the chart's ServiceMonitor does) and
    # the cluster's brokers and coordinators, labelled as the chart's PodMonitor labels them,
    # with the chart's alert rules: the lag series it stores are what the test committed, from
    # both sources, as Kafka's own kafka-consumer-groups tool reports; the rules evaluate
    # without errors on the real series; and every metric the alerts and dashboards read is there.
    pod_targets = [{"targets": [f"{p['status']['podIP']}:9644"],
                    "labels": {"namespace": ns, "kafkacluster": "demo", "pod": name}}
                   for component in ("broker", "coordinator") for name, p in pods(cp, ns, component, "demo").items()]
    assert len(pod_targets) == 6
    with prometheus(tmp_path, [
            {"job_name": "operator", "honor_labels": True,
             "static_configs": [{"targets": [f"{leader['status']['podIP']}:8080"]}]},
            {"job_name": "pods", "static_configs": pod_targets}]) as prom:
        wait_for("Prometheus to scrape the operator and the cluster's pods",
                 lambda: sorted(v for _, v in prom_query(prom, "up")) == [1.0] * 7, 60)
        want = {str(p): float(ends[p] - o) for p, o in committed.items()}

        def stored_lag():
            by_job = {}
            for labels, value in prom_query(prom, 'kafka_consumergroup_lag{consumergroup="k8s-lag", topic="k8s"}'):
                assert (labels["namespace"], labels["kafkacluster"]) == (ns, "demo"), labels
                by_job.setdefault(labels["job"], {})[labels["partition"]] = value
            return by_job == {"operator": want, "pods": want}
        wait_for("kafka_consumergroup_lag in Prometheus from the operator and the group's broker", stored_lag, 60)
        assert consumer_groups_lag(bootstrap_of(kafkacluster(cp, ns, "demo")), "k8s-lag") == {
            ("k8s", p): ends[p] - o for p, o in committed.items()}
        # What the lag alert compares with its threshold counts the two sources once.
        assert prom_query(prom, 'max by (namespace, kafkacluster, consumergroup, topic) '
                                '(kafka_consumergroup_lag_sum{consumergroup="k8s-lag"})') == [
            ({"namespace": ns, "kafkacluster": "demo", "consumergroup": "k8s-lag", "topic": "k8s"},
             float(600 - sum(committed.values())))]
        assert prom_query(prom, "sum by (namespace, kafkacluster) (tributary_coordinator_active_controller)") == [
            ({"namespace": ns, "kafkacluster": "demo"}, 1.0)]

        def rules_evaluated():
            data = prom_api(prom, "rules")
            rules = [r for g in (data or {}).get("groups", []) for r in g["rules"]]
            return len(rules) == 7 and all(r["health"] == "ok" and not r["lastEvaluation"].startswith("0001")
                                           for r in rules)
        wait_for("every alert rule evaluated without error", rules_evaluated, 60)
        stored = set(prom_api(prom, "label/__name__/values"))
        missing = {n: w for w, e in expressions() for n in metric_names(e) if n not in stored}
        assert not missing, f"metrics the alerts and dashboards read that nothing published: {missing}"

    # SIGKILL the active operator: the other replica takes the lease and carries on (a broker
    # config change reaches the ConfigMap).
    kill_active_operator(cp, operator)
    cp.kubectl("-n", ns, "patch", "kafkacluster", "demo", "--type=merge",
               "-p", json.dumps({"spec": {"brokers": {"config": {"log.retention.hours": "72"}}}}))
    wait_for("the changed broker config in the ConfigMap",
             lambda: "log.retention.hours=72" in cp.get_json("configmap", "demo-broker-config", "-n", ns)["data"][
                 "broker.properties"], 60)

    # Deleting the KafkaCluster: what it owns goes by garbage collection; the claims stay
    # (deleteClaim false), so the data could be reattached.
    claims = {c["metadata"]["name"] for c in cp.get_json("pvc", "-n", ns)["items"]}
    assert {f"data-demo-broker-{i}" for i in range(5)} <= claims
    cp.kubectl("-n", ns, "delete", "kafkacluster", "demo", "--wait=false")

    def owned_left():
        return [f"{o['kind']}/{o['metadata']['name']}" for o in cp.get_json(
            "statefulsets,services,configmaps,poddisruptionbudgets", "-n", ns,
            "-l", "app.kubernetes.io/instance=demo")["items"]]
    wait_for("the owned objects to be garbage-collected", lambda: not owned_left(), 120)
    assert claims == {c["metadata"]["name"] for c in cp.get_json("pvc", "-n", ns)["items"]}


@pytest.fixture
def zones(control_plane, node_agent):
    """The nodes labelled with a zone each, as a cloud's nodes are; the labels removed after."""
    zones = {node: f"zone-{node[-1]}" for node in NODES}
    for node, zone in zones.items():
        control_plane.kubectl("label", "node", node, f"{ZONE}={zone}", "--overwrite")
    yield zones
    for node in zones:
        control_plane.kubectl("label", "node", node, f"{ZONE}-", check=False)


def test_rack_from_the_zone_and_delete_claim_removes_the_claims(control_plane, namespace, operator, zones):
    """A broker's rack is its node's zone from its first start (the API server copies the label
    onto the pod, which passes it on through the downward API); deleteClaim: the claims go
    with the KafkaCluster."""
    cp, ns = control_plane, namespace
    kc = sample("small", replicas=1, storage={"size": "1Gi", "deleteClaim": True}, rack={"topologyKey": ZONE})
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "small", "Ready with 1 running broker", ready_with(1))
    pod = pods(cp, ns, "broker", "small")["small-broker-0"]
    zone = zones[pod["spec"]["nodeName"]]
    assert pod["metadata"]["labels"][ZONE] == zone
    assert kc["status"]["brokers"][0]["rack"] == zone
    assert metadata_brokers(9092, host=pod["status"]["podIP"], what="racks") == {0: zone}
    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=small")["items"]
    assert "ConfigChanged" not in {e["reason"] for e in events}  # the rack needed no second start

    assert {"data-small-broker-0", "data-small-coordinator-0"} <= {
        c["metadata"]["name"] for c in cp.get_json("pvc", "-n", ns)["items"]}
    delete_with_claims(cp, ns, "small")


def test_an_invalid_cluster_is_reported_not_crashed_on(control_plane, namespace, operator):
    """What the schema lets through but can't run (a name too long for its StatefulSets'
    pod labels) gets a Degraded condition with the reason, and the operator keeps serving."""
    cp, ns = control_plane, namespace
    name = "a-kafkacluster-name-longer-than-forty-chars"
    kc = sample(name, replicas=1)
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, name, "Degraded", lambda kc: condition(kc, "Degraded").get("status") == "True")
    assert condition(kc, "Degraded")["reason"] == "InvalidSpec", kc["status"]
    assert "too long" in condition(kc, "Degraded")["message"], kc["status"]
    assert condition(kc, "Ready").get("status") != "True"
    assert all(ready(p) for p in operator_pods(cp, operator).values())
    cp.kubectl("-n", ns, "delete", "kafkacluster", name)


def test_nodeport_and_loadbalancer_listeners_carry_records(control_plane, node_agent, namespace, operator):
    """A nodeport and a loadbalancer listener next to the internal one. The node agent stands
    in for kube-proxy (127.0.0.1:<nodePort>) and a cloud load balancer (an ingress address
    from its --lb-ips), so clients reach each broker through its own Service; each listener's
    Metadata advertises that listener's addresses."""
    cp, ns = control_plane, namespace
    kc = sample("edge", replicas=2, storage={"size": "1Gi", "deleteClaim": True})
    kc["spec"]["coordinators"] = {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": True}}
    kc["spec"]["listeners"] += [{"name": "external", "port": 9094, "type": "nodeport"},
                                {"name": "lb", "port": 9095, "type": "loadbalancer"}]
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(kc))
    kc = wait_status(cp, ns, "edge", "Ready with 2 running brokers", ready_with(2))

    def service(broker, listener):
        return cp.get_json("service", f"edge-broker-{broker}-{listener}", "-n", ns)
    want = {"external": {}, "lb": {}}
    for i in range(2):
        node_port = service(i, "external")["spec"]["ports"][0]["nodePort"]
        want["external"][i] = f"127.0.0.1:{node_port}"
        ingress = service(i, "lb")["status"]["loadBalancer"]["ingress"]
        assert ipaddress.ip_address(ingress[0]["ip"]) in ipaddress.ip_network(node_agent.lb_ips), ingress
        want["lb"][i] = f"{ingress[0]['ip']}:9095"
    assert len(set(want["lb"].values())) == 2
    for b in kc["status"]["brokers"]:
        addresses = {a["listener"]: f"{a['host']}:{a['port']}" for a in b["addresses"]}
        assert addresses["external"] == want["external"][b["id"]], b
        assert addresses["lb"] == want["lb"][b["id"]], b
    listeners = {l["name"]: l for l in kc["status"]["listeners"]}

    for name, type_ in (("external", "nodeport"), ("lb", "loadbalancer")):
        assert listeners[name]["type"] == type_
        bootstrap = listeners[name]["bootstrapServers"]
        assert sorted(bootstrap.split(",")) == sorted(want[name].values()), listeners[name]
        assert broker_addresses(bootstrap) == want[name]
        topic = f"via-{name}"
        admin_create_topic(bootstrap, topic, 2)
        lines = [f"{name}-{i}" for i in range(100)]
        kcat("-b", bootstrap, "-P", "-t", topic, "-X", "acks=all", input=("\n".join(lines) + "\n").encode())
        got = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout.decode().split()
        assert sorted(got) == sorted(lines)

    delete_with_claims(cp, ns, "edge")


def test_a_config_change_rolls_the_brokers_one_at_a_time_under_an_idempotent_producer(
        control_plane, namespace, operator, tmp_path):
    """A broker config the brokers read only at start: every broker pod restarted once, one at
    a time, while an idempotent acks=all producer writes to a topic of replication factor 3 and
    min.insync.replicas 2 and a consumer group reads it; the active operator is SIGKILLed after
    the first restart and the other replica finishes the roll. No partition is ever without a
    leader; every acknowledged record is read back once, by the group and by Kafka's
    kafka-verifiable-consumer. Then a dynamic key, applied without restarting anything."""
    cp, ns = control_plane, namespace
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(sample("roll")))
    kc = wait_status(cp, ns, "roll", "Ready with 3 running brokers", ready_with(3))
    bootstrap = bootstrap_of(kc)
    kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "rolled",
               "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
    before = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "roll").items()}
    coordinator_uid = pods(cp, ns, "coordinator", "roll")["roll-coordinator-0"]["metadata"]["uid"]

    # A consumer group reads throughout, and a watch asks for the partitions' leaders.
    with under_load(bootstrap, "rolled", "roll-readers", "r") as (acked, group_read):
        wait_for("records acknowledged and read before the change",
                 lambda: len(acked) > 100 and len(group_read) > 100, 60)
        cp.kubectl("-n", ns, "patch", "kafkacluster", "roll", "--type=merge",
                   "-p", json.dumps({"spec": {"brokers": {"config": {"num.io.threads": "2"}}}}))

        # Until every broker pod is a new one, Ready, and the roll is over: never two down.
        uids = {n: {u} for n, u in before.items()}
        most_down = 0

        def rolled():
            nonlocal most_down
            ps = pods(cp, ns, "broker", "roll")
            down = 3 - sum(ready(p) for p in ps.values())
            most_down = max(most_down, down)
            for n, p in ps.items():
                uids[n].add(p["metadata"]["uid"])
            kc = kafkacluster(cp, ns, "roll")
            return (down == 0 and all(p["metadata"]["uid"] != before[n] for n, p in ps.items())
                    and "rollingUpdate" not in kc["status"] and ready_with(3)(kc))
        # The active operator SIGKILLed once the first broker has been restarted.
        wait_for("the first broker restarted",
                 lambda: not rolled() and any(len(u) > 1 for u in uids.values()), 300, interval=0.2)
        killed_at = kill_active_operator(
            cp, operator, still=lambda: "rollingUpdate" in kafkacluster(cp, ns, "roll")["status"])
        wait_for("every broker restarted and the roll over", rolled, 300, interval=0.2)
        assert most_down <= 1
        assert all(len(u) == 2 for u in uids.values()), uids  # each pod replaced once
        # The replica that took over restarted at least the last broker.
        restarted_at = event_times(cp, ns, "roll", "BrokerRestarted")
        assert len(restarted_at) == 3 and restarted_at[-1] >= killed_at, (restarted_at, killed_at)
        n = len(acked)
        wait_for("records acknowledged after the roll", lambda: len(acked) > n + 100, 60)
    assert pods(cp, ns, "coordinator", "roll")["roll-coordinator-0"]["metadata"]["uid"] == coordinator_uid

    events = cp.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=roll")["items"]
    restarted = sorted((e["firstTimestamp"] or "", e["message"]) for e in events if e["reason"] == "BrokerRestarted")
    assert [m for _, m in restarted] == [
        f"Restarted broker {i} (pod roll-broker-{i}): config changed: num.io.threads" for i in range(3)], restarted
    assert [e["reason"] for e in events].count("RollingRestart") == 1

    # Every acknowledged record, once (the producer is idempotent: retries across the
    # restarts wrote nothing twice).
    read_back_once(bootstrap_of(kafkacluster(cp, ns, "roll")), "rolled", acked, tmp_path)

    # A dynamic broker config: applied to the running brokers, nothing restarted.
    now = {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "roll").items()}
    cp.kubectl("-n", ns, "patch", "kafkacluster", "roll", "--type=merge",
               "-p", json.dumps({"spec": {"brokers": {"config": {"log.retention.ms": "7200000"}}}}))
    wait_status(cp, ns, "roll", "the dynamic config applied",
                lambda kc: kc["status"].get("dynamicBrokerConfig", {}).get("log.retention.ms") == "7200000")
    described = kafka_tool("kafka-configs", "--bootstrap-server", bootstrap_of(kafkacluster(cp, ns, "roll")),
                           "--describe", "--entity-type", "brokers", "--entity-default").stdout
    assert "log.retention.ms=7200000" in described, described
    kc = wait_status(cp, ns, "roll", "Ready", ready_with(3))
    assert "rollingUpdate" not in kc["status"]
    assert {n: p["metadata"]["uid"] for n, p in pods(cp, ns, "broker", "roll").items()} == now
