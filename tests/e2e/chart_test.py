"""charts/tributary, its CRD and manifests/ (operator.yaml, kafkacluster.yaml) on the real API
server: the chart lints and renders objects the server accepts; the CRD's schema and CEL rules
refuse bad KafkaCluster specs with their messages and fill in defaults; the scale subresource
and printer columns work; the operator's ServiceAccount may do what the operator needs and no
more; helm installs and uninstalls the chart. The operator itself does not run here (no node
agent): tests of what it does live with it."""
import json
import os
import subprocess
import uuid

import pytest
import yaml

from kube import kube_bin, wait_for

from harness import SOURCE_DIR  # noqa: E402  (on the path once kube is imported)

CHART = SOURCE_DIR / "charts" / "tributary"
CRD = CHART / "crds" / "kafkaclusters.tributary.io.yaml"
OPERATOR_YAML = SOURCE_DIR / "manifests" / "operator.yaml"
SAMPLE = SOURCE_DIR / "manifests" / "kafkacluster.yaml"
OWNED_KEYS_MESSAGE = ("node.id, broker.id, listeners, advertised.listeners, listener.security.protocol.map, "
                      "inter.broker.listener.name, log.dir(s), process.roles and controller.* are set by the operator")


@pytest.fixture(scope="module")
def crd(control_plane):
    """The CRD, applied for real (dry runs of KafkaClusters need it) and Established."""
    control_plane.kubectl("apply", "-f", CRD)
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          "crd/kafkaclusters.tributary.io")
    # Established can come a moment before the discovery clients read is updated.
    wait_for("kafkaclusters in discovery",
             lambda: control_plane.kubectl("get", "kafkaclusters", "-A", check=False).returncode == 0, 30)
    return CRD


MONITORING = ["--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.podMonitor.enabled=true",
              "--set", "metrics.dashboards.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"]


def minimal_crd(kind, plural):
    """A stand-in for a Prometheus Operator CRD (monitoring.coreos.com/v1): its names and an
    open schema. The test platform has no Prometheus Operator; with this the API server takes
    the chart's objects of that kind in a dry run (their fields are not validated: promtool
    checks the rules, tests/integration/monitoring_test.py)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture(scope="module")
def monitoring_crds(control_plane):
    kinds = {"PrometheusRule": "prometheusrules", "PodMonitor": "podmonitors", "ServiceMonitor": "servicemonitors"}
    for kind, plural in kinds.items():
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(minimal_crd(kind, plural)))
    for plural in kinds.values():
        control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                              f"crd/{plural}.monitoring.coreos.com")
        wait_for(f"{plural} in discovery",
                 lambda: control_plane.kubectl("get", plural, "-A", check=False).returncode == 0, 30)


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def kafka_cluster(name, spec=None):
    doc = {"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaCluster", "metadata": {"name": name}}
    if spec is not None:
        doc["spec"] = spec
    return yaml.safe_dump(doc)


def dry_run_lines(out):
    """kubectl apply --dry-run=server's "<kind>/<name> <verb> (server dry run)" lines."""
    return [line for line in out.splitlines() if line.endswith("(server dry run)")]


# --- chart ---------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], MONITORING], ids=["defaults", "monitoring"])
def test_helm_lint_strict_passes(control_plane, values):
    r = control_plane.helm("lint", "--strict", CHART, *values)
    assert "0 chart(s) failed" in r.stdout, r.stdout


