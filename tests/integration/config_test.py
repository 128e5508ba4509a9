"""`--version`, and configuration as Kafka users write it: a compose file's KAFKA_*
environment, several listeners each advertised with its own address, the operator's shared
and per-pod files with ${env:NAME} in values, a bad value that stops start-up with the key
named, and idle connections closed after connections.max.idle.ms."""
import contextlib
import os
import re
import socket
import subprocess
import time

from harness import broker_binary, connection_closed, coordinator_binary, free_port, metadata_brokers


def wait_listening(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"broker exited {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("broker did not listen")


@contextlib.contextmanager
def running_broker(args, env, log_path, port):
    """A broker started with `args` and `env`, listening on `port`; on leaving, it must stop
    cleanly on SIGTERM. Its log is printed, so a failing test shows it."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([broker_binary(), *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, proc)
            yield proc
        finally:
            proc.terminate()
            code = proc.wait(20)
            print(log_path.read_text(errors="replace"))
            assert code == 0


def test_compose_environment_with_internal_and_external_listeners(tmp_path):
    internal, external = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update({
        "KAFKA_NODE_ID": "7",
        "KAFKA_LISTENERS": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}",
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://localhost:{external}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_LOG_DIRS": str(tmp_path / "data"),
        "KAFKA_HEAP_OPTS": "-Xmx1G",          # for the JVM images: ignored, not an error
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    })
    with running_broker([], env, tmp_path / "broker.log", external):
        # Each listener advertises its own address for every broker.
        assert metadata_brokers(internal) == {7: ("127.0.0.1", internal)}
        assert metadata_brokers(external) == {7: ("localhost", external)}


def test_shared_and_per_pod_files_with_env_references(tmp_path):
    """The operator's command line: broker.properties for every broker, then the pod's own
    file, whose advertised.listeners take the pod's name and host address from ${env:...}."""
    internal, external = free_port(), free_port()
    shared = tmp_path / "broker.properties"
    shared.write_text(
        "node.id=1\n"
        f"listeners=INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}\n"
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT\n"
        "inter.broker.listener.name=INTERNAL\n"
        f"log.dirs={tmp_path / 'data'}\n"
        "offsets.topic.replication.factor=1\n"
        # As a Kafka server.properties declares it; Tributary accepts it and needs it not.
        "config.providers=env\n"
        "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n")
    pod = tmp_path / "c-broker-7.properties"
    pod.write_text(
        "node.id=7\n"
        f"advertised.listeners=INTERNAL://${{env:HOST_IP}}:{internal},"
        f"EXTERNAL://${{env:POD_NAME}}.c-broker.ns.svc.cluster.local:{external}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update({"POD_NAME": "c-broker-7", "HOST_IP": "127.0.0.1"})
    with running_broker([str(shared), str(pod)], env, tmp_path / "broker.log", external):
        assert metadata_brokers(internal) == {7: ("127.0.0.1", internal)}
        assert metadata_brokers(external) == {7: ("c-broker-7.c-broker.ns.svc.cluster.local", external)}

    # Without POD_NAME the broker does not start, and says which key, variable and file.
    del env["POD_NAME"]
    p = subprocess.run([broker_binary(), str(shared), str(pod)], env=env, capture_output=True, timeout=30)
    assert p.returncode == 2, p
    assert b"advertised.listeners" in p.stderr and b"POD_NAME is not set" in p.stderr, p.stderr
    assert str(pod).encode() in p.stderr, p.stderr


def test_version_of_both_programs(tmp_path):
    """--version answers with the program's name and version and starts nothing."""
    for binary, name in ((broker_binary(), "tributary-broker"), (coordinator_binary(), "tributary-coordinator")):
        p = subprocess.run([binary, "--version"], capture_output=True, timeout=30, cwd=tmp_path)
        assert p.returncode == 0, p
        assert re.fullmatch(rf"{name} \d+\.\d+\.\d+\n", p.stdout.decode()), p.stdout
        assert list(tmp_path.iterdir()) == [], "--version wrote files"


def test_invalid_value_stops_start_up_naming_the_key(tmp_path):
    p = subprocess.run([broker_binary(), "--override", "num.partitions=many",
                        "--override", f"log.dirs={tmp_path}"],
                       capture_output=True, timeout=30)
    assert p.returncode == 2
    assert b"num.partitions" in p.stderr and b"many" in p.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["KAFKA_LOG_RETENTION_MS"] = "soon"
    p = subprocess.run([broker_binary(), "--override", f"log.dirs={tmp_path}"], env=env,
                       capture_output=True, timeout=30)
    assert p.returncode == 2
    assert b"log.retention.ms" in p.stderr and b"KAFKA_LOG_RETENTION_MS" in p.stderr


def test_idle_connections_are_closed(make_broker):
    b = make_broker(overrides={"connections.max.idle.ms": 500})
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as idle:
        assert connection_closed(idle, timeout=10), "an idle connection should be closed"
    assert "connections.max.idle.ms" in b.log_text()
