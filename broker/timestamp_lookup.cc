#include "broker/timestamp_lookup.h"

#include "common/batch_header.h"
#include "protocol/records.h"

#include <limits>

namespace trib::broker {

namespace {

// In `batch` (one whole batch): the first record at or after `min` whose timestamp is >= ts
// (== ts when `exact`); nullopt when it has none.
result<std::optional<record_at>> search_in(bytes_view batch, int64_t ts, bool exact, offset min) {
    protocol::record_limits limits;
    limits.verify_crc = false;  // checked when appended
    auto reader = protocol::batch_reader::open(batch, limits);
    if (!reader) {
        return reader.error();
    }
    while (true) {
        auto rec = reader->next();
        if (!rec) {
            return rec.error();
        }
        if (!*rec) {
            return std::optional<record_at>{};
        }
        const auto& r = **rec;
        if (r.offset >= min.value() && (exact ? r.timestamp == ts : r.timestamp >= ts)) {
            return std::optional<record_at>(record_at{offset(r.offset), r.timestamp});
        }
    }
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
    while (!batches.empty()) {
        auto h = read_batch_header(batches);
        if (!h) {
            return h.error();
        }
        auto batch = batches.subspan(0, h->total_size());
        batches = batches.subspan(h->total_size());
        if (h->last_offset() < o.value() || h->control()) {
            continue;
        }
        auto found = search_in(batch, std::numeric_limits<int64_t>::min(), false, o);
        if (!found || *found) {
            return found;
        }
    }
    return std::optional<record_at>{};
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
