"""The node agent (tests/platform/node-agent) runs what the scheduler binds to its nodes: these
tests create pods with kubectl and check, through the API and through files the pods write,
what the kubelet would have done. Pods mount their volumes under /mnt/pod/: the agent makes
missing mount points on the host (empty folders that stay), so they are kept in one place."""
import ipaddress
import json
import os
import socket
import textwrap
import uuid
from pathlib import Path

from kube import wait_for

IMAGE = "localhost/busybox-ish"
TIMEOUT_S = 60


def apply(cp, ns, manifest):
    cp.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent(manifest))


def pod(cp, ns, name):
    r = cp.kubectl("get", "pod", name, "-n", ns, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def wait_pod(cp, ns, name, what, pred, timeout=TIMEOUT_S):
    """Waits until pred(pod json) is true; returns that pod."""
    def check():
        p = pod(cp, ns, name)
        return p if p is not None and pred(p) else None
    try:
        return wait_for(f"pod {ns}/{name}: {what}", check, timeout)
    except TimeoutError as e:
        raise AssertionError(f"{e}; last seen: {json.dumps((pod(cp, ns, name) or {}).get('status'), indent=1)}")


def phase(p):
    return p["status"].get("phase")


def condition(p, kind):
    return next((c["status"] == "True" for c in p["status"].get("conditions", []) if c["type"] == kind), False)


def container(p, name):
    return next(c for c in p["status"].get("containerStatuses", []) if c["name"] == name)


def processes_with(token):
    """Pids of live processes whose command line holds token."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if token.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_env_command_args_and_volumes(control_plane, node_agent, namespace):
    cp, ns = control_plane, namespace
    apply(cp, ns, """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {color: blue, "app.properties": "a=1\\n"}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {password: hunter2}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: env
          labels: {apps.kubernetes.io/pod-index: "3"}
          annotations: {note: from-annotation}
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: localhost/busybox-ish:1.0
            workingDir: /mnt/pod/out
            command: [sh, -c, "$(SCRIPT)"]
            args: [ignored-by-sh-c-as-arg0, "$(COLOR)", "$$(COLOR)", "$(UNDEFINED)"]
            env:
            - {name: SCRIPT, value: 'env > env.txt; echo "$0 $1 $2 $3" > args.txt; pwd > pwd.txt; hostname > hostname.txt; cp /mnt/pod/config/app.properties /mnt/pod/secret/password . ; stat -c %a /mnt/pod/secret/password > mode.txt'}
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
            - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
            - {name: INDEX, valueFrom: {fieldRef: {fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}}
            - {name: NOTE, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}}
            - {name: COLOR, valueFrom: {configMapKeyRef: {name: settings, key: color}}}
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
            - {name: NODE_ID, value: "broker-$(INDEX)-$(COLOR)"}
            envFrom: [{prefix: CFG_, configMapRef: {name: settings}}]
            volumeMounts:
            - {name: out, mountPath: /mnt/pod/out}
            - {name: config, mountPath: /mnt/pod/config}
            - {name: secret, mountPath: /mnt/pod/secret}
          volumes:
          - {name: out, emptyDir: {}}
          - {name: config, configMap: {name: settings}}
          - {name: secret, secret: {secretName: creds, defaultMode: 0400}}
    """)
    p = wait_pod(cp, ns, "env", "Succeeded", lambda p: phase(p) in ("Succeeded", "Failed"))
    assert phase(p) == "Succeeded", p["status"]
    assert container(p, "main")["state"]["terminated"]["exitCode"] == 0
    out = node_agent.pod_dir(ns, "env") / "volumes" / "out"
    env = dict(line.split("=", 1) for line in (out / "env.txt").read_text().splitlines() if "=" in line)
    ip = p["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(node_agent.pod_ips)
    expected = {"POD_NAME": "env", "POD_NAMESPACE": ns, "POD_UID": p["metadata"]["uid"], "POD_IP": ip,
                "HOST_IP": "127.0.0.1", "NODE": p["spec"]["nodeName"], "SA": "default", "INDEX": "3",
                "NOTE": "from-annotation", "COLOR": "blue", "PASSWORD": "hunter2", "NODE_ID": "broker-3-blue",
                "CFG_color": "blue", "HOSTNAME": "env"}
    assert {k: env.get(k) for k in expected} == expected
    assert (out / "args.txt").read_text() == "ignored-by-sh-c-as-arg0 blue $(COLOR) $(UNDEFINED)\n"
    assert (out / "pwd.txt").read_text() == "/mnt/pod/out\n"
    assert (out / "hostname.txt").read_text() == "env\n"
    assert (out / "app.properties").read_text() == "a=1\n"
    assert (out / "password").read_text() == "hunter2"
    assert (out / "mode.txt").read_text() == "400\n"


def test_readiness_probes_drive_ready(control_plane, node_agent, namespace):
    """httpGet, tcpSocket and exec readiness probes; each container turns ready only once the
    test lets it serve, and the exec one turns unready again."""
    cp, ns = control_plane, namespace
    http_port, tcp_port = 8080, 9090  # on the pod's own IP: no clash with anything else
    apply(cp, ns, f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: probes}}
        spec:
          containers:
          - name: http
            image: {IMAGE}
            command: [sh, -c, 'until [ -e /mnt/pod/gate/http ]; do sleep 0.1; done; exec python3 -m http.server --bind $(POD_IP) {http_port}']
            env: [{{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
            ports: [{{name: web, containerPort: {http_port}}}]
            readinessProbe: {{httpGet: {{port: web, path: /}}, periodSeconds: 1}}
            volumeMounts: [{{name: gate, mountPath: /mnt/pod/gate}}]
          - name: tcp
            image: {IMAGE}
            command: [sh, -c, 'until [ -e /mnt/pod/gate/tcp ]; do sleep 0.1; done; exec python3 -c "import socket,os; s=socket.create_server((os.environ[\\"POD_IP\\"], {tcp_port})); [s.accept()[0].close() for _ in iter(int, 1)]"']
            env: [{{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
            readinessProbe: {{tcpSocket: {{port: {tcp_port}}}, periodSeconds: 1}}
            volumeMounts: [{{name: gate, mountPath: /mnt/pod/gate}}]
          - name: exec
            image: {IMAGE}
            command: [sleep, "100000"]
            readinessProbe: {{exec: {{command: [test, -e, /mnt/pod/gate/exec]}}, periodSeconds: 1}}
            volumeMounts: [{{name: gate, mountPath: /mnt/pod/gate}}]
          volumes: [{{name: gate, emptyDir: {{}}}}]
    """)
    running = lambda p: all("running" in c["state"] for c in p["status"].get("containerStatuses", [])) \
        and len(p["status"].get("containerStatuses", [])) == 3
    p = wait_pod(cp, ns, "probes", "all containers running", running)
    assert not any(c["ready"] for c in p["status"]["containerStatuses"]) and not condition(p, "Ready")
    gate = node_agent.pod_dir(ns, "probes") / "volumes" / "gate"
    for name in ("http", "tcp", "exec"):
        (gate / name).touch()
        wait_pod(cp, ns, "probes", f"container {name} ready", lambda p, n=name: container(p, n)["ready"])
    wait_pod(cp, ns, "probes", "Ready", lambda p: condition(p, "Ready") and condition(p, "ContainersReady"))
    (gate / "exec").unlink()
    p = wait_pod(cp, ns, "probes", "not Ready after the exec probe fails",
                 lambda p: not condition(p, "Ready") and not container(p, "exec")["ready"])
    assert container(p, "http")["ready"] and container(p, "exec")["restartCount"] == 0


