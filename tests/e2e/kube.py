"""A real Kubernetes control plane on loopback for the e2e tests.

  kube_bin(name)        a binary built by tests/platform/kube/build.sh (kube-apiserver, kubectl,
                        etcd, etcdctl, helm, ...), from the cache folder its pins name.
  ControlPlane(root)    etcd, kube-apiserver, kube-controller-manager and kube-scheduler as
                        child processes, with a CA, certificates and service-account keys made
                        with openssl under root/pki, data under root/etcd, logs under
                        root/logs/<component>.log. start() returns when all of them are ready
                        (about 10 s here); stop() ends them (also at interpreter exit, as a
                        backstop). Clients: kubectl(), helm(), get_json(); identities:
                        kubeconfig (admin), kubeconfig_for(name, cn, groups) (client
                        certificate), token_kubeconfig(path, token); new_namespace(),
                        delete_namespace(); log_tail() for failure messages.

Certificates use EC P-256 keys: openssl makes one in milliseconds (RSA 2048 takes ~0.1 s each).
Every process gets PR_SET_PDEATHSIG, so none outlives the test process even when that one is
killed (start the control plane from the main thread: the signal follows the forking thread).
Every wait here is bounded in time.
"""
import atexit
import ctypes
import functools
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import free_port  # noqa: E402

SOURCE_DIR = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = SOURCE_DIR / "tests" / "platform" / "kube" / "build.sh"

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
SERVICE_CIDR = "10.0.0.0/24"


def node_port_range():
    """1000 node ports at random among 10000-18999: under the ports the tests' harness picks
    (see harness.loopback_port_range) and clear of scripts/run.sh's 19092-19094, so the node
    agent's NodePort stand-in, which listens on 127.0.0.1, meets neither; and two control
    planes running at once (ctest -j) seldom share a range."""
    base = random.randrange(10000, 19000, 1000)
    return f"{base}-{base + 999}"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Names and addresses clients may use for the apiserver; 10.0.0.1 is the first address of
# SERVICE_CIDR, the `kubernetes` Service's ClusterIP.
APISERVER_SANS = ["IP:127.0.0.1", "IP:10.0.0.1", "DNS:localhost", "DNS:kubernetes",
                  "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                  "DNS:kubernetes.default.svc.cluster.local"]


@functools.lru_cache(maxsize=None)
def _bin_dir():
    out = subprocess.run([str(BUILD_SCRIPT), "--bin-dir"], check=True, capture_output=True,
                         text=True, timeout=30)
    return Path(out.stdout.strip())


def kube_bin(name):
    """Path of a cached binary; raises with what to do when it has not been built."""
    path = _bin_dir() / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} not found: run {BUILD_SCRIPT} (scripts/install-deps.sh does), "
                           "which builds the pinned Kubernetes, etcd and helm binaries")
    return path


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl/helm run; unlike CalledProcessError its message shows the output."""

    def __str__(self):
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def wait_for(what, condition, timeout, interval=0.2, abort=None):
    """Calls condition() until it returns a true value (returned) or `timeout` s pass
    (raises TimeoutError naming `what`). abort(), when given, may raise to stop early."""
    deadline = time.monotonic() + timeout
    while True:
        if abort is not None:
            abort()
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- PKI ----------------------------------------------------------------------------------

def _openssl(*args, input=None):
    subprocess.run(["openssl", *args], check=True, input=input, capture_output=True, timeout=30)


class Pki:
    """A CA in dir/ca.{crt,key} and certificates it signs, as dir/<name>.{crt,key}."""

    def __init__(self, dir):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_crt, self.ca_key = self.dir / "ca.crt", self.dir / "ca.key"
        if not self.ca_crt.exists():
            _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", str(self.ca_key), "-out", str(self.ca_crt), "-days", "30",
                     "-subj", "/CN=tributary-test-ca")

    def cert(self, name, cn, groups=(), server_sans=None):
        """dir/name.{crt,key} for CN=cn, O=each group: a client certificate, or a serving one
        for `server_sans` (["IP:127.0.0.1", "DNS:..."]). Returns (crt, key)."""
        crt, key, ext = (self.dir / f"{name}.{s}" for s in ("crt", "key", "ext"))
        usage = "serverAuth" if server_sans else "clientAuth"
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
                 f"extendedKeyUsage={usage}"]
        if server_sans:
            lines.append("subjectAltName=" + ",".join(server_sans))
        ext.write_text("\n".join(lines) + "\n")
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={cn}"
        csr = subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-subj", subject],
                             check=True, capture_output=True, timeout=30).stdout
        _openssl("x509", "-req", "-CA", str(self.ca_crt), "-CAkey", str(self.ca_key), "-days", "30",
                 "-extfile", str(ext), "-out", str(crt), input=csr)
        return crt, key

    def key_pair(self, name):
        """dir/name.key (private) and dir/name.pub: the service-account signing keys."""
        key, pub = self.dir / f"{name}.key", self.dir / f"{name}.pub"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
        _openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub))
        return key, pub


# --- processes ----------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with(parent_pid):
    """preexec_fn: the child gets SIGKILL when its parent dies (and exits if that already
    happened between fork and prctl)."""
    def pre():
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)
    return pre


class Component:
    """One control-plane process, its output in its log file."""

    def __init__(self, name, log_path):
        self.name = name
        self.log_path = Path(log_path)
        self.proc = None
        self._log = None

    def start(self, args):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(a) for a in args], stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with(os.getpid()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")

    def stop(self):
        """SIGTERM, SIGKILL after STOP_TIMEOUT_S."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - chars))
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


