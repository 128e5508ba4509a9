"""Helpers for the replication fault tests (failover_test.py): load that records what was
acknowledged, a reader that records what was served, the checks between the two, and the
cluster's view of leaders and ISRs.

  VerifiableProducer  Apache Kafka's kafka-verifiable-producer (tools/kafka), its JSON lines
                      parsed as they come: every acknowledged (partition, offset, value).
  RdProducer          a confluent-kafka (librdkafka) producer in a thread, acks=all and
                      idempotent, records numbered 0, 1, 2 ... round robin over the partitions.
  verifiable_consume  Apache Kafka's kafka-verifiable-consumer reading a topic back (a group
                      member, as users' consumers are): {partition: [(offset, key, value)]}.
  TailReader          a consumer in a thread reading every partition from the start while
                      faults happen: every (partition, offset) served, and any offset served
                      twice with different data.
  check_acked_read    every acknowledged record is read back at its offset, no value twice.

Every wait is bounded; nothing here sleeps in place of waiting for a condition.
"""
import json
import os
import subprocess
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

from apache_kafka import KAFKA_LAUNCHER
from harness import close_consumer


def live(brokers, paused=()):
    """Bootstrap string of the brokers that run and are not paused."""
    return ",".join(b.bootstrap for b in brokers if b.alive() and b not in paused)


def wait_until(check, timeout=30, what="condition", interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def create_topic(bootstrap, topic, partitions, replicas=3, min_isr=2):
    """Raises AssertionError if the broker refuses (so a seeded schedule counts it as its
    failure and the next seed runs)."""
    a = AdminClient({"bootstrap.servers": bootstrap})
    try:
        a.create_topics([NewTopic(topic, partitions, replicas,
                                  config={"min.insync.replicas": str(min_isr)})])[topic].result(30)
    except KafkaException as e:
        raise AssertionError(f"creating topic {topic}: {e}") from e


def metadata(bootstrap, topic):
    """confluent-kafka's ClusterMetadata for `topic`, or None if no broker answered."""
    try:
        return AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=10)
    except Exception:  # a broker just killed: KafkaException(_TRANSPORT); asked again
        return None


def states_of(md, topic):
    """{partition: (leader, replicas, isr)} of `topic` in `md`, or None."""
    t = md.topics.get(topic) if md is not None else None
    if t is None or t.error is not None:
        return None
    return {p: (m.leader, sorted(m.replicas), sorted(m.isrs)) for p, m in t.partitions.items()}


def partition_states(bootstrap, topic):
    """{partition: (leader, replicas, isr)} from Metadata, or None if the topic is not there
    (or no broker answered)."""
    return states_of(metadata(bootstrap, topic), topic)


def isr_full(bootstrap, topic, members=(1, 2, 3)):
    """Every partition has a leader and all of `members` in its ISR."""
    s = partition_states(bootstrap, topic)
    return bool(s) and all(l != -1 and isr == sorted(members) for l, _, isr in s.values())


def same_data_everywhere(brokers, topic, partitions):
    """Every replica of every partition holds the same batches on disk (replication_test's
    reading of the log files)."""
    from replication_test import batches
    for part in range(partitions):
        try:
            copies = [batches(b, topic, part) for b in brokers]
        except FileNotFoundError:
            return False  # a segment went (a truncation) between the listing and the read: again
        if any(c != copies[0] for c in copies[1:]):
            return False
    return True


class Acks:
    """What a producer had acknowledged: {partition: {offset: value}}, thread-safe, and when."""

    def __init__(self):
        self._lock = threading.Lock()
        self.by_partition = {}
        # Acknowledged without an offset: librdkafka's idempotent producer may report a batch
        # delivered with an unknown offset (its answer lost, a later batch of the producer
        # acknowledged). Each value must still be read back in its partition.
        self.unplaced = {}  # partition -> [value]
        self.errors = []
        self.count = 0
        self.last_ack = {}  # partition -> monotonic time of its newest ack

    def ack(self, partition, offset, value):
        with self._lock:
            if offset is None or offset < 0:
                self.unplaced.setdefault(partition, []).append(value)
            else:
                self.by_partition.setdefault(partition, {})[offset] = value
            self.count += 1
            self.last_ack[partition] = time.monotonic()

    def error(self, what):
        with self._lock:
            self.errors.append(what)

    def acked_since(self, t, partition=None):
        """Whether an ack (of `partition`, or any) arrived after monotonic time `t`."""
        with self._lock:
            times = [self.last_ack.get(partition, 0)] if partition is not None else self.last_ack.values()
            return any(x > t for x in times)


