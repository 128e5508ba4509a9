"""pytest fixtures for the e2e tests: one control plane per pytest run (so per ctest entry),
a fresh namespace per test, and the control plane's log tails in the report of a failed test."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kube import ControlPlane  # noqa: E402
from node_agent import NodeAgent  # noqa: E402


@pytest.fixture(scope="session")
def control_plane_class():
    """What `control_plane` starts; a test file overrides it for a differently set-up one."""
    return ControlPlane


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory, control_plane_class):
    """A started ControlPlane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)."""
    cp = control_plane_class(tmp_path_factory.mktemp("control-plane"))
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def node_agent(control_plane, tmp_path_factory):
    """The node agent (tests/platform/node-agent) running pods for nodes node-a and node-b."""
    agent = NodeAgent(control_plane, tmp_path_factory.mktemp("node-agent"))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def namespace(control_plane):
    """A new namespace for this test; deleted afterwards without waiting for its finalizers."""
    name = control_plane.new_namespace()
    try:
        yield name
    finally:
        control_plane.delete_namespace(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used the control plane gets its components' log tails as a report
    section (printed with the failure)."""
    outcome = yield
    rep = outcome.get_result()
    cp = item.funcargs.get("control_plane") if hasattr(item, "funcargs") else None
    if rep.failed and isinstance(cp, ControlPlane):
        rep.sections.append(("control plane logs", cp.log_tail()))
    agent = item.funcargs.get("node_agent") if hasattr(item, "funcargs") else None
    if rep.failed and isinstance(agent, NodeAgent):
        rep.sections.append(("node agent log", agent.log_tail()))
