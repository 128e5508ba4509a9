"""The Spring Boot example (examples/spring-kafka): Maven builds it offline (scripts/install-deps.sh
put Spring Boot, Spring Kafka and the Maven plugins in ~/.m2) and it runs against a broker: its
KafkaTemplate sends 100 messages to topic1, its @KafkaListener(topics = "topic1",
groupId = "testgroup") receives each of them once, and after a clean stop the group's committed
offsets are at the end of topic1."""
import re
import shutil
import signal
import subprocess

from confluent_kafka import Consumer, TopicPartition

from harness import INTEGRATION_DIR, wait_until

EXAMPLE = INTEGRATION_DIR.parent.parent / "examples" / "spring-kafka"
MESSAGES = 100


def build(out_dir):
    """Builds the example's executable jar under out_dir; returns its path."""
    mvn = shutil.which("mvn")
    assert mvn is not None, "Maven is not installed (scripts/install-deps.sh installs it)"
    p = subprocess.run([mvn, "-o", "-q", "-B", "-ntp", "-Dstyle.color=never", "-f", str(EXAMPLE / "pom.xml"),
                        f"-Dtrib.build.dir={out_dir}", "package"],
                       capture_output=True, timeout=240)
    assert p.returncode == 0, (f"mvn package exited {p.returncode} (offline: has scripts/install-deps.sh run?)\n"
                               f"{p.stdout.decode(errors='replace')[-5000:]}{p.stderr.decode(errors='replace')[-3000:]}")
    jar = out_dir / "spring-kafka-example.jar"
    assert jar.is_file()
    return jar


def test_spring_kafka_example_receives_every_sent_message_once(make_broker, tmp_path):
    b = make_broker(overrides={"group.initial.rebalance.delay.ms": 0})
    jar = build(tmp_path / "build")
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        app = subprocess.Popen(["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", str(jar),
                                f"--spring.kafka.bootstrap-servers={b.bootstrap}", f"--app.messages={MESSAGES}"],
                               stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        received = lambda: re.findall(r"^Received: (message-\d+)$", log.read_text(), re.M)  # noqa: E731

        def all_received():
            if app.poll() is not None:
                raise AssertionError(f"the application exited {app.returncode}:\n{log.read_text()[-8000:]}")
            return len(received()) >= MESSAGES

        wait_until(all_received, f"{MESSAGES} messages received", timeout=120,
                   describe=lambda: log.read_text()[-8000:])
        app.send_signal(signal.SIGTERM)  # Spring stops the listener container, which commits
        assert app.wait(60) in (0, 143), log.read_text()[-8000:]
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(30)
    text = log.read_text()
    sent = re.findall(r"^Sent: (message-\d+) partition \d+ offset \d+$", text, re.M)
    assert sent == [f"message-{i}" for i in range(MESSAGES)], text[-8000:]
    got = received()
    assert sorted(got) == sorted(sent), "a message was lost or received twice"
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "testgroup"})
    try:
        parts = [TopicPartition("topic1", p) for p in c.list_topics("topic1", timeout=30).topics["topic1"].partitions]
        committed = c.committed(parts, timeout=30)
        ends = [c.get_watermark_offsets(tp, timeout=30)[1] for tp in parts]
        assert [tp.offset for tp in committed] == ends
        assert sum(ends) == MESSAGES
    finally:
        c.close()
