#pragma once

// Logging goes through spdlog (Debian's libspdlog-dev, with fmt): one logger per process,
// messages formatted with fmt syntax. Modules log with the macros below so the call site
// decides nothing about sinks or levels.
#include <spdlog/spdlog.h>

#include <string_view>

namespace trib::log {

// Sets the level from a name (trace, debug, info, warn, error, off); returns false if unknown.
bool set_level(std::string_view level);
// Prefixes every line with this process's role and id, e.g. "broker-1".
void set_process_name(std::string_view name);

} // namespace trib::log

#define TLOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define TLOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define TLOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define TLOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define TLOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
