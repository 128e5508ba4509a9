#include "broker/timestamp_lookup.h"

#include "common/batch_header.h"
#include "protocol/records.h"

#include <limits>

namespace trib::broker {

namespace {

// A protocol/ lookup's answer as a record_at.
result<std::optional<record_at>> as_record_at(const result<std::optional<protocol::record_position>>& found) {
    if (!found) {
        return found.error();
    }
    if (!*found) {
        return std::optional<record_at>{};
    }
    return std::optional<record_at>(record_at{offset((*found)->offset), (*found)->timestamp});
}

// protocol::find_record in one whole batch.
result<std::optional<record_at>> search_in(bytes_view batch, int64_t ts, bool exact, offset min) {
    return as_record_at(protocol::find_record(batch, min.value(), ts, exact));
}

// In the batch holding offset `o`: as search_in. nullopt when the batch has none, which its
// header says can't happen; the caller then answers from the header.
result<std::optional<record_at>> search_batch(storage::log& log, offset o, int64_t ts, bool exact, offset min) {
    auto data = log.read_bytes(o, 1);  // at least (here: exactly) the batch holding o
    if (!data) {
        return data.error();
    }
    return search_in(bytes_view(*data), ts, exact, min);
}

} // namespace

result<std::optional<record_at>> record_at_or_after(storage::log& log, offset o) {
    return search_batch(log, o, std::numeric_limits<int64_t>::min(), false, o);
}

result<std::optional<record_at>> record_at_or_after(bytes_view batches, offset o) {
    return as_record_at(protocol::record_at_or_after(batches, o.value()));
}

result<std::optional<record_at>> first_record_at_or_after(storage::log& log, int64_t ts) {
    auto base = log.offset_for_timestamp(timestamp_ms(ts));
    if (!base) {
        return base.error();
    }
    if (!*base) {
        return std::optional<record_at>{};
    }
    auto found = search_batch(log, **base, ts, false, log.log_start_offset());
    if (!found || *found) {
        return found;
    }
    return std::optional<record_at>(record_at{**base, ts});
}

result<std::optional<record_at>> record_with_max_timestamp(storage::log& log) {
    auto m = log.max_timestamp();  // the last offset of the batch with the largest max timestamp
    if (!m) {
        return std::optional<record_at>{};
    }
    auto found = search_batch(log, m->first, m->second.value(), true, log.log_start_offset());
    if (!found || *found) {
        return found;
    }
    return std::optional<record_at>(record_at{m->first, m->second.value()});
}

} // namespace trib::broker
