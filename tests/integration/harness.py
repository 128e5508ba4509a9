"""Shared helpers for Tributary's integration tests.

Run the tests with Debian's interpreter (/usr/bin/python3): it has python3-confluent-kafka,
python3-kafka and python3-pytest; the default `python3` on the build machines does not.

  Broker        starts the real tributary-broker (TRIB_BROKER, or build/broker/...) on a free
                loopback port in a directory of its own; waits until it answers ApiVersions
                and lists itself in Metadata; stops it with SIGTERM (SIGKILL after a bound);
                restarts it on the same data and port.
  Coordinator, CoordinatorQuorum
                one tributary-coordinator, or several voting on one metadata log (each with
                /metrics, which tells which one is the active controller).
  raw protocol  request frames, response reading, ApiVersions v0 parsing: for the tests that
                talk to the broker on a plain socket.
  kcat          run kcat with a bound on time.
  consume_all   read a whole topic back with confluent-kafka (assign(), no group).

Every wait here is bounded in time, and every loop in count or time.
"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
import zlib
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = Path(__file__).resolve().parent

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


def program_binary(module, env_var):
    """The built program tributary-<module>: $env_var, or build/<module>/tributary-<module>."""
    path = os.environ.get(env_var) or str(SOURCE_DIR / "build" / module / f"tributary-{module}")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{module} binary {path} not found: build tributary-{module} or set {env_var}")
    return path


def broker_binary():
    return program_binary("broker", "TRIB_BROKER")


def tool_binary(name, env_var):
    """A helper program the integration tests build (tests/integration/<name>): $env_var, or
    build/tests/integration/<name>."""
    path = os.environ.get(env_var) or str(SOURCE_DIR / "build" / "tests" / "integration" / name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} not found: build {name} or set {env_var}")
    return path


def project_version():
    """The project's version, as CMakeLists.txt's project() gives it and --version prints it."""
    for line in (SOURCE_DIR / "CMakeLists.txt").read_text().splitlines():
        if line.startswith("project(tributary VERSION "):
            return line.split()[2]
    raise RuntimeError("no 'project(tributary VERSION x.y.z' line in CMakeLists.txt")


def loopback_port_range():
    """Ports [low, high) under the kernel's ephemeral range. A port from bind(0) is one the
    kernel may hand out again a moment later to any socket, such as the coordinator a broker
    embeds or a client's connection, and a broker told to listen on it then fails to start;
    ports under the range are only ever taken by someone asking for them by number."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    return max(1024, first - 12000), first


_ports_handed_out = set()


def free_port():
    """A loopback port nobody listens on right now, chosen at random under the kernel's
    ephemeral range (see loopback_port_range), and never one this process handed out before:
    a test often asks for several ports before it starts anything on them (a quorum's
    listeners and status ports), and two of those must not be the same."""
    low, high = loopback_port_range()
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _ports_handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _ports_handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {low}..{high - 1} after 200 tries")


def write_unreachable_kubeconfig(path):
    """A kubeconfig naming an API server that isn't there (a free loopback port), for running
    tributary-operator without Kubernetes: it starts, serves its endpoints and retries the API."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: none, cluster: {{server: "https://127.0.0.1:{free_port()}", insecure-skip-tls-verify: true}}}}]
users: [{{name: none, user: {{token: not-a-token}}}}]
contexts: [{{name: none, context: {{cluster: none, user: none}}}}]
current-context: none
""")
    return path


class _Process:
    """What Broker and Coordinator share: a child process whose output goes to `log_path`,
    stopped with SIGTERM (SIGKILL after STOP_TIMEOUT_S) or killed."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.proc = None
        self._log_file = None

    def _spawn(self, args, env=None):
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.send_signal(signal.SIGCONT)  # a paused process takes it too
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._log_stacks("did not stop within %d s of SIGTERM" % STOP_TIMEOUT_S)
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        rc = self.proc.returncode
        self._close_log()
        return rc

    def kill(self):
        """SIGKILL: the process gets no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()

    def pause(self):
        """SIGSTOP: the process stays, silent, until resume() (its leases run out meanwhile)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        """SIGCONT after pause()."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)

    def _log_stacks(self, why):
        """Appends every thread's stack (gdb) to the process's log, so a hang can be read
        after the process is killed."""
        gdb = shutil.which("gdb")
        if gdb is None:
            return
        self._log_file.write(("harness: %s; its threads' stacks:\n" % why).encode())
        self._log_file.flush()
        try:
            subprocess.run([gdb, "-p", str(self.proc.pid), "-batch", "-nx", "-ex", "thread apply all bt"],
                           stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=60, check=False)
        except subprocess.TimeoutExpired:
            self._log_file.write(b"harness: gdb took over 60 s; no stacks\n")

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars=20000):
        return self.log_text()[-chars:]


