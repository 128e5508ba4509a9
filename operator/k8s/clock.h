#pragma once
// Time for the operator's runtime pieces (work queue delays, leader election, events,
// conditions), behind an interface so unit tests move it by hand
// (tests/fakes/operator_fake_clock.h).
#include <chrono>
#include <string>

namespace trib::op::k8s {

class clock {
public:
    virtual ~clock() = default;
    // For durations: delays, lease expiry as this process observes it.
    virtual std::chrono::steady_clock::time_point steady_now() const = 0;
    // For timestamps written into objects (renewTime, lastTransitionTime, event times).
    virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

// The process's real clocks.
const clock& system_clock();

// metav1.Time: RFC 3339 in UTC to the second, "2026-12-02T01:04:15Z".
std::string rfc3339(std::chrono::system_clock::time_point t);
// metav1.MicroTime: to the microsecond, "2026-12-02T01:04:15.123456Z" (Lease times).
std::string rfc3339_micro(std::chrono::system_clock::time_point t);

} // namespace trib::op::k8s
