"""The control plane the e2e tests stand on (tests/e2e/kube.py): the pinned versions run, and
it behaves as a real cluster does for what our manifests, the operator and helm will need:
namespaces, server-side validation, RBAC, controllers, the scheduler, helm releases."""
import json
import os
import re
import subprocess

import pytest

from kube import SOURCE_DIR, ControlPlane, KubectlError, http_json, kube_bin, wait_for

PLATFORM = SOURCE_DIR / "tests" / "platform" / "kube"


def pinned(module_dir, module):
    """The version of `module` that go.mod in tests/platform/kube/<module_dir> requires."""
    text = (PLATFORM / module_dir / "go.mod").read_text()
    return re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.M).group(1)


def test_versions_are_the_pinned_ones(control_plane):
    kube = pinned("kubernetes", "k8s.io/kubernetes")
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"] == kube
    assert version["serverVersion"]["gitVersion"] == kube

    etcd = pinned("etcd", "go.etcd.io/etcd/server/v3").lstrip("v")
    out = subprocess.run([kube_bin("etcd"), "--version"], capture_output=True, text=True, timeout=30).stdout
    assert f"etcd Version: {etcd}\n" in out
    assert http_json(f"{control_plane.etcd_url}/version", "etcdserver") == etcd  # the running one

    helm = pinned("helm", "helm.sh/helm/v4")
    assert control_plane.helm("version", "--template", "{{.Version}}").stdout == helm


def test_a_namespace_sees_only_its_own_objects(control_plane, namespace):
    other = control_plane.new_namespace("other")
    try:
        control_plane.kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=owner=first")
        control_plane.kubectl("create", "configmap", "settings", "-n", other, "--from-literal=owner=second")
        control_plane.kubectl("create", "configmap", "only-here", "-n", other)
        assert control_plane.get_json("configmap", "settings", "-n", namespace)["data"] == {"owner": "first"}
        assert control_plane.get_json("configmap", "settings", "-n", other)["data"] == {"owner": "second"}
        names = {i["metadata"]["name"] for i in control_plane.get_json("configmaps", "-n", namespace)["items"]}
        assert "only-here" not in names and "settings" in names
    finally:
        control_plane.delete_namespace(other)


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: localhost/none:1
        ports: [{containerPort: 9092}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


def test_server_side_dry_run_accepts_a_statefulset_and_stores_nothing(control_plane, namespace):
    out = control_plane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=STATEFULSET).stdout
    assert "statefulset.apps/web created (server dry run)" in out
    r = control_plane.kubectl("get", "statefulset", "web", "-n", namespace, check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr


def test_server_side_dry_run_rejects_bad_manifests_clearly(control_plane, namespace):
    # Labels of the pod template that the selector does not match: only the server knows.
    mismatched = STATEFULSET.replace("labels: {app: web}", "labels: {app: other}")
    r = control_plane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=mismatched, check=False)
    assert r.returncode != 0
    assert 'The StatefulSet "web" is invalid' in r.stderr
    assert "spec.template.metadata.labels" in r.stderr and "does not match" in r.stderr

    # A misspelt field is refused (kubectl validates strictly against the server's schema).
    misspelt = STATEFULSET.replace("replicas: 3", "replica: 3")
    r = control_plane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=misspelt, check=False)
    assert r.returncode != 0 and 'unknown field "spec.replica"' in r.stderr

    r = control_plane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                              input="kind: [not, a, manifest\n", check=False)
    assert r.returncode != 0 and "error" in r.stderr.lower()


def test_a_service_account_without_rights_is_forbidden(control_plane, namespace, tmp_path):
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = control_plane.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    as_reader = control_plane.token_kubeconfig(tmp_path / "reader.kubeconfig", token)

    r = control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=as_reader, check=False)
    assert r.returncode != 0
    assert "Forbidden" in r.stderr and f"system:serviceaccount:{namespace}:reader" in r.stderr

    # Granted the right, the same token works: the refusal above was RBAC, not a bad token.
    control_plane.kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", namespace)
    control_plane.kubectl("create", "rolebinding", "reader-reads", "--role=pod-reader",
                          f"--serviceaccount={namespace}:reader", "-n", namespace)
    wait_for("the RoleBinding to take effect",
             lambda: control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=as_reader,
                                           check=False).returncode == 0, 30)
    # ... and only that right.
    r = control_plane.kubectl("get", "secrets", "-n", namespace, kubeconfig=as_reader, check=False)
    assert r.returncode != 0 and "Forbidden" in r.stderr