class Broker(_Process):
    """One tributary-broker process: node 1, its own controller, data under `root`.

    `advertised_port` lets a test advertise another address (the capture proxy's) than the
    one the broker listens on. `overrides` are extra Kafka properties. `launcher`: a command
    the broker's own is appended to, which execs it (tmpfs_launcher).
    """

    def __init__(self, root, advertised_port=None, overrides=None, node_id=1, launcher=None):
        super().__init__(Path(root) / "broker.log")
        self.node_id = node_id
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.port = None
        self.advertised_port = advertised_port
        self.overrides = dict(overrides or {})
        self.launcher = list(launcher or [])
        self.starts = 0

    @property
    def bootstrap(self):
        """The address clients are told to use: the advertised one (a proxy's, if any)."""
        return f"127.0.0.1:{self.advertised_port or self.port}"

    def start(self):
        """Starts on a free port (keeps the port of the previous start, so a restart serves
        the same address); retries with another port when the chosen one was taken."""
        attempts = 5
        for attempt in range(attempts):
            if self.port is None or attempt > 0:
                self.port = free_port()
            if self._spawn_and_wait():
                return self
            if "Address already in use" not in self.log_tail(2000):
                break
        raise RuntimeError(f"broker did not start; log:\n{self.log_tail()}")

    def _spawn_and_wait(self):
        self.root.mkdir(parents=True, exist_ok=True)
        advertised = self.advertised_port or self.port
        args = [*self.launcher, broker_binary(),
                "--override", f"node.id={self.node_id}",
                "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{advertised}",
                "--override", f"log.dirs={self.data_dir}"]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        self.starts += 1
        with open(self.log_path, "ab") as f:
            f.write(f"==== start {self.starts}: {' '.join(args)}\n".encode())
        self._spawn(args, env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_log()
                return False
            if self._answers_api_versions():
                return True
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"broker not ready within {START_TIMEOUT_S} s; log:\n{self.log_tail()}")

    def _answers_api_versions(self):
        """Ready: it has registered with its coordinator (before that a client finds no broker
        to talk to)."""
        return lists_itself(self.port, self.node_id, timeout=2)

    def restart(self):
        if self.alive():
            self.stop()
        return self.start()

    def wait_for_log(self, needle, since=0, timeout=10):
        """Waits until `needle` appears in the log after character `since`; True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text()[since:]:
                return True
            time.sleep(0.05)
        return False


def tmpfs_launcher(mount_point, size_bytes):
    """A Broker launcher: the broker runs in a mount namespace of its own (unshare, as root)
    where `mount_point` (its data directory) is a tmpfs of `size_bytes`, so its disk fills up
    (ENOSPC) while the rest of the machine's does not. The mount goes with the process."""
    script = 'mkdir -p "$2" && mount -t tmpfs -o size="$1" tributary-test "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "tmpfs-launcher", str(size_bytes), str(mount_point)]


