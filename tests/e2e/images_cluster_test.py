"""manifests/ run from the real broker image: the node agent with `--runtime buildah` runs each
container as the local image itself (`buildah run --isolation chroot`, see
tests/platform/node-agent/README.md) instead of the host's binaries. The cluster of
cluster_test.py (pod IPs advertised) comes up Ready, records round-trip through kcat, the
programs run as the image's user (uid 10001) in the image's root, and a deleted broker pod's
program gets the SIGTERM (it logs a clean shutdown) and comes back with its data.

The images come from scripts/build-images.sh (scripts/test.sh runs it before ctest)."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from workloads import broker_addresses, manifests, wait_everyone_lists, wait_ready
from harness import consume_all, kcat
from node_agent import NodeAgent

UID = 10001
PROGRAMS = ("tributary-broker", "tributary-coordinator")


@pytest.fixture(scope="module")
def node_agent(control_plane, tmp_path_factory):
    """Overrides conftest's: an agent whose broker image is not mapped to host directories."""
    agent = NodeAgent(control_plane, tmp_path_factory.mktemp("node-agent"), runtime="buildah")
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def require_images(docs):
    for image in sorted({c["image"] for d in docs if d["kind"] == "StatefulSet"
                         for c in d["spec"]["template"]["spec"]["containers"]}):
        p = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.fail(f"image {image} not found: build it with scripts/build-images.sh ({p.stderr.strip()})")


def programs_of(ns):
    """pid -> program name of every Tributary program whose env says it is in namespace ns."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            name = os.path.basename((proc / "cmdline").read_bytes().split(b"\0")[0].decode())
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if name in PROGRAMS and f"POD_NAMESPACE={ns}".encode() in env:
            out[int(proc.name)] = name
    return out


def ids(pid):
    """(uids, gids) of pid: real, effective, saved, filesystem."""
    lines = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return [int(x) for x in lines["Uid"].split()], [int(x) for x in lines["Gid"].split()]


def working_containers():
    out = subprocess.run(["buildah", "containers", "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out) or []  # "null" when there are none


def test_manifests_run_from_the_broker_image(control_plane, namespace, node_agent):
    cp, ns = control_plane, namespace
    docs = manifests(advertise_pod_ip=True)
    require_images(docs)
    cp.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    wait_ready(cp, ns, "coordinator", 1)
    brokers = wait_ready(cp, ns, "broker", 3)
    ips = {int(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]): p["status"]["podIP"]
           for p in brokers.values()}
    bootstrap = ",".join(f"{ip}:9092" for ip in ips.values())
    assert broker_addresses(bootstrap) == {i: f"{ip}:9092" for i, ip in ips.items()}

    lines = [f"image-{i}" for i in range(200)]
    kcat("-b", bootstrap, "-P", "-t", "images", "-X", "acks=all", input=("\n".join(lines) + "\n").encode())

    def everything():
        return sorted(v.decode() for records in consume_all(bootstrap, "images").values() for (_, _, v) in records)

    assert everything() == sorted(lines)

    # Every program is the image's: its user, its root (the working container, not the host's /).
    progs = programs_of(ns)
    assert sorted(progs.values()) == ["tributary-broker"] * 3 + ["tributary-coordinator"], progs
    for pid in progs:
        assert ids(pid) == ([UID] * 4, [UID] * 4), f"pid {pid} ({progs[pid]}) runs as {ids(pid)}"
        assert os.readlink(f"/proc/{pid}/root") != "/", f"pid {pid} runs in the host's root"
    # ...and it writes its data to its claim, through the bind mount, as that user.
    written = [f for f in node_agent.claim_dir(ns, "data-tributary-broker-0").rglob("*") if f.is_file()]
    assert written and all(f.stat().st_uid == UID for f in written), [(f, f.stat().st_uid) for f in written]

    # A deleted broker pod: its program gets SIGTERM and shuts down cleanly, its working
    # container goes, and the StatefulSet's new pod serves the same data.
    old = brokers["tributary-broker-1"]
    old_dir = node_agent.pod_dir(ns, "tributary-broker-1")
    cp.kubectl("-n", ns, "delete", "pod", "tributary-broker-1", "--wait=false")
    brokers = wait_ready(cp, ns, "broker", 3, not_uid=old["metadata"]["uid"])
    log = (old_dir / "broker.log").read_text(errors="replace")
    assert "signal 15: shutting down" in log, log[-3000:]
    names = [c.get("containername", "") for c in working_containers()]
    assert not any(old["metadata"]["uid"] in n for n in names), names
    ips[1] = brokers["tributary-broker-1"]["status"]["podIP"]
    wait_everyone_lists(ips, 1)
    bootstrap = ",".join(f"{ip}:9092" for ip in ips.values())
    assert everything() == sorted(lines)


def test_exec_probes_run_in_the_image_as_its_user(control_plane, namespace, node_agent):
    """An exec readiness probe sees the container's own root (a file the container made in
    its /tmp, not the host's) and runs as the image's user."""
    cp, ns = control_plane, namespace
    image = next(c["image"] for d in manifests(advertise_pod_ip=False) if d["kind"] == "StatefulSet"
                 for c in d["spec"]["template"]["spec"]["containers"])
    marker = f"/tmp/ready-{ns}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed"},
           "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
               "name": "main", "image": image,
               "command": ["sh", "-c", f"touch {marker} && exec sleep 600"],
               "readinessProbe": {"exec": {"command": ["sh", "-c", f'test "$(id -u)" = {UID} && test -f {marker}']},
                                  "periodSeconds": 1}}]}}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 120
    while not any(c["type"] == "Ready" and c["status"] == "True"
                  for c in cp.get_json("pod", "probed", "-n", ns).get("status", {}).get("conditions", [])):
        assert time.monotonic() < deadline, f"pod not Ready: {cp.get_json('pod', 'probed', '-n', ns).get('status')}"
        time.sleep(0.5)
    assert not Path(marker).exists(), "the container wrote the host's /tmp"
