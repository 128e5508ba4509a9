"""The container images scripts/build-images.sh builds, run the way CI can run them here:
`buildah run --isolation chroot` (no container engine; chroot isolation shares the host's
network and PID namespace, so what runs inside listens on the host's loopback and shows up
in the host's /proc).

- Each image answers --version with the project's version (the broker image for both
  programs), every shared library its programs need is in it, it runs as uid 10001 and
  carries the OCI labels.
- The broker image serves a produce/consume round trip: a coordinator and a broker each run
  in a container of their own, kcat on the host produces and consumes through them.
- SIGTERM stops each program cleanly (exit 0). `buildah run` does not forward signals, so the
  test signals the program itself: the child of buildah-chroot-exec, as a kubelet's runtime
  would signal PID 1 of the container. chroot isolation shares the host's PID namespace, so
  one more test runs each program as PID 1 of a PID namespace of its own (unshare), where the
  kernel drops any signal the process has no handler for.
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import free_port, kcat, project_version as cmake_version, write_unreachable_kubeconfig  # noqa: E402

WAIT_S = 30
UID = 10001
LABELS = ["title", "description", "version", "revision", "source", "licenses"]


def project_version():
    """The images' tag: TRIB_IMAGE_VERSION (ctest sets it from CMake), else CMakeLists.txt's."""
    return os.environ.get("TRIB_IMAGE_VERSION") or cmake_version()


def image_name(what):
    return f"localhost/tributary-{what}:{project_version()}"


def buildah(*args, timeout=60, check=True):
    p = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def inspect_image(what):
    name = image_name(what)
    p = buildah("inspect", "--type", "image", name, check=False)
    if p.returncode != 0:
        pytest.fail(f"image {name} not found: build it with scripts/build-images.sh ({p.stderr.strip()})")
    return json.loads(p.stdout)


# ---- processes inside containers ------------------------------------------------------------

def children(pid):
    """pid's children; none once pid has gone (buildah's short-lived helpers exit while
    program_pid walks the tree)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    out = []
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def argv0(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def program_pid(run_pid):
    """The program `buildah run` (pid run_pid) started: the child of buildah-chroot-exec
    among run_pid's descendants; None while it is not there yet."""
    todo = [run_pid]
    while todo:
        pid = todo.pop()
        kids = children(pid)
        if os.path.basename(argv0(pid)) == "buildah-chroot-exec" and kids:
            return kids[0]
        todo += kids
    return None


def uid_of(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


class Container:
    """A working container from an image (`buildah from`), removed at close(); run() starts a
    program in it with `buildah run --isolation chroot`, its output going to a log file."""

    def __init__(self, image, log_dir, name):
        self.ctr = buildah("from", "--pull=never", image).stdout.strip()
        self.log_path = Path(log_dir) / f"{name}.log"
        self.run_proc = None
        self._log = None

    def exec(self, *argv, timeout=60):
        """Runs argv to completion inside; CompletedProcess (text)."""
        return subprocess.run(["buildah", "run", "--isolation", "chroot", self.ctr, "--", *argv],
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *argv):
        self._log = open(self.log_path, "ab")
        self.run_proc = subprocess.Popen(["buildah", "run", "--isolation", "chroot", self.ctr, "--", *argv],
                                         stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.run_proc.poll() is not None:
                raise AssertionError(f"{argv[0]} exited {self.run_proc.returncode}:\n{self.log_text()}")
            self.pid = program_pid(self.run_proc.pid)
            if self.pid is not None and os.path.basename(argv0(self.pid)) == argv[0]:
                return self
            time.sleep(0.05)
        raise AssertionError(f"{argv[0]} not started under buildah-chroot-exec within {WAIT_S} s")

    def stop(self):
        """SIGTERM to the program itself; the exit status of `buildah run`, which is the
        program's."""
        os.kill(self.pid, signal.SIGTERM)
        return self.run_proc.wait(WAIT_S)

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def mount(self):
        """The container's root on the host (`buildah mount`); close() unmounts it."""
        self.mounted = buildah("mount", self.ctr).stdout.strip()
        return self.mounted

    def close(self):
        if getattr(self, "mounted", None):
            buildah("umount", self.ctr, check=False)
        if self.run_proc is not None and self.run_proc.poll() is None:
            pid = program_pid(self.run_proc.pid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            self.run_proc.kill()
            self.run_proc.wait(WAIT_S)
        if self._log is not None:
            self._log.close()
        buildah("rm", self.ctr, check=False)


@pytest.fixture
def container(tmp_path):
    """Factory: container(what, name) -> Container of localhost/tributary-<what>; all removed
    at teardown."""
    made = []

    def make(what, name=None):
        inspect_image(what)
        c = Container(image_name(what), tmp_path, name or what)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def wait_http(url, proc, log):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return r.read().decode()
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not 200 within {WAIT_S} s:\n{log()}")


# ---- the tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("what,programs", [("broker", ["tributary-broker", "tributary-coordinator"]),
                                           ("operator", ["tributary-operator"])])
def test_image_answers_version_and_has_its_libraries(container, what, programs):
    c = container(what)
    for program in programs:
        p = c.exec(program, "--version")
        assert p.returncode == 0, p.stderr
        assert p.stdout == f"{program} {project_version()}\n"
    p = c.exec("ldd", *[f"/usr/local/bin/{x}" for x in programs])
    assert p.returncode == 0, p.stderr
    assert "not found" not in p.stdout, p.stdout


@pytest.mark.parametrize("what", ["broker", "operator"])
def test_image_runs_as_uid_10001_with_oci_labels(container, what):
    info = inspect_image(what)
    config = info["OCIv1"]["config"]
    assert config["User"] == f"{UID}:{UID}"
    labels = config.get("Labels") or {}
    for key in LABELS:
        assert f"org.opencontainers.image.{key}" in labels, f"label {key} missing: {labels}"
    assert labels["org.opencontainers.image.title"] == f"tributary-{what}"
    assert labels["org.opencontainers.image.version"] == project_version()
    p = container(what).exec("id")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"uid={UID}(tributary) gid={UID}(tributary) "), p.stdout


def test_broker_image_round_trip_and_clean_stop(container):
    coord_port, broker_port, http_port = free_port(), free_port(), free_port()
    voters = f"100@127.0.0.1:{coord_port}"
    coordinator = container("broker", "coordinator").start(
        "tributary-coordinator", "--override", "node.id=100", "--override", f"controller.quorum.voters={voters}",
        "--override", f"listeners=CONTROLLER://127.0.0.1:{coord_port}")
    broker = container("broker", "broker").start(
        "tributary-broker", "--override", "node.id=1", "--override", f"controller.quorum.voters={voters}",
        "--override", f"listeners=PLAINTEXT://127.0.0.1:{broker_port}",
        "--override", f"tributary.http.listener=127.0.0.1:{http_port}")
    assert uid_of(coordinator.pid) == UID and uid_of(broker.pid) == UID
    wait_http(f"http://127.0.0.1:{http_port}/readyz", broker.run_proc, broker.log_text)

    bootstrap = f"127.0.0.1:{broker_port}"
    records = [f"record-{i}" for i in range(10)]
    kcat("-b", bootstrap, "-P", "-t", "images", input="\n".join(records).encode())
    out = kcat("-b", bootstrap, "-C", "-t", "images", "-o", "beginning", "-c", str(len(records)), "-e")
    assert out.stdout.decode().split("\n")[:len(records)] == records

    # The data went where the image's KAFKA_LOG_DIRS points: its volume, owned by uid 10001.
    assert "with data in /var/lib/tributary" in broker.log_text()
    assert "metadata in /var/lib/tributary/" in coordinator.log_text()

    assert broker.stop() == 0, broker.log_text()
    assert "broker 1 stopped" in broker.log_text()
    assert coordinator.stop() == 0, coordinator.log_text()
    assert "coordinator 100 stopped" in coordinator.log_text()


def operator_kubeconfig(root):
    """/tmp/kubeconfig in the container whose root is `root`: an API server that isn't there,
    so the operator runs without Kubernetes (tests/e2e runs it with one)."""
    write_unreachable_kubeconfig(Path(root) / "tmp" / "kubeconfig")
    return ["--override", "kubeconfig=/tmp/kubeconfig", "--override", "leader.election.enabled=false"]


def test_operator_image_serves_health_and_stops_cleanly(container):
    port = free_port()
    c = container("operator")
    op = c.start("tributary-operator", "--override", f"http.listener=127.0.0.1:{port}", *operator_kubeconfig(c.mount()))
    assert uid_of(op.pid) == UID
    assert wait_http(f"http://127.0.0.1:{port}/healthz", op.run_proc, op.log_text) is not None
    metrics = wait_http(f"http://127.0.0.1:{port}/metrics", op.run_proc, op.log_text)
    assert f'tributary_operator_build_info{{version="{project_version()}"}} 1' in metrics
    assert op.stop() == 0, op.log_text()
    assert "operator stopped" in op.log_text()


def wait_log(path, needle, proc):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return
        assert proc.poll() is None, f"exited {proc.returncode}:\n{text}"
        time.sleep(0.05)
    raise AssertionError(f"no '{needle}' in {path} within {WAIT_S} s:\n{text}")


@pytest.mark.parametrize("what,program,settings,ready", [
    ("broker", "tributary-broker", ["listeners=PLAINTEXT://127.0.0.1:{port}"], "broker 0 ready"),
    ("broker", "tributary-coordinator", ["listeners=CONTROLLER://127.0.0.1:{port}"], "coordinator 0 ready"),
    ("operator", "tributary-operator", ["http.listener=127.0.0.1:{port}"], "metrics and health on"),
])
def test_program_as_pid_1_stops_cleanly_on_sigterm(container, tmp_path, what, program, settings, ready):
    root = container(what, program).mount()
    port = free_port()
    args = [f"/usr/local/bin/{program}", "--override", "log.dirs=/var/lib/tributary"] if what == "broker" else \
        [f"/usr/local/bin/{program}", *operator_kubeconfig(root)]
    for s in settings:
        args += ["--override", s.format(port=port)]
    log_path = tmp_path / f"{program}-pid1.log"
    with open(log_path, "wb") as log:
        # unshare forks the program into a new PID namespace (and mount namespace, for its
        # own /proc) and exits with its status.
        proc = subprocess.Popen(["unshare", "--pid", "--fork", f"--mount-proc={root}/proc",
                                 "chroot", f"--userspec={UID}:{UID}", root, *args],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={"PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
    try:
        wait_log(log_path, ready, proc)
        pid = children(proc.pid)[0]
        nspid = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("NSpid:")]
        assert nspid and nspid[0].split()[-1] == "1", nspid
        assert uid_of(pid) == UID
        os.kill(pid, signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0, log_path.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
    assert "shutting down" in log_path.read_text(errors="replace")
