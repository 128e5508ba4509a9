"""Runs the operator's GoogleTest binaries that talk to the real API server
(operator_k8s_it, operator_runtime_it, operator_controller_it, built from tests/e2e/*_it.cc):
the binary named by an environment variable (tests/e2e/CMakeLists.txt sets it), else the one in
the build folder, with the test's extra environment (KUBECONFIG, TRIB_IT_NAMESPACE, ...)."""
import os
import subprocess
from pathlib import Path

import pytest

IT_TIMEOUT_S = 240


def it_binary(env_var, name):
    path = os.environ.get(env_var)
    if not path:
        build = Path(os.environ.get("TRIB_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
        path = build / "tests" / "e2e" / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: ninja -C build {name}")
    return str(path)


def run_gtest(binary, gtest_filter, env_extra, timeout=IT_TIMEOUT_S):
    """Runs `binary` on `gtest_filter`; fails the test with the binary's output unless every
    selected case passed. Returns its stdout."""
    env = dict(os.environ, **env_extra)
    r = subprocess.run([binary, f"--gtest_filter={gtest_filter}", "--gtest_color=no"],
                       capture_output=True, text=True, timeout=timeout, env=env)
    print(r.stdout)  # the binary's log, in pytest's report with -rP
    assert r.returncode == 0, f"{gtest_filter} failed:\n{r.stdout[-12000:]}\n{r.stderr[-4000:]}"
    assert "[  PASSED  ]" in r.stdout and "FAILED" not in r.stdout, r.stdout[-4000:]
    # A filter naming no case (a renamed test) passes in gtest: that would be a check that
    # cannot fail.
    assert "[  PASSED  ] 0 tests" not in r.stdout, f"{gtest_filter} selects no test"
    return r.stdout
