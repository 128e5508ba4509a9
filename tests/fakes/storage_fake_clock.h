#pragma once

#include "storage/clock.h"

#include <atomic>
#include <cstdint>

namespace trib::storage::testing {

// A clock that moves only when the test says so.
class fake_clock final : public clock {
public:
    explicit fake_clock(int64_t start_ms = 1'700'000'000'000) : _now(start_ms) {}
    timestamp_ms now_ms() const override { return timestamp_ms(_now.load()); }
    void set(int64_t ms) { _now.store(ms); }
    void advance(int64_t ms) { _now.fetch_add(ms); }

private:
    std::atomic<int64_t> _now;
};

} // namespace trib::storage::testing