def test_liveness_failure_restarts_container(control_plane, node_agent, namespace):
    cp, ns = control_plane, namespace
    apply(cp, ns, f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: liveness}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: {IMAGE}
            command: [sleep, "100000"]
            livenessProbe: {{exec: {{command: [test, -e, /no/such/file]}}, periodSeconds: 1, failureThreshold: 1}}
    """)
    p = wait_pod(cp, ns, "liveness", "restarted twice", lambda p: container(p, "main")["restartCount"] >= 2)
    assert phase(p) == "Running"
    last = container(p, "main")["lastState"]["terminated"]
    assert last["exitCode"] == 128 + 15 and "liveness probe failed" in last["message"]  # sleep dies of SIGTERM


def test_restart_policies(control_plane, node_agent, namespace):
    cp, ns = control_plane, namespace
    apply(cp, ns, f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: never}}
        spec:
          restartPolicy: Never
          containers: [{{name: main, image: {IMAGE}, command: [sh, -c, "exit 1"]}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: onfailure}}
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: {IMAGE}
            command: [sh, -c, "if [ -e /mnt/pod/work/failed-once ]; then exit 0; fi; touch /mnt/pod/work/failed-once; exit 3"]
            volumeMounts: [{{name: work, mountPath: /mnt/pod/work}}]
          volumes: [{{name: work, emptyDir: {{}}}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: unmapped}}
        spec:
          containers: [{{name: main, image: localhost/not-mapped:1, command: [sh]}}]
    """)
    p = wait_pod(cp, ns, "never", "Failed", lambda p: phase(p) in ("Failed", "Succeeded"))
    assert phase(p) == "Failed"
    c = container(p, "main")
    assert c["state"]["terminated"]["exitCode"] == 1 and c["restartCount"] == 0
    p = wait_pod(cp, ns, "onfailure", "Succeeded", lambda p: phase(p) in ("Failed", "Succeeded"))
    c = container(p, "main")
    assert phase(p) == "Succeeded" and c["restartCount"] == 1
    assert c["lastState"]["terminated"]["exitCode"] == 3
    p = wait_pod(cp, ns, "unmapped", "an image error", lambda p: "waiting" in container(p, "main")["state"]
                 and container(p, "main")["state"]["waiting"].get("reason") == "ErrImagePull")
    assert "not mapped" in container(p, "main")["state"]["waiting"]["message"]
    assert phase(p) == "Pending"


