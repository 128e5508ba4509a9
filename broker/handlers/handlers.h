#pragma once

// Every API the broker serves, one handler per file. The list at the bottom is the only
// registry: the dispatcher and ApiVersions are both built from it.
#include "broker/handlers/handler.h"

namespace trib::broker {

#define TRIB_DECLARE_HANDLER(api, min_v, max_v)                                            \
    struct api##_handler {                                                                  \
        using request = protocol::api##_request;                                            \
        using response = protocol::api##_response;                                          \
        static constexpr int16_t min_version = min_v, max_version = max_v;                   \
        static handler_result<response> handle(request_context& ctx, request&& req);       \
    };

TRIB_DECLARE_HANDLER(api_versions, 0, 3)
TRIB_DECLARE_HANDLER(metadata, 0, 12)
TRIB_DECLARE_HANDLER(produce, 3, 9)
TRIB_DECLARE_HANDLER(fetch, 4, 12)
TRIB_DECLARE_HANDLER(list_offsets, 0, 7)
TRIB_DECLARE_HANDLER(create_topics, 0, 7)
TRIB_DECLARE_HANDLER(delete_topics, 0, 6)
TRIB_DECLARE_HANDLER(create_partitions, 0, 3)
TRIB_DECLARE_HANDLER(init_producer_id, 0, 4)
TRIB_DECLARE_HANDLER(describe_configs, 0, 4)
TRIB_DECLARE_HANDLER(alter_configs, 0, 2)
TRIB_DECLARE_HANDLER(incremental_alter_configs, 0, 1)
TRIB_DECLARE_HANDLER(describe_cluster, 0, 1)
TRIB_DECLARE_HANDLER(delete_records, 0, 2)
TRIB_DECLARE_HANDLER(find_coordinator, 0, 4)
TRIB_DECLARE_HANDLER(describe_log_dirs, 0, 4)
TRIB_DECLARE_HANDLER(alter_replica_log_dirs, 1, 2)
TRIB_DECLARE_HANDLER(offset_for_leader_epoch, 0, 4)
TRIB_DECLARE_HANDLER(describe_producers, 0, 0)
TRIB_DECLARE_HANDLER(elect_leaders, 0, 2)
TRIB_DECLARE_HANDLER(alter_partition_reassignments, 0, 0)
TRIB_DECLARE_HANDLER(list_partition_reassignments, 0, 0)
TRIB_DECLARE_HANDLER(unregister_broker, 0, 0)
TRIB_DECLARE_HANDLER(drain_brokers, 0, 0)
TRIB_DECLARE_HANDLER(describe_quorum, 0, 2)
TRIB_DECLARE_HANDLER(add_raft_voter, 0, 0)
TRIB_DECLARE_HANDLER(remove_raft_voter, 0, 0)
TRIB_DECLARE_HANDLER(join_group, 0, 9)
TRIB_DECLARE_HANDLER(sync_group, 0, 5)
TRIB_DECLARE_HANDLER(heartbeat, 0, 4)
TRIB_DECLARE_HANDLER(leave_group, 0, 5)
TRIB_DECLARE_HANDLER(offset_commit, 0, 9)
TRIB_DECLARE_HANDLER(offset_fetch, 0, 9)
TRIB_DECLARE_HANDLER(offset_delete, 0, 0)
TRIB_DECLARE_HANDLER(describe_groups, 0, 5)
TRIB_DECLARE_HANDLER(list_groups, 0, 5)
TRIB_DECLARE_HANDLER(delete_groups, 0, 2)
TRIB_DECLARE_HANDLER(consumer_group_heartbeat, 0, 1)
TRIB_DECLARE_HANDLER(consumer_group_describe, 0, 0)
// SaslHandshake v0 (raw SASL tokens after it, no SaslAuthenticate framing) is not served
// (advertised all the same: dispatch.cc says why).
TRIB_DECLARE_HANDLER(sasl_handshake, 0, 1)
TRIB_DECLARE_HANDLER(sasl_authenticate, 0, 2)
TRIB_DECLARE_HANDLER(describe_user_scram_credentials, 0, 0)
// Client quotas are not built: answered with no entries (scram_credentials.cc says why).
TRIB_DECLARE_HANDLER(describe_client_quotas, 0, 1)
TRIB_DECLARE_HANDLER(alter_user_scram_credentials, 0, 0)
TRIB_DECLARE_HANDLER(describe_acls, 0, 3)
TRIB_DECLARE_HANDLER(create_acls, 0, 3)
TRIB_DECLARE_HANDLER(delete_acls, 0, 3)

#undef TRIB_DECLARE_HANDLER

template<typename... H>
struct handler_list {};

using all_handlers = handler_list<api_versions_handler, metadata_handler, produce_handler, fetch_handler,
                                  list_offsets_handler, create_topics_handler, delete_topics_handler,
                                  create_partitions_handler, init_producer_id_handler, describe_configs_handler,
                                  alter_configs_handler, incremental_alter_configs_handler,
                                  describe_cluster_handler, delete_records_handler, find_coordinator_handler,
                                  describe_log_dirs_handler, alter_replica_log_dirs_handler,
                                  offset_for_leader_epoch_handler, describe_producers_handler,
                                  elect_leaders_handler, alter_partition_reassignments_handler,
                                  list_partition_reassignments_handler, unregister_broker_handler,
                                  drain_brokers_handler, describe_quorum_handler, add_raft_voter_handler,
                                  remove_raft_voter_handler, join_group_handler, sync_group_handler,
                                  heartbeat_handler, leave_group_handler, offset_commit_handler,
                                  offset_fetch_handler, offset_delete_handler, describe_groups_handler,
                                  list_groups_handler, delete_groups_handler,
                                  consumer_group_heartbeat_handler, consumer_group_describe_handler,
                                  sasl_handshake_handler, sasl_authenticate_handler,
                                  describe_user_scram_credentials_handler, alter_user_scram_credentials_handler,
                                  describe_client_quotas_handler, describe_acls_handler,
                                  create_acls_handler, delete_acls_handler>;

} // namespace trib::broker
