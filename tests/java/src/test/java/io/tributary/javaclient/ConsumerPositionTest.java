package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The consumer's positioning calls without a group: assign, seek, seekToBeginning/End,
 * position, beginningOffsets/endOffsets and offsetsForTimes, on one partition written in three
 * batches, the second holding records whose timestamps are out of order. Each test runs
 * against Tributary and against Apache Kafka, which shows the expectations are Kafka's.
 */
@ExtendWith(Targets.class)
class ConsumerPositionTest {
    /**
     * The batches as the producer sends them (a long linger, one flush each): offsets 0-2, 3-5 and 6. Batch two
     * is out of order: its record at offset 4 has the largest timestamp.
     */
    static final long[][] BATCHES = {{1000, 1100, 1200}, {5000, 9000, 7000}, {10_000}};

    /**
     * Timestamps in these tests are offsets from BASE, an hour ago: records far in the past
     * would be removed by time-based retention (Apache Kafka checks 30 s after it starts).
     */
    static final long BASE = System.currentTimeMillis() - 3_600_000;

    /** Per target, the partition BATCHES were written to (once, by the first test that needs it). */
    static final Map<String, TopicPartition> WRITTEN = new java.util.concurrent.ConcurrentHashMap<>();

    static synchronized TopicPartition written(Target target) throws Exception {
        TopicPartition tp = WRITTEN.get(target.name());
        if (tp == null) {
            tp = new TopicPartition(Clients.topicName("positions"), 0);
            try (Admin admin = Clients.admin(target)) {
                Clients.createTopic(admin, tp.topic(), 1, Map.of());
            }
            produceBatches(target, tp, BATCHES);
            WRITTEN.put(target.name(), tp);
        }
        return tp;
    }

    /**
     * Sends each row of `batches` as one batch (a long linger, then flush) to `tp`, one record
     * per timestamp (BASE + the number) with value "ts=<number>"; checks the offsets the
     * producer is told.
     */
    static void produceBatches(Target target, TopicPartition tp, long[][] batches) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target,
                Map.of(ProducerConfig.LINGER_MS_CONFIG, 5_000, ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20))) {
            long expected = 0;
            for (long[] batch : batches) {
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                for (long ts : batch) {
                    acks.add(producer.send(new ProducerRecord<>(tp.topic(), tp.partition(), BASE + ts, null,
                            ("ts=" + ts).getBytes(StandardCharsets.UTF_8))));
                }
                producer.flush();
                for (Future<RecordMetadata> ack : acks) {
                    assertEquals(expected++, ack.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS).offset());
                }
            }
        }
    }

    static KafkaConsumer<byte[], byte[]> assigned(Target target, TopicPartition tp) {
        KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(target, Map.of());
        consumer.assign(List.of(tp));
        return consumer;
    }

    /** Polls until one record arrives (bounded); returns it. */
    static ConsumerRecord<byte[], byte[]> next(KafkaConsumer<byte[], byte[]> consumer) {
        long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            var records = consumer.poll(Duration.ofMillis(500));
            if (!records.isEmpty()) {
                return records.iterator().next();
            }
        }
        throw new AssertionError("no record within " + Clients.TIMEOUT);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void beginningAndEndOffsets(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = written(target);
        try (KafkaConsumer<byte[], byte[]> consumer = assigned(target, tp)) {
            assertEquals(Map.of(tp, 0L), consumer.beginningOffsets(List.of(tp), Clients.TIMEOUT));
            assertEquals(Map.of(tp, 7L), consumer.endOffsets(List.of(tp), Clients.TIMEOUT));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void seekToBeginningReadsEveryRecordInOrder(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = written(target);
        try (KafkaConsumer<byte[], byte[]> consumer = assigned(target, tp)) {
            consumer.seekToBeginning(List.of(tp));
            assertEquals(0L, consumer.position(tp, Clients.TIMEOUT));
            List<Long> timestamps = new ArrayList<>();
            List<Long> offsets = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : Clients.readToEnd(consumer)) {
                offsets.add(r.offset());
                timestamps.add(r.timestamp() - BASE);
                assertEquals("ts=" + (r.timestamp() - BASE), new String(r.value(), StandardCharsets.UTF_8));
            }
            assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L), offsets);
            assertEquals(List.of(1000L, 1100L, 1200L, 5000L, 9000L, 7000L, 10_000L), timestamps);
            assertEquals(7L, consumer.position(tp, Clients.TIMEOUT));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void seekIntoTheMiddleOfABatchStartsAtThatRecord(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = written(target);
        try (KafkaConsumer<byte[], byte[]> consumer = assigned(target, tp)) {
            for (long offset : new long[] {4, 1, 6, 3}) {
                consumer.seek(tp, offset);
                assertEquals(offset, consumer.position(tp, Clients.TIMEOUT));
                ConsumerRecord<byte[], byte[]> r = next(consumer);
                assertEquals(offset, r.offset());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void seekToEndWaitsForNewRecords(String name) throws Exception {
        Target target = Targets.get(name);
        String t = Clients.topicName("seek-end");
        TopicPartition p = new TopicPartition(t, 0);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, t, 1, Map.of());
        }
        produceBatches(target, p, new long[][] {{1, 2, 3}});
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(target, Map.of())) {
            consumer.assign(List.of(p));
            consumer.seekToEnd(List.of(p));
            assertEquals(3L, consumer.position(p, Clients.TIMEOUT));
            assertEquals(0, consumer.poll(Duration.ofMillis(200)).count());
            try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target, Map.of())) {
                producer.send(new ProducerRecord<>(t, 0, BASE + 4, null, "ts=4".getBytes(StandardCharsets.UTF_8)))
                        .get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            }
            ConsumerRecord<byte[], byte[]> r = next(consumer);
            assertEquals(3L, r.offset());
            assertEquals(BASE + 4, r.timestamp());
        }
    }

    /**
     * Kafka's answer for a timestamp: the first record (by offset) whose timestamp is >= the
     * target, and its timestamp, even inside a batch whose records are out of order; null when
     * no record is that late.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void offsetsForTimesAnswersTheFirstRecordAtOrAfterTheTarget(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = written(target);
        // target -> "offset@timestamp" of the record Kafka answers, or "none" (both less BASE)
        Map<Long, String> expected = new LinkedHashMap<>();
        expected.put(0L, "0@1000");
        expected.put(1000L, "0@1000");
        expected.put(1100L, "1@1100");
        expected.put(1150L, "2@1200");
        expected.put(1201L, "3@5000");
        expected.put(5000L, "3@5000");
        expected.put(6000L, "4@9000"); // inside batch two, past its first record
        expected.put(7000L, "4@9000");
        expected.put(9000L, "4@9000");
        expected.put(9001L, "6@10000");
        expected.put(10_000L, "6@10000");
        expected.put(10_001L, "none");
        Map<Long, String> answered = new LinkedHashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer = assigned(target, tp)) {
            for (Long ts : expected.keySet()) {
                OffsetAndTimestamp got = consumer.offsetsForTimes(Map.of(tp, BASE + ts), Clients.TIMEOUT).get(tp);
                answered.put(ts, got == null ? "none" : got.offset() + "@" + (got.timestamp() - BASE));
            }
        }
        assertEquals(expected, answered, "offsetsForTimes: target -> offset@timestamp");
    }
}
