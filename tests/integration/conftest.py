"""pytest fixtures for the integration tests: a broker per test, its log shown on failure."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Broker  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def make_broker(request, tmp_path):
    """Factory: make_broker(name="b", advertised_port=None, overrides=None) -> started Broker.
    Every broker made is stopped at teardown; their logs are printed if the test failed."""
    brokers = []

    def make(name="broker", advertised_port=None, overrides=None, start=True):
        b = Broker(tmp_path / name, advertised_port=advertised_port, overrides=overrides)
        brokers.append(b)
        return b.start() if start else b

    yield make
    failed = any(getattr(request.node, "rep_" + w, None) is not None and
                 getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    for b in brokers:
        rc = b.stop()
        if failed:
            print(f"\n===== broker log {b.log_path} (exit {rc}) =====\n{b.log_tail()}")


@pytest.fixture
def broker(make_broker):
    """A started broker with default settings."""
    return make_broker()
