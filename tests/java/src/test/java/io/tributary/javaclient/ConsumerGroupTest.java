package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer groups with the classic protocol (group.protocol=classic, the client's default):
 * three members share six partitions, a committed offset resumes a new consumer, a member that
 * closes hands its partitions over at once, the cooperative-sticky assignor moves only what it
 * must, partitions added to the topic are assigned once the leader sees them, and auto-commit
 * commits on close. Members of one group are polled in turn by one thread: the classic consumer
 * joins within poll's timeout and goes on joining at the next poll. Each test runs against Tributary
 * and Apache Kafka (both with group.initial.rebalance.delay.ms=0, see Targets).
 */
@ExtendWith(Targets.class)
class ConsumerGroupTest {
    static final Duration POLL = Duration.ofMillis(50);

    static KafkaConsumer<byte[], byte[]> member(Target target, String group, Map<String, Object> extra) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        p.putAll(extra);
        return Clients.consumer(target, p);
    }

    static Set<Integer> assigned(KafkaConsumer<byte[], byte[]> consumer) {
        Set<Integer> out = new TreeSet<>();
        consumer.assignment().forEach(tp -> out.add(tp.partition()));
        return out;
    }

    /**
     * Polls every consumer in turn until `done` holds (bounded by `timeout`); records read go
     * to `into` (partition-offset → indexes of the members that read it), or fail the test
     * when `into` is null.
     */
    static void pollUntil(List<KafkaConsumer<byte[], byte[]>> consumers, BooleanSupplier done, Duration timeout,
                          String what, Map<String, List<Integer>> into) {
        pollUntil(consumers, done, timeout, what, into, (i, r) -> { });
    }

    /** The same, telling `read` of each record read (with the index of the member that read it). */
    static void pollUntil(List<KafkaConsumer<byte[], byte[]>> consumers, BooleanSupplier done, Duration timeout,
                          String what, Map<String, List<Integer>> into,
                          BiConsumer<Integer, ConsumerRecord<byte[], byte[]>> read) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < consumers.size(); i++) {
                for (ConsumerRecord<byte[], byte[]> r : consumers.get(i).poll(POLL)) {
                    if (into == null) {
                        throw new AssertionError("member " + i + " read " + r.topic() + "-" + r.partition() + "@"
                                + r.offset() + " unexpectedly");
                    }
                    into.computeIfAbsent(r.partition() + "@" + r.offset(), k -> new ArrayList<>()).add(i);
                    read.accept(i, r);
                }
            }
            if (done.getAsBoolean()) {
                return;
            }
        }
        List<Set<Integer>> now = new ArrayList<>();
        consumers.forEach(c -> now.add(assigned(c)));
        throw new AssertionError("timed out waiting for " + what + "; assignments " + now);
    }

    static void produce(Target target, String topic, int count, int partitions) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(target, Map.of(ProducerConfig.LINGER_MS_CONFIG, 5))) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, i % partitions, ("k" + i).getBytes(StandardCharsets.UTF_8),
                        ("v" + i).getBytes(StandardCharsets.UTF_8)));
            }
            producer.flush();
        }
    }

    static String topic(Target target, String prefix, int partitions) throws Exception {
        String topic = Clients.topicName(prefix);
        try (Admin admin = Clients.admin(target)) {
            Clients.createTopic(admin, topic, partitions, Map.of());
        }
        return topic;
    }

    /**
     * Adds `count` members of `group`, subscribed to `topic`, to `members` (each with a new
     * Revocations listener added to `listeners`), then polls them all until each has `share`
     * partitions.
     */
    static void addMembers(List<KafkaConsumer<byte[], byte[]>> members, List<Revocations> listeners, Target target,
                           String group, String topic, int count, Map<String, Object> extra, int share) {
        for (int i = 0; i < count; i++) {
            Revocations listener = new Revocations();
            KafkaConsumer<byte[], byte[]> c = member(target, group, extra);
            members.add(c);
            listeners.add(listener);
            c.subscribe(List.of(topic), listener);
        }
        pollUntil(members, () -> members.stream().allMatch(c -> assigned(c).size() == share),
                Clients.TIMEOUT, share + " partitions each", null);
    }

    static void closeAll(Collection<KafkaConsumer<byte[], byte[]>> consumers) {
        consumers.forEach(c -> c.close(Duration.ofSeconds(10)));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void threeMembersShareSixPartitionsAndReadEachRecordOnce(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "trio", 6);
        String group = Clients.topicName("trio-group");
        List<KafkaConsumer<byte[], byte[]>> members = new ArrayList<>();
        try {
            addMembers(members, new ArrayList<>(), target, group, topic, 3, Map.of(), 2);
            Set<Integer> union = new HashSet<>();
            List<Set<Integer>> parts = new ArrayList<>();
            for (var c : members) {
                parts.add(assigned(c));
                union.addAll(assigned(c));
            }
            assertEquals(Set.of(0, 1, 2, 3, 4, 5), union, "overlapping assignments " + parts);
            produce(target, topic, 600, 6);
            Map<String, List<Integer>> seen = new HashMap<>();
            pollUntil(members, () -> seen.size() == 600, Clients.TIMEOUT, "600 records", seen);
            seen.forEach((record, who) -> {
                assertEquals(1, who.size(), record + " read by members " + who);
                int partition = Integer.parseInt(record.substring(0, record.indexOf('@')));
                assertTrue(parts.get(who.get(0)).contains(partition),
                        record + " read by member " + who.get(0) + " assigned " + parts.get(who.get(0)));
            });
        } finally {
            closeAll(members);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void committedOffsetResumesANewConsumer(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "resume", 1);
        String group = Clients.topicName("resumers");
        TopicPartition tp = new TopicPartition(topic, 0);
        produce(target, topic, 100, 1);
        Map<String, Object> small = Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10);
        try (KafkaConsumer<byte[], byte[]> first = member(target, group, small)) {
            first.subscribe(List.of(topic));
            List<Long> offsets = new ArrayList<>();
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            while (offsets.size() < 40 && System.nanoTime() < deadline) {
                first.poll(POLL).forEach(r -> offsets.add(r.offset()));
            }
            assertTrue(offsets.size() >= 40, "read " + offsets.size() + " records");
            assertEquals(0L, offsets.get(0));
            first.commitSync(Map.of(tp, new OffsetAndMetadata(40, "after 40")), Clients.TIMEOUT);
        }
        try (KafkaConsumer<byte[], byte[]> second = member(target, group, small)) {
            OffsetAndMetadata committed = second.committed(Set.of(tp), Clients.TIMEOUT).get(tp);
            assertEquals(40L, committed.offset());
            assertEquals("after 40", committed.metadata());
            second.subscribe(List.of(topic));
            List<Long> offsets = new ArrayList<>();
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            while (offsets.size() < 60 && System.nanoTime() < deadline) {
                second.poll(POLL).forEach(r -> offsets.add(r.offset()));
            }
            List<Long> expected = new ArrayList<>();
            for (long o = 40; o < 100; o++) {
                expected.add(o);
            }
            assertEquals(expected, offsets);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void aMemberThatClosesHandsItsPartitionsOverBeforeTheSessionTimeout(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "handover", 6);
        String group = Clients.topicName("leavers");
        // a session timeout longer than the wait below: only LeaveGroup can move the partitions
        Map<String, Object> longSession = Map.of(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 45_000);
        List<KafkaConsumer<byte[], byte[]>> members = new ArrayList<>();
        try {
            addMembers(members, new ArrayList<>(), target, group, topic, 2, longSession, 3);
            members.remove(1).close(Duration.ofSeconds(10));
            pollUntil(members, () -> assigned(members.get(0)).size() == 6, Duration.ofSeconds(30),
                    "all 6 partitions on the remaining member", null);
        } finally {
            closeAll(members);
        }
    }

    /** Records what the cooperative protocol revokes from a member and whether it lost any. */
    static final class Revocations implements ConsumerRebalanceListener {
        final Set<Integer> revoked = new TreeSet<>();
        final Set<Integer> lost = new TreeSet<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            partitions.forEach(tp -> revoked.add(tp.partition()));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            partitions.forEach(tp -> lost.add(tp.partition()));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void cooperativeStickyMovesOnlyWhatItMustWhenAThirdMemberJoins(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "coop", 6);
        String group = Clients.topicName("cooperative");
        Map<String, Object> cooperative = Map.of(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                CooperativeStickyAssignor.class.getName());
        List<KafkaConsumer<byte[], byte[]>> members = new ArrayList<>();
        List<Revocations> listeners = new ArrayList<>();
        try {
            addMembers(members, listeners, target, group, topic, 2, cooperative, 3);
            List<Set<Integer>> before = List.of(assigned(members.get(0)), assigned(members.get(1)));
            listeners.forEach(l -> l.revoked.clear());
            addMembers(members, listeners, target, group, topic, 1, cooperative, 2);

            Set<Integer> moved = new TreeSet<>();
            for (int i = 0; i < 2; i++) {
                Set<Integer> now = assigned(members.get(i));
                assertTrue(before.get(i).containsAll(now), "member " + i + " had " + before.get(i) + ", now " + now);
                Set<Integer> gone = new TreeSet<>(before.get(i));
                gone.removeAll(now);
                // only what moved is revoked (an eager rebalance revokes all three)
                assertEquals(gone, listeners.get(i).revoked, "member " + i + " revoked");
                assertEquals(Set.of(), listeners.get(i).lost, "member " + i + " lost");
                moved.addAll(gone);
            }
            assertEquals(2, moved.size(), "moved " + moved);
            assertEquals(moved, assigned(members.get(2)));
        } finally {
            closeAll(members);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void addedPartitionsAreAssignedAfterTheLeaderSeesThem(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "grow", 2);
        String group = Clients.topicName("growers");
        // the leader checks the topic's partition count at each metadata refresh
        Map<String, Object> quickMetadata = Map.of(ConsumerConfig.METADATA_MAX_AGE_CONFIG, 500);
        List<KafkaConsumer<byte[], byte[]>> members = new ArrayList<>();
        try (Admin admin = Clients.admin(target)) {
            addMembers(members, new ArrayList<>(), target, group, topic, 2, quickMetadata, 1);
            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4)))
                    .all().get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            pollUntil(members, () -> members.stream().allMatch(c -> assigned(c).size() == 2),
                    Clients.TIMEOUT, "2 of the 4 partitions each", null);
            Set<Integer> union = new HashSet<>(assigned(members.get(0)));
            union.addAll(assigned(members.get(1)));
            assertEquals(Set.of(0, 1, 2, 3), union);
        } finally {
            closeAll(members);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void autoCommitCommitsWhatWasConsumedOnClose(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = topic(target, "autocommit", 1);
        String group = Clients.topicName("autocommitters");
        TopicPartition tp = new TopicPartition(topic, 0);
        produce(target, topic, 50, 1);
        // an interval longer than the test: only close() commits
        try (KafkaConsumer<byte[], byte[]> c = member(target, group, Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, true,
                ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, 600_000))) {
            c.subscribe(List.of(topic));
            Map<String, List<Integer>> seen = new HashMap<>();
            pollUntil(List.of(c), () -> seen.size() == 50, Clients.TIMEOUT, "50 records", seen);
        }
        try (Admin admin = Clients.admin(target)) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(50L, committed.get(tp).offset());
        }
    }
}
