#pragma once

#include "coordinator/clock.h"

#include <atomic>
#include <cstdint>

namespace trib::coordinator::testing {

// A monotonic clock that moves only when the test says so.
class fake_clock final : public clock {
public:
    int64_t now_ms() const override { return _now.load(); }
    void advance(int64_t ms) { _now.fetch_add(ms); }

private:
    std::atomic<int64_t> _now{1'000'000};
};

} // namespace trib::coordinator::testing