def test_kubeconfig_for_a_node_identity(control_plane):
    """What the node agent gets: a client certificate the apiserver maps to the node's user and
    group, with the rights the Node authorizer gives a kubelet and no more."""
    kc = control_plane.kubeconfig_for("node-x", "system:node:node-x", ["system:nodes"])
    me = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kc).stdout)
    assert me["status"]["userInfo"]["username"] == "system:node:node-x"
    assert "system:nodes" in me["status"]["userInfo"]["groups"]

    def can(*args):
        r = control_plane.kubectl("auth", "can-i", *args, kubeconfig=kc, check=False)
        assert r.stdout.startswith(("yes", "no")), r  # anything else is an error, not an answer
        return r.stdout.startswith("yes")
    assert can("create", "nodes")
    assert can("patch", "pods", "--subresource=status", "-n", "default")
    assert can("update", "leases.coordination.k8s.io/node-x", "-n", "kube-node-lease")
    assert not can("list", "secrets", "-n", "default")
    # The Node authorizer lets a node read a ConfigMap only when a pod bound to it uses it.
    assert not can("get", "configmaps/settings", "-n", "default")
    assert not can("create", "deployments.apps", "-n", "default")

    for bad in ("admin", "Node X", ""):
        with pytest.raises(ValueError):
            control_plane.kubeconfig_for(bad, "someone")


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: localhost/none:1}]
"""


def test_controllers_and_scheduler_act_on_a_deployment(control_plane, namespace):
    """The Deployment controller makes a ReplicaSet, that one makes the Pods, and the scheduler
    looks at them and finds no node (nodes come with the node agent), so they stay Pending."""
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)

    def replica_sets():
        return control_plane.get_json("replicasets", "-n", namespace, "-l", "app=app")["items"]
    (rs,) = wait_for("a ReplicaSet", replica_sets, 60)
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["ownerReferences"][0]["name"] == "app"

    def unschedulable_pods():
        pods = control_plane.get_json("pods", "-n", namespace, "-l", "app=app")["items"]
        done = [p for p in pods if any(c["type"] == "PodScheduled" and c["status"] == "False"
                                       and c.get("reason") == "Unschedulable"
                                       for c in p["status"].get("conditions", []))]
        return pods if len(pods) == 2 and len(done) == 2 else None
    pods = wait_for("2 pods the scheduler found no node for", unschedulable_pods, 60)
    for p in pods:
        assert p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
        assert p["status"]["phase"] == "Pending" and "nodeName" not in p["spec"]


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "values.yaml": "greeting: hello\n",
    "templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"),
    "templates/serviceaccount.yaml": (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-runner\n"),
}


def test_helm_installs_and_uninstalls_a_chart(control_plane, namespace, tmp_path):
    chart = tmp_path / "tiny"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)

    control_plane.helm("install", "demo", chart, "-n", namespace, "--set", "greeting=hi")
    assert control_plane.get_json("configmap", "demo-settings", "-n", namespace)["data"] == {"greeting": "hi"}
    control_plane.kubectl("get", "serviceaccount", "demo-runner", "-n", namespace)
    releases = json.loads(control_plane.helm("list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]

    control_plane.helm("uninstall", "demo", "-n", namespace, "--wait")
    for kind, name in (("configmap", "demo-settings"), ("serviceaccount", "demo-runner")):
        r = control_plane.kubectl("get", kind, name, "-n", namespace, check=False)
        assert r.returncode != 0 and "NotFound" in r.stderr
    assert json.loads(control_plane.helm("list", "-n", namespace, "-o", "json").stdout) == []


def test_stop_leaves_no_process_behind(tmp_path):
    cp = ControlPlane(tmp_path / "cp").start()
    pids = [c.proc.pid for c in cp.components]
    assert len(pids) == 4
    cp.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    cp.stop()  # twice is fine


def test_a_failed_start_says_why_and_cleans_up(tmp_path):
    cp = ControlPlane(tmp_path / "cp")
    # etcd refuses a data folder that is a file; start() must report it with etcd's log.
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "etcd").write_text("not a folder")
    with pytest.raises(RuntimeError) as e:
        cp.start()
    assert "etcd exited" in str(e.value) and "===== etcd" in str(e.value)
    assert all(not c.alive() for c in cp.components)
    with pytest.raises(KubectlError):
        cp.kubectl("get", "namespaces", timeout=10)