def start_sasl_broker(root, overrides):
    """A coordinator and a broker of it under `root`, the broker with a PLAINTEXT listener (the
    harness's readiness check, the inter-broker listener) and a SASL_PLAINTEXT one on a port of
    its own, plus `overrides`: (coordinator, broker, SASL port). The caller stops both."""
    coord = Coordinator(root / "coordinator")
    coord.start()
    b = Broker(root / "broker")
    b.port = free_port()
    sasl_port = free_port()
    b.overrides.update({
        "controller.quorum.voters": coord.voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{b.port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{b.port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        **overrides,
    })
    try:
        b.start()
    except BaseException:
        b.stop()
        coord.stop()
        raise
    return coord, b, sasl_port


def coordinator_binary():
    return program_binary("coordinator", "TRIB_COORDINATOR")


class Coordinator(_Process):
    """One tributary-coordinator process on a loopback port (a free one unless given); brokers
    join it with the `voters` string as controller.quorum.voters. Alone it is node 100 and the
    only voter; in a CoordinatorQuorum each member gets its id and the quorum's voters.
    With `http_port`, it serves /metrics, /healthz and /readyz there (metrics())."""

    def __init__(self, root, overrides=None, node_id=100, port=None, http_port=None, voters=None):
        super().__init__(Path(root) / "coordinator.log")
        self.root = Path(root)
        self.node_id = node_id
        self.port = port or free_port()
        self.http_port = http_port
        self._voters = voters
        self.overrides = dict(overrides or {})

    @property
    def voters(self):
        return self._voters or f"{self.node_id}@127.0.0.1:{self.port}"

    @property
    def data_dir(self):
        return self.root / "data"

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        args = [coordinator_binary(), "--override", f"node.id={self.node_id}",
                "--override", f"controller.quorum.voters={self.voters}",
                "--override", f"listeners=CONTROLLER://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.data_dir}"]
        if self.http_port:
            args += ["--override", f"tributary.http.listener=127.0.0.1:{self.http_port}"]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        self._spawn(args)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"coordinator exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"coordinator not listening within {START_TIMEOUT_S} s")

    def metrics(self, timeout=2):
        """{series: value} from /metrics (series as written, labels included); {} when it does
        not answer (stopped, paused, not serving yet)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=timeout) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


class CoordinatorQuorum:
    """`n` coordinators (ids 100, 101, ...) voting on one metadata log, each on its own free
    loopback port with its status (/metrics) on another; `voters` is what brokers are given."""

    def __init__(self, root, n=3, overrides=None):
        ports = [free_port() for _ in range(n)]
        voters = ",".join(f"{100 + i}@127.0.0.1:{p}" for i, p in enumerate(ports))
        self.members = [Coordinator(Path(root) / f"coordinator-{100 + i}", overrides, node_id=100 + i,
                                    port=ports[i], http_port=free_port(), voters=voters)
                        for i in range(n)]
        self.voters = voters

    def start(self):
        for m in self.members:
            m.start()
        return self

    def stop(self):
        for m in self.members:
            m.stop()

    def active(self):
        """The members that say they are the active controller right now."""
        return [m for m in self.members
                if m.alive() and m.metrics().get("tributary_coordinator_active_controller") == 1]

    def leader(self, timeout=60, among=None):
        """Waits until exactly one member (of `among`, default all running ones) is the active
        controller, and returns it."""
        pool = among or self.members
        found = {}

        def one():
            act = [m for m in self.active() if m in pool]
            found["active"] = [m.node_id for m in act]
            found["leader"] = act[0] if len(act) == 1 else None
            return found["leader"] is not None

        wait_until(one, "one active controller", timeout=timeout, describe=lambda: found["active"])
        return found["leader"]


def metadata_brokers(port, host="127.0.0.1", timeout=10, what="brokers"):
    """{node_id: (host, port)} from a Metadata v1 request (no topics) to host:port; with
    what="racks", {node_id: rack or None}."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        send_request(s, API_METADATA, 1, 1, metadata_v1_no_topics())
        _, body = read_response(s)
    return parse_metadata_v1_brokers(body)[what]


def lists_itself(port, node_id, timeout=2):
    """True when the server on `port` answers ApiVersions and its Metadata lists `node_id`:
    a Kafka broker ready for clients (Tributary's and Apache Kafka's alike)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            send_request(s, API_VERSIONS, 0, 1, b"")
            corr, body = read_response(s)
            if corr != 1 or parse_api_versions_v0(body)["error_code"] != 0:
                return False
            send_request(s, API_METADATA, 1, 2, metadata_v1_no_topics())
            corr, body = read_response(s)
            return corr == 2 and node_id in parse_metadata_v1_brokers(body)["brokers"]
    except (OSError, ValueError, EOFError, struct.error):
        return False


# ---- the Kafka protocol on a raw socket -----------------------------------------------------

API_PRODUCE = 0
API_METADATA = 3
API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def request_frame(api_key, version, correlation_id, body, client_id="trib-raw"):
    """A size-prefixed request with a v1 header (non-flexible versions; ApiVersions v0-2)."""
    cid = client_id.encode()
    header = struct.pack(">hhih", api_key, version, correlation_id, len(cid)) + cid
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def send_request(sock, api_key, version, correlation_id, body, client_id="trib-raw"):
    sock.sendall(request_frame(api_key, version, correlation_id, body, client_id))


def recv_exact(sock, n):
    """n bytes, or raises EOFError if the peer closes first."""
    chunks = []
    left = n
    while left > 0:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError(f"connection closed with {left} of {n} bytes missing")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_response(sock, max_size=64 << 20):
    """(correlation id, body) of one response with a v0 header."""
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    if size < 4 or size > max_size:
        raise ValueError(f"response size {size}")
    frame = recv_exact(sock, size)
    return struct.unpack(">i", frame[:4])[0], frame[4:]


def find_coordinator_v0(port, group):
    """(error code, node id, port) of FindCoordinator v0 for `group`."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        key = group.encode()
        send_request(s, 10, 0, 7, struct.pack(">h", len(key)) + key)
        corr, body = read_response(s)
        assert corr == 7
        err, node = struct.unpack_from(">hi", body, 0)
        (n,) = struct.unpack_from(">h", body, 6)
        (p,) = struct.unpack_from(">i", body, 8 + n)
        return err, node, p


def metadata_v1_all_topics():
    """Metadata v1 body asking for all topics (null array)."""
    return struct.pack(">i", -1)


def metadata_v1_no_topics():
    """Metadata v1 body asking for no topic (empty array): brokers and controller only."""
    return struct.pack(">i", 0)


def parse_metadata_v1_brokers(body):
    """The broker list, racks and controller id of a Metadata v1 response:
    {"brokers": {node_id: (host, port)}, "racks": {node_id: rack or None}, "controller_id": int}."""
    (count,) = struct.unpack(">i", body[:4])
    pos = 4
    brokers, racks = {}, {}
    for _ in range(count):
        node_id, host_len = struct.unpack(">ih", body[pos:pos + 6])
        pos += 6
        host = body[pos:pos + host_len].decode()
        pos += host_len
        port, rack_len = struct.unpack(">ih", body[pos:pos + 6])
        pos += 6
        racks[node_id] = body[pos:pos + rack_len].decode() if rack_len >= 0 else None
        pos += max(rack_len, 0)
        brokers[node_id] = (host, port)
    (controller_id,) = struct.unpack(">i", body[pos:pos + 4])
    return {"brokers": brokers, "racks": racks, "controller_id": controller_id}


def parse_api_versions_v0(body):
    """ApiVersions response in the v0 body layout: error code and {key: (min, max)}."""
    error_code, count = struct.unpack(">hi", body[:6])
    if count < 0 or 6 + 6 * count > len(body):
        raise ValueError(f"bad ApiVersions body ({len(body)} bytes, {count} keys)")
    ranges = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", body[6 + 6 * i:12 + 6 * i])
        ranges[key] = (lo, hi)
    return {"error_code": error_code, "api_keys": ranges, "trailing": len(body) - 6 - 6 * count}


def connection_closed(sock, timeout=10):
    """True when the broker closes the connection (EOF or reset) within `timeout`; any bytes
    it sends first are read and dropped. False if it is still open at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def wait_until(check, what, timeout=60, describe=None):
    """Polls check() every 50 ms until it is true; fails after `timeout` s, naming `what` and
    what describe() (if given) says of the state then. check may raise to fail at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f": {describe()}" if describe else ""))


