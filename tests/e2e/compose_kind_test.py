"""docker-compose.yml and the kind quick start can't run here (no Docker), so their text is
checked: the compose file describes the seeds' cluster with the same settings as manifests/,
every KAFKA_* variable in it names a real setting of the program it configures, and
everything kind/quickstart.sh applies passes `kubectl apply --dry-run=server` on the test
control plane (through the script's own `apply` step)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import SOURCE_DIR, broker_binary, coordinator_binary  # noqa: E402
from kube import kube_bin  # noqa: E402
from workloads import manifests  # noqa: E402

COMPOSE = SOURCE_DIR / "docker-compose.yml"
VERSION = re.search(r"project\(tributary VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text())[1]
IMAGE = f"localhost/tributary-broker:{VERSION}"


def manifest_docs():
    """The seeds' cluster as the plain manifests ship it (not the operator's files beside them)."""
    return manifests(advertise_pod_ip=False)


def by_kind_name(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def properties(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def env_name(key):
    return "KAFKA_" + key.upper().replace(".", "_")


def known_keys(binary):
    """Every setting the program accepts, from its --help-config (name and aliases)."""
    text = subprocess.run([binary, "--help-config"], capture_output=True, text=True, check=True).stdout
    keys = set()
    for line in text.splitlines():
        m = re.match(r"^(\S+) \(.*?(?:also ([^)]*))?\)$", line)
        if m:
            keys.add(m[1])
            keys.update(a.strip() for a in (m[2] or "").split(",") if a.strip())
    return keys


def container(statefulset):
    (c,) = statefulset["spec"]["template"]["spec"]["containers"]
    return c


def test_compose_file_is_the_seeds_cluster_with_the_manifests_settings():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"coordinator", "broker-1", "broker-2", "broker-3"}
    objects = by_kind_name(manifest_docs())
    config = objects[("ConfigMap", "tributary")]["data"]
    broker_props = properties(config["broker.properties"])
    coordinator_props = properties(config["coordinator.properties"])
    broker_sts = objects[("StatefulSet", "tributary-broker")]
    coordinator_sts = objects[("StatefulSet", "tributary-coordinator")]

    # One image, the same as the manifests'; the role is the command.
    assert {s["image"] for s in services.values()} == {IMAGE}
    assert container(broker_sts)["image"] == container(coordinator_sts)["image"] == IMAGE
    assert services["coordinator"]["command"][0] == container(coordinator_sts)["command"][0]
    assert all(services[f"broker-{i}"]["command"][0] == container(broker_sts)["command"][0] for i in (1, 2, 3))

    # The shared settings are the ConfigMap's, as KAFKA_* variables, in every service.
    coordinator_env = services["coordinator"]["environment"]
    for key, value in coordinator_props.items():
        assert coordinator_env.get(env_name(key)) == value, key
    for i in (1, 2, 3):
        env = services[f"broker-{i}"]["environment"]
        for key, value in broker_props.items():
            assert env.get(env_name(key)) == value, (i, key)
        # Seeds' ids and ports: node i, published and advertised on localhost:1909(1+i).
        port = 19091 + i
        assert env["KAFKA_NODE_ID"] == str(i)
        assert services[f"broker-{i}"]["ports"] == [f"{port}:{port}"]
        assert f"EXTERNAL://localhost:{port}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert f"INTERNAL://broker-{i}:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == coordinator_env["KAFKA_CONTROLLER_QUORUM_VOTERS"]

    # The same ports as the pods': Kafka 9092, controller 9093, HTTP 9644; same voter id and port.
    def ports(sts):
        return {p["name"]: p["containerPort"] for p in container(sts)["ports"]}
    assert ports(broker_sts) == {"kafka": 9092, "http": 9644}
    assert ports(coordinator_sts) == {"controller": 9093, "http": 9644}
    assert coordinator_env["KAFKA_LISTENERS"] == "CONTROLLER://:9093"
    assert coordinator_env["KAFKA_TRIBUTARY_HTTP_LISTENER"] == ":9644"
    k8s_voters = {e["name"]: e.get("value") for e in container(broker_sts)["env"]}["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert k8s_voters.split("@")[0] == coordinator_env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[0] == "0"
    assert k8s_voters.endswith(":9093") and coordinator_env["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith(":9093")
    # Data on a volume at the path the manifests mount their claim on.
    for name, sts in (("coordinator", coordinator_sts), ("broker-1", broker_sts)):
        mounts = {m["name"]: m["mountPath"] for m in container(sts)["volumeMounts"]}
        assert services[name]["volumes"] == [f"{name}:{mounts['data']}"]


def test_every_kafka_variable_in_the_compose_file_is_a_real_setting():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    programs = {"tributary-broker": known_keys(broker_binary()),
                "tributary-coordinator": known_keys(coordinator_binary())}
    for name, service in services.items():
        keys = programs[service["command"][0]]
        for var in service["environment"]:
            assert var.startswith("KAFKA_"), (name, var)
            key = var[len("KAFKA_"):].lower().replace("_", ".")
            assert key in keys, f"{name}: {var} is not a setting of {service['command'][0]}"


def test_kind_quickstart_applies_what_the_api_server_accepts(control_plane, namespace):
    cluster = yaml.safe_load((SOURCE_DIR / "kind" / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and [n["role"] for n in cluster["nodes"]].count("worker") == 3
    script = (SOURCE_DIR / "kind" / "quickstart.sh").read_text()
    assert "Dockerfile.broker" in script and "kind load docker-image" in script

    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "TRIBUTARY_NAMESPACE": namespace,
           "PATH": f"{kube_bin('kubectl').parent}:{os.environ['PATH']}"}
    p = subprocess.run([str(SOURCE_DIR / "kind" / "quickstart.sh"), "apply", "--dry-run=server"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    # kubectl prints "<kind>.<group>/<name> created (server dry run)" per object.
    applied = {line.split()[0].split("/")[1] for line in p.stdout.splitlines() if "(server dry run)" in line}
    assert applied >= {d["metadata"]["name"] for d in manifest_docs()} | {namespace}, p.stdout
    # Dry run: nothing was created.
    assert control_plane.kubectl("-n", namespace, "get", "statefulsets", "-o", "name").stdout.strip() == ""
