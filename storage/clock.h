#pragma once

#include "common/ids.h"

namespace trib::storage {

// Wall-clock time as seen by logs: segment roll by age, retention by time and the flush
// policy read it. Tests substitute a fake (tests/fakes/storage_fake_clock.h) so nothing sleeps.
class clock {
public:
    virtual ~clock() = default;
    // Milliseconds since the Unix epoch. Must be callable from any thread.
    virtual timestamp_ms now_ms() const = 0;
};

// The process's real clock (std::chrono::system_clock).
clock& system_clock();

} // namespace trib::storage
