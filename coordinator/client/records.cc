#include "coordinator/client/records.h"

#include "coordinator/client/errc.h"
#include "protocol/records.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace trib::coordinator {

namespace {

constexpr int16_t record_version = 0;

template<size_t I = 0>
bool decode_alternative(int16_t type, protocol::reader& r, metadata_record& out) {
    if constexpr (I < std::variant_size_v<metadata_record>) {
        using T = std::variant_alternative_t<I, metadata_record>;
        if (T::api_key == type) {
            T v;
            v.decode(r, record_version);
            out = std::move(v);
            return true;
        }
        return decode_alternative<I + 1>(type, r, out);
    } else {
        return false;
    }
}

} // namespace

bytes encode_record_value(const metadata_record& rec) {
    protocol::writer w;
    std::visit(
        [&](const auto& v) {
            w.write_int16(std::decay_t<decltype(v)>::api_key);
            w.write_int16(record_version);
            v.encode(w, record_version);
        },
        rec);
    return w.take();
}

result<metadata_record> decode_record_value(bytes_view value) {
    protocol::reader r(value);
    int16_t type = r.read_int16();
    int16_t version = r.read_int16();
    if (!r.ok() || version != record_version) {
        return errc::bad_record;
    }
    metadata_record out;
    if (!decode_alternative(type, r, out)) {
        return errc::unknown_record_type;
    }
    if (!r.ok() || r.remaining() != 0) {
        return errc::bad_record;
    }
    return out;
}

bytes make_batch(std::span<const metadata_record> records, int64_t timestamp_ms) {
    protocol::batch_builder b;
    for (const auto& rec : records) {
        bytes value = encode_record_value(rec);
        b.add(std::nullopt, bytes_view(value), timestamp_ms);
    }
    auto built = b.build();
    if (!built) {
        throw std::runtime_error("building a metadata batch: " + built.error().message());
    }
    return std::move(*built);
}

result<void> for_each_record(bytes_view set, const std::function<void(offset, const metadata_record&)>& f) {
    protocol::record_set_iterator it(set);
    while (true) {
        auto batch = it.next();
        if (!batch) {
            return batch.error();
        }
        if (!*batch) {
            return it.partial_tail() ? result<void>(errc::bad_record) : success();
        }
        if ((*batch)->header.control()) {
            // Raft's own entries (a voter set, a new leader's no-op, a snapshot header:
            // coordinator/raft/codec.h) hold no metadata record.
            if (auto checked = read_and_verify_batch((*batch)->data); !checked) {
                return checked.error();
            }
            continue;
        }
        auto reader = protocol::batch_reader::open((*batch)->data);
        if (!reader) {
            return reader.error();
        }
        while (true) {
            auto rec = reader->next();
            if (!rec) {
                return rec.error();
            }
            if (!*rec) {
                break;
            }
            if (!(*rec)->value) {
                return errc::bad_record;
            }
            auto decoded = decode_record_value(*(*rec)->value);
            if (!decoded) {
                return decoded.error();
            }
            f(offset((*rec)->offset), *decoded);
        }
    }
}

namespace {

// " adding=[..] removing=[..]" while a partition is being reassigned, else "".
template<typename R>
std::string reassignment(const R& r) {
    if (r.adding_replicas.empty() && r.removing_replicas.empty()) {
        return {};
    }
    return fmt::format(" adding={} removing={}", r.adding_replicas, r.removing_replicas);
}

} // namespace

std::string describe(const metadata_record& rec) {
    struct visitor {
        std::string operator()(const register_broker_record& r) const {
            return fmt::format("register_broker id={} incarnation={} fenced={} epoch={}", r.broker_id,
                               r.incarnation_id.to_string(), r.fenced, r.broker_epoch);
        }
        std::string operator()(const fence_broker_record& r) const {
            return fmt::format("fence_broker id={}", r.broker_id);
        }
        std::string operator()(const unfence_broker_record& r) const {
            return fmt::format("unfence_broker id={}", r.broker_id);
        }
        std::string operator()(const topic_record& r) const {
            return fmt::format("topic {} id={}", r.name, r.topic_id.to_string());
        }
        std::string operator()(const partition_record& r) const {
            return fmt::format("partition {}-{} replicas={} isr={} leader={} epoch={} partition_epoch={}{}",
                               r.topic_id.to_string(), r.partition_index, r.replicas, r.isr, r.leader,
                               r.leader_epoch, r.partition_epoch, reassignment(r));
        }
        std::string operator()(const partition_change_record& r) const {
            return fmt::format("partition_change {}-{} replicas={} isr={} leader={} epoch={} partition_epoch={}{}",
                               r.topic_id.to_string(), r.partition_index, r.replicas, r.isr, r.leader,
                               r.leader_epoch, r.partition_epoch, reassignment(r));
        }
        std::string operator()(const broker_drain_record& r) const {
            return fmt::format("broker_drain id={} drained={}", r.broker_id, r.drained);
        }
        std::string operator()(const unregister_broker_record& r) const {
            return fmt::format("unregister_broker id={}", r.broker_id);
        }
        std::string operator()(const remove_topic_record& r) const {
            return fmt::format("remove_topic id={}", r.topic_id.to_string());
        }
        std::string operator()(const user_scram_credential_record& r) const {
            return fmt::format("user_scram_credential {} mechanism={} iterations={}", r.name, r.mechanism,
                               r.iterations);  // never the salt or keys
        }
        std::string operator()(const remove_user_scram_credential_record& r) const {
            return fmt::format("remove_user_scram_credential {} mechanism={}", r.name, r.mechanism);
        }
        std::string operator()(const acl_record& r) const { return "acl " + security::describe(binding_of(r)); }
        std::string operator()(const remove_acl_record& r) const {
            return "remove_acl " + security::describe(binding_of(r));
        }
        std::string operator()(const config_record& r) const {
            return fmt::format("config {}:{} {}={}", int(r.resource_type), r.resource_name, r.name,
                               r.value ? *r.value : "(deleted)");
        }
    };
    return std::visit(visitor{}, rec);
}

} // namespace trib::coordinator