def _https_ok(url, context):
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


def write_kubeconfig(path, server, ca, user, crt=None, key=None, token=None):
    """A kubeconfig (JSON is YAML) with one cluster, user and context: the user authenticates
    with a client certificate (crt, key: file paths) or a bearer token."""
    credentials = {"client-certificate": str(crt), "client-key": str(key)} if crt else {"token": token}
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": user, "preferences": {},
        "clusters": [{"name": "tributary-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": "tributary-test", "user": user}}],
    }
    Path(path).write_text(json.dumps(config, indent=2))
    return Path(path)


_running = set()


@atexit.register
def _stop_all():
    for cp in list(_running):
        cp.stop()


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler under `root`."""

    def __init__(self, root):
        self.root = Path(root)
        self.pki = None
        self.kubeconfig = self.root / "admin.kubeconfig"
        self.server = None
        self.etcd_url = None
        self.components = []
        self.start_seconds = None

    # --- lifecycle ---

    def start(self):
        """Starts all four and waits until they are ready; on failure stops what started and
        raises with the log tails. A port taken between choosing and binding it is retried
        with new ports."""
        began = time.monotonic()
        for attempt in range(3):
            try:
                if attempt > 0:  # etcd's data names the peer URL of the attempt that failed
                    shutil.rmtree(self.root / "etcd", ignore_errors=True)
                self._start_once()
                self.start_seconds = time.monotonic() - began
                return self
            except Exception as e:
                tail = self.log_tail()
                self.stop()
                if "address already in use" in tail and attempt < 2:
                    continue
                raise RuntimeError(f"control plane did not start: {e}\n{tail}") from e

    def stop(self):
        """Stops the components in reverse start order. Safe to call twice."""
        for c in reversed(self.components):
            c.stop()
        _running.discard(self)

    def _start_once(self):
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._make_pki()
        self.components = []
        _running.add(self)
        ports = {}
        for name in ("etcd_client", "etcd_peer", "apiserver", "controller_manager", "scheduler"):
            ports[name] = free_port()
            while list(ports.values()).count(ports[name]) > 1:
                ports[name] = free_port()
        self.server = f"https://127.0.0.1:{ports['apiserver']}"
        self.etcd_url = f"http://127.0.0.1:{ports['etcd_client']}"
        self._write_kubeconfigs()

        etcd = self._spawn("etcd", self._etcd_args(ports))
        wait_for("etcd /health", lambda: http_json(f"{self.etcd_url}/health", "health") == "true",
                 START_TIMEOUT_S, abort=etcd.check_alive)

        api = self._spawn("kube-apiserver", self._apiserver_args(ports))
        admin_tls = self._tls_context(self.pki.dir / "admin.crt", self.pki.dir / "admin.key")
        wait_for("kube-apiserver /readyz", lambda: _https_ok(f"{self.server}/readyz", admin_tls),
                 START_TIMEOUT_S, abort=api.check_alive)

        kcm = self._spawn("kube-controller-manager", self._controller_manager_args(ports))
        sched = self._spawn("kube-scheduler", self._scheduler_args(ports))
        anonymous_tls = self._tls_context()
        for comp, port in ((kcm, ports["controller_manager"]), (sched, ports["scheduler"])):
            wait_for(f"{comp.name} /healthz", lambda: _https_ok(f"https://127.0.0.1:{port}/healthz", anonymous_tls),
                     START_TIMEOUT_S, abort=self._check_all_alive)
        # The service-account controller (in kube-controller-manager) is what makes pods
        # creatable in a namespace.
        wait_for("ServiceAccount default/default", lambda: self._has_default_sa("default"),
                 START_TIMEOUT_S, abort=self._check_all_alive)

    def _spawn(self, name, args):
        c = Component(name, self.root / "logs" / f"{name}.log")
        self.components.append(c)
        c.start([kube_bin(name), *args])
        return c

    def _check_all_alive(self):
        for c in self.components:
            c.check_alive()

    # --- certificates and kubeconfigs ---

    def _make_pki(self):
        self.pki = Pki(self.root / "pki")
        p = self.pki
        p.cert("apiserver", "kube-apiserver", server_sans=APISERVER_SANS)
        for name in ("controller-manager-serving", "scheduler-serving"):
            p.cert(name, name, server_sans=["IP:127.0.0.1", "DNS:localhost"])
        p.cert("admin", "admin", groups=["system:masters"])
        # What the apiserver shows aggregated API servers; the controller-manager and scheduler
        # read its CA and log errors over and over while there is none.
        p.cert("front-proxy-client", "front-proxy-client")
        # The default RBAC roles bind these user names.
        p.cert("controller-manager", "system:kube-controller-manager")
        p.cert("scheduler", "system:kube-scheduler")
        p.key_pair("service-account")

    def _write_kubeconfigs(self):
        for name in ("admin", "controller-manager", "scheduler"):
            write_kubeconfig(self.root / f"{name}.kubeconfig", self.server, self.pki.ca_crt, name,
                             self.pki.dir / f"{name}.crt", self.pki.dir / f"{name}.key")

    def kubeconfig_for(self, name, user_cn, groups=()):
        """A kubeconfig root/<name>.kubeconfig for a new client certificate CN=user_cn,
        O=each of groups; e.g. ("node-a", "system:node:node-a", ["system:nodes"])."""
        if self.server is None:
            raise RuntimeError("kubeconfig_for: start() the control plane first")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name) or name in ("admin", "controller-manager", "scheduler"):
            raise ValueError(f"kubeconfig_for: {name!r} is not a usable name (lower-case letters, digits, "
                             "'.', '-'; not one the control plane uses itself)")
        crt, key = self.pki.cert(f"user-{name}", user_cn, groups=groups)
        return write_kubeconfig(self.root / f"{name}.kubeconfig", self.server, self.pki.ca_crt, name, crt, key)

    def token_kubeconfig(self, path, token, user="token-user"):
        """A kubeconfig at `path` that authenticates with a bearer token (a ServiceAccount's)."""
        return write_kubeconfig(path, self.server, self.pki.ca_crt, user, token=token)

    def _tls_context(self, crt=None, key=None):
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        if crt is not None:
            ctx.load_cert_chain(str(crt), str(key))
        return ctx

    # --- command lines ---

    def _etcd_args(self, ports):
        client = self.etcd_url
        peer = f"http://127.0.0.1:{ports['etcd_peer']}"
        return ["--name", "test", "--data-dir", self.root / "etcd",
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"test={peer}",
                # Test data need not survive a power cut; fsync would make every write wait.
                "--unsafe-no-fsync", "--log-level", "warn"]

    def _apiserver_args(self, ports):
        p = self.pki.dir
        return [f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}",
                # The endpoint reconciler refuses a loopback advertise address; without it the
                # `kubernetes` Service has no endpoints, which clients using a kubeconfig don't need.
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={self.pki.ca_crt}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={p / 'service-account.pub'}",
                f"--service-account-signing-key-file={p / 'service-account.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-node-port-range={node_port_range()}",
                "--authorization-mode=Node,RBAC",
                f"--requestheader-client-ca-file={self.pki.ca_crt}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={p / 'front-proxy-client.key'}"]

    def _component_common(self, name, port):
        kc = self.root / f"{name}.kubeconfig"
        return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1", f"--secure-port={port}", "--leader-elect=false",
                f"--tls-cert-file={self.pki.dir / (name + '-serving.crt')}",
                f"--tls-private-key-file={self.pki.dir / (name + '-serving.key')}"]

    def _controller_manager_args(self, ports):
        p = self.pki
        return [*self._component_common("controller-manager", ports["controller_manager"]),
                "--controllers=*", "--use-service-account-credentials=true",
                # The token and service-account controllers need these to run.
                f"--service-account-private-key-file={p.dir / 'service-account.key'}",
                f"--root-ca-file={p.ca_crt}",
                # So CertificateSigningRequests get signed, as in a real cluster.
                f"--cluster-signing-cert-file={p.ca_crt}", f"--cluster-signing-key-file={p.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}"]

    def _scheduler_args(self, ports):
        return self._component_common("scheduler", ports["scheduler"])

    # --- clients ---

    def _env(self):
        env = dict(os.environ)
        env.update(KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.root / "kube-cache"),
                   HELM_CACHE_HOME=str(self.root / "helm" / "cache"),
                   HELM_CONFIG_HOME=str(self.root / "helm" / "config"),
                   HELM_DATA_HOME=str(self.root / "helm" / "data"))
        return env

    def _run(self, tool, args, input, check, timeout, kubeconfig=None):
        cmd = [str(kube_bin(tool)), "--kubeconfig", str(kubeconfig or self.kubeconfig), *map(str, args)]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self._env())
        if check and r.returncode != 0:
            raise KubectlError(r.returncode, cmd, r.stdout, r.stderr)
        return r

    def kubectl(self, *args, input=None, check=True, timeout=60, kubeconfig=None):
        """kubectl as cluster admin (or as the user of `kubeconfig`); returns the
        CompletedProcess (text); raises KubectlError when it fails and `check`."""
        return self._run("kubectl", args, input, check, timeout, kubeconfig)

    def helm(self, *args, input=None, check=True, timeout=120):
        """helm as cluster admin, its cache and config under root/helm."""
        return self._run("helm", args, input, check, timeout)

    def get_json(self, *args, timeout=60):
        """kubectl get ARGS -o json, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json", timeout=timeout).stdout)

    def _has_default_sa(self, namespace):
        r = self.kubectl("get", "serviceaccount", "default", "-n", namespace, "-o", "name", check=False)
        return r.returncode == 0

    def new_namespace(self, prefix="t"):
        """Creates a namespace with a random suffix and waits for its default ServiceAccount
        (pods can't be created before it exists). Returns its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        wait_for(f"ServiceAccount {name}/default", lambda: self._has_default_sa(name), 60,
                 abort=self._check_all_alive)
        return name

    def delete_namespace(self, name):
        """Deletes without waiting for finalizers (pods on no node would hold it for long)."""
        self.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)

    def log_tail(self, chars=4000):
        """The last `chars` of each component's log, for failure messages."""
        return "".join(f"\n===== {c.name} ({c.log_path}) =====\n{c.log_tail(chars)}" for c in self.components)

    def rss_bytes(self):
        """Resident memory of each running component, from /proc (Linux)."""
        out = {}
        for c in self.components:
            if c.alive():
                for line in Path(f"/proc/{c.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[c.name] = int(line.split()[1]) * 1024
        return out


def http_json(url, field):
    """GET url and return one field of its JSON answer; None when that fails."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read()).get(field)
    except (OSError, ValueError):
        return None