class VerifiableProducer:
    """kafka-verifiable-producer with acks=all: values are "0", "1", ... (as strings)."""

    def __init__(self, bootstrap, topic, root, messages, throughput, config=None):
        self.acks = Acks()
        self.done = threading.Event()
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        cfg = root / "producer.properties"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in (config or {}).items()))
        self._stderr = open(root / "verifiable-producer.err", "wb")
        self.stderr_path = root / "verifiable-producer.err"
        self.proc = subprocess.Popen(
            [str(KAFKA_LAUNCHER), "kafka-verifiable-producer", "--bootstrap-server", bootstrap,
             "--topic", topic, "--acks", "-1", "--max-messages", str(messages),
             "--throughput", str(throughput), "--command-config", str(cfg),
             # Keyed records go to every partition by hash. Without keys the Java producer's
             # sticky, adaptive partitioner fills one partition for ~16 KB of these tiny records
             # and then picks another, avoiding a partition whose leader is slow or dead: a
             # test waiting for acks on the killed leader's partition could wait in vain.
             "--repeating-keys", "64"],
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")})
        self.events = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            name = ev.get("name")
            self.events[name] = self.events.get(name, 0) + 1
            if name == "producer_send_success":
                self.acks.ack(ev["partition"], ev["offset"], ev["value"].encode())
            elif name == "producer_send_error":
                self.acks.error(f"{ev.get('exception')}: {ev.get('message')} (value {ev.get('value')})")
        self.done.set()

    def wait(self, timeout):
        """Until it has sent every message and exits; its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"kafka-verifiable-producer still running after {timeout} s; "
                                 f"{self.acks.count} acks; stderr: {self.stderr_tail()}")
        self.done.wait(30)
        self._stderr.close()
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._stderr.close()

    def stderr_tail(self):
        return self.stderr_path.read_text(errors="replace")[-3000:]


def verifiable_consume(bootstrap, topic, root, messages, timeout=180):
    """Reads `messages` records of `topic` with kafka-verifiable-consumer (--verbose: one
    record_data line per record; a fresh group from the earliest offsets, committing as it
    goes) and returns {partition: [(offset, key, value), ...]} in the order read, values as
    bytes (the tool prints them as strings), for check_acked_read. Fails if it does not read
    them within `timeout` or exits with an error."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    err_path = root / "verifiable-consumer.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [str(KAFKA_LAUNCHER), "kafka-verifiable-consumer", "--bootstrap-server", bootstrap,
             "--topic", topic, "--group-id", f"verify-{topic}-{time.monotonic_ns()}",
             "--max-messages", str(messages), "--reset-policy", "earliest", "--verbose"],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")})
        read = {}
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("name") == "record_data" and ev.get("topic") == topic:
                    key = ev.get("key")
                    read.setdefault(ev["partition"], []).append(
                        (ev["offset"], key.encode() if key is not None else None, ev["value"].encode()))
            rc = proc.wait(30)
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    got = sum(len(v) for v in read.values())
    if rc != 0 or got < messages:
        raise AssertionError(f"kafka-verifiable-consumer read {got} of {messages} records of {topic} "
                             f"(exit {rc}); stderr: {err_path.read_text(errors='replace')[-3000:]}")
    return read


class RdProducer:
    """A librdkafka producer in a thread: acks=all, idempotent, values b"0", b"1", ... sent
    round robin to the topic's partitions at about `rate` per second until stop()."""

    def __init__(self, bootstrap, topic, partitions, rate=500, config=None):
        self.acks = Acks()
        self.sent = 0
        self._stop = threading.Event()
        conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                "linger.ms": 5, "message.timeout.ms": 120000,
                # A paused leader keeps the requests it was sent until librdkafka times them
                # out (socket.timeout.ms, 60 s by default), and an idempotent producer sends
                # that partition nothing newer elsewhere before: the tests' pauses would wait
                # that long.
                "request.timeout.ms": 10000, "socket.timeout.ms": 10000,
                "topic.metadata.refresh.interval.ms": 1000,
                # Connections closed by the faults are the test's doing; a line for each hid
                # the test's own lines in CI's excerpt of the output.
                "log.connection.close": False}
        if os.environ.get("TRIB_RDKAFKA_DEBUG"):  # e.g. "eos,msg,protocol" when replaying a seed
            conf["debug"] = os.environ["TRIB_RDKAFKA_DEBUG"]
        conf.update(config or {})
        self._producer = Producer(conf)
        self._topic = topic
        self._partitions = partitions
        self._rate = rate
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _delivered(self, err, msg):
        if err is not None:
            self.acks.error(f"{err} (value {msg.value()})")
        else:
            self.acks.ack(msg.partition(), msg.offset(), msg.value())

    def _run(self):
        start = time.monotonic()
        while not self._stop.is_set():
            # paced: record i is sent no earlier than i / rate seconds after the start (never
            # more than a second's worth at once after a stall)
            now = time.monotonic()
            start = max(start, now - 1 - self.sent / self._rate)
            due = start + self.sent / self._rate
            if now < due:
                # poll() with a negative timeout would wait for an event without end
                self._producer.poll(max(0.0, min(0.05, due - now)))
                continue
            try:
                self._producer.produce(self._topic, str(self.sent).encode(), partition=self.sent % self._partitions,
                                       on_delivery=self._delivered)
                self.sent += 1
            except BufferError:
                self._producer.poll(0.1)
            self._producer.poll(0)

    def stop(self, timeout=150):
        """Stops sending and waits until everything sent is acknowledged or failed."""
        self._stop.set()
        self._thread.join(30)
        left = self._producer.flush(timeout)
        assert left == 0, f"{left} records neither acknowledged nor failed after {timeout} s"


