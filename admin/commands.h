#pragma once

// The subcommands of tributary-admin, one file each; main.cc dispatches on the first word.
// Each takes the words after its name and returns the exit status: 0 done, 1 failed (the
// reason on stderr), 2 bad usage.
#include "common/runtime.h"

#include <functional>
#include <string>
#include <vector>

namespace trib::admin {

struct command {
    const char* name;
    const char* usage;  // the options, for --help
    const char* summary;
    int (*run)(const std::vector<std::string>& words);
};

int rebalance(const std::vector<std::string>& words);
int reassignments(const std::vector<std::string>& words);
int drain(const std::vector<std::string>& words);
int unregister(const std::vector<std::string>& words);

// Runs `body` on a fresh io_context until it finishes; its result is the exit status (1 when
// it threw).
int run_on_io_context(const std::function<asio::awaitable<int>(asio::any_io_executor)>& body);

// "tributary-admin <command>: <why>" on stderr; returns `status`.
int report_failure(const char* command, const std::string& why, int status = 1);

} // namespace trib::admin
