"""The chart's alerts and dashboards (charts/tributary rules/alerts.yaml, dashboards/*.json)
without Kubernetes: the PrometheusRule `helm template` renders passes `promtool check rules`
and the unit tests of monitoring/alerts_test.yaml (input series -> alerts firing and not);
its thresholds come from the values; the dashboards are well-formed Grafana JSON; and every
metric an alert or a panel reads is one the programs publish, scraped from a running
coordinator, a broker (with a consumer group behind) and the operator's cluster reader.
tests/e2e/kafkacluster_test.py runs the same rules in a real Prometheus scraping the operator."""
import json
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from chart_monitoring import (dashboards, expressions, metric_names, published_names, render,
                              rule_file)
from harness import CoordinatorQuorum, admin_create_topic, tool_binary, wait_until
from operator_test import get, start, stop, wait_healthy
from replication_metrics_test import metrics_port

UNIT_TESTS = Path(__file__).resolve().parent / "monitoring" / "alerts_test.yaml"
ALERTS = {"TributaryConsumerGroupLag", "TributaryConsumerGroupLagSeconds", "TributaryUnderReplicatedPartitions",
          "TributaryUnderMinIsrPartitions", "TributaryOfflinePartitions", "TributaryNoActiveController",
          "TributaryClusterUnreachable"}
# Published by the operator only while it reconciles a KafkaCluster on Kubernetes: the e2e
# test (kafkacluster_test.py) finds them in its Prometheus.
OPERATOR_ON_KUBERNETES = {"tributary_operator_reconcile_total", "tributary_operator_reconcile_errors_total",
                          "tributary_operator_brokers", "tributary_operator_cluster_reachable"}


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise RuntimeError("promtool not found: scripts/install-deps.sh installs Debian's prometheus package")
    return path


def promtool_test(tmp_path, rules):
    """promtool test rules of alerts_test.yaml on `rules`: (passed, output)."""
    tests = yaml.safe_load(UNIT_TESTS.read_text())
    tests["rule_files"] = [str(rules)]
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(yaml.safe_dump(tests, sort_keys=False))
    r = subprocess.run([promtool(), "test", "rules", str(spec)], capture_output=True, text=True, timeout=60)
    return r.returncode == 0, r.stdout + r.stderr


def test_rendered_rules_pass_promtool_check_and_unit_tests(tmp_path):
    rules = rule_file(tmp_path / "rules.yaml")
    r = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS: 7 rules found" in r.stdout, r.stdout + r.stderr
    passed, out = promtool_test(tmp_path, rules)
    assert passed, out


