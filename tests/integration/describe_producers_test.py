"""DescribeProducers, asked the way operators ask it: Kafka's own
`kafka-transactions --bootstrap-server ... describe-producers --topic T --partition P` (the Java
Admin's describeProducers), after idempotent producers (librdkafka) wrote.

What the tool lists is checked against the batches on disk, read straight from the log files:
per partition, one row per producer id found there, with that producer's epoch, the last
sequence and max timestamp of its last batch; the timestamps lie within the send window (with
LogAppendTime, the broker's append time). Then again after a clean restart, when the state
comes from the producer snapshots (version 2, with the timestamps) and no batch is read.

Transactions are not built (InitProducerId with a transactional id is refused): no producer
has an open transaction or a coordinator epoch: the tool prints -1 and None for them.
"""
import struct
import time
from pathlib import Path

from confluent_kafka import Producer

from apache_kafka import kafka_tool
from harness import admin_create_topic

BATCH_HEADER_BYTES = 61


def now_ms():
    return int(time.time() * 1000)


def last_batches(broker, topic, partition):
    """{producer id: (epoch, last sequence, max timestamp)} of each producer's last batch in
    the partition's log files. A running broker's active segment may end in zeros (its direct
    writes' padding): a batch length below the smallest batch's ends the file."""
    found = {}
    for log in sorted((Path(broker.data_dir) / f"{topic}-{partition}").glob("*.log")):
        data = log.read_bytes()
        pos = 0
        while pos + BATCH_HEADER_BYTES <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            if length < BATCH_HEADER_BYTES - 12:
                break
            last_delta, _, max_ts, pid, epoch, base_seq = struct.unpack_from(">iqqqhi", data, pos + 23)
            if pid >= 0:
                found[pid] = (epoch, base_seq + last_delta, max_ts)
            pos += 12 + length
    return found


def describe_producers(bootstrap, topic, partition):
    """The tool's table as {producer id: row}, each row a dict by column name."""
    out = kafka_tool("kafka-transactions", "--bootstrap-server", bootstrap, "describe-producers",
                     "--topic", topic, "--partition", partition).stdout
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines and lines[0][0] == "ProducerId", f"unexpected output:\n{out}"
    header = lines[0]
    rows = [dict(zip(header, cells)) for cells in lines[1:]]
    assert all(len(cells) == len(header) for cells in lines[1:]), f"ragged table:\n{out}"
    return {int(r["ProducerId"]): r for r in rows}


def produce(producer, topic, partition, count):
    for i in range(count):
        producer.produce(topic, b"v-%d" % i, partition=partition)
        if i % 50 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def check_rows(broker, topic, partition, window, expected_last_seq):
    """The tool's rows for one partition equal the producers' last batches on disk; each
    producer's last sequence is `expected_last_seq[its index]`, its timestamp in `window`."""
    rows = describe_producers(broker.bootstrap, topic, partition)
    on_disk = last_batches(broker, topic, partition)
    assert sorted(rows) == sorted(on_disk), f"{topic}-{partition}: tool lists {sorted(rows)}, disk has {sorted(on_disk)}"
    assert sorted(seq for _, seq, _ in on_disk.values()) == sorted(expected_last_seq)
    for pid, (epoch, last_seq, max_ts) in on_disk.items():
        r = rows[pid]
        assert int(r["ProducerEpoch"]) == epoch == 0
        assert int(r["LastSequence"]) == last_seq
        assert int(r["LastTimestamp"]) == max_ts
        assert window[0] <= max_ts <= window[1], f"timestamp {max_ts} outside the send window {window}"
        assert r["LatestCoordinatorEpoch"] == "-1"
        assert r["CurrentTransactionStartOffset"] == "None"
    return rows


def test_describe_producers_lists_idempotent_producers_before_and_after_a_restart(make_broker):
    b = make_broker()
    admin_create_topic(b.bootstrap, "dp", 2)
    admin_create_topic(b.bootstrap, "dp-append-time", 1, config={"message.timestamp.type": "LogAppendTime"})
    conf = {"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 5,
            "batch.num.messages": 40, "message.timeout.ms": 60000}
    first, second = Producer(conf), Producer(conf)
    start = now_ms()
    produce(first, "dp", 0, 300)
    produce(second, "dp", 0, 120)
    produce(second, "dp", 1, 77)
    produce(first, "dp-append-time", 0, 50)
    window = (start, now_ms())

    before = {("dp", 0): check_rows(b, "dp", 0, window, [299, 119]),
              ("dp", 1): check_rows(b, "dp", 1, window, [76]),
              ("dp-append-time", 0): check_rows(b, "dp-append-time", 0, window, [49])}
    assert len(before[("dp", 0)]) == 2, "two producers wrote partition 0"
    assert set(before[("dp", 1)]) < set(before[("dp", 0)]), "the second producer's id on both partitions"

    # A clean stop writes each partition's state at its log end in the current snapshot
    # version; the restarted broker answers from those files.
    assert b.stop() == 0
    for topic, partition in before:
        snaps = sorted((Path(b.data_dir) / f"{topic}-{partition}").glob("*.snapshot"))
        assert snaps, f"no producer snapshot for {topic}-{partition}"
        assert snaps[-1].read_bytes()[4:6] == b"\x00\x02", f"{snaps[-1]} is not version 2"
    b.start()
    for (topic, partition), rows in before.items():
        assert describe_producers(b.bootstrap, topic, partition) == rows, f"{topic}-{partition} after the restart"
