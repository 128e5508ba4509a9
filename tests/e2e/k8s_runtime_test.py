"""operator/k8s's controller runtime (leader election, finalizers, status writes, events) on
the real kube-apiserver through the real client: runs the GoogleTest binary
operator_runtime_it (k8s_runtime_it.cc) with the control plane's admin kubeconfig and a fresh
namespace."""
import pytest
from gtest_it import it_binary, run_gtest


@pytest.mark.parametrize("suite", ["leader_election", "finalizer", "status", "events"])
def test_runtime(control_plane, namespace, suite):
    run_gtest(it_binary("TRIB_OPERATOR_RUNTIME_IT", "operator_runtime_it"), f"{suite}.*",
              {"KUBECONFIG": str(control_plane.kubeconfig), "TRIB_IT_NAMESPACE": namespace})
