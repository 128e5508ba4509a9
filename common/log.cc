#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace trib::log {

bool set_level(std::string_view level) {
    auto l = spdlog::level::from_str(std::string(level));
    if (l == spdlog::level::off && level != "off") {
        return false;
    }
    spdlog::set_level(l);
    return true;
}

void set_process_name(std::string_view name) {
    spdlog::set_pattern(fmt::format("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [{}] %v", name));
}

} // namespace trib::log
