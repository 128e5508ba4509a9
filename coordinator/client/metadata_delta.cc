#include "coordinator/client/metadata_delta.h"

#include <type_traits>

namespace trib::coordinator {

void metadata_delta::add(const metadata_image& before, const metadata_record& r) {
    auto topic_by_id = [&](const protocol::uuid& id) {
        if (const auto* t = before.topic(id)) {
            topics.insert(t->name);
        }
    };
    std::visit(
        [&](const auto& rec) {
            using T = std::decay_t<decltype(rec)>;
            if constexpr (std::is_same_v<T, register_broker_record> || std::is_same_v<T, fence_broker_record> ||
                          std::is_same_v<T, unfence_broker_record> || std::is_same_v<T, broker_drain_record> ||
                          std::is_same_v<T, unregister_broker_record>) {
                brokers = true;
            } else if constexpr (std::is_same_v<T, topic_record>) {
                topics.insert(rec.name);
            } else if constexpr (std::is_same_v<T, partition_record> || std::is_same_v<T, partition_change_record> ||
                                 std::is_same_v<T, remove_topic_record>) {
                topic_by_id(rec.topic_id);
            } else if constexpr (std::is_same_v<T, config_record>) {
                if (rec.resource_type == int8_t(resource_type::topic)) {
                    topics.insert(rec.resource_name);
                } else {
                    broker_configs = true;
                }
            } else if constexpr (std::is_same_v<T, user_scram_credential_record> ||
                                 std::is_same_v<T, remove_user_scram_credential_record>) {
                scram = true;
            } else if constexpr (std::is_same_v<T, acl_record> || std::is_same_v<T, remove_acl_record>) {
                acls = true;
            } else {
                everything = true;  // a record kind this function doesn't know yet: be safe
            }
        },
        r);
}

} // namespace trib::coordinator
