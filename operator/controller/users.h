#pragma once
// What a KafkaUser pass changes (issue 17), decided without I/O: from the user, what the
// cluster has for it (its principal's ACLs, whether a SCRAM credential exists) and the Secrets
// as read, the Secret to apply, the ACLs to create and delete and whether to set or delete
// the SCRAM credential. controller/user_reconciler.h reads the facts and carries the plan out
// through controller/user_ops.h.
//
//   <user>  Secret, owned by the KafkaUser (controller owner reference):
//           scram-sha-512: password (32 random characters, kept while the Secret exists),
//                          sasl.jaas.config (Kafka's ScramLoginModule line)
//           none (spec.authentication omitted): no Secret and no credential; a SCRAM credential
//                          left from before is deleted (a Secret made before stays, owned by
//                          the KafkaUser, until the user goes: the operator may not delete
//                          Secrets, and its password no longer logs in)
//           tls:           ca.crt (the clients CA; with the previous one while it is renewed),
//                          user.crt, user.key (CN=<user>, a year, issued again 30 days before
//                          expiry or when not valid under the CA: a renewed CA issues them all again)
//
// The SCRAM credential (SCRAM-SHA-512, 4096 iterations, a random 32-byte salt) is set when
// the cluster has none for the user, or when the Secret holding the password is not the one
// it was set from (status.credentialSecretUid): a Secret deleted and made again gets a new
// password, and the credential follows it.
#include "operator/api/kafka_user.h"
#include "operator/certs/certificates.h"
#include "security/acl.h"

#include <cpprest/json.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trib::op::controller {

inline constexpr const char* user_cleanup_finalizer = "tributary.io/user-cleanup";
inline constexpr int32_t user_scram_iterations = 4096;
inline constexpr std::chrono::hours user_cert_validity{24 * 365};

struct user_facts {
    const api::kafka_user& user;
    // The cluster's ACLs of User:<name> and User:CN=<name> (both: a user that changed its
    // authentication leaves the other's behind).
    std::vector<security::acl_binding> acls;
    bool scram_credential = false;  // the cluster has a SCRAM-SHA-512 credential for <name>
    std::optional<web::json::value> secret;      // Secret <name> as read; nullopt: none
    std::optional<certs::key_pair> clients_ca;   // C-clients-ca's ca.key, ca.crt (tls users)
    certs::time_point now;
    // While the clients CA is renewed (controller/tls.h): C-clients-ca's ca-old.crt and
    // ca-rollover.crt. The Secret's ca.crt is then the bundle, and user.crt carries the
    // rollover certificate after the user's, so brokers trusting only the old CA take it.
    std::string clients_ca_old = {}, clients_ca_rollover = {};
};

struct user_plan {
    // Set when nothing can be done now: ClientsCaMissing, ClientsCaInvalid, SecretConflict
    // (a Secret of the user's name that this KafkaUser does not own). The rest is empty.
    std::string problem_reason, problem_message;
    web::json::value secret;      // to apply
    std::string password;         // scram: the Secret's password
    bool set_scram = false;       // upsert the credential from `password`
    bool delete_scram = false;    // a tls or none user's leftover credential
    std::vector<security::acl_binding> create_acls;
    std::vector<security::acl_filter> delete_acls;  // each matches exactly one binding
    std::string issued;  // why a certificate was issued ("" when kept)
};

// Throws only when the random source or OpenSSL fails (the pass fails and is retried).
user_plan decide_user(const user_facts& f);

// The Secret's uid, or "" (a desired Secret not created yet).
std::string secret_uid(const web::json::value& secret);
// A value of a Secret's data (base64-decoded); nullopt when absent or not base64.
std::optional<std::string> secret_value(const web::json::value& secret, const std::string& key);

// `n` characters of [A-Za-z0-9] from OpenSSL's CSPRNG.
std::string random_password(size_t n = 32);

// What AlterUserScramCredentials carries to set a SCRAM-SHA-512 credential: a random 32-byte
// salt and the salted password (security/scram.h's derivation, the brokers' own).
struct scram_upsert {
    std::string user;
    int32_t iterations = user_scram_iterations;
    std::string salt;
    std::string salted_password;
};
scram_upsert make_scram_upsert(const std::string& user, const std::string& password);

// Kafka's JAAS line for the user (sasl.jaas.config).
std::string scram_jaas_config(const std::string& user, const std::string& password);

// The filter DeleteAcls needs to remove exactly `b`.
security::acl_filter exact_filter(const security::acl_binding& b);

} // namespace trib::op::controller
