package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The AdminClient's topic, config, partition and offset calls, each run against Tributary and
 * against Apache Kafka with the same expectations.
 */
@ExtendWith(Targets.class)
class AdminTest {
    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    static ConfigEntry describeConfig(Admin admin, String topic, String key) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config c = get(admin.describeConfigs(List.of(r)).all()).get(r);
        ConfigEntry e = c.get(key);
        assertNotNull(e, key + " missing from describeConfigs of " + topic + ": " + c);
        return e;
    }

    /**
     * The topic's `key` right after a change that set it to `expected`. Tributary's broker
     * answers a change once its own metadata has it, so a describe reads it at once; Apache
     * Kafka answers once its controller has it, and its broker's metadata can be a moment
     * behind (as in Clients.waitForPartitions), so for Kafka this waits (bounded) for it.
     */
    static ConfigEntry describeConfigAfterChange(String target, Admin admin, String topic, String key,
                                                 String expected) throws Exception {
        long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
        ConfigEntry e = describeConfig(admin, topic, key);
        while (target.equals(Targets.APACHE_KAFKA) && !expected.equals(e.value()) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            e = describeConfig(admin, topic, key);
        }
        return e;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void createTopicWithConfigsThenDescribeIt(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = Clients.topicName("created");
        try (Admin admin = Clients.admin(target)) {
            CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, 4, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "65536", "cleanup.policy", "delete"))));
            get(created.all());
            assertEquals(4, get(created.numPartitions(topic)));
            assertEquals(1, get(created.replicationFactor(topic)));
            assertEquals("3600000", get(created.config(topic)).get("retention.ms").value());
            assertNotNull(get(created.topicId(topic)));

            TopicDescription d = Clients.waitForPartitions(admin, topic, 4);
            assertEquals(topic, d.name());
            assertFalse(d.isInternal());
            assertEquals(get(created.topicId(topic)), d.topicId());
            for (int p = 0; p < 4; p++) {
                TopicPartitionInfo info = d.partitions().get(p);
                assertEquals(p, info.partition());
                assertEquals(target.nodeId(), info.leader().id());
                assertEquals(List.of(target.nodeId()), info.replicas().stream().map(Node::id).toList());
                assertEquals(List.of(target.nodeId()), info.isr().stream().map(Node::id).toList());
            }
            assertTrue(get(admin.listTopics().names()).contains(topic));

            ConfigEntry retention = describeConfig(admin, topic, "retention.ms");
            assertEquals("3600000", retention.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            assertEquals("65536", describeConfig(admin, topic, "max.message.bytes").value());
            ConfigEntry segment = describeConfig(admin, topic, "segment.bytes");
            assertEquals("1073741824", segment.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, segment.source());
            assertTrue(segment.isDefault());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void describeClusterListsTheNode(String name) throws Exception {
        Target target = Targets.get(name);
        try (Admin admin = Clients.admin(target)) {
            DescribeClusterResult c = admin.describeCluster();
            Collection<Node> nodes = get(c.nodes());
            assertEquals(1, nodes.size());
            Node n = nodes.iterator().next();
            assertEquals(target.nodeId(), n.id());
            assertEquals(target.bootstrap(), n.host() + ":" + n.port());
            assertEquals(target.nodeId(), get(c.controller()).id());
            String clusterId = get(c.clusterId());
            assertNotNull(clusterId);
            assertFalse(clusterId.isEmpty());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void incrementalAlterConfigsSetsAndDeletes(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = Clients.topicName("altered");
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, topic, 1, Map.of("retention.ms", "3600000", "max.message.bytes", "65536"));
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            get(admin.incrementalAlterConfigs(Map.of(r, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", null), AlterConfigOp.OpType.DELETE),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND))))
                    .all());
            ConfigEntry retention = describeConfigAfterChange(name, admin, topic, "retention.ms", "7200000");
            assertEquals("7200000", retention.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            ConfigEntry max = describeConfig(admin, topic, "max.message.bytes");
            assertEquals("1048588", max.value()); // the broker's message.max.bytes default
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, max.source());
            ConfigEntry cleanup = describeConfig(admin, topic, "cleanup.policy");
            assertEquals("delete,compact", cleanup.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, cleanup.source());
        }
    }

    static Throwable reassignmentError(Admin admin, TopicPartition tp, Optional<NewPartitionReassignment> target) {
        var e = assertThrows(ExecutionException.class,
                () -> get(admin.alterPartitionReassignments(Map.of(tp, target)).all()));
        return e.getCause();
    }

    /**
     * AlterPartitionReassignments and ListPartitionReassignments on one broker: what can be
     * checked without a second broker, with the errors Kafka's controller gives (moves between
     * brokers are in tests/integration/reassignment_test.py).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void partitionReassignmentsAnswerAsKafkaDoes(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = new TopicPartition(Clients.topicName("reassigned"), 0);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, tp.topic(), 1, Map.of());
            int self = get(admin.describeCluster().nodes()).iterator().next().id();
            assertTrue(get(admin.listPartitionReassignments(Set.of(tp)).reassignments()).isEmpty());
            // To the replicas it has: nothing to do, accepted, nothing in progress.
            get(admin.alterPartitionReassignments(
                    Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(self))))).all());
            assertTrue(get(admin.listPartitionReassignments(Set.of(tp)).reassignments()).isEmpty());
            assertInstanceOf(InvalidReplicaAssignmentException.class,
                    reassignmentError(admin, tp, Optional.of(new NewPartitionReassignment(List.of(self, self + 41)))));
            assertInstanceOf(InvalidReplicaAssignmentException.class,
                    reassignmentError(admin, tp, Optional.of(new NewPartitionReassignment(List.of(self, self)))));
            assertInstanceOf(NoReassignmentInProgressException.class, reassignmentError(admin, tp, Optional.empty()));
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    reassignmentError(admin, new TopicPartition(Clients.topicName("absent"), 0),
                            Optional.of(new NewPartitionReassignment(List.of(self)))));
            assertFalse(get(admin.listPartitionReassignments().reassignments()).containsKey(tp));
            assertEquals(List.of(self), get(admin.describeTopics(List.of(tp.topic())).allTopicNames())
                    .get(tp.topic()).partitions().get(0).replicas().stream().map(Node::id).toList());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void createPartitionsAddsWritablePartitions(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = Clients.topicName("grown");
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, topic, 2, Map.of());
            get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all());
            Clients.waitForPartitions(admin, topic, 5);
        }
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target, Map.of())) {
            var ack = producer.send(new ProducerRecord<>(topic, 4, null, "on 4".getBytes(StandardCharsets.UTF_8)))
                    .get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(4, ack.partition());
            assertEquals(0L, ack.offset());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void deleteRecordsMovesTheLogStart(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = new TopicPartition(Clients.topicName("trimmed"), 0);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, tp.topic(), 1, Map.of());
            ConsumerPositionTest.produceBatches(target, tp, new long[][] {{1, 2, 3}, {4, 5, 6}, {7, 8, 9, 10}});
            var deleted = get(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp));
            assertEquals(4L, deleted.lowWatermark());
            assertEquals(4L, get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp)).offset());
            assertEquals(10L, get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp)).offset());
        }
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(target, Map.of())) {
            assertEquals(Map.of(tp, 4L), consumer.beginningOffsets(List.of(tp), Clients.TIMEOUT));
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            var records = Clients.readToEnd(consumer);
            assertEquals(List.of(4L, 5L, 6L, 7L, 8L, 9L), records.stream().map(r -> r.offset()).toList());
        }
    }

    /**
     * Earliest, latest, max-timestamp and a timestamp: max-timestamp names the record with the
     * largest timestamp even when its batch is out of order (Kafka 3.7+).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void listOffsetsEarliestLatestMaxTimestamp(String name) throws Exception {
        Target target = Targets.get(name);
        TopicPartition tp = new TopicPartition(Clients.topicName("listed"), 0);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, tp.topic(), 1, Map.of());
            ConsumerPositionTest.produceBatches(target, tp, new long[][] {{1000, 1100}, {5000, 9000, 7000}, {8000}});
            ListOffsetsResultInfo earliest = get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp));
            assertEquals(0L, earliest.offset());
            ListOffsetsResultInfo latest = get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp));
            assertEquals(6L, latest.offset());
            ListOffsetsResultInfo max = get(admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp));
            assertEquals(3L, max.offset());
            assertEquals(ConsumerPositionTest.BASE + 9000, max.timestamp());
            ListOffsetsResultInfo at = get(admin.listOffsets(
                    Map.of(tp, OffsetSpec.forTimestamp(ConsumerPositionTest.BASE + 6000))).partitionResult(tp));
            assertEquals(3L, at.offset());
            assertEquals(ConsumerPositionTest.BASE + 9000, at.timestamp());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void deleteTopicsRemovesTheTopic(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = Clients.topicName("deleted");
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, topic, 2, Map.of());
            get(admin.deleteTopics(List.of(topic)).all());
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            while (get(admin.listTopics().names()).contains(topic)) {
                assertTrue(System.nanoTime() < deadline, topic + " still listed " + Clients.TIMEOUT + " after its deletion");
                Thread.sleep(100);
            }
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> get(admin.describeTopics(List.of(topic)).allTopicNames()));
            assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause());
            assertFalse(get(admin.listTopics().names()).contains(topic));
        }
    }
}
