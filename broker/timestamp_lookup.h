#pragma once

#include "common/ids.h"
#include "common/result.h"
#include "storage/log.h"

#include <cstdint>
#include <optional>

namespace trib::broker {

// ListOffsets by time. The log's time index finds batches by their max timestamp; a batch
// may hold records older than the target before the one that answers (producers set record
// timestamps freely), so the answer comes from the records inside the batch, decompressed when
// the batch is: what Kafka answers, record by record.

struct record_at {
    offset at;
    int64_t timestamp;
};

// The first record at or after the log start offset whose timestamp is >= ts; nullopt when no
// record is that recent.
result<std::optional<record_at>> first_record_at_or_after(storage::log& log, int64_t ts);

// ListOffsets MAX_TIMESTAMP (-3): the first record carrying the largest timestamp of the log;
// nullopt when no record carries a timestamp.
result<std::optional<record_at>> record_with_max_timestamp(storage::log& log);

} // namespace trib::broker
