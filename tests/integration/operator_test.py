"""tributary-operator as it is today (operator/README.md): it answers --version like the other
programs, serves /healthz, /readyz and /metrics, rejects bad settings with a clear message,
and exits 0 on SIGTERM and on SIGINT."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import free_port, program_binary, project_version

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_health_and_metrics_then_stops_on_signal(tmp_path, sig):
    port = free_port()
    env = dict(os.environ, TRIBUTARY_OPERATOR_HTTP_LISTENER=f"127.0.0.1:{port}")
    proc = subprocess.Popen([operator_binary()], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(proc, base)[0] == 200
        assert get(base + "/readyz")[0] == 200
        status, metrics = get(base + "/metrics")
        assert status == 200
        assert f'tributary_operator_build_info{{version="{project_version()}"}} 1' in metrics
        assert get(base + "/nothing")[0] == 404
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "no reconciliation yet" in out
    assert "shutting down" in out


def test_bad_setting_is_a_clear_error():
    env = dict(os.environ, TRIBUTARY_OPERATOR_HTTP_LISTENER="no-port-here")
    p = subprocess.run([operator_binary()], env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "tributary-operator: configuration:" in p.stderr
    p = subprocess.run([operator_binary(), "--override", "log.level=loud"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "log.level" in p.stderr
