"""operator/controller's reconcile pass on the real kube-apiserver through the real client:
installs the chart's CRD, then runs the GoogleTest binary operator_controller_it
(controller_it.cc) with the control plane's admin kubeconfig and a fresh namespace. No node
agent: the checks are about what the API server accepts and stores."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import kcat  # noqa: E402
from gtest_it import it_binary, run_gtest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "charts" / "tributary" / "crds"


def install_crd(cp):
    cp.kubectl("apply", "--server-side", "-f", CRDS)
    cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/kafkaclusters.tributary.io",
               "crd/kafkausers.tributary.io")


def run_it(cp, namespace, case, **extra_env):
    run_gtest(it_binary("TRIB_OPERATOR_CONTROLLER_IT", "operator_controller_it"), f"controller_it.{case}",
              {"KUBECONFIG": str(cp.kubeconfig), "TRIB_IT_NAMESPACE": namespace, **extra_env})


@pytest.mark.parametrize("case", [
    "the_api_server_takes_every_object_and_a_second_pass_changes_nothing",
    "a_scale_down_waits_for_its_drain_on_the_real_server",
    "delete_claim_removes_the_claims_then_the_cluster_goes",
    "a_kafka_user_on_the_real_api_server",
])
def test_controller(control_plane, namespace, case):
    install_crd(control_plane)
    run_it(control_plane, namespace, case)


def test_a_cluster_runs_and_scales_up(control_plane, namespace, node_agent):
    """Pods on the node agent: the reconcile pass brings a KafkaCluster to Ready, records go
    through the bootstrap servers its status lists, and `kubectl scale` adds a broker that
    registers. The listener advertises pod IPs: the test platform has no Service DNS."""
    cp, ns = control_plane, namespace
    install_crd(cp)
    cluster = {"apiVersion": "tributary.io/v1alpha1", "kind": "KafkaCluster",
               "metadata": {"name": "r", "namespace": ns},
               "spec": {"brokers": {"replicas": 3, "storage": {"size": "1Gi"}},
                        "listeners": [{"name": "plain", "port": 9092, "advertisedHost": "{podIP}"}]}}
    cp.kubectl("apply", "-f", "-", input=json.dumps(cluster))
    run_it(cp, ns, "reconciles_until_ready", TRIB_IT_CLUSTER="r")
    status = cp.get_json("kafkacluster", "r", "-n", ns)["status"]
    assert [b["id"] for b in status["brokers"]] == [0, 1, 2]
    bootstrap = status["listeners"][0]["bootstrapServers"]
    assert len(bootstrap.split(",")) == 3
    kcat("-b", bootstrap, "-P", "-t", "op", "-X", "acks=all", input=b"one\ntwo\n")
    out = kcat("-b", bootstrap, "-C", "-t", "op", "-c", "2", "-e", "-f", "%s\n").stdout.decode()
    assert sorted(out.split()) == ["one", "two"]

    cp.kubectl("scale", "kafkacluster/r", "-n", ns, "--replicas=4")
    run_it(cp, ns, "reconciles_until_ready", TRIB_IT_CLUSTER="r")
    status = cp.get_json("kafkacluster", "r", "-n", ns)["status"]
    assert [b["id"] for b in status["brokers"]] == [0, 1, 2, 3]
    assert status["replicas"] == 4
    meta = json.loads(kcat("-b", status["listeners"][0]["bootstrapServers"], "-L", "-J").stdout)
    assert sorted(b["id"] for b in meta["brokers"]) == [0, 1, 2, 3]
