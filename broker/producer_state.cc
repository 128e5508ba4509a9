#include "broker/producer_state.h"

#include <climits>

namespace trib::broker {

int32_t last_sequence(const batch_header& h) noexcept {
    int64_t last = int64_t(h.base_sequence) + h.last_offset_delta;
    return int32_t(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

namespace {
bool follows(int32_t last, int32_t next) noexcept {
    return last == INT32_MAX ? next == 0 : next == last + 1;
}
} // namespace

producer_state::check_result producer_state::check(const batch_header& h) const {
    auto it = _producers.find(h.producer_id);
    if (it == _producers.end()) {
        return {h.base_sequence == 0 ? verdict::append : verdict::unknown_producer};
    }
    const auto& e = it->second;
    if (h.producer_epoch < e.epoch) {
        return {verdict::fenced};
    }
    if (h.producer_epoch > e.epoch) {
        return {h.base_sequence == 0 ? verdict::append : verdict::out_of_order};
    }
    int32_t last = last_sequence(h);
    for (const auto& b : e.recent) {
        if (b.first_seq == h.base_sequence && b.last_seq == last) {
            return {verdict::duplicate, b.base_offset};
        }
    }
    if (e.recent.empty() || follows(e.recent.back().last_seq, h.base_sequence)) {
        return {verdict::append};
    }
    return {verdict::out_of_order};
}

void producer_state::record(const batch_header& h) {
    auto& e = _producers[h.producer_id];
    if (h.producer_epoch != e.epoch) {
        e.epoch = h.producer_epoch;
        e.recent.clear();
    }
    e.recent.push_back({h.base_sequence, last_sequence(h), h.base_offset});
    if (e.recent.size() > batches_kept) {
        e.recent.pop_front();
    }
}

} // namespace trib::broker
