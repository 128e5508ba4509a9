package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberAssignment;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InconsistentGroupProtocolException;
import org.apache.kafka.common.errors.UnsupportedAssignorException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer groups on the new consumer protocol (KIP-848, group.protocol=consumer): the
 * ConsumerGroupHeartbeat API, the assignment computed by the server's assignor
 * (group.remote.assignor, uniform by default), ConsumerGroupDescribe. The client refuses the
 * classic settings in this mode (session.timeout.ms, heartbeat.interval.ms,
 * partition.assignment.strategy): the group coordinator sets the session and the heartbeat
 * interval (Kafka's defaults 45 s and 5 s), so a rebalance takes a few heartbeats, seconds.
 * Members of one group are polled in turn by one thread: the heartbeats go from the client's
 * background thread, the rebalance listener runs inside poll. Each test runs against Tributary
 * and Apache Kafka 4.4 (see Targets; -Dtrib.targets=tributary runs the Tributary side alone).
 */
@Tag("consumer-protocol")
@ExtendWith(Targets.class)
class ConsumerProtocolTest {
    static final Duration POLL = Duration.ofMillis(50);

    static KafkaConsumer<byte[], byte[]> member(Target target, String group, Map<String, Object> extra) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        p.putAll(extra);
        return Clients.consumer(target, p);
    }

    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    static Set<Integer> partitions(Collection<TopicPartition> tps) {
        Set<Integer> out = new TreeSet<>();
        tps.forEach(tp -> out.add(tp.partition()));
        return out;
    }

    /**
     * A member of the group with what it was given and what it read: the rebalance listener
     * commits the next offset of every partition it read from and that is taken from it (in
     * onPartitionsRevoked, which the consumer runs before the coordinator gives the partition
     * to another member), so the next owner starts right after what this one read.
     */
    static final class Member implements ConsumerRebalanceListener {
        final KafkaConsumer<byte[], byte[]> consumer;
        final Set<Integer> revoked = new TreeSet<>();
        final Set<Integer> lost = new TreeSet<>();
        /** partition → the offset after the last record read from it and not yet committed */
        final Map<TopicPartition, OffsetAndMetadata> toCommit = new HashMap<>();

        Member(Target target, String group, String topic, Map<String, Object> extra) {
            consumer = member(target, group, extra);
            consumer.subscribe(List.of(topic), this);
        }

        Set<Integer> assigned() {
            return partitions(consumer.assignment());
        }

        String memberId() {
            return consumer.groupMetadata().memberId();
        }

        void read(ConsumerRecord<byte[], byte[]> r) {
            toCommit.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            revoked.addAll(partitions(parts));
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            for (TopicPartition tp : parts) {
                OffsetAndMetadata next = toCommit.remove(tp);
                if (next != null) {
                    commit.put(tp, next);
                }
            }
            if (!commit.isEmpty()) {
                consumer.commitSync(commit, Clients.TIMEOUT);
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            lost.addAll(partitions(parts));
        }
    }

    static List<Member> join(Target target, String group, String topic, int count, Map<String, Object> extra) {
        List<Member> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(new Member(target, group, topic, extra));
        }
        return out;
    }

    static void closeAll(Collection<Member> members) {
        members.forEach(m -> m.consumer.close(Duration.ofSeconds(10)));
    }

    /**
     * Polls every member in turn, calling `tick` once a round, until `done` holds (bounded by
     * Clients.TIMEOUT). Records read go to `seen` (partition@offset → the indexes of the
     * members that read it), or fail the test when `seen` is null.
     */
    static void pollUntil(List<Member> members, BooleanSupplier done, String what,
                          Map<String, List<Integer>> seen, Runnable tick) {
        ConsumerGroupTest.pollUntil(members.stream().map(m -> m.consumer).toList(), () -> {
            tick.run();
            return done.getAsBoolean();
        }, Clients.TIMEOUT, what, seen, (i, r) -> members.get(i).read(r));
    }

    /**
     * Polls `consumer` until poll() throws (bounded by Clients.TIMEOUT), polling `others` once
     * between tries so they stay in their group; returns what it threw, or null.
     */
    static Throwable pollFailure(KafkaConsumer<byte[], byte[]> consumer, List<KafkaConsumer<byte[], byte[]>> others) {
        long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                consumer.poll(POLL);
            } catch (RuntimeException e) {
                return e;
            }
            others.forEach(c -> c.poll(POLL));
        }
        return null;
    }

    /** Each member has `share` partitions, none two members' and all of the topic's `total`. */
    static void assertSharedOut(List<Member> members, int share, int total) {
        List<Set<Integer>> parts = new ArrayList<>();
        Set<Integer> union = new HashSet<>();
        int sum = 0;
        for (Member m : members) {
            parts.add(m.assigned());
            union.addAll(m.assigned());
            sum += m.assigned().size();
        }
        Set<Integer> all = new TreeSet<>();
        for (int p = 0; p < total; p++) {
            all.add(p);
        }
        assertEquals(all, union, "not every partition assigned: " + parts);
        assertEquals(total, sum, "a partition assigned twice: " + parts);
        parts.forEach(s -> assertEquals(share, s.size(), "uneven: " + parts));
    }

    static boolean eachHas(List<Member> members, int share) {
        return members.stream().allMatch(m -> m.assigned().size() == share);
    }

    /** Sends records round-robin over the partitions, numbering them from 0; the test flushes. */
    static final class Feed implements AutoCloseable {
        final KafkaProducer<byte[], byte[]> producer;
        final String topic;
        final int partitions;
        int sent;

        Feed(Target target, String topic, int partitions) {
            producer = Clients.producer(target, Map.of(ProducerConfig.LINGER_MS_CONFIG, 5));
            this.topic = topic;
            this.partitions = partitions;
        }

        void send(int count) {
            for (int i = 0; i < count; i++, sent++) {
                producer.send(new ProducerRecord<>(topic, sent % partitions, ("k" + sent).getBytes(StandardCharsets.UTF_8),
                        ("v" + sent).getBytes(StandardCharsets.UTF_8)));
            }
        }

        @Override
        public void close() {
            producer.close(Clients.TIMEOUT);
        }
    }

    /**
     * Two members share six partitions (3 each); a third joins (2 each); the second closes (3
     * each): at every stable point the assignment is disjoint and complete, and records written
     * all along are each read once, since a member commits what it read of a partition before
     * giving it up. Then all close, and a new member of the group resumes at the committed
     * offsets: it reads only records written after.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void membersJoiningAndLeavingReadEachRecordOnceAndANewMemberResumes(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "kip848", 6);
        String group = Clients.topicName("kip848-group");
        Map<String, Object> small = Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5);
        List<Member> members = new ArrayList<>();
        Map<String, List<Integer>> seen = new HashMap<>();
        try (Feed feed = new Feed(target, topic, 6)) {
            Runnable write = () -> {
                if (feed.sent < 1200) {
                    feed.send(6);
                }
            };
            members.addAll(join(target, group, topic, 2, small));
            pollUntil(members, () -> eachHas(members, 3), "3 partitions each of 2 members", seen, () -> { });
            assertSharedOut(members, 3, 6);

            feed.send(120);
            members.addAll(join(target, group, topic, 1, small));
            pollUntil(members, () -> eachHas(members, 2), "2 partitions each of 3 members", seen, write);
            assertSharedOut(members, 2, 6);
            assertEquals(Set.of(), members.get(2).revoked, "the new member had nothing to give up");

            Member leaving = members.remove(1);
            Set<Integer> itHad = leaving.assigned();
            leaving.revoked.clear();
            leaving.consumer.close(Clients.TIMEOUT);  // runs onPartitionsRevoked: commits, then leaves
            assertEquals(itHad, leaving.revoked, "revoked on close");
            pollUntil(members, () -> eachHas(members, 3), "3 partitions each of the 2 left", seen, write);
            assertSharedOut(members, 3, 6);

            feed.send(60);
            feed.producer.flush();
            int total = feed.sent;
            pollUntil(members, () -> seen.size() == total, total + " records", seen, () -> { });
            seen.forEach((record, who) -> assertEquals(1, who.size(), record + " read by members " + who));
            for (Member m : members) {
                assertEquals(Set.of(), m.lost, "partitions lost");
            }
            closeAll(members);
            members.clear();

            try (Admin admin = Clients.admin(target)) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                Map<Integer, Long> byPartition = new TreeMap<>();
                committed.forEach((tp, o) -> byPartition.put(tp.partition(), o.offset()));
                Map<Integer, Long> ends = new TreeMap<>();
                for (int p = 0; p < 6; p++) {
                    ends.put(p, (long) (total / 6 + (p < total % 6 ? 1 : 0)));
                }
                assertEquals(ends, byPartition, "committed offsets after all closed");
            }

            members.addAll(join(target, group, topic, 1, small));
            Map<String, List<Integer>> after = new HashMap<>();
            pollUntil(members, () -> eachHas(members, 6), "all 6 partitions on the new member", after, () -> { });
            feed.send(60);
            feed.producer.flush();
            pollUntil(members, () -> after.size() == 60, "the 60 records written after", after, () -> { });
            after.keySet().forEach(record -> assertTrue(!seen.containsKey(record), record + " read again"));
        } finally {
            closeAll(members);
        }
    }

    static Stream<Arguments> targetsAndAssignors() {
        return Stream.of(Targets.TRIBUTARY, Targets.APACHE_KAFKA)
                .flatMap(t -> Stream.of(Arguments.of(t, "range"), Arguments.of(t, "uniform")));
    }

    static ConsumerGroupDescription describe(Admin admin, String group) throws Exception {
        return get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
    }

    /**
     * The server's assignors by name (group.remote.assignor): range gives each of two members
     * three consecutive partitions of six, uniform three each. describeConsumerGroups
     * (ConsumerGroupDescribe) then shows a group of type CONSUMER, Stable, with that assignor,
     * its epochs, and each member with its client id, host, member epoch, the partitions it
     * owns and its target assignment (the same, once stable); listGroups lists it with type
     * consumer, protocol type consumer, and the type filter finds it.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("targetsAndAssignors")
    void serverAssignorsAndTheGroupAsAdminDescribesIt(String name, String assignor) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "assignor-" + assignor, 6);
        String group = Clients.topicName(assignor + "-group");
        List<Member> members = new ArrayList<>();
        try (Admin admin = Clients.admin(target)) {
            for (String client : List.of("one", "two")) {
                members.addAll(join(target, group, topic, 1, Map.of(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, assignor,
                        ConsumerConfig.CLIENT_ID_CONFIG, "client-" + client)));
            }
            pollUntil(members, () -> eachHas(members, 3), "3 partitions each", null, () -> { });
            assertSharedOut(members, 3, 6);
            if (assignor.equals("range")) {
                Set<Set<Integer>> got = Set.of(members.get(0).assigned(), members.get(1).assigned());
                assertEquals(Set.of(Set.of(0, 1, 2), Set.of(3, 4, 5)), got, "range assignment");
            }

            // The group is stable once each member owns its target (bounded wait: the last
            // heartbeat acknowledging an assignment may still be on its way).
            ConsumerGroupDescription d = describe(admin, group);
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            while (!(d.groupState() == GroupState.STABLE && d.members().size() == 2
                     && d.members().stream().allMatch(m -> Optional.of(m.assignment()).equals(m.targetAssignment())))) {
                assertTrue(System.nanoTime() < deadline, "not stable: " + d);
                Thread.sleep(100);
                d = describe(admin, group);
            }
            assertEquals(GroupType.CONSUMER, d.type());
            assertEquals(assignor, d.partitionAssignor());
            assertTrue(d.groupEpoch().isPresent() && d.groupEpoch().get() > 0, "group epoch " + d.groupEpoch());
            assertEquals(d.groupEpoch(), d.targetAssignmentEpoch());
            assertEquals(target.nodeId(), d.coordinator().id());
            Map<String, Member> byId = new HashMap<>();
            members.forEach(m -> byId.put(m.memberId(), m));
            for (MemberDescription md : d.members()) {
                Member m = byId.get(md.consumerId());
                assertTrue(m != null, "member " + md.consumerId() + " is none of " + byId.keySet());
                assertEquals(m.consumer.groupMetadata().groupInstanceId(), md.groupInstanceId());
                assertEquals("client-" + (m == members.get(0) ? "one" : "two"), md.clientId());
                assertEquals("/127.0.0.1", md.host());
                assertEquals(m.assigned(), partitions(md.assignment().topicPartitions()));
                assertEquals(Optional.of(new MemberAssignment(md.assignment().topicPartitions())), md.targetAssignment());
                assertEquals(Optional.of(m.consumer.groupMetadata().generationId()), md.memberEpoch());
                assertTrue(md.memberEpoch().get() > 0 && md.memberEpoch().get() <= d.groupEpoch().get(),
                        "member epoch " + md.memberEpoch() + ", group epoch " + d.groupEpoch());
                assertEquals(upgraded(target, true), md.upgraded());
            }

            GroupListing listed = null;
            for (GroupListing g : get(admin.listGroups().all())) {
                if (g.groupId().equals(group)) {
                    listed = g;
                }
            }
            assertTrue(listed != null, group + " not listed");
            assertEquals(Optional.of(GroupType.CONSUMER), listed.type());
            assertEquals("consumer", listed.protocol());
            assertEquals(Optional.of(GroupState.STABLE), listed.groupState());
            Set<String> ofType = new HashSet<>();
            get(admin.listGroups(new ListGroupsOptions().withTypes(Set.of(GroupType.CONSUMER))).all())
                    .forEach(g -> ofType.add(g.groupId()));
            assertTrue(ofType.contains(group), "type filter CONSUMER: " + ofType);
            Set<String> classic = new HashSet<>();
            get(admin.listGroups(new ListGroupsOptions().withTypes(Set.of(GroupType.CLASSIC))).all())
                    .forEach(g -> classic.add(g.groupId()));
            assertTrue(!classic.contains(group), "type filter CLASSIC: " + classic);
        } finally {
            closeAll(members);
        }
    }

    static Member staticMember(Target target, String group, String topic, String instance) {
        return new Member(target, group, topic, Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance));
    }

    /**
     * Static membership (group.instance.id): a static member that closes and comes back
     * within the session timeout (45 s, the coordinator's default) gets its own partitions
     * back, and the other member keeps its own without giving any up meanwhile.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void aStaticMemberThatClosesAndRejoinsGetsItsPartitionsBack(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "static848", 6);
        String group = Clients.topicName("static848-group");
        List<Member> members = new ArrayList<>();
        try (Admin admin = Clients.admin(target)) {
            members.add(staticMember(target, group, topic, "a"));
            members.add(staticMember(target, group, topic, "b"));
            pollUntil(members, () -> eachHas(members, 3), "3 partitions each", null, () -> { });
            assertSharedOut(members, 3, 6);
            Set<Integer> ofA = members.get(0).assigned();
            Set<Integer> ofB = members.get(1).assigned();
            members.get(0).revoked.clear();

            members.remove(1).consumer.close(Clients.TIMEOUT);
            // Its partitions stay its own: nobody else gets them while it is away.
            ConsumerGroupDescription away = describe(admin, group);
            Map<String, Set<Integer>> byInstance = new TreeMap<>();
            away.members().forEach(m -> byInstance.put(m.groupInstanceId().orElse("?"),
                    partitions(m.assignment().topicPartitions())));
            assertEquals(Map.of("a", ofA, "b", ofB), byInstance, "assignments while b is away");

            members.add(staticMember(target, group, topic, "b"));
            pollUntil(members, () -> members.get(1).assigned().size() == 3, "b's partitions back", null, () -> { });
            assertEquals(ofB, members.get(1).assigned());
            assertEquals(ofA, members.get(0).assigned());
            assertEquals(Set.of(), members.get(0).revoked, "a gave up partitions");
        } finally {
            closeAll(members);
        }
    }

    /**
     * A group.remote.assignor the coordinator doesn't have: the heartbeat is refused with
     * UNSUPPORTED_ASSIGNOR, which poll() raises as UnsupportedAssignorException.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void anUnknownServerAssignorIsRefused(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "noassignor", 1);
        try (KafkaConsumer<byte[], byte[]> c = member(target, Clients.topicName("noassignor-group"),
                Map.of(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "no-such-assignor"))) {
            c.subscribe(List.of(topic));
            assertInstanceOf(UnsupportedAssignorException.class, pollFailure(c, List.of()));
        }
    }

    /**
     * A consumer on the classic protocol (group.protocol=classic: JoinGroup, SyncGroup) joining
     * a group that a consumer-protocol member holds is not refused: Kafka 4.x takes it into
     * the group as a classic member (KIP-848's mixed groups, group.consumer.migration.policy)
     * and the server's assignor gives it its share, 3 of 6. The group stays of type CONSUMER;
     * describe marks the classic member upgraded=false, the other upgraded=true. A second
     * classic member whose assignors (here only roundrobin) share none with the classic
     * members already there (range, cooperative-sticky: the client's defaults) is refused
     * with INCONSISTENT_GROUP_PROTOCOL, which poll() raises as InconsistentGroupProtocolException.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void aClassicConsumerJoinsAConsumerProtocolGroup(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "mixed", 6);
        String group = Clients.topicName("mixed-group");
        List<Member> members = new ArrayList<>();
        List<KafkaConsumer<byte[], byte[]>> classics = new ArrayList<>();
        try (Admin admin = Clients.admin(target)) {
            members.addAll(join(target, group, topic, 1, Map.of()));
            pollUntil(members, () -> eachHas(members, 6), "6 partitions", null, () -> { });
            KafkaConsumer<byte[], byte[]> classic = ConsumerGroupTest.member(target, group, Map.of());
            classics.add(classic);
            classic.subscribe(List.of(topic));
            List<KafkaConsumer<byte[], byte[]>> both = List.of(members.get(0).consumer, classic);
            pollUntilShared(both, 3, 6);

            ConsumerGroupDescription d = describe(admin, group);
            assertEquals(GroupType.CONSUMER, d.type());
            assertUpgraded(target, d, members.get(0).memberId(), classic.groupMetadata().memberId());

            KafkaConsumer<byte[], byte[]> odd = ConsumerGroupTest.member(target, group,
                    Map.of(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RoundRobinAssignor.class.getName()));
            classics.add(odd);
            odd.subscribe(List.of(topic));
            assertInstanceOf(InconsistentGroupProtocolException.class, pollFailure(odd, both));
            assertEquals(3, ConsumerGroupTest.assigned(classic).size());
            assertEquals(3, members.get(0).assigned().size());
        } finally {
            ConsumerGroupTest.closeAll(classics);
            closeAll(members);
        }
    }

    /**
     * What describe shows as a member's `upgraded` (KIP-1099: true for a member on the consumer
     * protocol, false for a classic one): ConsumerGroupDescribe v1's member type. Tributary
     * serves v0, which has none, so the client shows it empty (docs/differences-from-kafka.md).
     */
    static Optional<Boolean> upgraded(Target target, boolean consumerProtocol) {
        return target.name().equals(Targets.APACHE_KAFKA) ? Optional.of(consumerProtocol) : Optional.empty();
    }

    /** describe marks the consumer-protocol member upgraded=true, the classic one false. */
    static void assertUpgraded(Target target, ConsumerGroupDescription d, String consumerProtocolMember,
                               String classicMember) {
        Map<String, Optional<Boolean>> upgraded = new TreeMap<>();
        d.members().forEach(m -> upgraded.put(m.consumerId(), m.upgraded()));
        assertEquals(Map.of(consumerProtocolMember, upgraded(target, true), classicMember, upgraded(target, false)),
                upgraded);
    }

    /** Polls `consumers` until each has `share` partitions and together all of `partitions`. */
    static void pollUntilShared(List<KafkaConsumer<byte[], byte[]>> consumers, int share, int partitions) {
        ConsumerGroupTest.pollUntil(consumers, () -> consumers.stream().allMatch(c -> ConsumerGroupTest.assigned(c).size() == share),
                Clients.TIMEOUT, share + " partitions each", null);
        Set<Integer> union = new HashSet<>();
        consumers.forEach(c -> union.addAll(ConsumerGroupTest.assigned(c)));
        assertEquals(partitions, union.size(), "not all partitions assigned: " + union);
    }

    /**
     * The other way round: a consumer-protocol member joining a classic group (its one member
     * on the classic protocol, holding all six partitions) converts it online into a consumer
     * group (type CONSUMER; the classic member stays, upgraded=false) and they get three each;
     * when that member leaves again, the classic member gets all six, and the group is a
     * classic group again (group.consumer.migration.policy bidirectional, Kafka 4.x's default).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void aConsumerProtocolMemberUpgradesAClassicGroupAndItsLeavingDowngradesIt(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "upgrade", 6);
        String group = Clients.topicName("upgrade-group");
        List<Member> members = new ArrayList<>();
        KafkaConsumer<byte[], byte[]> classic = ConsumerGroupTest.member(target, group, Map.of());
        try (Admin admin = Clients.admin(target)) {
            classic.subscribe(List.of(topic));
            pollUntilShared(List.of(classic), 6, 6);
            assertEquals(GroupType.CLASSIC, describe(admin, group).type());

            members.addAll(join(target, group, topic, 1, Map.of()));
            pollUntilShared(List.of(classic, members.get(0).consumer), 3, 6);
            ConsumerGroupDescription d = describe(admin, group);
            assertEquals(GroupType.CONSUMER, d.type());
            assertUpgraded(target, d, members.get(0).memberId(), classic.groupMetadata().memberId());

            closeAll(members);
            members.clear();
            pollUntilShared(List.of(classic), 6, 6);
            GroupType then = GroupType.CLASSIC;
            ConsumerGroupDescription after = describe(admin, group);
            long deadline = System.nanoTime() + Clients.TIMEOUT.toNanos();
            while (after.type() != then || after.groupState() != GroupState.STABLE) {
                assertTrue(System.nanoTime() < deadline, "not a stable " + then + " group: " + after);
                classic.poll(POLL);
                after = describe(admin, group);
            }
            assertEquals(1, after.members().size());
        } finally {
            classic.close(Duration.ofSeconds(10));
            closeAll(members);
        }
    }
}
