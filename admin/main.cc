// tributary-admin: cluster administration over the Kafka protocol (admin/README.md).
//
//   tributary-admin <command> [options]      tributary-admin --help
//
// Each command lives in its own file (commands.h); this file only dispatches.
#include "admin/commands.h"
#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <cstring>

using namespace trib::admin;

namespace {

const command commands[] = {
    {"rebalance",
     "--bootstrap-server host:port [--leaving id,...] [--topics a,b] [--tolerance n] [--leader-tolerance n]\n"
     "      [--bytes-tolerance fraction] [--max-moves n] [--output plan.json] [--rollback-output current.json]\n"
     "      [--execute] [--timeout-ms n]",
     "plan replica moves that even out replicas, preferred leaders and bytes per broker and empty\n"
     "      leaving brokers; print the plan as kafka-reassign-partitions JSON; --execute starts it",
     rebalance},
    {"reassignments", "--bootstrap-server host:port [--wait] [--timeout-ms n]",
     "list the partition reassignments in flight; --wait: until there are none", reassignments},
    {"drain", "--bootstrap-server host:port (--brokers id,... [--wait] [--undrain] | --describe) [--timeout-ms n]",
     "move every replica and leadership off brokers, which then take no new ones (--undrain: they\n"
     "      do again); --describe: what drained brokers still hold; --wait: until they are empty",
     drain},
    {"unregister", "--bootstrap-server host:port --broker id [--timeout-ms n]",
     "remove a stopped broker's registration; refused while it holds any replica", unregister},
};

int usage(FILE* to) {
    std::fprintf(to, "usage: tributary-admin <command> [options]\n\ncommands:\n");
    for (const auto& c : commands) {
        std::fprintf(to, "  %s %s\n      %s\n", c.name, c.usage, c.summary);
    }
    return to == stdout ? 0 : 2;
}

} // namespace

int main(int argc, char** argv) {
    // Logs (the Kafka client's) go to stderr: stdout carries the plan.
    spdlog::set_default_logger(spdlog::stderr_color_mt("tributary-admin"));
    spdlog::set_level(spdlog::level::warn);
    if (argc < 2) {
        return usage(stderr);
    }
    if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        return usage(stdout);
    }
    for (const auto& c : commands) {
        if (!std::strcmp(argv[1], c.name)) {
            return c.run(std::vector<std::string>(argv + 2, argv + argc));
        }
    }
    std::fprintf(stderr, "tributary-admin: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
