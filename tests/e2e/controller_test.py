"""operator/controller's reconcile pass on the real kube-apiserver through the real client:
installs the chart's CRD, then runs the GoogleTest binary operator_controller_it
(controller_it.cc) with the control plane's admin kubeconfig and a fresh namespace. No node
agent: the checks are about what the API server accepts and stores."""
import os
import subprocess
from pathlib import Path

import pytest

IT_TIMEOUT_S = 240
ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "charts" / "tributary" / "crds" / "kafkaclusters.tributary.io.yaml"


def it_binary():
    path = os.environ.get("TRIB_OPERATOR_CONTROLLER_IT")
    if not path:
        build = Path(os.environ.get("TRIB_BUILD_DIR", ROOT / "build"))
        path = build / "tests" / "e2e" / "operator_controller_it"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: ninja -C build operator_controller_it")
    return str(path)


@pytest.mark.parametrize("case", [
    "the_api_server_takes_every_object_and_a_second_pass_changes_nothing",
    "scaling_down_is_refused_on_the_real_server",
    "delete_claim_removes_the_claims_then_the_cluster_goes",
])
def test_controller(control_plane, namespace, case):
    control_plane.kubectl("apply", "--server-side", "-f", CRD)
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          "crd/kafkaclusters.tributary.io")
    env = dict(os.environ, KUBECONFIG=str(control_plane.kubeconfig), TRIB_IT_NAMESPACE=namespace)
    r = subprocess.run([it_binary(), f"--gtest_filter=controller_it.{case}", "--gtest_color=no"],
                       capture_output=True, text=True, timeout=IT_TIMEOUT_S, env=env)
    assert r.returncode == 0, f"{case} failed:\n{r.stdout[-12000:]}\n{r.stderr[-4000:]}"
    assert "[  PASSED  ]" in r.stdout and "FAILED" not in r.stdout, r.stdout[-4000:]