def test_delete_sends_sigterm_then_sigkill(control_plane, node_agent, namespace):
    cp, ns = control_plane, namespace
    token = uuid.uuid4().hex
    script = "trap 'echo {what} >> /mnt/pod/data/{what}; {after}' TERM; while true; do sleep 0.1; done # " + token
    apply(cp, ns, """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
    """)
    # One after the other: the second pod follows the volume the first one's node got.
    for name, grace, after in (("polite", 30, "exit 0"), ("stubborn", 2, "true")):
        apply(cp, ns, f"""
            apiVersion: v1
            kind: Pod
            metadata: {{name: {name}}}
            spec:
              terminationGracePeriodSeconds: {grace}
              containers:
              - {{name: main, image: {IMAGE}, command: [sh, -c, "{script.format(what=name, after=after)}"],
                 volumeMounts: [{{name: data, mountPath: /mnt/pod/data}}]}}
              volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
        """)
        wait_pod(cp, ns, name, "Running", lambda p: phase(p) == "Running")
    assert len(processes_with(token)) >= 2
    data = node_agent.claim_dir(ns, "data")
    for name in ("polite", "stubborn"):
        cp.kubectl("delete", "pod", name, "-n", ns, "--wait=false")
        wait_for(f"pod {name} to be gone", lambda n=name: pod(cp, ns, n) is None, TIMEOUT_S)
        assert (data / name).read_text() == f"{name}\n"  # it saw SIGTERM
    assert processes_with(token) == []  # and the one that ignored it was killed


