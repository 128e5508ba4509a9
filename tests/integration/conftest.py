"""pytest fixtures for the integration tests: a broker per test, its log shown on failure."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Broker, Coordinator, tmpfs_launcher  # noqa: E402
from netcut import BrokerLinks  # noqa: E402


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

    def make(name="broker", advertised_port=None, overrides=None, start=True, node_id=1, launcher=None):
        b = Broker(tmp_path / name, advertised_port=advertised_port, overrides=overrides, node_id=node_id,
                   launcher=launcher)
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


@pytest.fixture
def cluster(request, tmp_path, make_broker):
    """A coordinator and three brokers (ids 1-3) joined to it: (coordinator, [brokers]).
    Brokers are fenced 2 s after their last heartbeat, so failure tests run quickly. Each
    serves /metrics on a port of its own choosing (its log names it)."""
    yield from _cluster(request, tmp_path, make_broker, netcut=False)


@pytest.fixture
def failover_cluster(request, tmp_path, make_broker):
    """The same, with every path to a broker through netcut Links (broker.links): clients
    and the other brokers reach it through its advertised listener, an inbound Link, and it
    reaches the coordinator through a Link of its own; broker.links.cut() cuts it off.
    Indirect parametrization passes more broker settings: a dict of overrides."""
    yield from _cluster(request, tmp_path, make_broker, netcut=True)


@pytest.fixture
def cluster_with_a_small_disk(request, tmp_path, make_broker):
    """The `cluster` fixture, with broker 3's data directory on a tmpfs of SMALL_DISK_BYTES
    of its own (harness.tmpfs_launcher), which a test can fill."""
    yield from _cluster(request, tmp_path, make_broker, netcut=False,
                        launchers={3: lambda data_dir: tmpfs_launcher(data_dir, SMALL_DISK_BYTES)})


SMALL_DISK_BYTES = 4 << 20


def _cluster(request, tmp_path, make_broker, netcut, launchers=None):
    """`launchers`: {node id: function of the broker's data directory giving its launcher}."""
    launchers = launchers or {}
    coord = Coordinator(tmp_path / "coordinator",
                        overrides={"broker.session.timeout.ms": 2000, "broker.heartbeat.interval.ms": 500})
    coord.start()
    brokers = []
    links = []
    try:
        for i in (1, 2, 3):
            # The file the kubelet would make for the container's termination message.
            termination_log = tmp_path / f"broker-{i}" / "termination-log"
            termination_log.parent.mkdir(parents=True, exist_ok=True)
            termination_log.touch()
            overrides = {"controller.quorum.voters": coord.voters, "tributary.http.listener": "127.0.0.1:0",
                         "tributary.termination.message.path": str(termination_log),
                         **getattr(request, "param", {})}
            if not netcut:
                launcher = launchers[i](tmp_path / f"broker-{i}" / "data") if i in launchers else None
                brokers.append(make_broker(f"broker-{i}", node_id=i, overrides=overrides, launcher=launcher))
                continue
            link = BrokerLinks(i, coord.port)
            links.append(link)
            overrides["controller.quorum.voters"] = link.voters()
            b = make_broker(f"broker-{i}", node_id=i, overrides=overrides, advertised_port=link.inbound.port,
                            start=False)
            b.links = link.start(b)
            brokers.append(b.start())
        yield coord, brokers
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        for link in links:  # a broker left cut off would wait for the coordinator on SIGTERM
            link.heal()
        # Brokers first: a broker's controlled shutdown waits for the coordinator's answer.
        for b in brokers:
            b.stop()
        rc = coord.stop()
        for link in links:
            link.stop()
        if failed:
            print(f"\n===== coordinator log (exit {rc}) =====\n{coord.log_tail()}")
