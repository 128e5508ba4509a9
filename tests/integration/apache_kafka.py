"""Apache Kafka 4.x itself, started from the Maven jars that scripts/install-deps.sh resolves
(tools/lib/kafka, run through tools/kafka): the reference the differential tests compare
Tributary with, and the side the benchmarks measure Tributary against.

  ApacheKafka(root).start()   one KRaft node, broker and controller combined, on free loopback
                              ports, data and server.log under `root`; its storage formatted
                              with a fresh cluster id first. Stock settings except listeners,
                              log.dirs and the internal topics' replication factor (one node).
  .bootstrap                  "127.0.0.1:<port>" for clients.
  .stop() / .kill()           SIGTERM (SIGKILL after a bound) / SIGKILL.

Also a command line, for the benchmarks (bench/broker_bench.sh) and the Java tests (tests/java):
  /usr/bin/python3 tests/integration/apache_kafka.py ROOT [PORT [KEY=VALUE ...]] [--heap OPTS]
starts a node, prints its bootstrap address and the JVM's pid once it serves, and stops it on
SIGTERM or SIGINT.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SOURCE_DIR, _Process, free_port, lists_itself  # noqa: E402

KAFKA_LAUNCHER = SOURCE_DIR / "tools" / "kafka"
START_TIMEOUT_S = 90  # a JVM on a loaded 2-core machine


def kafka_tool(*args, timeout=120, check=True, input=None, env=None):
    """Runs one of Kafka's tools by its usual name (tools/kafka kafka-topics ...); returns the
    CompletedProcess with text output. Fails on exit != 0 when `check`."""
    p = subprocess.run([str(KAFKA_LAUNCHER), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, input=input, env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"stdout: {p.stdout[-4000:]}\nstderr: {p.stderr[-4000:]}")
    return p


class ApacheKafka(_Process):
    """One Apache Kafka 4.x KRaft node (process.roles=broker,controller) as a child process."""

    def __init__(self, root, port=None, overrides=None, heap="-Xmx1G -Xms1G"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(self.root / "kafka.out")
        self.port = port or free_port()
        self.controller_port = free_port()
        self.node_id = 1
        self.data_dir = self.root / "data"
        self.overrides = dict(overrides or {})
        self.heap = heap

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def properties(self):
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # one node: the internal topics can't have Kafka's default of three replicas
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
        }
        props.update({k: str(v) for k, v in self.overrides.items()})
        return props

    def start(self):
        config = self.root / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = kafka_tool("kafka-storage", "random-uuid").stdout.strip()
            kafka_tool("kafka-storage", "format", "-t", cluster_id, "-c", config, "--standalone")
        env = {**os.environ, "KAFKA_HEAP_OPTS": self.heap, "KAFKA_LOG_DIR": str(self.root)}
        self._spawn([str(KAFKA_LAUNCHER), "kafka-server-start", str(config)], env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Apache Kafka exited {self.proc.returncode}:\n{self.log_tail()}\n"
                                   f"{self.server_log_tail()}")
            if self._ready():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"Apache Kafka not ready within {START_TIMEOUT_S} s:\n{self.server_log_tail()}")

    def _ready(self):
        """Metadata lists this node: it has caught up with its own controller and is unfenced."""
        return lists_itself(self.port, self.node_id, timeout=5)

    def server_log_tail(self, chars=20000):
        try:
            return (self.root / "server.log").read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    @property
    def pid(self):
        """The JVM's pid (tools/kafka execs java, so it is the child itself)."""
        return self.proc.pid


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="Starts one Apache Kafka node, prints "
                                     "'<bootstrap> <jvm pid>' once it serves, stops it on SIGTERM.")
    parser.add_argument("root", help="folder for its data, server.properties and server.log")
    parser.add_argument("port", nargs="?", type=int, help="client port (default: a free one)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="broker properties")
    parser.add_argument("--heap", default="-Xmx1G -Xms1G", help="KAFKA_HEAP_OPTS (default: Kafka's)")
    args = parser.parse_args(argv[1:])
    overrides = dict(kv.split("=", 1) for kv in args.overrides)
    kafka = ApacheKafka(args.root, port=args.port, overrides=overrides, heap=args.heap)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    kafka.start()
    print(kafka.bootstrap, kafka.pid, flush=True)
    while not stopping and kafka.alive():
        time.sleep(0.2)
    rc = kafka.stop()
    return 0 if stopping else (rc or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
