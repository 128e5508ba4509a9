"""tributary-operator as a program, without Kubernetes (tests/e2e runs it against a real API
server): it answers --version like the other programs; with an API server it cannot reach it
still serves /healthz and /metrics, is not ready (its caches are empty) unless it is a standby
waiting for the lease, and exits 0 on SIGTERM and on SIGINT; bad settings and a missing
kubeconfig are clear errors."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import free_port, program_binary, project_version, write_unreachable_kubeconfig

WAIT_S = 20


def operator_binary():
    return program_binary("operator", "TRIB_OPERATOR")


def get(url):
    """(status, body) of a GET; raises URLError while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_healthy(proc, base):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"operator exited {proc.returncode}: {proc.stdout.read()}"
        try:
            return get(base + "/healthz")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise AssertionError(f"operator not serving /healthz within {WAIT_S} s")


def test_version():
    p = subprocess.run([operator_binary(), "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"tributary-operator {project_version()}\n"


def start(tmp_path, *overrides):
    port = free_port()
    env = dict(os.environ, TRIBUTARY_OPERATOR_HTTP_LISTENER=f"127.0.0.1:{port}",
               TRIBUTARY_OPERATOR_KUBECONFIG=str(write_unreachable_kubeconfig(tmp_path / "kubeconfig")))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    args = [operator_binary()]
    for o in overrides:
        args += ["--override", o]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc, sig):
    try:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_health_and_metrics_then_stops_on_signal(tmp_path, sig):
    proc, base = start(tmp_path, "leader.election.enabled=false")
    try:
        assert wait_healthy(proc, base)[0] == 200
        # It leads (no election) but its caches never fill: not ready.
        assert get(base + "/readyz")[0] == 503
        status, metrics = get(base + "/metrics")
        assert status == 200
        assert f'tributary_operator_build_info{{version="{project_version()}"}} 1' in metrics
        assert get(base + "/nothing")[0] == 404
    finally:
        out = stop(proc, sig)
    assert proc.returncode == 0, out
    assert "starting the controller" in out
    assert "shutting down" in out and "operator stopped" in out


def test_standby_waiting_for_the_lease_is_ready(tmp_path):
    proc, base = start(tmp_path, "leader.election.namespace=ops", "leader.election.retry.period.ms=200")
    try:
        assert wait_healthy(proc, base)[0] == 200
        assert get(base + "/readyz")[0] == 200
    finally:
        out = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, out
    assert "waiting for the leader lease ops/tributary-operator" in out
    assert "starting the controller" not in out


def test_no_kubernetes_configuration_is_a_clear_error(tmp_path):
    env = dict(os.environ, KUBECONFIG=str(tmp_path / "missing"), HOME=str(tmp_path))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.pop("TRIBUTARY_OPERATOR_KUBECONFIG", None)
    p = subprocess.run([operator_binary()], env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p.stderr
    assert "tributary-operator: Kubernetes API:" in p.stderr and "missing" in p.stderr


def test_bad_setting_is_a_clear_error():
    env = dict(os.environ, TRIBUTARY_OPERATOR_HTTP_LISTENER="no-port-here")
    p = subprocess.run([operator_binary()], env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "tributary-operator: configuration:" in p.stderr
    p = subprocess.run([operator_binary(), "--override", "log.level=loud"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "log.level" in p.stderr
