#pragma once

// The records of `__consumer_offsets`, in Apache Kafka's layouts so that tools reading that
// topic (Burrow, kafka-console-consumer with Kafka's formatters) understand ours:
//   key   = int16 key version, then the key struct of that version
//   value = int16 value version, then the value struct; a null value is a tombstone
// Key versions 0 and 1 are a committed offset (OffsetCommitKey), 2 a classic group's
// metadata (GroupMetadataKey); higher ones are the KIP-848 and share-group records, which a
// loader that does not know them skips, as Kafka's does.
// Where a group lives: partition abs(hash(group id)) mod offsets.topic.num.partitions, with
// Java's String.hashCode and Kafka's Utils.abs, so a group has the same coordinator partition
// here as on Apache Kafka.
#include "common/bytes.h"
#include "protocol/messages.h"

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

// A record of a kind this broker does not read (key version 3 and up).
struct other_record {
    int16_t key_version = 0;
};

// A record that cannot be read: a short key or value, an unknown value version, trailing bytes.
struct bad_record {
    std::string reason;
};

using offsets_record = std::variant<offset_commit_record, group_metadata_record, other_record, bad_record>;

// Reads one record of __consumer_offsets (`value` nullopt for a tombstone).
offsets_record decode_offsets_record(bytes_view key, std::optional<bytes_view> value);

bytes encode_key(const protocol::offset_commit_key& k);
bytes encode_key(const protocol::group_metadata_key& k);
// Picks the version: with an expire timestamp (not -1) v1, else v3.
bytes encode_value(const protocol::offset_commit_value& v);
bytes encode_value(const protocol::group_metadata_value& v);

} // namespace trib::broker::groups
