#pragma once

// Idempotent producers: per partition, the last few batches of every producer id, so a
// retried batch is recognised and answered with its original offset instead of being
// appended again, and a gap or reordering in sequence numbers is refused.
//
// Rules (Kafka's): sequences are per (producer id, partition) and count records; a batch
// carries base_sequence and last_offset_delta, so it covers [base, base + delta] (wrapping
// after INT32_MAX to 0). With the same epoch, a batch must start right after the last one;
// a newer epoch must start at 0; an older epoch is fenced. The last 5 batches are kept
// (the most a client has in flight per connection).
//
// The state is rebuilt on start-up from the batch headers in the log, so it survives a
// restart or a SIGKILL along with the data it describes.
#include "common/batch_header.h"

#include <cstdint>
#include <deque>
#include <unordered_map>

namespace trib::broker {

class producer_state {
public:
    static constexpr size_t batches_kept = 5;

    enum class verdict {
        append,           // new and in sequence
        duplicate,        // seen before: answer with `duplicate_of`
        out_of_order,     // OUT_OF_ORDER_SEQUENCE_NUMBER
        fenced,           // epoch older than the producer's current one: INVALID_PRODUCER_EPOCH
        unknown_producer, // no state and the sequence doesn't start at 0: UNKNOWN_PRODUCER_ID
    };
    struct check_result {
        verdict v = verdict::append;
        int64_t duplicate_of = -1;  // base offset of the original batch
    };

    // Judges a producer batch (producer_id >= 0) before it is appended.
    check_result check(const batch_header& h) const;
    // Records a batch once appended (h.base_offset is the assigned offset).
    void record(const batch_header& h);
    void clear() { _producers.clear(); }
    size_t producers() const noexcept { return _producers.size(); }

private:
    struct batch_meta {
        int32_t first_seq;
        int32_t last_seq;
        int64_t base_offset;
    };
    struct entry {
        int16_t epoch = -1;
        std::deque<batch_meta> recent;  // oldest first
    };
    std::unordered_map<int64_t, entry> _producers;
};

int32_t last_sequence(const batch_header& h) noexcept;

} // namespace trib::broker
