#pragma once

// Metadata records: the entries of the coordinator's metadata log.
//
// Each record is the value of one Kafka record (key null) inside ordinary record batches
// (magic 2) in storage::log `__cluster_metadata-0`. The value is
//
//   type     int16   the record's private API key (protocol/defs/coordinator_*_record.def)
//   version  int16   the record's version (0)
//   body             the generated `request` struct encoded at that version (flexible:
//                    unknown tagged fields survive a round trip)
//
// Snapshots and the broker feed carry the same batches, so one decoder serves all three.
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "protocol/messages.h"
#include "security/acl.h"

#include <functional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace trib::coordinator {

using register_broker_record = protocol::coordinator_register_broker_record_request;
using fence_broker_record = protocol::coordinator_fence_broker_record_request;
using unfence_broker_record = protocol::coordinator_unfence_broker_record_request;
using topic_record = protocol::coordinator_topic_record_request;
using partition_record = protocol::coordinator_partition_record_request;
using partition_change_record = protocol::coordinator_partition_change_record_request;
using remove_topic_record = protocol::coordinator_remove_topic_record_request;
using config_record = protocol::coordinator_config_record_request;
using broker_drain_record = protocol::coordinator_broker_drain_record_request;
using unregister_broker_record = protocol::coordinator_unregister_broker_record_request;
using user_scram_credential_record = protocol::coordinator_user_scram_credential_record_request;
using remove_user_scram_credential_record = protocol::coordinator_remove_user_scram_credential_record_request;
using acl_record = protocol::coordinator_acl_record_request;
using remove_acl_record = protocol::coordinator_remove_acl_record_request;

using metadata_record = std::variant<register_broker_record, fence_broker_record, unfence_broker_record,
                                     topic_record, partition_record, partition_change_record,
                                     remove_topic_record, config_record, broker_drain_record,
                                     unregister_broker_record, user_scram_credential_record,
                                     remove_user_scram_credential_record, acl_record, remove_acl_record>;

// Kafka's ConfigResource types.
enum class resource_type : int8_t { topic = 2, broker = 4 };

// Kafka's ScramMechanism types (the Mechanism field of the SCRAM records and APIs).
enum class scram_mechanism : int8_t { unknown = 0, sha256 = 1, sha512 = 2 };
// The binding an ACL record (created or removed) names, and the record naming a binding (or
// any message struct with the same fields: DeleteAcls' matching ACL).
template<typename R>
security::acl_binding binding_of(const R& r) {
    return security::acl_binding{security::acl_resource(r.resource_type), r.resource_name,
                                 security::acl_pattern(r.pattern_type),    r.principal,
                                 r.host,                                   security::acl_operation(r.operation),
                                 security::acl_permission(r.permission_type)};
}
template<typename R>
R record_of(const security::acl_binding& b) {
    R r;
    r.resource_type = int8_t(b.resource_type);
    r.resource_name = b.resource_name;
    r.pattern_type = int8_t(b.pattern);
    r.principal = b.principal;
    r.host = b.host;
    r.operation = int8_t(b.operation);
    r.permission_type = int8_t(b.permission);
    return r;
}

bytes encode_record_value(const metadata_record& r);
result<metadata_record> decode_record_value(bytes_view value);

// One uncompressed batch (base offset 0: the log assigns offsets) holding `records`.
bytes make_batch(std::span<const metadata_record> records, int64_t timestamp_ms);

// Calls f(offset, record) for every record of every whole batch of `set` (batches back to
// back, CRCs verified). Control batches (the coordinators' Raft entries: voter sets, no-ops,
// snapshot headers) hold no metadata record and are skipped. Stops at the first error.
result<void> for_each_record(bytes_view set, const std::function<void(offset, const metadata_record&)>& f);

// One line for logs: "register_broker id=1 fenced=true".
std::string describe(const metadata_record& r);

} // namespace trib::coordinator