def test_every_alert_has_for_severity_and_texts():
    (rule,) = [d for d in render() if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == ALERTS
    for name, a in alerts.items():
        assert a["for"] and a["labels"]["severity"] in ("warning", "critical"), name
        assert a["annotations"]["summary"] and a["annotations"]["description"], name
        assert "$labels.kafkacluster" in a["annotations"]["description"], name


def test_thresholds_come_from_the_values(tmp_path):
    """The unit tests expect the defaults; other values change what fires, so they fail."""
    rules = rule_file(tmp_path / "rules.yaml", "--set", "metrics.prometheusRule.consumerLag.records=30000",
                      "--set", "metrics.prometheusRule.consumerLag.seconds=1000",
                      "--set", "metrics.prometheusRule.consumerLag.for=20m",
                      "--set", "metrics.prometheusRule.underReplicatedFor=15m")
    alerts = {r["alert"]: r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    assert alerts["TributaryConsumerGroupLag"]["expr"].endswith("> 30000")
    assert alerts["TributaryConsumerGroupLagSeconds"]["expr"].endswith("> 1000")
    assert alerts["TributaryConsumerGroupLag"]["for"] == "20m"
    assert alerts["TributaryUnderReplicatedPartitions"]["for"] == "15m"
    passed, out = promtool_test(tmp_path, rules)
    assert not passed
    for name in ("TributaryConsumerGroupLag", "TributaryConsumerGroupLagSeconds",
                 "TributaryUnderReplicatedPartitions"):
        assert f"alertname: {name}," in out, out


def test_dashboards_are_grafana_json_with_queries():
    ds = dashboards()
    assert set(ds) == {"tributary-overview.json", "tributary-consumer-lag.json", "tributary-brokers.json",
                       "tributary-coordinators.json"}
    assert len({d["uid"] for d in ds.values()}) == len(ds)
    for name, d in ds.items():
        assert d["title"].startswith("Tributary / ") and d["panels"], name
        variables = {v["name"] for v in d["templating"]["list"]}
        assert {"datasource", "namespace", "kafkacluster"} <= variables, name
        ids, cells = set(), set()
        for p in d["panels"]:
            assert p["id"] not in ids, (name, p["title"])
            ids.add(p["id"])
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, (name, p["title"])
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{name}: {p['title']} overlaps another panel"
            cells |= mine
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert p["targets"] and all(t["expr"] for t in p["targets"]), (name, p["title"])
            # Every query of a cluster's dashboard stays within the chosen cluster.
            for t in p["targets"]:
                if "tributary_operator_leader" not in t["expr"]:
                    assert 'kafkacluster="$kafkacluster"' in t["expr"], (name, p["title"], t["expr"])


def test_dashboards_only_when_enabled():
    kinds = [d["kind"] for d in render("--set", "metrics.dashboards.enabled=false",
                                       "--set", "metrics.prometheusRule.enabled=false",
                                       "--set", "metrics.podMonitor.enabled=false")]
    assert "ConfigMap" not in kinds and "PrometheusRule" not in kinds and "PodMonitor" not in kinds
    (cm, *_) = [d for d in render("--set", "metrics.dashboards.labels.team=data",
                                  "--set", "metrics.dashboards.annotations.grafana_folder=Kafka")
                if d["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1" and cm["metadata"]["labels"]["team"] == "data"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Kafka"}


def test_metric_names_of_promql():
    assert metric_names('sum by (a, b) (rate(x_total{k="v", j=~"$j"}[$__rate_interval])) / on (pod) y') == \
        {"x_total", "y"}
    assert metric_names("histogram_quantile(0.99, sum by (api, le) (rate(h_bucket[5m]))) > 1e3") == {"h_bucket"}
    assert metric_names("(a > 0) or count by (n) (b < 0) or vector(0)") == {"a", "b"}
    assert metric_names('label_values(m{namespace="$namespace"}, kafkacluster)') == {"m"}


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def test_every_metric_read_is_published(tmp_path, make_broker):
    """Three coordinators (a Raft quorum, so the leader's per-voter series exist), a broker
    joined to them with a topic, records and a group committed behind the end, the operator's
    cluster reader on that broker, and the operator program itself: the names they publish
    cover every name the alerts and dashboards read (but the few the operator publishes only
    on Kubernetes, which the e2e test covers)."""
    quorum = CoordinatorQuorum(tmp_path / "quorum").start()
    try:
        leader = quorum.leader()
        wait_until(lambda: "tributary_coordinator_raft_voter_lag_records{" in scrape(leader.http_port),
                   "the leader's per-voter lag", timeout=30)
        b = make_broker(overrides={"controller.quorum.voters": quorum.voters,
                                   "tributary.http.listener": "127.0.0.1:0", "tributary.lag.interval.ms": 200,
                                   "group.initial.rebalance.delay.ms": 0})
        admin_create_topic(b.bootstrap, "m", 2)
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(20):
            p.produce("m", b"v", partition=i % 2)
        assert p.flush(30) == 0
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g", "enable.auto.commit": False})
        try:
            c.commit(offsets=[TopicPartition("m", 0, 3), TopicPartition("m", 1, 4)], asynchronous=False)
            # A fetch, so the broker's bytes-out counter has its topic.
            c.assign([TopicPartition("m", 0, 0)])
            assert c.poll(30) is not None
        finally:
            c.close()
        wait_until(lambda: "kafka_consumergroup_lag_seconds{" in scrape(metrics_port(b)),
                   "the broker to publish the group's lag", timeout=30)
        published = published_names(scrape(metrics_port(b)))
        for m in quorum.members:
            published |= published_names(scrape(m.http_port))
        probe = subprocess.run([tool_binary("tributary-cluster-probe", "TRIB_CLUSTER_PROBE"), b.bootstrap],
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        published |= published_names(json.loads(probe.stdout)["metrics"])
        published |= published_names(operator_metrics(tmp_path))
    finally:
        quorum.stop()
    missing = {}
    for where, expr in expressions():
        for name in metric_names(expr) - published - OPERATOR_ON_KUBERNETES:
            missing.setdefault(name, []).append(where)
    assert not missing, f"read but not published: {json.dumps(missing, indent=1)}"
    # The exception list holds only names the operator does publish (its code names them).
    source = "\n".join(f.read_text() for f in (Path(__file__).resolve().parents[2] / "operator" / "metrics").glob("*.cc"))
    assert all(f'"{n}"' in source for n in OPERATOR_ON_KUBERNETES)


def operator_metrics(tmp_path):
    """The operator program's /metrics without Kubernetes (its own series only)."""
    proc, base = start(tmp_path, "leader.election.enabled=false")
    try:
        wait_healthy(proc, base)
        return get(base + "/metrics")[1]
    finally:
        stop(proc, signal.SIGTERM)
