#pragma once

#include "operator/k8s/clock.h"

#include <atomic>
#include <chrono>

namespace trib::op::k8s::testing {

// Both clocks move together, and only when the test says so.
class fake_clock final : public clock {
public:
    std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::time_point(std::chrono::milliseconds(_ms.load()));
    }
    std::chrono::system_clock::time_point wall_now() const override {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(_ms.load()));
    }
    void advance(std::chrono::milliseconds d) { _ms.fetch_add(d.count()); }

private:
    std::atomic<int64_t> _ms{1'796'169'600'000}; // 2026-12-02T00:00:00Z
};

} // namespace trib::op::k8s::testing
