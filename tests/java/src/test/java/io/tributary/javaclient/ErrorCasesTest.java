package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the Java client raises when a request fails, against Tributary and against Apache Kafka
 * 4.4 with the same expectation, so each type asserted here is the one Kafka's own broker
 * makes the client raise. Both run with auto.create.topics.enable=false.
 */
@ExtendWith(Targets.class)
class ErrorCasesTest {
    /** How long a producer waits for metadata of a topic or partition that doesn't exist. */
    static final Duration MAX_BLOCK = Duration.ofSeconds(3);

    /** Runs `call` and returns the cause of the ExecutionException it must throw. */
    static Throwable failureOf(KafkaFuture<?> future) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> future.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        return e.getCause();
    }

    static Throwable failureOf(java.util.concurrent.Future<?> future) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> future.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        return e.getCause();
    }

    static String existingTopic(Admin admin, int partitions, Map<String, String> configs) throws Exception {
        String topic = Clients.topicName("errors");
        Clients.createTopic(admin, topic, partitions, configs);
        return topic;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void unknownTopicInAdminCalls(String name) throws Exception {
        String missing = Clients.topicName("missing");
        try (Admin admin = Clients.admin(Targets.get(name))) {
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    failureOf(admin.describeTopics(List.of(missing)).allTopicNames()));
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    failureOf(admin.deleteTopics(List.of(missing)).all()));
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    failureOf(admin.createPartitions(Map.of(missing, NewPartitions.increaseTo(3))).all()));
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, missing);
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    failureOf(admin.describeConfigs(List.of(r)).all()));
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    failureOf(admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                            new ConfigEntry("retention.ms", "1000"), AlterConfigOp.OpType.SET)))).all()));
        }
    }

    /**
     * With auto-creation off, the producer waits for the topic to appear in metadata until
     * max.block.ms, then fails the send with a TimeoutException; likewise for a partition
     * beyond the topic's count.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void producerToAMissingTopicOrPartitionTimesOut(String name) throws Exception {
        Target target = Targets.get(name);
        String topic;
        try (Admin admin = Clients.admin(target)) {
            topic = existingTopic(admin, 1, Map.of());
        }
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target,
                Map.of(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) MAX_BLOCK.toMillis()))) {
            assertInstanceOf(TimeoutException.class, failureOf(producer.send(
                    new ProducerRecord<>(Clients.topicName("missing"), new byte[] {1}))));
            assertInstanceOf(TimeoutException.class, failureOf(producer.send(
                    new ProducerRecord<>(topic, 5, null, new byte[] {1}))));
            // and the producer still works for a topic that exists
            assertEquals(0L, producer.send(new ProducerRecord<>(topic, 0, null, new byte[] {1}))
                    .get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS).offset());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void invalidPartitionCounts(String name) throws Exception {
        try (Admin admin = Clients.admin(Targets.get(name))) {
            String topic = existingTopic(admin, 3, Map.of());
            assertInstanceOf(InvalidPartitionsException.class,
                    failureOf(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all()));
            assertInstanceOf(InvalidPartitionsException.class,
                    failureOf(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all()));
            assertInstanceOf(InvalidPartitionsException.class, failureOf(admin.createTopics(
                    List.of(new NewTopic(Clients.topicName("zero"), 0, (short) 1))).all()));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void invalidTopicCreations(String name) throws Exception {
        try (Admin admin = Clients.admin(Targets.get(name))) {
            String topic = existingTopic(admin, 1, Map.of());
            assertInstanceOf(TopicExistsException.class,
                    failureOf(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all()));
            assertInstanceOf(InvalidReplicationFactorException.class, failureOf(admin.createTopics(
                    List.of(new NewTopic(Clients.topicName("three-replicas"), 1, (short) 3))).all()));
            assertInstanceOf(InvalidTopicException.class, failureOf(admin.createTopics(
                    List.of(new NewTopic("bad name!", 1, (short) 1))).all()));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void invalidConfigValues(String name) throws Exception {
        try (Admin admin = Clients.admin(Targets.get(name))) {
            assertInstanceOf(InvalidConfigurationException.class, failureOf(admin.createTopics(List.of(
                    new NewTopic(Clients.topicName("bad-value"), 1, (short) 1)
                            .configs(Map.of("retention.ms", "not-a-number")))).all()));
            assertInstanceOf(InvalidConfigurationException.class, failureOf(admin.createTopics(List.of(
                    new NewTopic(Clients.topicName("bad-key"), 1, (short) 1)
                            .configs(Map.of("no.such.config", "1")))).all()));
            String topic = existingTopic(admin, 1, Map.of());
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            assertInstanceOf(InvalidConfigurationException.class, failureOf(admin.incrementalAlterConfigs(Map.of(r,
                    List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET))))
                    .all()));
            assertInstanceOf(InvalidConfigurationException.class, failureOf(admin.incrementalAlterConfigs(Map.of(r,
                    List.of(new AlterConfigOp(new ConfigEntry("cleanup.policy", "sometimes"), AlterConfigOp.OpType.SET))))
                    .all()));
        }
    }

    /** A record batch larger than the topic's max.message.bytes: the broker refuses it. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void recordLargerThanTheTopicAllows(String name) throws Exception {
        Target target = Targets.get(name);
        String topic;
        try (Admin admin = Clients.admin(target)) {
            topic = existingTopic(admin, 1, Map.of("max.message.bytes", "1024"));
        }
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target, Map.of())) {
            assertInstanceOf(RecordTooLargeException.class,
                    failureOf(producer.send(new ProducerRecord<>(topic, 0, null, new byte[4096]))));
            // a record that fits still goes through afterwards
            assertEquals(0L, producer.send(new ProducerRecord<>(topic, 0, null, new byte[100]))
                    .get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS).offset());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void offsetsOutOfRange(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp;
        try (Admin admin = Clients.admin(target)) {
            tp = new TopicPartition(existingTopic(admin, 1, Map.of()), 0);
            ConsumerPositionTest.produceBatches(target, tp, new long[][] {{1, 2, 3}});
            assertInstanceOf(OffsetOutOfRangeException.class, failureOf(
                    admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(10))).lowWatermarks().get(tp)));
        }
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(target,
                Map.of(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none"))) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, 100);
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            var e = assertThrows(org.apache.kafka.clients.consumer.OffsetOutOfRangeException.class, () -> {
                while (System.nanoTime() < deadline) {
                    consumer.poll(Duration.ofMillis(500));
                }
            });
            assertEquals(Map.of(tp, 100L), e.offsetOutOfRangePartitions());
        }
    }
}
