#pragma once

// The authorizer's keys, read the same way by the broker and the coordinator (Kafka's names):
//   authorizer.class.name            empty: no authorization; StandardAuthorizer (KRaft) or
//                                    AclAuthorizer (ZooKeeper): every request is checked
//   super.users                      User:a;User:b, allowed everything
//   allow.everyone.if.no.acl.found   a resource no ACL applies to is open to everyone
//   ssl.principal.mapping.rules      DEFAULT only: an SSL client is User:<certificate subject DN>
// Errors are config::config_error naming the key (the schema's validators).
#include "common/config.h"
#include "security/authorizer.h"

#include <string_view>

namespace trib::security {

// The authorizer.class.name values that turn ACLs on (Kafka's KRaft and ZooKeeper authorizers).
inline constexpr std::string_view standard_authorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
inline constexpr std::string_view acl_authorizer = "kafka.security.authorizer.AclAuthorizer";

void add_authorizer_keys(config::schema& s);
authorizer_config load_authorizer_config(const config::values& v);

} // namespace trib::security