# ---- kcat ----------------------------------------------------------------------------------

def kcat(*args, input=None, timeout=60):
    """Runs kcat; returns CompletedProcess (stdout bytes). Fails on timeout or exit != 0."""
    p = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


# ---- confluent-kafka helpers ------------------------------------------------------------------

def admin_create_topic(bootstrap, topic, partitions, config=None, timeout=30):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})],
                                  operation_timeout=timeout, request_timeout=timeout)
    futures[topic].result(timeout)


def partition_count(bootstrap, topic, timeout=30):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=timeout)
    t = md.topics[topic]
    if t.error is not None:
        raise AssertionError(f"metadata for {topic}: {t.error}")
    return len(t.partitions)


def close_consumer(consumer, timeout=30):
    """consumer.close(), given up on after `timeout` s (the consumer is then left to the
    process's end). librdkafka 2.16's close of a consumer that only assign()ed partitions was
    seen to wait forever after brokers were killed and paused around it (fault schedule seed
    1084: rd_kafka_consumer_close waiting on a partition's fetch to stop); a reader that has
    read what it needed must not hang the test on it."""
    import threading
    t = threading.Thread(target=consumer.close, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        print(f"consumer.close() still waiting after {timeout} s: left behind", flush=True)


def poll_until(consumers, done, timeout=60, what="condition", into=None, tick=None, on_record=None):
    """Polls every confluent-kafka consumer in turn (rebalances progress in poll), calling
    tick() once a round, until done() holds. Records read meanwhile go to `into` ({(partition,
    offset): [consumer index, ...]}) and to on_record(index, message); without `into`, a record
    read fails the test."""
    from confluent_kafka import KafkaError
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            m = c.poll(0.05)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer {i}: {m.error()}")
            if into is None:
                raise AssertionError(f"consumer {i} read {m.topic()}[{m.partition()}]@{m.offset()} unexpectedly")
            into.setdefault((m.partition(), m.offset()), []).append(i)
            if on_record is not None:
                on_record(i, m)
        if tick is not None:
            tick()
        if done():
            return
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; assignments: "
                         f"{[sorted(tp.partition for tp in c.assignment()) for c in consumers]}")


