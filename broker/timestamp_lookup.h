#pragma once

#include "common/bytes.h"
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

// The record at offset `o` (or the first after it in its batch, when `o` itself was compacted
// away): what a consumer whose position is `o` reads next, for the lag in seconds
// (broker/lag_publisher.h). nullopt when the batch holding `o` has no record at or after it.
// `o` must lie in [log start, log end).
result<std::optional<record_at>> record_at_or_after(storage::log& log, offset o);
// The same in `batches`, whole batches back to back as a Fetch answer carries them (control
// batches skipped): for a partition led by another broker.
result<std::optional<record_at>> record_at_or_after(bytes_view batches, offset o);

} // namespace trib::broker
