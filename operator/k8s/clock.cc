#include "operator/k8s/clock.h"

#include <ctime>

namespace trib::op::k8s {

namespace {

class real_clock final : public clock {
public:
    std::chrono::steady_clock::time_point steady_now() const override { return std::chrono::steady_clock::now(); }
    std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

std::string format(std::chrono::system_clock::time_point t, bool micro) {
    auto secs = std::chrono::floor<std::chrono::seconds>(t);
    std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out(buf, n);
    if (micro) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
        char frac[24];
        std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
        out += frac;
    }
    return out + "Z";
}

} // namespace

const clock& system_clock() {
    static const real_clock c;
    return c;
}

std::string rfc3339(std::chrono::system_clock::time_point t) { return format(t, false); }
std::string rfc3339_micro(std::chrono::system_clock::time_point t) { return format(t, true); }

} // namespace trib::op::k8s