def start_member(bootstrap, group, topic, conf, timeout=60):
    """A confluent-kafka group member in a process of its own (sys.executable), subscribed to
    `topic` with `conf` added to its configuration, polling until killed; returned once it has
    partitions (it prints "assigned"), or killed and failed after `timeout` s. The caller kills it."""
    import json
    import select
    import sys
    import textwrap
    script = textwrap.dedent("""
        import json, sys
        from confluent_kafka import Consumer
        c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], **json.loads(sys.argv[4])})
        c.subscribe([sys.argv[3]])
        said = False
        while True:
            c.poll(0.1)
            if c.assignment() and not said:
                print("assigned", flush=True)
                said = True
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, bootstrap, group, topic, json.dumps(conf)],
                            stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else f"nothing within {timeout} s"
    if line != "assigned":
        proc.kill()
        proc.wait()
        raise AssertionError(f"the member process said {line!r}, exit {proc.returncode}")
    return proc


def watermarks(consumer, tp, timeout=30):
    """consumer.get_watermark_offsets(tp), asked again while the answer is one a Java client
    retries and librdkafka hands to the application: OFFSET_NOT_AVAILABLE (a leader elected a
    moment ago whose high watermark has not yet reached its epoch's start, KIP-207), a
    leadership that moved between the metadata and the request, or a connection lost with a
    broker that was just stopped. Any other error, or one past `timeout`, fails the read."""
    from confluent_kafka import KafkaError, KafkaException
    retried = {KafkaError.OFFSET_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
               KafkaError.LEADER_NOT_AVAILABLE, KafkaError.FENCED_LEADER_EPOCH,
               KafkaError.UNKNOWN_LEADER_EPOCH, KafkaError.REQUEST_TIMED_OUT,
               KafkaError._TRANSPORT, KafkaError._TIMED_OUT}
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as e:
            if e.args[0].code() not in retried or time.monotonic() >= deadline:
                raise AssertionError(f"watermarks of {tp.topic}[{tp.partition}]: {e.args[0]}") from e
            time.sleep(0.1)


def consume_all(bootstrap, topic, timeout=120, at_least=None):
    """Every record of `topic`, from offset 0 to the high watermark of each partition (as
    ListOffsets gives it before the read, or `at_least[partition]` when that is higher), read
    with a confluent-kafka Consumer that assign()s the partitions: no group coordination, no
    commits.

    Returns {partition: [(offset, key, value), ...]} in the order read. Fails if the end of
    every partition is not reached within `timeout`.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "trib-integration-reader",
                  "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": False,
                  "fetch.max.bytes": 16 << 20, "max.partition.fetch.bytes": 4 << 20})
    try:
        try:
            md = c.list_topics(topic=topic, timeout=30)
        except KafkaException as e:
            raise AssertionError(f"metadata for {topic}: {e.args[0]}") from e
        t = md.topics[topic]
        if t.error is not None:
            raise AssertionError(f"metadata for {topic}: {t.error}")
        partitions = sorted(t.partitions)
        ends = {}
        for p in partitions:
            lo, hi = watermarks(c, TopicPartition(topic, p))
            if lo != 0:
                raise AssertionError(f"{topic}[{p}] starts at {lo}, not 0")
            ends[p] = max(hi, (at_least or {}).get(p, 0))
        out = {p: [] for p in partitions}
        pending = {p for p in partitions if ends[p] > 0}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for m in c.consume(10000, timeout=0.5):
                if m.error() is not None:
                    raise AssertionError(f"consume error: {m.error()}")
                p = m.partition()
                if m.offset() >= ends[p]:
                    continue
                out[p].append((m.offset(), m.key(), m.value()))
                if m.offset() == ends[p] - 1:
                    pending.discard(p)
        if pending:
            raise AssertionError(f"timed out reading {topic}: partitions {sorted(pending)} not at "
                                 f"their end; read {[len(out[p]) for p in partitions]} of "
                                 f"{[ends[p] for p in partitions]}")
        return out
    finally:
        close_consumer(c)


