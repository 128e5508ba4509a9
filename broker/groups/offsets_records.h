#pragma once

// The records of `__consumer_offsets`, in Apache Kafka's layouts so that tools reading that
// topic (Burrow, kafka-console-consumer with Kafka's formatters) understand ours:
//   key   = int16 key version, then the key struct of that version
//   value = int16 value version, then the value struct; a null value is a tombstone
// Key versions 0 and 1 are a committed offset (OffsetCommitKey), 2 a classic group's
// metadata (GroupMetadataKey), 3 to 8 a consumer group's (KIP-848) records; higher ones are
// share-group records, which a loader that does not know them skips, as Kafka's does.
// Where a group lives: partition abs(hash(group id)) mod offsets.topic.num.partitions, with
// Java's String.hashCode and Kafka's Utils.abs, so a group has the same coordinator partition
// here as on Apache Kafka.
#include "common/bytes.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace trib::broker::groups {

// java.lang.String.hashCode() of the string a UTF-8 group id decodes to (over its UTF-16 code
// units). A malformed sequence counts as one U+FFFD; Java may count such input differently,
// but clients send group ids as valid UTF-8.
int32_t java_string_hash(std::string_view utf8);

// Kafka's partition of __consumer_offsets for `group_id` among `partitions` (> 0).
int32_t offsets_partition_for(std::string_view group_id, int32_t partitions);

// The versions this broker writes, those Apache Kafka 4.x writes.
inline constexpr int16_t offset_commit_key_version = 1;
inline constexpr int16_t group_metadata_key_version = 2;
// OffsetCommitValue v1 carries an explicit expire timestamp (v2 OffsetCommit requests' retention);
// v3 the leader epoch.
inline constexpr int16_t offset_commit_value_version = 3;
inline constexpr int16_t offset_commit_value_version_with_expiry = 1;
inline constexpr int16_t group_metadata_value_version = 3;

struct offset_commit_record {
    protocol::offset_commit_key key;
    std::optional<protocol::offset_commit_value> value;  // nullopt: the offset was deleted
};

struct group_metadata_record {
    protocol::group_metadata_key key;
    std::optional<protocol::group_metadata_value> value;  // nullopt: the group was deleted
};

// A KIP-848 consumer group record (key versions 3 to 8): a key and a value, nullopt for a
// tombstone.
template<typename Key, typename Value>
struct keyed_record {
    Key key;
    std::optional<Value> value;
};
using consumer_group_metadata_record =  // key 3: the group's epoch
    keyed_record<protocol::consumer_group_metadata_key, protocol::consumer_group_metadata_value>;
using consumer_group_partition_metadata_record =  // key 4: the subscribed topics' partitions
    keyed_record<protocol::consumer_group_partition_metadata_key, protocol::consumer_group_partition_metadata_value>;
using consumer_group_member_metadata_record =  // key 5: a member's subscription and client
    keyed_record<protocol::consumer_group_member_metadata_key, protocol::consumer_group_member_metadata_value>;
using consumer_group_target_metadata_record =  // key 6: the target assignment's epoch
    keyed_record<protocol::consumer_group_target_assignment_metadata_key,
                 protocol::consumer_group_target_assignment_metadata_value>;
using consumer_group_target_member_record =  // key 7: a member's partitions in the target
    keyed_record<protocol::consumer_group_target_assignment_member_key,
                 protocol::consumer_group_target_assignment_member_value>;
using consumer_group_current_assignment_record =  // key 8: a member's epoch and current assignment
    keyed_record<protocol::consumer_group_current_member_assignment_key,
                 protocol::consumer_group_current_member_assignment_value>;

// A record of a kind this broker does not read (share groups, key version 9 and up).
struct other_record {
    int16_t key_version = 0;
};

// A record that cannot be read: a short key or value, an unknown value version, trailing bytes.
struct bad_record {
    std::string reason;
};

using offsets_record =
    std::variant<offset_commit_record, group_metadata_record, consumer_group_metadata_record,
                 consumer_group_partition_metadata_record, consumer_group_member_metadata_record,
                 consumer_group_target_metadata_record, consumer_group_target_member_record,
                 consumer_group_current_assignment_record, other_record, bad_record>;

// Reads one record of __consumer_offsets (`value` nullopt for a tombstone).
offsets_record decode_offsets_record(bytes_view key, std::optional<bytes_view> value);

bytes encode_key(const protocol::offset_commit_key& k);
bytes encode_key(const protocol::group_metadata_key& k);
// A consumer group record's key (its key version is the record's kind) and value (v0).
template<typename Key>
bytes encode_consumer_key(const Key& k) {
    protocol::writer w;
    w.write_int16(Key::min_version);
    k.encode(w, Key::min_version);
    return w.take();
}
template<typename Value>
bytes encode_consumer_value(const Value& v) {
    protocol::writer w;
    w.write_int16(0);
    v.encode(w, 0);
    return w.take();
}

// Picks the version: with an expire timestamp (not -1) v1, else v3.
bytes encode_value(const protocol::offset_commit_value& v);
bytes encode_value(const protocol::group_metadata_value& v);

} // namespace trib::broker::groups