@pytest.mark.parametrize("case", ["defaults", "one-namespace", "monitoring"])
def test_rendered_chart_passes_server_side_dry_run(control_plane, namespace, crd, monitoring_crds, case):
    values = []
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment"}
    if case == "one-namespace":  # its RoleBinding goes in that namespace, which must exist
        values = ["--set", f"watchNamespace={namespace}", "--set", "replicas=3",
                  "--set", "leaderElection.leaseName=other"]
    if case == "monitoring":  # the Prometheus Operator's kinds: minimal CRDs (monitoring_crds)
        values = MONITORING
        kinds |= {"PrometheusRule", "PodMonitor", "ServiceMonitor", "ConfigMap"}
    rendered = control_plane.helm("template", "rel", CHART, "-n", namespace, *values).stdout
    objects = docs(rendered)
    assert {d["kind"] for d in objects} == kinds
    # The operator pods meet the "restricted" Pod Security Standard: for a Deployment the
    # admission only warns, so the warning is what to look for.
    control_plane.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                          "pod-security.kubernetes.io/warn=restricted")
    r = control_plane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=rendered)
    assert len(dry_run_lines(r.stdout)) == len(objects), r.stdout
    assert "PodSecurity" not in r.stderr, r.stderr
    # Dry run: nothing was stored.
    assert control_plane.kubectl("-n", namespace, "get", "deployments", "-o", "name").stdout.strip() == ""


def test_deployment_runs_two_leader_electing_non_root_replicas(control_plane):
    (dep,) = [d for d in docs(control_plane.helm("template", "rel", CHART, "-n", "ops").stdout)
              if d["kind"] == "Deployment"]
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert dep["spec"]["replicas"] == 2
    assert c["image"] == "localhost/tributary-operator:0.1.0" and c["command"] == ["tributary-operator"]
    assert env["TRIBUTARY_OPERATOR_LEADER_ELECTION_ENABLED"] == "true"
    assert env["TRIBUTARY_OPERATOR_LEADER_ELECTION_NAMESPACE"] == "ops"
    assert env["TRIBUTARY_OPERATOR_WATCH_NAMESPACE"] == ""
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_every_setting_the_chart_passes_is_one_the_operator_has(control_plane):
    """The operator only warns about an unknown TRIBUTARY_OPERATOR_* variable, so a setting
    the chart names and the program lacks would silently do nothing: compare them."""
    (dep,) = [d for d in docs(control_plane.helm("template", "rel", CHART, "-n", "ops").stdout)
              if d["kind"] == "Deployment"]
    prefix = "TRIBUTARY_OPERATOR_"
    passed = {e["name"][len(prefix):].lower().replace("_", ".")
              for e in dep["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"].startswith(prefix)}
    help_config = subprocess.run([os.environ["TRIB_OPERATOR"], "--help-config"], capture_output=True, text=True,
                                 check=True).stdout
    known = {line.split()[0] for line in help_config.splitlines() if line and not line[0].isspace()}
    assert passed and passed <= known, passed - known


def test_service_monitor_only_when_enabled(control_plane):
    kinds = [d["kind"] for d in docs(control_plane.helm("template", "rel", CHART).stdout)]
    assert "ServiceMonitor" not in kinds
    rendered = docs(control_plane.helm("template", "rel", CHART, "--set", "metrics.serviceMonitor.enabled=true",
                                       "--set", "metrics.serviceMonitor.labels.release=prom").stdout)
    (sm,) = [d for d in rendered if d["kind"] == "ServiceMonitor"]
    (svc,) = [d for d in rendered if d["kind"] == "Service"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["metadata"]["labels"]["release"] == "prom"
    # It selects the metrics Service and scrapes its port.
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    r = control_plane.helm("template", "rel", CHART, "--set", "metrics.serviceMonitor.enabled=true",
                           "--set", "metrics.service.enabled=false", check=False)
    assert r.returncode != 0 and "needs metrics.service.enabled" in r.stderr


def test_monitoring_objects_only_when_enabled(control_plane):
    kinds = [d["kind"] for d in docs(control_plane.helm("template", "rel", CHART).stdout)]
    assert not {"PrometheusRule", "PodMonitor", "ConfigMap"} & set(kinds)
    rendered = docs(control_plane.helm("template", "rel", CHART, "-n", "ops", *MONITORING,
                                       "--set", "metrics.prometheusRule.labels.release=prom",
                                       "--set", "metrics.podMonitor.labels.release=prom").stdout)
    (rule,) = [d for d in rendered if d["kind"] == "PrometheusRule"]
    (pm,) = [d for d in rendered if d["kind"] == "PodMonitor"]
    dashboards = [d for d in rendered if d["kind"] == "ConfigMap"]
    assert rule["apiVersion"] == pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == pm["metadata"]["labels"]["release"] == "prom"
    assert [g["name"] for g in rule["spec"]["groups"]] == ["tributary-consumer-lag", "tributary-partitions",
                                                            "tributary-coordinators", "tributary-operator"]
    # The PodMonitor selects the pods the operator makes (operator/controller/objects.cc's
    # labels) and scrapes their http port; all namespaces unless watchNamespace is set.
    assert pm["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "tributary",
                                                     "app.kubernetes.io/managed-by": "tributary-operator"}
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "http" and pm["spec"]["namespaceSelector"] == {"any": True}
    assert len(dashboards) == 4 and all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)
    assert all(d["metadata"]["namespace"] == "ops" for d in dashboards + [rule, pm])
    (one_ns,) = [d for d in docs(control_plane.helm("template", "rel", CHART, *MONITORING,
                                                    "--set", "watchNamespace=kafka").stdout) if d["kind"] == "PodMonitor"]
    assert one_ns["spec"]["namespaceSelector"] == {"matchNames": ["kafka"]}