def check_offsets_dense(records):
    """Offsets of one partition read from 0 to the end: 0, 1, 2, ... (no gaps, no repeats)."""
    offsets = [o for o, _, _ in records]
    assert offsets == list(range(len(offsets))), "offsets are not 0..n-1 in order"


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(broker, topic):
    """(size in bytes, attributes) of every batch of `topic` in the broker's log files, read
    straight from disk. A running broker's active segment may end in zeros (the padding of its
    direct writes): a batch length below the smallest batch ends the file."""
    for log in sorted(Path(broker.data_dir).glob(f"{topic}-*/*.log")):
        data = log.read_bytes()
        pos = 0
        while pos + 23 <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            if length < 49:
                break
            yield 12 + length, struct.unpack_from(">h", data, pos + 21)[0]
            pos += 12 + length


def stored_codecs(broker, topic):
    """{codec id: number of batches} over every batch of `topic` on disk: what the client
    really sent (the attributes' low 3 bits)."""
    counts = {}
    for _, attributes in stored_batches(broker, topic):
        counts[attributes & 7] = counts.get(attributes & 7, 0) + 1
    return counts


# An uncompressed batch at least this big, of the tests' compressible records, was one the
# client should have compressed: compressing would have made it smaller.
SMALL_BATCH_BYTES = 1024


def assert_stored_with(broker, topic, codec):
    """The batches of `topic` on disk are compressed with `codec`, but for small uncompressed
    ones (librdkafka and kafka-python send a batch uncompressed when compressing it would not
    make it smaller: a batch of one or two records, which a slow producer on a loaded machine
    sends often). At least one batch is compressed."""
    want = CODEC_IDS[codec]
    batches = list(stored_batches(broker, topic))
    assert batches, f"no batches of {topic} on disk"
    counts = stored_codecs(broker, topic)
    assert set(counts) <= {want, 0}, f"{topic}: batches per codec id {counts}, wanted {codec}"
    if want == 0:
        return
    assert counts.get(want, 0) > 0, f"{topic}: batches per codec id {counts}, none with {codec}"
    big_plain = [size for size, attributes in batches
                 if attributes & 7 == 0 and size >= SMALL_BATCH_BYTES]
    assert not big_plain, (f"{topic}: {len(big_plain)} uncompressed batches of "
                           f"{SMALL_BATCH_BYTES} B or more (largest {max(big_plain)} B), wanted "
                           f"{codec}; batches per codec id {counts}")


def librdkafka_partition(key, partitions):
    """librdkafka's default partitioner (consistent_random) for a non-empty key: crc32 % n."""
    return (zlib.crc32(key) & 0xFFFFFFFF) % partitions


def java_partition(key, partitions):
    """The Java client's default partitioner (murmur2), as kafka-python and kafkajs use it."""
    from kafka.partitioner.default import murmur2
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---- kafkajs (node) ----------------------------------------------------------------------------

JS_DIR = INTEGRATION_DIR / "js"


def kafkajs(bootstrap, *args, timeout=120, security=None):
    """Runs js/kafkajs_client.js with node; returns its JSON answer. Fails on exit != 0.
    `security`: TLS and SASL settings (kafkajs_client.js, TRIB_KAFKAJS_SECURITY)."""
    import json
    if not (JS_DIR / "node_modules" / "kafkajs").is_dir():
        raise AssertionError(f"kafkajs is not installed: run `npm ci` in {JS_DIR} "
                             "(scripts/install-deps.sh does)")
    p = subprocess.run(["node", str(JS_DIR / "kafkajs_client.js"), bootstrap, *map(str, args)],
                       capture_output=True, timeout=timeout, cwd=JS_DIR,
                       env={**os.environ, "KAFKAJS_NO_PARTITIONER_WARNING": "1",
                            "TRIB_KAFKAJS_SECURITY": json.dumps(security or {})})
    if p.returncode != 0:
        raise AssertionError(f"kafkajs {' '.join(map(str, args))} exited {p.returncode}: "
                             f"{p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout.decode().strip().splitlines()[-1])
