package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Java producer with its defaults (acks=all, idempotence on: ClientDefaultsTest) and each
 * compression codec:
 * keys, values, headers, explicit partitions and timestamps, read back with a consumer that
 * uses assign() (no group) and compared with what the producer was told; against Tributary and
 * against Apache Kafka alike.
 */
@ExtendWith(Targets.class)
class ProducerConsumerTest {
    static final int PARTITIONS = 3;
    static final int RECORDS = 1500;

    /** What was sent, and what the broker acknowledged for it. */
    record Sent(ProducerRecord<byte[], byte[]> record, RecordMetadata ack) {
    }

    static Stream<Arguments> targetsAndCodecs() {
        return Targets.NAMES.stream().flatMap(t -> Stream.of("none", "gzip", "snappy", "lz4", "zstd")
                .map(codec -> Arguments.of(t, codec)));
    }

    @ParameterizedTest(name = "{0} compression.type={1}")
    @MethodSource("targetsAndCodecs")
    void everyRecordReadsBackAsProduced(String name, String codec) throws Exception {
        Target target = Targets.get(name);
        String topic = Clients.topicName("codec-" + codec);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, topic, PARTITIONS, Map.of());
        }

        List<Sent> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target,
                Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec, ProducerConfig.LINGER_MS_CONFIG, 20))) {
            List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < RECORDS; i++) {
                ProducerRecord<byte[], byte[]> r = record(topic, i);
                records.add(r);
                acks.add(producer.send(r));
            }
            producer.flush();
            for (int i = 0; i < RECORDS; i++) {
                sent.add(new Sent(records.get(i), acks.get(i).get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS)));
            }
        }

        // what the producer was told: the chosen partitions, dense offsets, the given timestamps
        Map<Integer, TreeSet<Long>> offsets = new HashMap<>();
        for (Sent s : sent) {
            assertEquals(topic, s.ack.topic());
            if (s.record.partition() != null) {
                assertEquals(s.record.partition().intValue(), s.ack.partition());
            }
            if (s.record.timestamp() != null) {
                assertEquals(s.record.timestamp().longValue(), s.ack.timestamp());
            }
            assertTrue(offsets.computeIfAbsent(s.ack.partition(), k -> new TreeSet<>()).add(s.ack.offset()),
                    "offset acknowledged twice: " + s.ack);
        }
        for (TreeSet<Long> o : offsets.values()) {
            assertEquals(0L, o.first());
            assertEquals(o.size() - 1L, o.last());
        }

        // what a consumer reads
        Map<String, ConsumerRecord<byte[], byte[]>> read = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(target, Map.of())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                parts.add(new TopicPartition(topic, p));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            for (ConsumerRecord<byte[], byte[]> r : Clients.readToEnd(consumer)) {
                assertNull(read.put(r.partition() + "@" + r.offset(), r),
                        "record read twice: " + r.partition() + "@" + r.offset());
            }
        }
        assertEquals(RECORDS, read.size());
        for (Sent s : sent) {
            ConsumerRecord<byte[], byte[]> r = read.get(s.ack.partition() + "@" + s.ack.offset());
            assertNotNull(r, "no record at " + s.ack);
            assertArrayEquals(s.record.key(), r.key(), "key at " + s.ack);
            assertArrayEquals(s.record.value(), r.value(), "value at " + s.ack);
            assertEquals(headers(s.record.headers().toArray()), headers(r.headers().toArray()), "headers at " + s.ack);
            assertEquals(TimestampType.CREATE_TIME, r.timestampType());
            assertEquals(s.ack.timestamp(), r.timestamp(), "timestamp at " + s.ack);
        }
    }

    /**
     * Record i: most keyed (the partitioner picks), every 7th sent to an explicit partition,
     * every 11th without a key, every 13th with a null value, every 5th with an explicit
     * timestamp (recent: retention removes old ones); values of varied sizes (up to 20 kB), headers with repeated keys and null values.
     */
    static ProducerRecord<byte[], byte[]> record(String topic, int i) {
        byte[] key = i % 11 == 0 ? null : ("key-" + (i % 97)).getBytes(StandardCharsets.UTF_8);
        byte[] value = i % 13 == 0 ? null : value(i);
        Integer partition = i % 7 == 0 ? i % PARTITIONS : null;
        Long timestamp = i % 5 == 0 ? ConsumerPositionTest.BASE + i : null;
        List<Header> headers = new ArrayList<>();
        if (i % 3 != 0) {
            headers.add(new RecordHeader("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
            headers.add(new RecordHeader("repeated", new byte[] {1}));
            headers.add(new RecordHeader("repeated", new byte[] {2, 3}));
            headers.add(new RecordHeader("nothing", null));
            headers.add(new RecordHeader("ünicode-✓", new byte[0]));
        }
        return new ProducerRecord<>(topic, partition, timestamp, key, value, headers);
    }

    static byte[] value(int i) {
        int size = i % 100 == 1 ? 20_000 : (i * 37) % 600;
        StringBuilder b = new StringBuilder(size + 16);
        while (b.length() < size) {
            b.append("value ").append(i).append(' ');
        }
        return b.substring(0, size).getBytes(StandardCharsets.UTF_8);
    }

    /** Headers as comparable text: key and value bytes in order (null stays null). */
    static List<String> headers(Header[] hs) {
        List<String> out = new ArrayList<>();
        for (Header h : hs) {
            out.add(h.key() + "=" + (h.value() == null ? "null" : java.util.Arrays.toString(h.value())));
        }
        return out;
    }
}