@pytest.mark.parametrize("setting, message", [
    ("replicas=0", "/replicas"),
    ("logLevel=loud", "/logLevel"),
    ("watchNamespace=Not_A_Namespace", "/watchNamespace"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ("replica=2", "additional properties 'replica' not allowed"),
    ("metrics.prometheusRule.consumerLag.records=-1", "/metrics/prometheusRule/consumerLag/records"),
    ("metrics.prometheusRule.consumerLag.for=soon", "/metrics/prometheusRule/consumerLag/for"),
    ("metrics.dashboards.enable=true", "additional properties 'enable' not allowed"),
])
def test_values_schema_rejects_bad_values(control_plane, setting, message):
    r = control_plane.helm("template", "rel", CHART, "--set", setting, check=False)
    assert r.returncode != 0
    assert "values don't meet the specifications of the schema" in r.stderr and message in r.stderr, r.stderr


# --- manifests/ ----------------------------------------------------------------------------

def test_operator_yaml_is_the_chart_rendered(control_plane):
    env = {**os.environ, "HELM": str(kube_bin("helm"))}
    r = subprocess.run([str(SOURCE_DIR / "scripts" / "render-manifests.sh"), "--check"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_operator_yaml_passes_server_side_dry_run(control_plane, crd):
    objects = docs(OPERATOR_YAML.read_text())
    (ns,) = [d["metadata"]["name"] for d in objects if d["kind"] == "Namespace"]
    assert ns == "tributary-system"
    assert {d["metadata"].get("namespace", ns) for d in objects if d["kind"] not in (
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding")} == {ns}
    # Objects of a namespace that does not exist yet can't be dry-run, even after its Namespace.
    control_plane.kubectl("create", "namespace", ns)
    try:
        out = control_plane.kubectl("apply", "--dry-run=server", "-f", OPERATOR_YAML).stdout
        assert len(dry_run_lines(out)) == len(objects), out
    finally:
        control_plane.delete_namespace(ns)


def test_sample_kafka_cluster_is_accepted_as_written(control_plane, namespace, crd):
    control_plane.kubectl("apply", "-n", namespace, "-f", SAMPLE)
    spec = control_plane.get_json("kafkacluster", "tributary", "-n", namespace)["spec"]
    (sample,) = docs(SAMPLE.read_text())
    assert spec["brokers"]["replicas"] == 3 and spec["coordinators"]["replicas"] == 1
    assert spec["brokers"]["config"] == sample["spec"]["brokers"]["config"]
    assert spec["listeners"] == [{"name": "internal", "port": 9092, "type": "internal", "tls": False}]


# --- the CRD's validation ------------------------------------------------------------------

INVALID = {
    "owned config key": ({"brokers": {"config": {"log.retention.hours": "1", "advertised.listeners": "X://a:1"}}},
                         ["config key advertised.listeners is not allowed", OWNED_KEYS_MESSAGE]),
    "controller.* key": ({"brokers": {"config": {"controller.quorum.voters": "1@a:9093"}}},
                         ["config key controller.quorum.voters is not allowed"]),
    "duplicate ports": ({"listeners": [{"name": "a", "port": 9092}, {"name": "b", "port": 9092}]},
                        ["listener ports must be unique"]),
    "duplicate names": ({"listeners": [{"name": "a", "port": 9092}, {"name": "a", "port": 9094}]},
                        ["spec.listeners[1]", "Duplicate value"]),
    "reserved port": ({"listeners": [{"name": "a", "port": 9644}]},
                      ["spec.listeners[0].port", "must not be 9091 (REPLICATION listener), 9093"]),
    "privileged port": ({"listeners": [{"name": "a", "port": 80}]},
                        ["spec.listeners[0].port", "greater than or equal to 1024"]),
    "reserved listener name": ({"listeners": [{"name": "replication", "port": 9092}]},
                               ["listener name replication is reserved"]),
    "listener name pattern": ({"listeners": [{"name": "Plain", "port": 9092}]},
                              ["spec.listeners[0].name", "should match"]),
    "bad listener type": ({"listeners": [{"name": "a", "port": 9092, "type": "external"}]},
                          ['Unsupported value: "external"', '"internal", "nodeport", "loadbalancer"']),
    "no listeners": ({"listeners": []}, ["spec.listeners", "at least 1 items"]),
    "coordinators 2": ({"coordinators": {"replicas": 2}}, ["coordinators.replicas must be 1, 3 or 5"]),
    "brokers 0": ({"brokers": {"replicas": 0}}, ["spec.brokers.replicas", "greater than or equal to 1"]),
    "brokers 1001": ({"brokers": {"replicas": 1001}}, ["spec.brokers.replicas", "less than or equal to 1000"]),
    "storage size": ({"brokers": {"storage": {"size": "lots"}}}, ["storage size must be a positive quantity"]),
    "balancing moves 0": ({"balancing": {"maxMovesInFlight": 0}},
                          ["spec.balancing.maxMovesInFlight", "greater than or equal to 1"]),
    "ca renewal not before expiry": ({"certificateAuthority": {"validityDays": 10, "renewalDays": 10}},
                                     ["certificateAuthority.renewalDays must be less than validityDays"]),
    "ca renewal beyond the default validity": ({"certificateAuthority": {"renewalDays": 2000}},
                                               ["certificateAuthority.renewalDays must be less than validityDays"]),
    "ca validity 0": ({"certificateAuthority": {"validityDays": 0}},
                      ["spec.certificateAuthority.validityDays", "greater than or equal to 1"]),
    "advertised host token": ({"listeners": [{"name": "a", "port": 9092, "advertisedHost": "{pod}.example"}]},
                              ["spec.listeners[0].advertisedHost", "should match"]),
    "unknown field": ({"brokers": {"replica": 3}}, ['unknown field "spec.brokers.replica"']),
    "oauth keys from two places": (
        {"listeners": [{"name": "sso", "port": 9092, "authentication": {
            "type": "oauth", "jwksEndpointUri": "https://idp/certs", "jwksConfigMap": {"name": "keys"}}}]},
        ["needs exactly one of jwksEndpointUri and jwksConfigMap"]),
    "oauth keys from nowhere": ({"listeners": [{"name": "sso", "port": 9092, "authentication": {"type": "oauth"}}]},
                                ["needs exactly one of jwksEndpointUri and jwksConfigMap"]),
    "oauth endpoint not http": (
        {"listeners": [{"name": "sso", "port": 9092, "authentication": {
            "type": "oauth", "jwksEndpointUri": "file:/etc/jwks.json"}}]},
        ["spec.listeners[0].authentication.jwksEndpointUri", "should match"]),
    "oauth backoff of a file": (
        {"listeners": [{"name": "sso", "port": 9092, "authentication": {
            "type": "oauth", "jwksConfigMap": {"name": "keys"}, "jwksRetryBackoffMaxSeconds": 5}}]},
        ["jwksMinRefreshPauseSeconds and jwksRetryBackoffMaxSeconds apply to jwksEndpointUri"]),
    "oauth CA over http": (
        {"listeners": [{"name": "sso", "port": 9092, "authentication": {
            "type": "oauth", "jwksEndpointUri": "http://idp/certs",
            "tlsTrustedCertificates": [{"secretName": "idp-ca", "certificate": "ca.crt"}]}}]},
        ["tlsTrustedCertificates applies to an https:// jwksEndpointUri"]),
    "oauth two CA entries": (
        {"listeners": [{"name": "sso", "port": 9092, "authentication": {
            "type": "oauth", "jwksEndpointUri": "https://idp/certs",
            "tlsTrustedCertificates": [{"secretName": "a", "certificate": "ca.crt"},
                                       {"secretName": "b", "certificate": "ca.crt"}]}}]},
        ["spec.listeners[0].authentication.tlsTrustedCertificates", "Too many: 2: must have at most 1 item"]),
}


@pytest.mark.parametrize("case", INVALID.keys())
def test_invalid_spec_is_refused_with_its_message(control_plane, namespace, crd, case):
    spec, messages = INVALID[case]
    r = control_plane.kubectl("create", "-n", namespace, "-f", "-", input=kafka_cluster("bad", spec), check=False)
    assert r.returncode != 0, r.stdout
    for m in messages:
        assert m in r.stderr, r.stderr
    assert control_plane.kubectl("get", "kafkaclusters", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_valid_listeners_of_each_type_are_accepted(control_plane, namespace, crd):
    spec = {"listeners": [{"name": "internal", "port": 9092},
                          {"name": "external", "port": 19092, "type": "nodeport", "advertisedHost": "{nodeIP}"},
                          {"name": "lb", "port": 29092, "type": "loadbalancer",
                           "advertisedHost": "broker-{id}.kafka.example.com"}],
            "brokers": {"rack": {"topologyKey": "topology.kubernetes.io/zone"},
                        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
            "coordinators": {"replicas": 3}}
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=kafka_cluster("ok", spec))


def test_empty_spec_gets_the_defaults(control_plane, namespace, crd):
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=kafka_cluster("plain"))
    spec = control_plane.get_json("kafkacluster", "plain", "-n", namespace)["spec"]
    assert spec == {
        "coordinators": {"replicas": 1, "storage": {"size": "1Gi", "deleteClaim": False}},
        "brokers": {"replicas": 3, "storage": {"size": "10Gi", "deleteClaim": False}},
        "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}],
        "metrics": {"enabled": True},
        "balancing": {"onScaleUp": True, "maxMovesInFlight": 10},
        "certificateAuthority": {"validityDays": 1825, "renewalDays": 30},
    }


def test_storage_size_and_class_cannot_change(control_plane, namespace, crd):
    control_plane.kubectl("create", "-n", namespace, "-f", "-",
                          input=kafka_cluster("x", {"brokers": {"storage": {"class": "fast"}}}))
    for patch, message in ((({"size": "20Gi"}), "storage size cannot change"),
                           (({"class": "slow"}), "storage class cannot change")):
        r = control_plane.kubectl("patch", "-n", namespace, "kafkacluster", "x", "--type=merge", "-p",
                                  json.dumps({"spec": {"brokers": {"storage": patch}}}), check=False)
        assert r.returncode != 0 and message in r.stderr, r.stderr
    # deleteClaim may change.
    control_plane.kubectl("patch", "-n", namespace, "kafkacluster", "x", "--type=merge", "-p",
                          '{"spec": {"brokers": {"storage": {"deleteClaim": true}}}}')


def test_scale_subresource_and_printer_columns(control_plane, namespace, crd):
    cp = control_plane
    cp.kubectl("create", "-n", namespace, "-f", "-", input=kafka_cluster("x"))
    cp.kubectl("scale", "-n", namespace, "kafkacluster/x", "--replicas=5")
    assert cp.get_json("kafkacluster", "x", "-n", namespace)["spec"]["brokers"]["replicas"] == 5

    # What the operator will write, through the status subresource.
    status = {"observedGeneration": 2, "replicas": 5,
              "selector": "app.kubernetes.io/instance=x,app.kubernetes.io/component=broker",
              "conditions": [{"type": "Ready", "status": "True", "reason": "AllBrokersReady", "message": "",
                              "lastTransitionTime": "2026-01-01T00:00:00Z"}],
              "listeners": [{"name": "plain", "type": "internal", "bootstrapServers": "x-bootstrap.ns.svc:9092"}]}
    cp.kubectl("patch", "-n", namespace, "kafkacluster", "x", "--subresource=status", "--type=merge",
               "-p", json.dumps({"status": status}))
    scale = json.loads(cp.kubectl("get", "--raw",
                                  f"/apis/tributary.io/v1alpha1/namespaces/{namespace}/kafkaclusters/x/scale").stdout)
    assert scale["spec"]["replicas"] == 5
    assert scale["status"] == {"replicas": 5, "selector": status["selector"]}

    header, row = cp.kubectl("get", "-n", namespace, "kafkacluster", "x").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "BROKERS", "BOOTSTRAP", "AGE"]
    assert row.split()[:4] == ["x", "True", "5", "x-bootstrap.ns.svc:9092"]
    # The short name works too.
    assert cp.kubectl("get", "-n", namespace, "kc", "-o", "name").stdout.strip() == "kafkacluster.tributary.io/x"

    # A HorizontalPodAutoscaler can drive it: the controller-manager's HPA controller reads
    # the scale subresource (replicas and selector). It cannot scale here for want of a metrics
    # API (no metrics-server on the test platform), which its other condition says.
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"},
           "spec": {"scaleTargetRef": {"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaCluster", "name": "x"},
                    "minReplicas": 3, "maxReplicas": 9,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(hpa))

    def hpa_condition(type_):
        conds = cp.get_json("hpa", "x", "-n", namespace).get("status", {}).get("conditions", [])
        return next((c for c in conds if c["type"] == type_), {})
    wait_for("the HPA to read the KafkaCluster's scale subresource",
             lambda: hpa_condition("AbleToScale").get("reason") == "SucceededGetScale", 60)
    assert hpa_condition("AbleToScale")["status"] == "True"
    assert cp.get_json("hpa", "x", "-n", namespace)["status"]["currentReplicas"] == 5


# --- RBAC and helm install -----------------------------------------------------------------

def can_i(cp, sa, *args):
    r = cp.kubectl("auth", "can-i", "--as", sa, *args, check=False)
    return r.stdout.strip() == "yes"


NEEDED = [
    ("list", "kafkaclusters.tributary.io", "-A"), ("watch", "kafkaclusters.tributary.io", "-A"),
    ("patch", "kafkaclusters.tributary.io", "-n", "{other}"),
    ("update", "kafkaclusters.tributary.io", "--subresource=status", "-n", "{other}"),
    ("update", "kafkaclusters.tributary.io", "--subresource=finalizers", "-n", "{other}"),
    ("create", "statefulsets.apps", "-n", "{other}"), ("patch", "configmaps", "-n", "{other}"),
    ("delete", "services", "-n", "{other}"), ("create", "poddisruptionbudgets.policy", "-n", "{other}"),
    ("watch", "pods", "-A"), ("delete", "pods", "-n", "{other}"),  # the rolling restart
    ("delete", "persistentvolumeclaims", "-n", "{other}"), ("list", "nodes"), ("create", "events", "-n", "{other}"),
    ("update", "leases.coordination.k8s.io", "-n", "{ns}"), ("create", "leases.coordination.k8s.io", "-n", "{ns}"),
    ("get", "secrets", "-n", "{other}"), ("patch", "secrets", "-n", "{other}"),  # TLS listeners' certificates
    ("list", "secrets", "-A"), ("watch", "secrets", "-n", "{other}"),  # a force-renew annotation acted on at once
    ("patch", "networkpolicies.networking.k8s.io", "-n", "{other}"),
    ("delete", "networkpolicies.networking.k8s.io", "-n", "{other}"),  # network.policies.enabled=false
    ("patch", "certificates.cert-manager.io", "-n", "{other}"),  # spec.certificateAuthority.certManager
]
NOT_NEEDED = [
    ("delete", "secrets", "-n", "{other}"), ("delete", "certificates.cert-manager.io", "-n", "{other}"),
    ("list", "networkpolicies.networking.k8s.io", "-A"),
    ("delete", "namespaces"),
    ("create", "kafkaclusters.tributary.io", "-n", "{other}"), ("delete", "kafkaclusters.tributary.io", "-n", "{other}"),
    ("create", "pods", "-n", "{other}"),
    ("create", "persistentvolumeclaims", "-n", "{other}"), ("update", "nodes"),
    ("create", "leases.coordination.k8s.io", "-n", "{other}"), ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "deployments.apps", "-n", "{other}"), ("update", "customresourcedefinitions.apiextensions.k8s.io"),
]


@pytest.fixture
def release(control_plane, namespace, crd):
    """A helm release of the chart in `namespace` (named after it, so its cluster-wide RBAC
    objects don't clash with another test's), uninstalled afterwards."""
    name = f"r{uuid.uuid4().hex[:6]}"
    installed = []

    def install(*values):
        control_plane.helm("install", name, CHART, "-n", namespace, *values)
        installed.append(name)
        return name
    yield install
    for n in installed:
        control_plane.helm("uninstall", n, "-n", namespace, "--wait", check=False)


def test_service_account_may_do_what_the_operator_needs_and_no_more(control_plane, namespace, release):
    # cert-manager's kinds (the stand-in's CRDs), for kubectl to know the Certificates rule.
    control_plane.kubectl("apply", "-f", str(SOURCE_DIR / "tests" / "platform" / "cert-manager" / "crds.yaml"))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/certificates.cert-manager.io")
    name = release()
    sa = f"system:serviceaccount:{namespace}:{name}-tributary-operator"
    fill = {"ns": namespace, "other": "default"}
    refused = [a for a in NEEDED if not can_i(control_plane, sa, *(x.format(**fill) for x in a))]
    allowed = [a for a in NOT_NEEDED if can_i(control_plane, sa, *(x.format(**fill) for x in a))]
    assert refused == [] and allowed == []


def test_watch_namespace_limits_rights_to_that_namespace(control_plane, namespace, release):
    watched = control_plane.new_namespace("watched")
    try:
        name = release("--set", f"watchNamespace={watched}")
        sa = f"system:serviceaccount:{namespace}:{name}-tributary-operator"
        assert can_i(control_plane, sa, "create", "statefulsets.apps", "-n", watched)
        assert can_i(control_plane, sa, "watch", "kafkaclusters.tributary.io", "-n", watched)
        assert not can_i(control_plane, sa, "create", "statefulsets.apps", "-n", "default")
        assert not can_i(control_plane, sa, "list", "kafkaclusters.tributary.io", "-A")
        assert can_i(control_plane, sa, "list", "nodes")
        assert can_i(control_plane, sa, "update", "leases.coordination.k8s.io", "-n", namespace)
    finally:
        control_plane.delete_namespace(watched)


def test_helm_installs_and_uninstalls_the_chart(control_plane, namespace, release):
    cp = control_plane
    name = release()
    full = f"{name}-tributary-operator"
    (rel,) = json.loads(cp.helm("list", "-n", namespace, "-o", "json").stdout)
    assert rel["name"] == name and rel["status"] == "deployed" and rel["app_version"] == "0.1.0"
    dep = cp.get_json("deployment", full, "-n", namespace)
    assert dep["spec"]["replicas"] == 2
    assert "kubectl -n" in cp.helm("get", "notes", name, "-n", namespace).stdout
    for kind in ("clusterrole", "clusterrolebinding"):
        cp.get_json(kind, full)
    cp.helm("uninstall", name, "-n", namespace, "--wait")
    # Cluster-wide objects go too; the CRD stays (helm never deletes crds/).
    for kind in ("clusterrole", "clusterrolebinding"):
        assert cp.kubectl("get", kind, full, check=False).returncode != 0
    assert cp.kubectl("get", "deployment", full, "-n", namespace, check=False).returncode != 0
    cp.get_json("crd", "kafkaclusters.tributary.io")
