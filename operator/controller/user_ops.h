#pragma once
// What a KafkaUser pass asks the cluster (issue 17): its principal's ACLs (DescribeAcls,
// CreateAcls, DeleteAcls) and its SCRAM credential (DescribeUserScramCredentials,
// AlterUserScramCredentials). An interface, so the pass runs in unit tests against a fake
// (tests/unit/operator/user_reconciler_test.cc); make_kafka_user_ops() goes through
// kafka/admin_session.h to the brokers' REPLICATION listeners, which the authorizer trusts
// (the operator needs no credentials), and which forward the changes to the active controller.
//
// Every call takes the ready brokers' addresses ("ip:port"), tried in order until one answers,
// and never throws: a failure is `ok = false` with a readable reason (the address and what
// went wrong, or Kafka's error name and message).
#include "operator/controller/users.h"
#include "operator/kafka/admin_session.h"
#include "security/acl.h"

#include <memory>
#include <string>
#include <vector>

namespace trib::op::controller {

struct user_ops_answer {
    bool ok = false;
    std::string error;
};

struct acls_answer : user_ops_answer {
    std::vector<security::acl_binding> acls;
};

struct scram_answer : user_ops_answer {
    bool exists = false;  // a SCRAM-SHA-512 credential for the user
};

class user_ops {
public:
    virtual ~user_ops() = default;
    using brokers = std::vector<std::string>;
    // Every binding of `principal` ("User:alice"). A cluster without an authorizer has none.
    virtual acls_answer describe_acls(const brokers& to, const std::string& principal) = 0;
    virtual user_ops_answer create_acls(const brokers& to, const std::vector<security::acl_binding>& acls) = 0;
    virtual user_ops_answer delete_acls(const brokers& to, const std::vector<security::acl_filter>& filters) = 0;
    virtual scram_answer describe_scram(const brokers& to, const std::string& user) = 0;
    virtual user_ops_answer upsert_scram(const brokers& to, const scram_upsert& credential) = 0;
    // A credential already gone is no error.
    virtual user_ops_answer delete_scram(const brokers& to, const std::string& user) = 0;
};

// Over a blocking admin session (one per worker thread: not thread-safe).
std::unique_ptr<user_ops> make_kafka_user_ops(kafka::session_options options = {});

} // namespace trib::op::controller
