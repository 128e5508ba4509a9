"""operator/k8s's controller runtime (leader election, finalizers, status writes, events) on
the real kube-apiserver through the real client: runs the GoogleTest binary
operator_runtime_it (k8s_runtime_it.cc) with the control plane's admin kubeconfig and a fresh
namespace."""
import os
import subprocess
from pathlib import Path

import pytest

IT_TIMEOUT_S = 240


def it_binary():
    path = os.environ.get("TRIB_OPERATOR_RUNTIME_IT")
    if not path:
        build = Path(os.environ.get("TRIB_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
        path = build / "tests" / "e2e" / "operator_runtime_it"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: ninja -C build operator_runtime_it")
    return str(path)


@pytest.mark.parametrize("suite", ["leader_election", "finalizer", "status", "events"])
def test_runtime(control_plane, namespace, suite):
    env = dict(os.environ, KUBECONFIG=str(control_plane.kubeconfig), TRIB_IT_NAMESPACE=namespace)
    r = subprocess.run([it_binary(), f"--gtest_filter={suite}.*", "--gtest_color=no"],
                       capture_output=True, text=True, timeout=IT_TIMEOUT_S, env=env)
    assert r.returncode == 0, f"{suite} failed:\n{r.stdout[-12000:]}\n{r.stderr[-4000:]}"
    assert "[  PASSED  ]" in r.stdout and "FAILED" not in r.stdout, r.stdout[-4000:]
