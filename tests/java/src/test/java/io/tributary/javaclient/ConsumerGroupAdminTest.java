package io.tributary.javaclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Static membership and the AdminClient's group calls on a live classic group: a static member
 * that closes and comes back within its session gets its partitions back without a rebalance;
 * listGroups, describeConsumerGroups (state, members, client ids, hosts, assignments),
 * listConsumerGroupOffsets, deleting a group with members (GroupNotEmptyException),
 * removeMembersFromConsumerGroup, alterConsumerGroupOffsets and deleteConsumerGroupOffsets on
 * the empty group, deleteConsumerGroups. Against Tributary and Apache Kafka alike.
 */
@ExtendWith(Targets.class)
class ConsumerGroupAdminTest {
    static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
        return f.get(Clients.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    static KafkaConsumer<byte[], byte[]> staticMember(Target target, String group, String instance) {
        return ConsumerGroupTest.member(target, group, Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance,
                ConsumerConfig.CLIENT_ID_CONFIG, "client-" + instance));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void staticMembersAndTheAdminGroupCalls(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "static", 6);
        String group = Clients.topicName("statics");
        List<KafkaConsumer<byte[], byte[]>> members = new ArrayList<>();
        List<ConsumerGroupTest.Revocations> listeners = new ArrayList<>();
        try (Admin admin = Clients.admin(target)) {
            for (String instance : List.of("a", "b")) {
                ConsumerGroupTest.Revocations l = new ConsumerGroupTest.Revocations();
                KafkaConsumer<byte[], byte[]> c = staticMember(target, group, instance);
                c.subscribe(List.of(topic), l);
                members.add(c);
                listeners.add(l);
            }
            ConsumerGroupTest.pollUntil(members, () -> members.stream().allMatch(c -> ConsumerGroupTest.assigned(c).size() == 3),
                    Clients.TIMEOUT, "3 partitions each", null);
            Set<Integer> ofA = ConsumerGroupTest.assigned(members.get(0));
            Set<Integer> ofB = ConsumerGroupTest.assigned(members.get(1));

            // Static members don't leave the group when they close: b comes back as b and gets
            // its partitions again, and a goes on without a rebalance (nothing revoked).
            listeners.get(0).revoked.clear();
            members.remove(1).close(java.time.Duration.ofSeconds(10));
            members.add(staticMember(target, group, "b"));
            members.get(1).subscribe(List.of(topic));
            ConsumerGroupTest.pollUntil(members, () -> ConsumerGroupTest.assigned(members.get(1)).size() == 3,
                    Clients.TIMEOUT, "b's partitions back", null);
            assertEquals(ofB, ConsumerGroupTest.assigned(members.get(1)));
            assertEquals(ofA, ConsumerGroupTest.assigned(members.get(0)));
            assertEquals(Set.of(), listeners.get(0).revoked, "a rebalanced");

            members.get(0).commitSync(Map.of(new TopicPartition(topic, ofA.iterator().next()),
                    new OffsetAndMetadata(0, "a was here")), Clients.TIMEOUT);

            boolean listed = false;
            for (GroupListing g : get(admin.listGroups().all())) {
                if (g.groupId().equals(group)) {
                    listed = true;
                    assertEquals("consumer", g.protocol());
                    assertEquals(Optional.of(GroupType.CLASSIC), g.type());  // ListGroups v5
                    assertEquals(Optional.of(GroupState.STABLE), g.groupState());
                }
            }
            assertTrue(listed, group + " not listed");

            ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals("range", d.partitionAssignor());
            assertEquals(2, d.members().size());
            Map<String, Set<Integer>> byInstance = new java.util.TreeMap<>();
            for (MemberDescription m : d.members()) {
                String instance = m.groupInstanceId().orElseThrow();
                assertEquals("client-" + instance, m.clientId());
                assertEquals("/127.0.0.1", m.host());
                Set<Integer> parts = new TreeSet<>();
                m.assignment().topicPartitions().forEach(tp -> parts.add(tp.partition()));
                byInstance.put(instance, parts);
            }
            assertEquals(Map.of("a", ofA, "b", ofB), byInstance);

            Map<TopicPartition, OffsetAndMetadata> offsets =
                    get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            assertEquals(Map.of(new TopicPartition(topic, ofA.iterator().next()), new OffsetAndMetadata(0, "a was here")),
                    offsets);

            Throwable notEmpty = ErrorCasesTest.failureOf(admin.deleteConsumerGroups(List.of(group)).all());
            assertInstanceOf(GroupNotEmptyException.class, notEmpty);

            // Static members that are gone are removed by instance id; then the group is empty.
            ConsumerGroupTest.closeAll(members);
            members.clear();
            get(admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions(
                    List.of(new MemberToRemove("a"), new MemberToRemove("b")))).all());
            assertEquals(GroupState.EMPTY,
                    get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group)).groupState());

            TopicPartition p0 = new TopicPartition(topic, 0);
            get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(5))).all());
            assertEquals(5L, get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).get(p0).offset());
            get(admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all());
            assertTrue(!get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).containsKey(p0));

            get(admin.deleteConsumerGroups(List.of(group)).all());
            var described = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group);
            if (name.equals(Targets.APACHE_KAFKA)) {  // DescribeGroups v6: GROUP_ID_NOT_FOUND
                assertInstanceOf(GroupIdNotFoundException.class, ErrorCasesTest.failureOf(described));
            } else {  // Tributary serves DescribeGroups up to v5, which answers Dead and no members
                assertEquals(GroupState.DEAD, get(described).groupState());
                assertEquals(0, get(described).members().size());
            }
        } finally {
            ConsumerGroupTest.closeAll(members);
        }
    }

    /** OffsetFetch v8+ asks for several groups in one request: the admin client batches them. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {Targets.TRIBUTARY, Targets.APACHE_KAFKA})
    void offsetsOfSeveralGroupsInOneCall(String name) throws Exception {
        Target target = Targets.get(name);
        String topic = ConsumerGroupTest.topic(target, "multi", 2);
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        Map<String, Map<TopicPartition, OffsetAndMetadata>> want = new java.util.TreeMap<>();
        want.put(Clients.topicName("one"), Map.of(p0, new OffsetAndMetadata(3, "x")));
        want.put(Clients.topicName("two"), Map.of(p0, new OffsetAndMetadata(7, ""), p1, new OffsetAndMetadata(1, "y")));
        try (Admin admin = Clients.admin(target)) {
            for (var e : want.entrySet()) {
                get(admin.alterConsumerGroupOffsets(e.getKey(), e.getValue()).all());
            }
            String none = Clients.topicName("none");
            Map<String, ListConsumerGroupOffsetsSpec> specs = new java.util.HashMap<>();
            want.keySet().forEach(g -> specs.put(g, new ListConsumerGroupOffsetsSpec()));
            specs.put(none, new ListConsumerGroupOffsetsSpec().topicPartitions(List.of(p1)));
            Map<String, Map<TopicPartition, OffsetAndMetadata>> got = get(admin.listConsumerGroupOffsets(specs).all());
            Map<String, Map<TopicPartition, OffsetAndMetadata>> expected = new java.util.HashMap<>(want);
            // a group without commits, asked for a partition: that partition without an offset
            Map<TopicPartition, OffsetAndMetadata> noOffset = new java.util.HashMap<>();
            noOffset.put(p1, null);
            expected.put(none, noOffset);
            assertEquals(expected, got);
        }
    }
}
