"""The seeds' cluster on Kubernetes from the plain manifests in manifests/: a coordinator
StatefulSet and three brokers, applied with kubectl on the test control plane and run by the
node agent. Clients outside the cluster reach the brokers at their pod IPs (127.1.x.y here):
the test flips the manifests' one advertised-address setting to the pod IP, as a user without
pod DNS would. Records go through kcat and through Kafka's own (Java) console tools; a deleted
broker pod comes back as the same node.id with its data."""
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import kcat  # noqa: E402
from workloads import (broker_addresses, manifests, read_back, read_with_java, wait_everyone_lists, wait_ready,  # noqa: E402
                       write_with_java_and_kcat)

def test_three_brokers_from_plain_manifests(control_plane, namespace, node_agent):
    cp, ns = control_plane, namespace
    cp.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(manifests(advertise_pod_ip=True)))

    coordinators = wait_ready(cp, ns, "coordinator", 1)
    brokers = wait_ready(cp, ns, "broker", 3)
    ips = {int(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]): p["status"]["podIP"]
           for p in brokers.values()}
    assert sorted(ips) == [0, 1, 2]
    assert len(set(ips.values()) | {coordinators["tributary-coordinator-0"]["status"]["podIP"]}) == 4
    assert all(ip.startswith("127.") for ip in ips.values())
    bootstrap = ",".join(f"{ip}:9092" for ip in ips.values())

    # Each broker's node.id is its ordinal, and it advertises its pod IP.
    assert broker_addresses(bootstrap) == {i: f"{ip}:9092" for i, ip in ips.items()}

    # Kafka's tools (the Java client) create a topic with a partition per broker and write to it;
    # kcat writes too; both read everything back.
    expected = write_with_java_and_kcat(bootstrap, "k8s", 3)
    values, by_partition = read_back(bootstrap, "k8s")
    assert values == expected
    leaders = {p["partition"]: p["leader"]
               for t in json.loads(kcat("-b", bootstrap, "-L", "-J", "-t", "k8s").stdout)["topics"]
               for p in t["partitions"]}
    assert sorted(leaders.values()) == [0, 1, 2]   # one partition on each broker
    assert read_with_java(bootstrap, "k8s", by_partition) == expected

    # Delete broker 1's pod: the StatefulSet makes a new one, which is broker 1 again, with the
    # same claim and so the same data, at whatever pod IP it got.
    old = brokers["tributary-broker-1"]
    claim = "data-tributary-broker-1"
    volume = json.loads(cp.kubectl("-n", ns, "get", "pvc", claim, "-o", "json").stdout)["spec"]["volumeName"]
    cp.kubectl("-n", ns, "delete", "pod", "tributary-broker-1", "--wait=false")
    brokers = wait_ready(cp, ns, "broker", 3, not_uid=old["metadata"]["uid"])
    new = brokers["tributary-broker-1"]
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == claim for v in new["spec"]["volumes"])
    assert json.loads(cp.kubectl("-n", ns, "get", "pvc", claim, "-o", "json").stdout)["spec"]["volumeName"] == volume
    ips[1] = new["status"]["podIP"]
    wait_everyone_lists(ips, 1)
    bootstrap = ",".join(f"{ip}:9092" for ip in ips.values())
    assert broker_addresses(bootstrap)[1] == f"{ips[1]}:9092"
    assert read_back(bootstrap, "k8s")[0] == expected


def test_clients_in_the_cluster_use_the_pod_dns_names_the_shipped_manifests_advertise(
        control_plane, namespace, node_agent):
    """manifests/ as shipped advertise pod DNS names; a client in a pod resolves them (through
    the node agent's per-pod hosts file, standing in for the cluster DNS) and round-trips."""
    cp, ns = control_plane, namespace
    cp.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(manifests(advertise_pod_ip=False)))
    wait_ready(cp, ns, "coordinator", 1)
    wait_ready(cp, ns, "broker", 3)
    names = [f"tributary-broker-{i}.tributary-broker.{ns}.svc.cluster.local:9092" for i in range(3)]
    client = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kcat", "labels": {"app.kubernetes.io/component": "client"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "kcat", "image": "localhost/busybox-ish",
            "command": ["sh", "-c",
                        # Metadata lists the brokers by name; the record makes a round trip.
                        'set -e; kcat -b "$B" -L -J > /tmp/kcat-meta-$$; grep -o \'"name":"[^"]*"\' /tmp/kcat-meta-$$;'
                        ' echo "through dns" | kcat -b "$B" -P -t dns -X acks=all;'
                        ' kcat -b "$B" -C -t dns -c 1 -e -f "read: %s\\n"'],
            "env": [{"name": "B", "value": names[0]}]}]}}
    cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(client))
    deadline = time.monotonic() + 120
    while True:
        phase = cp.get_json("pod", "kcat", "-n", ns).get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    log = (node_agent.pod_dir(ns, "kcat") / "kcat.log").read_text()
    assert phase == "Succeeded", log
    assert "read: through dns" in log
    for name in names:
        assert f'"name":"{name}"' in log