def test_statefulset_volumes_and_pod_dns(control_plane, node_agent, namespace):
    cp, ns = control_plane, namespace
    apply(cp, ns, f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec: {{clusterIP: None, selector: {{app: web}}, ports: [{{port: 80}}]}}
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {{name: web}}
        spec:
          serviceName: web
          replicas: 2
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              terminationGracePeriodSeconds: 5
              containers:
              - name: main
                image: {IMAGE}
                command: [sh, -c]
                args:
                - |
                  echo $(POD_NAME) >> /mnt/pod/data/runs
                  peer=web-$((1 - INDEX)).web.$NS.svc.cluster.local
                  until getent hosts $peer > /mnt/pod/data/peer.tmp; do sleep 0.2; done
                  mv /mnt/pod/data/peer.tmp /mnt/pod/data/peer
                  exec sleep 100000
                env:
                - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
                - {{name: NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
                - {{name: INDEX, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}}}}}
                volumeMounts: [{{name: data, mountPath: /mnt/pod/data}}]
          volumeClaimTemplates:
          - metadata: {{name: data}}
            spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
    """)
    pods = [wait_pod(cp, ns, f"web-{i}", "Ready", lambda p: condition(p, "Ready")) for i in (0, 1)]
    ips = [p["status"]["podIP"] for p in pods]
    assert ips[0] != ips[1] and all(ipaddress.ip_address(ip).is_loopback for ip in ips)
    dirs = [node_agent.claim_dir(ns, f"data-web-{i}") for i in (0, 1)]
    for i in (0, 1):  # each resolved the other's pod DNS name (web-0 only after web-1 existed)
        wait_for(f"web-{i} to resolve its peer", lambda i=i: (dirs[i] / "peer").exists(), TIMEOUT_S)
        assert (dirs[i] / "peer").read_text().split()[0] == ips[1 - i]
    old_uid = pods[1]["metadata"]["uid"]
    cp.kubectl("delete", "pod", "web-1", "-n", ns, "--wait=false")
    wait_pod(cp, ns, "web-1", "recreated and Ready",
             lambda p: p["metadata"]["uid"] != old_uid and condition(p, "Ready"))
    assert node_agent.claim_dir(ns, "data-web-1") == dirs[1]
    wait_for("the new web-1 to write to the same volume",
             lambda: (dirs[1] / "runs").read_text() == "web-1\nweb-1\n", TIMEOUT_S)


ECHO = """
import os, socketserver
name = os.environ["POD_NAME"].encode()
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(name + b": " + line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer((os.environ["POD_IP"], 7000), Echo).serve_forever()
"""


def echo_pod(name):
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}, labels: {{app: echo}}}}
        spec:
          containers:
          - name: echo
            image: {IMAGE}
            command: [python3, /mnt/pod/echo/echo.py]
            env:
            - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
            - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
            ports: [{{name: echo, containerPort: 7000}}]
            readinessProbe: {{tcpSocket: {{port: echo}}, periodSeconds: 1}}
            volumeMounts: [{{name: code, mountPath: /mnt/pod/echo}}]
          volumes: [{{name: code, configMap: {{name: echo}}}}]
    """


def ask(host, port):
    """What the echo server answers through host:port to "hello", None when the connection is
    refused, "" when it breaks (a listener closing as the client connects resets it). The
    client half-closes, so the proxy must pass the end of stream on both ways."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"hello\n")
            s.shutdown(socket.SHUT_WR)
            return s.makefile().read()
    except ConnectionRefusedError:
        return None
    except OSError:
        return ""


def test_nodeport_and_loadbalancer_services_reach_pods(control_plane, node_agent, namespace):
    """The agent stands in for kube-proxy (NodePort: 127.0.0.1:nodePort) and a cloud load
    balancer (an address from --lb-ips in the Service's status, listening on its port): both
    reach a ready pod the selector matches, follow the pods as they change, and close with the
    Service."""
    cp, ns = control_plane, namespace
    cp.kubectl("create", "configmap", "echo", "-n", ns, "--from-literal", f"echo.py={ECHO}")
    apply(cp, ns, echo_pod("echo-1") + """
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: by-node-port}
        spec:
          type: NodePort
          externalTrafficPolicy: Local
          selector: {app: echo}
          ports: [{name: echo, port: 7000, targetPort: echo}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: balanced}
        spec:
          type: LoadBalancer
          selector: {app: echo}
          ports: [{name: echo, port: 8080, targetPort: 7000}]
    """)
    wait_pod(cp, ns, "echo-1", "Ready", lambda p: condition(p, "Ready"))
    node_port = cp.get_json("service", "by-node-port", "-n", ns)["spec"]["ports"][0]["nodePort"]

    def ingress():
        st = cp.get_json("service", "balanced", "-n", ns)["status"]
        return next((i["ip"] for i in st.get("loadBalancer", {}).get("ingress", []) if i.get("ip")), None)
    lb_ip = wait_for("the LoadBalancer Service's ingress address", ingress, TIMEOUT_S)
    assert ipaddress.ip_address(lb_ip) in ipaddress.ip_network(node_agent.lb_ips)
    lb_node_port = cp.get_json("service", "balanced", "-n", ns)["spec"]["ports"][0]["nodePort"]
    frontends = [("127.0.0.1", node_port), (lb_ip, 8080), ("127.0.0.1", lb_node_port)]
    for host, port in frontends:
        wait_for(f"echo-1 to answer through {host}:{port}", lambda: ask(host, port) == "echo-1: hello\n", TIMEOUT_S)

    # The pods behind the Services change: traffic follows to the new one only.
    apply(cp, ns, echo_pod("echo-2"))
    wait_pod(cp, ns, "echo-2", "Ready", lambda p: condition(p, "Ready"))
    cp.kubectl("delete", "pod", "echo-1", "-n", ns)
    for host, port in frontends:
        wait_for(f"echo-2 to answer through {host}:{port}", lambda: ask(host, port) == "echo-2: hello\n", TIMEOUT_S)
        assert [ask(host, port) for _ in range(5)] == ["echo-2: hello\n"] * 5

    # Deleting the Services closes their ports.
    cp.kubectl("delete", "service", "by-node-port", "balanced", "-n", ns)
    for host, port in frontends:
        wait_for(f"{host}:{port} to refuse connections", lambda: ask(host, port) is None, TIMEOUT_S)
