#pragma once

#include "common/named_type.h"

#include <cstdint>

namespace trib {

// Position of a record in a partition log.
using offset = named_type<int64_t, struct offset_tag>;
// Leadership generation of a partition, bumped by the coordinator on every leader change.
using leader_epoch = named_type<int32_t, struct leader_epoch_tag>;
// Raft term of the coordinator quorum.
using term_id = named_type<int64_t, struct term_tag>;
using node_id = named_type<int32_t, struct node_id_tag>;
using partition_id = named_type<int32_t, struct partition_id_tag>;
using producer_id = named_type<int64_t, struct producer_id_tag>;
using producer_epoch = named_type<int16_t, struct producer_epoch_tag>;
// Milliseconds since the Unix epoch, as Kafka record timestamps are.
using timestamp_ms = named_type<int64_t, struct timestamp_ms_tag>;

} // namespace trib
