#pragma once

#include <chrono>
#include <cstdint>

namespace trib::coordinator {

// Monotonic time for broker leases. Tests substitute tests/fakes/coordinator_fake_clock.h.
class clock {
public:
    virtual ~clock() = default;
    virtual int64_t now_ms() const = 0;
};

class steady_clock final : public clock {
public:
    int64_t now_ms() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

} // namespace trib::coordinator
