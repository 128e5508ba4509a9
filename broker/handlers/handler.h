#pragma once

// The shape every API handler has. A handler is a struct in its own file
// (broker/handlers/<api>.cc, declared in handlers.h) naming its request and response types
// and the versions it serves; handlers.h lists them once, and that one list builds both the
// dispatch table and the ApiVersions answer.
//
//   struct produce_handler {
//       using request = protocol::produce_request;
//       using response = protocol::produce_response;
//       static constexpr int16_t min_version = 3, max_version = 9;
//       static asio::awaitable<std::optional<response>> handle(request_context&, request&&);
//   };
//
// A handler returns nullopt only when the protocol says there is no response (acks=0).
#include "broker/cluster_metadata.h"
#include "broker/session.h"
#include "net/dispatcher.h"
#include "common/runtime.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"
#include "security/acl.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>
#include <vector>

namespace trib::broker {

using net::close_connection;
using net::connection_info;
using net::dispatch_result;
using net::no_response;
using net::outgoing_frame;
using net::respond;
using net::respond_then_close;

class broker_services;

struct request_context {
    broker_services& services;
    const protocol::request_header& header;
    const connection_info& conn;
    // Set by a handler whose client must hear of a failure it gets no response for (acks=0
    // Produce): the connection is closed after the request, as Kafka does, so the client
    // refreshes its metadata.
    std::optional<std::string> close_reason;
    // Set by a handler whose response must be the connection's last (a failed SASL
    // authentication): the response is sent, then the connection closes with this reason.
    std::optional<std::string> close_after_response;

    int16_t version() const noexcept { return header.api_version; }
    // This connection's state; null only for a connection without one (tests).
    broker::session* session() const noexcept { return static_cast<broker::session*>(conn.state); }
    // Who the client is: User:<name> after SASL, User:ANONYMOUS on a PLAINTEXT listener.
    std::string_view principal() const noexcept {
        return conn.state ? std::string_view(session()->principal) : anonymous_principal;
    }
    // The client's address (the peer without its port): what ACL hosts are compared with.
    std::string_view client_host() const noexcept;

    // Authorization (authorize.cc; security/authorizer.h has the rules). Always true without
    // authorizer.class.name, and for requests on the inter-broker listener: that listener is
    // PLAINTEXT (brokers reach each other over it as User:ANONYMOUS), so it stands for the
    // brokers' own principal, which Kafka makes a super user; it must not be reachable by
    // clients when ACLs matter.
    bool authorized(security::acl_operation op, security::acl_resource type, std::string_view name) const;
    // Whether the authorizer checks this request at all (see above).
    bool authorizer_applies() const;
    bool authorized_cluster(security::acl_operation op) const {
        return authorized(op, security::acl_resource::cluster, security::cluster_resource_name);
    }
    bool authorized_topic(security::acl_operation op, std::string_view topic) const {
        return authorized(op, security::acl_resource::topic, topic);
    }
    bool authorized_group(security::acl_operation op, std::string_view group) const {
        return authorized(op, security::acl_resource::group, group);
    }
    // CreateTopics and auto-creation: CREATE on the cluster, or on the topic.
    bool authorized_create_topic(std::string_view topic) const {
        return authorized_cluster(security::acl_operation::create) ||
               authorized_topic(security::acl_operation::create, topic);
    }
    // The authorized-operations bit field of a resource, as Kafka fills it: bit `op` set for
    // each of the type's supported operations (security::supported_operations) this request's
    // principal may do; all of them without an authorizer or on the inter-broker listener.
    int32_t authorized_operations(security::acl_resource type, std::string_view name) const;
    // `op` on some resource of `type` (Kafka's authorizeByResourceType).
    bool authorized_any(security::acl_operation op, security::acl_resource type) const;
};

// Splits a request's items (topics, config resources) by ACLs: those `allowed` accepts stay
// in `items`, in order, and go to the coordinator; the refused are returned, for the handler
// to answer with its authorization error beside the coordinator's answer.
template<typename T, typename P>
std::vector<T> split_refused(std::vector<T>& items, P&& allowed) {
    auto mid = std::stable_partition(items.begin(), items.end(), allowed);
    std::vector<T> refused(std::make_move_iterator(mid), std::make_move_iterator(items.end()));
    items.erase(mid, items.end());
    return refused;
}

// DescribeCluster's and Metadata's (v8-10) ClusterAuthorizedOperations, as Kafka: 0 unless
// the principal may DESCRIBE the cluster (describe_cluster.cc).
int32_t cluster_authorized_operations(const request_context& ctx);

inline constexpr std::string_view authorization_failed = "Authorization failed.";

// The error a partition named in a request gets before it is looked at: the ACLs' refusal
// (`allowed` false: TOPIC_AUTHORIZATION_FAILED, told before whether the topic exists), an
// unknown topic or partition, or none.
inline protocol::error_code partition_refusal(bool allowed, const cluster_snapshot& s, std::string_view topic,
                                              int32_t partition) {
    if (!allowed) {
        return protocol::error_code::topic_authorization_failed;
    }
    return s.partition(topic, partition) ? protocol::error_code::none
                                         : protocol::error_code::unknown_topic_or_partition;
}

template<typename R>
using handler_result = asio::awaitable<std::optional<R>>;

inline int16_t code(protocol::error_code e) noexcept { return static_cast<int16_t>(e); }

} // namespace trib::broker
