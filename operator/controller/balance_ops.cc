#include "operator/controller/balance_ops.h"

#include "common/config.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/messages/elect_leaders.h"
#include "protocol/messages/list_partition_reassignments.h"

#include <fmt/format.h>

namespace trib::op::controller {

namespace balancer = coordinator::balancer;

namespace {

using kafka::error_text;

std::vector<config::host_port> addresses(const std::string& bootstrap) {
    std::vector<config::host_port> out;
    for (const auto& a : config::split_list(bootstrap)) {
        try {
            out.push_back(config::parse_host_port(a));
        } catch (const std::exception&) {
            // not an address: skipped (the reconciler builds these from pod IPs)
        }
    }
    return out;
}

// `ask(to, why)` on each address in turn until one answers; the last reason otherwise.
template<typename T, typename Ask>
result<T> first_answer(const std::string& bootstrap, std::string& why, Ask ask) {
    std::string reasons;
    for (const auto& to : addresses(bootstrap)) {
        std::string reason;
        auto r = ask(to, reason);
        if (r) {
            return r;
        }
        reasons += (reasons.empty() ? "" : "; ") + reason;
    }
    why = reasons.empty() ? "no broker address to ask" : reasons;
    return make_error_code(std::errc::host_unreachable);
}

} // namespace

kafka_balance_ops::kafka_balance_ops(kafka::session_options opts) : _session(std::move(opts)) {}

result<balance_read> kafka_balance_ops::read(const std::string& bootstrap, std::string& why) {
    return first_answer<balance_read>(bootstrap, why, [this](const config::host_port& to, std::string& reason)
                                                          -> result<balance_read> {
        auto md = _session.call<protocol::metadata_response>(to, balancer::all_topics_metadata_request(),
                                                             protocol::metadata_response::max_version, reason);
        if (!md) {
            return md.error();
        }
        balance_read out;
        balancer::set_metadata(out.view, std::move(*md));
        // Sizes: the brokers are named at the addresses of the listener asked (REPLICATION).
        for (const auto& b : out.view.metadata.brokers) {
            std::string w;
            auto dirs = _session.call<protocol::describe_log_dirs_response>(
                {b.host, uint16_t(b.port)}, balancer::all_log_dirs_request(),
                protocol::describe_log_dirs_response::max_version, w);
            if (!dirs || !balancer::add_sizes(out.view, *dirs, w)) {
                out.view.warnings.push_back(fmt::format("sizes from broker {} unknown: {}", b.node_id, w));
            }
        }
        protocol::list_partition_reassignments_request lr;
        lr.topics = std::nullopt;  // all
        auto listed = _session.call<protocol::list_partition_reassignments_response>(to, lr, 0, reason);
        if (!listed) {
            return listed.error();
        }
        if (listed->error_code != 0) {
            reason = "ListPartitionReassignments: " + error_text(listed->error_code, listed->error_message);
            return make_error_code(std::errc::protocol_error);
        }
        for (const auto& t : listed->topics) {
            for (const auto& p : t.partitions) {
                out.in_flight.emplace_back(t.name, p.partition_index);
            }
        }
        return out;
    });
}

result<std::vector<refused_move>> kafka_balance_ops::reassign(const std::string& bootstrap,
                                                              const std::vector<balancer::change>& changes,
                                                              std::string& why) {
    const auto timeout = _session.options().timeout;
    const auto req = balancer::reassignment_request(changes, timeout);
    return first_answer<std::vector<refused_move>>(
        bootstrap, why, [&](const config::host_port& to, std::string& reason) -> result<std::vector<refused_move>> {
            auto resp = _session.call<protocol::alter_partition_reassignments_response>(to, req, 0, reason);
            if (!resp) {
                return resp.error();
            }
            if (resp->error_code != 0) {
                reason = "AlterPartitionReassignments: " + error_text(resp->error_code, resp->error_message);
                return make_error_code(std::errc::protocol_error);
            }
            std::vector<refused_move> refused;
            for (const auto& t : resp->responses) {
                for (const auto& p : t.partitions) {
                    if (p.error_code != 0) {
                        refused.push_back({{t.name, p.partition_index}, error_text(p.error_code, p.error_message)});
                    }
                }
            }
            return refused;
        });
}

result<int32_t> kafka_balance_ops::elect_preferred_leaders(const std::string& bootstrap, std::string& why) {
    protocol::elect_leaders_request req;
    req.election_type = 0;              // PREFERRED
    req.topic_partitions = std::nullopt;  // all (v1+)
    req.timeout_ms = int32_t(_session.options().timeout.count());
    return first_answer<int32_t>(bootstrap, why, [&](const config::host_port& to, std::string& reason) -> result<int32_t> {
        auto resp = _session.call<protocol::elect_leaders_response>(to, req, protocol::elect_leaders_response::max_version,
                                                                    reason);
        if (!resp) {
            return resp.error();
        }
        if (resp->error_code != 0) {
            reason = "ElectLeaders: " + error_text(resp->error_code, std::nullopt);
            return make_error_code(std::errc::protocol_error);
        }
        int32_t elected = 0;
        for (const auto& t : resp->replica_election_results) {
            for (const auto& p : t.partition_result) {
                if (p.error_code == 0) {
                    ++elected;
                } else if (p.error_code != int16_t(protocol::error_code::election_not_needed)) {
                    TLOG_INFO("preferred leader election of {}-{}: {}", t.topic, p.partition_id,
                              error_text(p.error_code, p.error_message));
                }
            }
        }
        return elected;
    });
}

} // namespace trib::op::controller