class TailReader:
    """A consumer reading every partition from offset 0 in a thread while faults happen
    (assign(), no group): records every (partition, offset) it is served with its value, and
    any offset served twice with different values. Committed records must never change."""

    def __init__(self, bootstrap, topic, partitions):
        self.served = {}
        self.conflicts = []
        self.errors = []
        self._stop = threading.Event()
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "trib-fault-reader",
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                   "socket.timeout.ms": 10000, "log.connection.close": False,
                                   "topic.metadata.refresh.interval.ms": 1000})
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for m in self._consumer.consume(1000, timeout=0.2):
                if m.error() is not None:
                    self.errors.append(str(m.error()))
                    continue
                key = (m.partition(), m.offset())
                seen = self.served.setdefault(key, m.value())
                if seen != m.value():
                    self.conflicts.append((key, seen, m.value()))

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        close_consumer(self._consumer)


def check_acked_read(acks, read, unique=True):
    """Every acknowledged (partition, offset, value) is read back at that offset (one
    acknowledged without an offset: somewhere in its partition); with
    `unique` (idempotent producers), no value is stored twice. `read` is consume_all's answer.
    Returns a list of problems (empty when all is well)."""
    problems = []
    stored = {p: {o: v for o, _, v in recs} for p, recs in read.items()}
    for p, offsets in sorted(acks.by_partition.items()):
        have = stored.get(p, {})
        lost = [(o, v) for o, v in sorted(offsets.items()) if have.get(o) != v]
        if lost:
            problems.append(f"partition {p}: {len(lost)} of {len(offsets)} acknowledged records not read back "
                            f"at their offsets, first {lost[:5]} (read there: "
                            f"{[have.get(o) for o, _ in lost[:5]]})")
    for p, values in sorted(acks.unplaced.items()):
        held = set(stored.get(p, {}).values())
        missing = [v for v in values if v not in held]
        if missing:
            problems.append(f"partition {p}: {len(missing)} of {len(values)} records acknowledged without an offset "
                            f"not read back, first {missing[:5]}")
    if unique:
        seen = {}
        for p, recs in sorted(read.items()):
            for o, _, v in recs:
                if v in seen:
                    problems.append(f"value {v!r} stored twice: {seen[v]} and {(p, o)}")
                    if len(problems) > 20:
                        return problems
                seen[v] = (p, o)
    return problems


def check_served(reader, read):
    """What the tail reader was served agrees with the final read-back: no offset served with
    other data than it holds now (a committed record cut away or rewritten)."""
    problems = [f"offset {k} served as {a!r} and later as {b!r}" for k, a, b in reader.conflicts[:10]]
    final = {(p, o): v for p, recs in read.items() for o, _, v in recs}
    changed = [(k, v, final.get(k)) for k, v in reader.served.items() if final.get(k) != v]
    if changed:
        problems.append(f"{len(changed)} records served during the run differ from the final read "
                        f"(or are gone): first {sorted(changed)[:5]}")
    return problems
