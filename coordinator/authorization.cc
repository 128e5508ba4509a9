#include "coordinator/authorization.h"

#include "coordinator/raft/codec.h"
#include "protocol/api.h"
#include "protocol/messages/add_raft_voter.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/coordinator_broker_heartbeat.h"
#include "protocol/messages/coordinator_fetch_metadata.h"
#include "protocol/messages/coordinator_register_broker.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/remove_raft_voter.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"

#include <fmt/format.h>

namespace trib::coordinator {

namespace {

using security::acl_operation;

bool on_cluster(const security::authorizer_config& cfg, const security::acl_index* acls,
                security::request_identity who, acl_operation op) {
    return security::authorize(cfg, acls, who, op, security::acl_resource::cluster,
                               security::cluster_resource_name);
}

// Kafka's APIs by their registry name; the coordinator's private ones (not in the registry)
// by the names their definitions give them.
std::string api_name(int16_t key) {
    if (const auto* api = protocol::find_api(key)) {
        return std::string(api->name);
    }
    switch (key) {
    case protocol::coordinator_register_broker_request::api_key: return "CoordinatorRegisterBroker";
    case protocol::coordinator_broker_heartbeat_request::api_key: return "CoordinatorBrokerHeartbeat";
    case protocol::coordinator_fetch_metadata_request::api_key: return "CoordinatorFetchMetadata";
    case protocol::coordinator_admin_request::api_key: return "CoordinatorAdmin";
    case raft::api_messages: return "CoordinatorRaftMessages";
    default: return fmt::format("API key {}", key);
    }
}

} // namespace

std::optional<std::string> refusal(const security::authorizer_config& cfg, const security::acl_index* acls,
                                   security::request_identity who, int16_t api_key, int16_t inner_api_key) {
    if (!cfg.enabled || cfg.super_users.contains(who.principal)) {
        return std::nullopt;
    }
    if (api_key == protocol::api_versions_request::api_key || api_key == protocol::sasl_handshake_request::api_key ||
        api_key == protocol::sasl_authenticate_request::api_key) {
        return std::nullopt;
    }
    if (on_cluster(cfg, acls, who, acl_operation::cluster_action)) {
        return std::nullopt;
    }
    // What else would do: an operator's DescribeQuorum or voter change, in the envelope.
    std::optional<acl_operation> alternative;
    if (api_key == protocol::coordinator_admin_request::api_key) {
        if (inner_api_key == protocol::describe_quorum_request::api_key) {
            alternative = acl_operation::describe;
        } else if (inner_api_key == protocol::add_raft_voter_request::api_key ||
                   inner_api_key == protocol::remove_raft_voter_request::api_key) {
            alternative = acl_operation::alter;
        }
    }
    if (alternative && on_cluster(cfg, acls, who, *alternative)) {
        return std::nullopt;
    }
    std::string what = api_name(api_key);
    if (api_key == protocol::coordinator_admin_request::api_key) {
        what += fmt::format(" ({})", api_name(inner_api_key));
    }
    return fmt::format("{} from {} needs {}{}{} on the cluster, which the ACLs do not grant (nor super.users)", what,
                       who.principal, security::name(acl_operation::cluster_action),
                       alternative ? " or " : "", alternative ? security::name(*alternative) : "");
}

} // namespace trib::coordinator
