#pragma once
// The KafkaUser custom resource (tributary.io/v1alpha1, issue 17): a client identity of one
// KafkaCluster (the label tributary.io/cluster names it, in the same namespace), how it
// authenticates (SCRAM-SHA-512 with a password, a TLS client certificate signed by the
// cluster's clients CA, or elsewhere: spec.authentication omitted) and, optionally, the ACLs
// its principal gets. controller/users.h
// decides what to change; controller/user_reconciler.h runs the pass.
//
// As for KafkaCluster: parse_kafka_user() applies the CRD's defaults and never throws (a field
// of the wrong JSON type keeps its default and is named in `errors`); validate() repeats the
// schema's rules, one readable message per broken rule, for objects that slipped past an old
// or missing CRD. Values stay the strings the user wrote; acl_bindings() turns a valid spec
// into security::acl_binding values (Kafka's enums and wire codes).
#include "security/acl.h"

#include <cpprest/json.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::api {

// The label naming a KafkaUser's cluster (also on the Secret made for it).
inline constexpr const char* cluster_label = "tributary.io/cluster";

inline constexpr const char* scram_sha_512 = "scram-sha-512";
inline constexpr const char* tls_authentication = "tls";
// spec.authentication omitted: the user authenticates elsewhere, e.g. with an OAUTHBEARER token
// whose subject is <name> (Strimzi's shape for such users): the operator makes no credentials
// and keeps only the ACLs of User:<name>.
inline constexpr const char* no_authentication = "";

struct user_acl {
    std::string resource_type;            // topic, group, cluster, transactionalId
    std::string resource_name;            // cluster: "kafka-cluster" (the default for it)
    std::string pattern_type = "literal";  // literal, prefix
    std::vector<std::string> operations;  // Kafka's names: Read, Write, ...
    std::string host = "*";
    std::string type = "allow";  // allow, deny
};

struct kafka_user_spec {
    std::string authentication = no_authentication;  // spec.authentication.type ("": omitted)
    bool authorization = false;                  // spec.authorization given
    std::string authorization_type = "simple";
    std::vector<user_acl> acls;
};

struct kafka_user {
    std::string name, ns, uid;
    int64_t generation = 0;
    bool deleting = false;
    std::vector<std::string> finalizers;
    std::string cluster;  // the tributary.io/cluster label; "" when missing
    kafka_user_spec spec;
    // status.credentialSecretUid: the uid of the Secret whose password the SCRAM credential
    // was last set from ("" when none): a Secret deleted and made again sets it again.
    std::string credential_secret_uid;
};

kafka_user parse_kafka_user(const web::json::value& obj, std::vector<std::string>& errors);

// One message per broken rule; empty: valid.
std::vector<std::string> validate(const kafka_user& user);

// The principal's name as the broker sees it: "<name>" for SCRAM and for a user authenticated
// elsewhere (an OAuth token's subject), "CN=<name>" for a certificate (the broker maps a certificate to User:<subject DN>, Kafka's DEFAULT rule).
std::string username(const kafka_user& user);
// "User:" + username.
std::string principal(const kafka_user& user);

// The ACL bindings the spec asks for (one per operation), for the user's principal, sorted
// and without duplicates. Only for a spec validate() accepts.
std::vector<security::acl_binding> acl_bindings(const kafka_user& user);

struct kafka_user_status {
    int64_t observed_generation = 0;
    std::string username;  // the principal's name ("alice", "CN=alice")
    std::string secret;    // the Secret holding the credentials ("" until made)
    std::string credential_secret_uid;
};

// Everything but the conditions (k8s/status.h's set_condition adds those).
web::json::value to_json(const kafka_user_status& s);

} // namespace trib::op::api
