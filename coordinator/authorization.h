#pragma once

// Who may send what to the coordinator: Kafka's controller rules (ControllerApis) over the
// coordinator's own APIs, with the broker's authorizer (security/authorizer.h) and the ACLs of
// the coordinator's metadata image, so an ACL created through any broker holds here too.
//
//   CoordinatorRegisterBroker, CoordinatorBrokerHeartbeat,        CLUSTER_ACTION on the cluster
//   CoordinatorFetchMetadata, AlterPartition, the Raft RPCs       (brokers and voters only)
//   CoordinatorAdmin (an envelope)                                 CLUSTER_ACTION: a broker
//                                                                  forwarding a request it has
//                                                                  authorized itself, or
//     holding DescribeQuorum                                       DESCRIBE on the cluster
//     holding AddRaftVoter / RemoveRaftVoter                       ALTER on the cluster
//   ApiVersions, SaslHandshake, SaslAuthenticate                   everyone (the login itself)
//
// Super users are allowed everything; without authorizer.class.name everything is allowed.
// The voters' own principals (their login to each other) must be super users: the ACLs are in
// the log their Raft traffic replicates, so no ACL can let that traffic in.
#include "security/authorizer.h"

#include <cstdint>
#include <optional>
#include <string>

namespace trib::coordinator {

// Why `who` may not send request `api_key` (for CoordinatorAdmin, holding `inner_api_key`),
// or nullopt when it may. `acls` may be null (no bindings).
std::optional<std::string> refusal(const security::authorizer_config& cfg, const security::acl_index* acls,
                                   security::request_identity who, int16_t api_key, int16_t inner_api_key = -1);

} // namespace trib::coordinator
