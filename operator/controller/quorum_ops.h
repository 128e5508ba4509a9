#pragma once
// What the coordinator quorum step (quorum.h) asks the cluster: DescribeQuorum, AddRaftVoter
// and RemoveRaftVoter (Kafka's 55, 80, 81). Injected into the reconciler
// (reconciler_options::quorum; null: one coordinator, no membership changes), faked in
// tests/unit/operator/quorum_test.cc.
//
// kafka_quorum_ops asks the coordinators themselves on their CONTROLLER listener (pod IP,
// port 9093), so the quorum is managed before any broker runs: the Kafka request goes inside
// the coordinators' CoordinatorAdmin envelope (the one brokers forward these requests in),
// and a coordinator that does not lead answers NOT_CONTROLLER naming the one that does.
#include "operator/controller/quorum.h"
#include "operator/kafka/admin_session.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

// A membership change's answer.
struct voter_change_result {
    enum class kind { done, busy, refused, unreachable };
    kind what = kind::unreachable;
    std::string message;  // the error's name and message, or why no coordinator answered
};

class quorum_ops {
public:
    virtual ~quorum_ops() = default;
    // `coordinators`: "host:port" of coordinators to ask, in order; the leader answers.
    virtual std::optional<quorum_view> describe(const std::vector<std::string>& coordinators, std::string& why) = 0;
    // `host`, `port`: the new voter's CONTROLLER listener, as the other voters will reach it.
    virtual voter_change_result add_voter(const std::vector<std::string>& coordinators, int32_t id,
                                          const std::string& directory, const std::string& host, int32_t port) = 0;
    virtual voter_change_result remove_voter(const std::vector<std::string>& coordinators, int32_t id,
                                             const std::string& directory) = 0;
};

// DescribeQuorum (v2) of the metadata log through the CoordinatorAdmin envelope, asked of
// `coordinators` in turn until the leader answers; nullopt with `why` when none did. Shared
// with the roller (roll_ops.cc): coordinators answer Kafka's admin requests only inside the
// envelope.
std::optional<quorum_view> describe_quorum(kafka::admin_session& session, const std::vector<std::string>& coordinators,
                                           std::string& why);

// Over a blocking admin session (one per reconcile worker).
class kafka_quorum_ops final : public quorum_ops {
public:
    explicit kafka_quorum_ops(kafka::session_options options = {});

    std::optional<quorum_view> describe(const std::vector<std::string>& coordinators, std::string& why) override;
    voter_change_result add_voter(const std::vector<std::string>& coordinators, int32_t id,
                                  const std::string& directory, const std::string& host, int32_t port) override;
    voter_change_result remove_voter(const std::vector<std::string>& coordinators, int32_t id,
                                     const std::string& directory) override;

private:
    kafka::admin_session _session;
};

} // namespace trib::op::controller
