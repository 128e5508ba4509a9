"""operator/k8s (the operator's Kubernetes client, informers and kubeconfig loading) against
the real kube-apiserver: runs the GoogleTest binary operator_k8s_it (k8s_client_it.cc) with the
control plane's admin kubeconfig, one fresh namespace per group of tests."""
import urllib.parse

import pytest
from gtest_it import it_binary, run_gtest
from kube import ControlPlane, kube_bin

IT_TIMEOUT_S = 180


class UncachedPodTemplates(ControlPlane):
    """The harness's control plane, but PodTemplates are not in the API server's watch cache:
    watches of them go to etcd, so a resourceVersion etcd compacted away gets 410 Gone (the
    watch cache would replay its own history instead). The informer's 410 test watches them."""

    def _apiserver_args(self, ports):
        return [*super()._apiserver_args(ports), "--watch-cache-sizes=podtemplates#0"]


@pytest.fixture(scope="session")
def control_plane_class():
    """Overrides conftest.py's: this file's control plane has no watch cache for PodTemplates."""
    return UncachedPodTemplates


def run_it(gtest_filter, env_extra):
    return run_gtest(it_binary("TRIB_OPERATOR_K8S_IT", "operator_k8s_it"), gtest_filter, env_extra, IT_TIMEOUT_S)


def test_client_with_client_certificate(control_plane, namespace):
    out = run_it("client.*", {"KUBECONFIG": str(control_plane.kubeconfig), "TRIB_IT_NAMESPACE": namespace})
    assert "[  PASSED  ] 9 tests" in out, out[-3000:]


def test_informer(control_plane, namespace):
    out = run_it("informer.*", {"KUBECONFIG": str(control_plane.kubeconfig), "TRIB_IT_NAMESPACE": namespace,
                                "TRIB_IT_ETCDCTL": str(kube_bin("etcdctl")), "TRIB_IT_ETCD_URL": control_plane.etcd_url})
    assert "[  PASSED  ] 6 tests" in out, out[-3000:]


def test_in_cluster_service_account(control_plane, namespace, tmp_path):
    """A ServiceAccount allowed to read ConfigMaps in the namespace; its token, the CA and the
    namespace written where a pod would have them; KUBERNETES_SERVICE_HOST/PORT naming the
    API server, as in a pod."""
    kc = control_plane.kubectl
    kc("create", "configmap", "sa-visible", "-n", namespace)
    kc("create", "serviceaccount", "reader", "-n", namespace)
    kc("create", "role", "cm-reader", "--verb=get,list,watch", "--resource=configmaps", "-n", namespace)
    kc("create", "rolebinding", "cm-reader", "--role=cm-reader", f"--serviceaccount={namespace}:reader",
       "-n", namespace)
    token = kc("create", "token", "reader", "-n", namespace, "--duration=1h").stdout.strip()
    token2 = kc("create", "token", "reader", "-n", namespace, "--duration=1h").stdout.strip()
    assert token and token2 and token != token2
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token)
    (sa_dir / "ca.crt").write_bytes(control_plane.pki.ca_crt.read_bytes())
    (sa_dir / "namespace").write_text(namespace)
    server = urllib.parse.urlsplit(control_plane.server)
    run_it("in_cluster.*", {"TRIB_IT_NAMESPACE": namespace, "TRIB_IT_SA_DIR": str(sa_dir),
                            "TRIB_IT_SA_TOKEN_2": token2,
                            "TRIB_IT_TOKEN_KUBECONFIG": str(control_plane.token_kubeconfig(tmp_path / "token.kubeconfig",
                                                                                           token2)),
                            "KUBERNETES_SERVICE_HOST": server.hostname,
                            "KUBERNETES_SERVICE_PORT": str(server.port)})
