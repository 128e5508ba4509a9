"""Builds and runs tests/platform/node-agent (the kubelet stand-in) against a ControlPlane.

  NodeAgent(control_plane, root, runtime="process")
                                   state under root/state, log in root/node-agent.log
  start()                          builds the binary (go build, offline), starts it, waits until
                                   its nodes are Ready and its StorageClass exists
  stop()                           SIGTERM (it stops every pod it runs), SIGKILL if it hangs
  pod_dir(ns, pod)                 the folder of a running pod: logs, hosts, volumes/<name>
  claim_dir(ns, claim)             the directory of the volume bound to a PersistentVolumeClaim
  log_tail()                       for failure messages

Images it knows: localhost/busybox-ish (the host's /usr/bin:/bin, for sh, sleep, python3) and,
when TRIB_BROKER/TRIB_COORDINATOR are set, localhost/tributary-broker (their directories plus
/usr/bin:/bin, as the image's Debian base has a shell), whose entrypoint is tributary-broker;
when TRIB_OPERATOR is set, localhost/tributary-operator (its directory; entrypoint
tributary-operator). With runtime="buildah" the broker image is not mapped:
its containers run the local image itself through `buildah run` (scripts/build-images.sh).
Pod IPs come from a /16 of 127.0.0.0/8 (127.100-199.x.x), LoadBalancer Service addresses
(`lb_ips`) from another one (127.200-254.x.x), never the pods' prefix. Each agent claims its two
prefixes with an exclusive lock on a file in the temp folder, held until stop() (or its process
ends), so agents running at once on this machine (ctest -j, two checkouts' test runs) never
hand out the same addresses: two once drew the same prefix at random and each found the
other's pods on its ports.
"""
import fcntl
import os
import random
import subprocess
import tempfile
from pathlib import Path

from kube import SOURCE_DIR, Component, wait_for

MODULE_DIR = SOURCE_DIR / "tests" / "platform" / "node-agent"
NODES = ("node-a", "node-b")
BUSYBOX_ISH = "localhost/busybox-ish"
BROKER_IMAGE = "localhost/tributary-broker"
OPERATOR_IMAGE = "localhost/tributary-operator"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def claim_prefix(first, last):
    """A second octet in [first, last] no other agent on this machine holds: (octet, the open
    lock file, whose lock lasts until it is closed or this process ends)."""
    candidates = list(range(first, last + 1))
    random.shuffle(candidates)
    for octet in candidates:
        f = open(Path(tempfile.gettempdir()) / f"tributary-e2e-127.{octet}.lock", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return octet, f
        except BlockingIOError:
            f.close()
    raise RuntimeError(f"every prefix 127.{first}-{last} is held by another node agent on this machine")


def build_agent(out_dir):
    """go build of the agent into out_dir; offline, from the module cache install-deps.sh fills."""
    out = Path(out_dir) / "tributary-node-agent"
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=readonly", GOPROXY="off", CGO_ENABLED="0")
    env["PATH"] = env.get("PATH", "") + ":/usr/local/go/bin"
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=MODULE_DIR, env=env, check=True,
                   capture_output=True, text=True, timeout=600)
    return out


class NodeAgent:
    def __init__(self, control_plane, root, runtime="process"):
        self.cp = control_plane
        self.runtime = runtime
        self.root = Path(root)
        self.state = self.root / "state"
        pods, self._pods_lock = claim_prefix(100, 199)
        lbs, self._lbs_lock = claim_prefix(200, 254)
        self.pod_ips = f"127.{pods}.0.0/16"
        self.lb_ips = f"127.{lbs}.0.0/16"
        self.component = Component("node-agent", self.root / "node-agent.log")

    def _images(self):
        args = ["--image", f"{BUSYBOX_ISH}=/usr/bin:/bin", "--runtime", self.runtime]
        if self.runtime == "buildah":
            return args
        dirs = [str(Path(os.environ[v]).parent) for v in ("TRIB_BROKER", "TRIB_COORDINATOR") if os.environ.get(v)]
        if dirs:
            args += ["--image", f"{BROKER_IMAGE}={':'.join(dirs)}:/usr/bin:/bin",
                     "--image-entrypoint", f"{BROKER_IMAGE}=tributary-broker"]
        if os.environ.get("TRIB_OPERATOR"):
            args += ["--image", f"{OPERATOR_IMAGE}={Path(os.environ['TRIB_OPERATOR']).parent}",
                     "--image-entrypoint", f"{OPERATOR_IMAGE}=tributary-operator"]
        return args

    def start(self):
        build_dir = Path(os.environ.get("TRIB_BUILD_DIR", self.root)) / "tests" / "platform" / "node-agent"
        build_dir.mkdir(parents=True, exist_ok=True)
        binary = build_agent(build_dir)
        # Its own identity; system:masters because it does what the kubelet, a volume
        # provisioner and cluster admin setup (the StorageClass) do together.
        kubeconfig = self.cp.kubeconfig_for("node-agent", "tributary-node-agent", groups=["system:masters"])
        args = [binary, "--kubeconfig", kubeconfig, "--state-dir", self.state, "--pod-ips", self.pod_ips,
                "--lb-ips", self.lb_ips,
                "--max-backoff", "2s", *self._images()]
        for n in NODES:
            args += ["--node", n]
        self.component.start(args)
        wait_for("the node agent's nodes to be Ready and its StorageClass", self._ready, START_TIMEOUT_S,
                 abort=self.component.check_alive)

    def _ready(self):
        nodes = self.cp.get_json("nodes")["items"]
        ready = {n["metadata"]["name"] for n in nodes
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
        sc = self.cp.kubectl("get", "storageclass", "tributary-local", "-o", "name", check=False)
        return set(NODES) <= ready and sc.returncode == 0

    def stop(self):
        self.component.stop()
        for lock in (self._pods_lock, self._lbs_lock):
            lock.close()  # its pods are gone: another agent may have the prefix

    def pod_dir(self, ns, pod):
        p = self.cp.get_json("pod", pod, "-n", ns)
        return self.state / "pods" / f"{ns}_{pod}_{p['metadata']['uid']}"

    def claim_dir(self, ns, claim):
        volume = self.cp.get_json("pvc", claim, "-n", ns)["spec"]["volumeName"]
        return Path(self.cp.get_json("pv", volume)["spec"]["hostPath"]["path"])

    def log_tail(self, chars=6000):
        return self.component.log_tail(chars)
