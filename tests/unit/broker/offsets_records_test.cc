#include "broker/groups/offsets_records.h"

#include <gtest/gtest.h>

#include <limits>

namespace trib::broker::groups {
namespace {

// Expected values printed by Java 17 (String.hashCode, then Utils.abs(h) % 50).
TEST(offsets_records, group_partition_is_javas) {
    struct vec {
        const char* group;
        int32_t hash;
        int32_t partition_of_50;
    };
    const vec vectors[] = {
        {"", 0, 0},
        {"testgroup", -1172783827, 27},
        {"my-group", -1906497762, 12},
        {"console-consumer-12345", 158455506, 6},
        {"gr\xc3\xbcppe", -1233264812, 12},          // "grüppe": one UTF-16 unit per letter
        {"\xe7\xbb\x84", 32452, 2},                   // U+7EC4
        {"g\xf0\x9f\x98\x80", 1871882, 32},           // U+1F600: a surrogate pair in Java
        {"polygenelubricants", std::numeric_limits<int32_t>::min(), 0},  // Utils.abs(MIN) = 0
    };
    for (const vec& v : vectors) {
        SCOPED_TRACE(v.group);
        EXPECT_EQ(java_string_hash(v.group), v.hash);
        EXPECT_EQ(offsets_partition_for(v.group, 50), v.partition_of_50);
    }
    EXPECT_EQ(offsets_partition_for("testgroup", 1), 0);
}

TEST(offsets_records, malformed_utf8_hashes_without_reading_past_the_end) {
    // A lead byte with its continuation missing at the end, a stray continuation byte: one
    // U+FFFD (65533) each; an overlong encoding: one per byte, as Java decodes them.
    EXPECT_EQ(java_string_hash("\xe7"), 65533);
    EXPECT_EQ(java_string_hash("\x80"), 65533);
    EXPECT_EQ(java_string_hash("\xc0\xaf"), 65533 * 31 + 65533);
    // Printed by Java 17: new String(bytes, UTF_8).hashCode().
    EXPECT_EQ(java_string_hash("\xe7\xbb" "a"), 2031620);       // cut short: U+FFFD, 'a'
    EXPECT_EQ(java_string_hash("\xed\xa0\x80"), 65533);         // a surrogate: one U+FFFD
    EXPECT_EQ(java_string_hash("\xf4\x90\x80\x80"), 2017367872); // past U+10FFFF: four
    EXPECT_GE(offsets_partition_for("\xff\xfe", 50), 0);
}

// The bytes of Kafka's layout, written out from the specs: int16 version, then the fields.
TEST(offsets_records, offset_commit_layout_is_kafkas) {
    protocol::offset_commit_key k;
    k.group = "g";
    k.topic = "t";
    k.partition = 3;
    EXPECT_EQ(encode_key(k), (bytes{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3}));

    protocol::offset_commit_value v;
    v.offset = 258;
    v.leader_epoch = 7;
    v.metadata = "m";
    v.commit_timestamp = 1;
    EXPECT_EQ(encode_value(v), (bytes{0, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 7, 0, 1, 'm', 0, 0, 0, 0, 0, 0, 0, 1}));
    // With an expire timestamp (OffsetCommit v1-4's retention): version 1, no leader epoch.
    v.expire_timestamp = 2;
    EXPECT_EQ(encode_value(v), (bytes{0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 'm', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                                      0, 0, 0, 0, 2}));
}

TEST(offsets_records, group_metadata_layout_is_kafkas) {
    protocol::group_metadata_key k;
    k.group = "gr";
    EXPECT_EQ(encode_key(k), (bytes{0, 2, 0, 2, 'g', 'r'}));

    protocol::group_metadata_value v;
    v.protocol_type = "consumer";
    v.generation = 5;
    v.protocol = "range";
    v.leader = std::nullopt;
    v.current_state_timestamp = 9;
    protocol::group_metadata_value::member_metadata m;
    m.member_id = "a";
    m.group_instance_id = std::nullopt;
    m.client_id = "c";
    m.client_host = "/h";
    m.rebalance_timeout = 300;
    m.session_timeout = 45;
    m.subscription = {1};
    m.assignment = {};
    v.members.push_back(m);
    bytes expected = {0, 3};
    auto s = [&](const std::string& x) {
        expected.push_back(0);
        expected.push_back(uint8_t(x.size()));
        expected.insert(expected.end(), x.begin(), x.end());
    };
    auto i32 = [&](uint32_t x) {
        for (int sh : {24, 16, 8, 0}) expected.push_back(uint8_t(x >> sh));
    };
    s("consumer");
    i32(5);
    s("range");
    expected.insert(expected.end(), {0xff, 0xff});  // null leader
    expected.insert(expected.end(), {0, 0, 0, 0, 0, 0, 0, 9});
    i32(1);  // one member
    s("a");
    expected.insert(expected.end(), {0xff, 0xff});  // null group instance id
    s("c");
    s("/h");
    i32(300);
    i32(45);
    i32(1);
    expected.push_back(1);
    i32(0);
    EXPECT_EQ(encode_value(v), expected);
}

TEST(offsets_records, records_read_back) {
    protocol::offset_commit_key k;
    k.group = "g";
    k.topic = "t";
    k.partition = 3;
    protocol::offset_commit_value v;
    v.offset = 42;
    v.metadata = "x";
    const bytes key = encode_key(k), value = encode_value(v);

    auto rec = decode_offsets_record(key, bytes_view(value));
    ASSERT_TRUE(std::holds_alternative<offset_commit_record>(rec));
    EXPECT_EQ(std::get<offset_commit_record>(rec).key, k);
    ASSERT_TRUE(std::get<offset_commit_record>(rec).value);
    EXPECT_EQ(*std::get<offset_commit_record>(rec).value, v);

    auto tomb = decode_offsets_record(key, std::nullopt);
    ASSERT_TRUE(std::holds_alternative<offset_commit_record>(tomb));
    EXPECT_FALSE(std::get<offset_commit_record>(tomb).value);

    // Key version 0 (written by old brokers) reads too.
    const bytes key0 = {0, 0, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3};
    ASSERT_TRUE(std::holds_alternative<offset_commit_record>(decode_offsets_record(key0, std::nullopt)));

    protocol::group_metadata_key gk;
    gk.group = "g";
    protocol::group_metadata_value gv;
    gv.protocol_type = "consumer";
    auto grec = decode_offsets_record(encode_key(gk), bytes_view(encode_value(gv)));
    ASSERT_TRUE(std::holds_alternative<group_metadata_record>(grec));
    EXPECT_EQ(std::get<group_metadata_record>(grec).value->protocol_type, "consumer");
}

TEST(offsets_records, other_and_bad_records_are_told_apart) {
    // Key version 9 and up: share group records, skipped by a loader.
    const bytes share = {0, 9, 0, 1, 'g'};
    auto other = decode_offsets_record(share, std::nullopt);
    ASSERT_TRUE(std::holds_alternative<other_record>(other));
    EXPECT_EQ(std::get<other_record>(other).key_version, 9);

    protocol::offset_commit_key k;
    k.group = "g";
    const bytes key = encode_key(k);
    const bytes value = encode_value(protocol::offset_commit_value{});
    const std::vector<std::pair<bytes, std::optional<bytes>>> bad = {
        {{}, std::nullopt},                                     // no key version
        {{0}, std::nullopt},                                    // half a key version
        {{0xff, 0xff}, std::nullopt},                           // negative key version
        {bytes(key.begin(), key.end() - 1), std::nullopt},      // short key
        {[&] { bytes b = key; b.push_back(0); return b; }(), std::nullopt},  // trailing byte
        {key, bytes{0}},                                        // half a value version
        {key, bytes{0, 9}},                                     // unknown value version
        {key, bytes(value.begin(), value.end() - 1)},           // short value
    };
    for (const auto& [kb, vb] : bad) {
        auto rec = vb ? decode_offsets_record(kb, bytes_view(*vb)) : decode_offsets_record(kb, std::nullopt);
        EXPECT_TRUE(std::holds_alternative<bad_record>(rec)) << kb.size() << " key bytes";
        if (auto* b = std::get_if<bad_record>(&rec)) {
            EXPECT_FALSE(b->reason.empty());
        }
    }
}

TEST(offsets_records, consumer_group_records_are_kafkas) {
    // ConsumerGroupMetadataKey: int16 version 3, then the group id as an int16-length string;
    // its value: int16 version 0, then the flexible struct (epoch, no tagged fields).
    protocol::consumer_group_metadata_key k;
    k.group_id = "g";
    EXPECT_EQ(encode_consumer_key(k), (bytes{0, 3, 0, 1, 'g'}));
    protocol::consumer_group_metadata_value v;
    v.epoch = 7;
    EXPECT_EQ(encode_consumer_value(v), (bytes{0, 0, 0, 0, 0, 7, 0}));
    auto rec = decode_offsets_record(bytes{0, 3, 0, 1, 'g'}, bytes_view(encode_consumer_value(v)));
    ASSERT_TRUE(std::holds_alternative<consumer_group_metadata_record>(rec));
    EXPECT_EQ(std::get<consumer_group_metadata_record>(rec).value->epoch, 7);

    // A member's current assignment (key 8), and its tombstone.
    protocol::consumer_group_current_member_assignment_key ak;
    ak.group_id = "g";
    ak.member_id = "m";
    protocol::consumer_group_current_member_assignment_value av;
    av.member_epoch = 3;
    av.previous_member_epoch = 2;
    av.state = 1;
    protocol::uuid topic;
    topic.b[0] = 1;
    av.assigned_partitions.push_back({topic, {0, 4}, {}});
    auto arec = decode_offsets_record(encode_consumer_key(ak), bytes_view(encode_consumer_value(av)));
    ASSERT_TRUE(std::holds_alternative<consumer_group_current_assignment_record>(arec));
    EXPECT_EQ(*std::get<consumer_group_current_assignment_record>(arec).value, av);
    auto tomb = decode_offsets_record(encode_consumer_key(ak), std::nullopt);
    ASSERT_TRUE(std::holds_alternative<consumer_group_current_assignment_record>(tomb));
    EXPECT_EQ(std::get<consumer_group_current_assignment_record>(tomb).key.member_id, "m");
    EXPECT_FALSE(std::get<consumer_group_current_assignment_record>(tomb).value);

    // A value of a version this broker does not know is a bad record, not a guess.
    bytes v9 = encode_consumer_value(v);
    v9[1] = 9;
    EXPECT_TRUE(std::holds_alternative<bad_record>(decode_offsets_record(bytes{0, 3, 0, 1, 'g'}, bytes_view(v9))));
}

} // namespace
} // namespace trib::broker::groups
