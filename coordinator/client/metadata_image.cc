#include "coordinator/client/metadata_image.h"

#include "coordinator/client/errc.h"
#include "common/log.h"

#include <algorithm>

namespace trib::coordinator {

namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

template<typename R>
bool valid_partition(const R& r) {
    for (int32_t b : r.isr) {
        if (!contains(r.replicas, b)) {
            return false;
        }
    }
    for (int32_t b : r.adding_replicas) {
        if (!contains(r.replicas, b) || contains(r.removing_replicas, b)) {
            return false;
        }
    }
    for (int32_t b : r.removing_replicas) {
        if (!contains(r.replicas, b)) {
            return false;
        }
    }
    return r.leader == -1 || contains(r.isr, r.leader);
}

template<typename R>
partition_state state_of(const R& r) {
    return partition_state{r.replicas,        r.isr,           r.leader, r.leader_epoch, r.partition_epoch,
                           r.adding_replicas, r.removing_replicas};
}

std::vector<int32_t> without_any(const std::vector<int32_t>& v, const std::vector<int32_t>& drop) {
    std::vector<int32_t> out;
    std::copy_if(v.begin(), v.end(), std::back_inserter(out), [&](int32_t b) { return !contains(drop, b); });
    return out;
}

} // namespace

std::vector<int32_t> partition_state::original_replicas() const { return without_any(replicas, adding); }

std::vector<int32_t> partition_state::target_replicas() const { return without_any(replicas, removing); }

const broker_registration* metadata_image::broker(int32_t id) const {
    auto it = _brokers->find(id);
    return it == _brokers->end() ? nullptr : &it->second;
}

const topic_state* metadata_image::topic(std::string_view name) const {
    auto it = _topic_names->find(name);
    return it == _topic_names->end() ? nullptr : topic(it->second);
}

const topic_state* metadata_image::topic(const protocol::uuid& id) const {
    auto it = _topics->find(id);
    return it == _topics->end() ? nullptr : it->second.get();
}

const config_map* metadata_image::configs(resource_type t, std::string_view name) const {
    auto it = _configs->find(config_key(int8_t(t), std::string(name)));
    return it == _configs->end() ? nullptr : &it->second;
}

const scram_secret* metadata_image::scram(std::string_view user, int8_t mechanism) const {
    auto u = _scram->find(user);
    if (u == _scram->end()) {
        return nullptr;
    }
    auto m = u->second.find(mechanism);
    return m == u->second.end() ? nullptr : &m->second;
}

std::shared_ptr<const security::acl_index> metadata_image::acl_index() const {
    if (!_acl_index) {
        _acl_index = std::make_shared<const security::acl_index>(
            std::vector<security::acl_binding>(_acls->begin(), _acls->end()));
    }
    return _acl_index;
}

topic_state& metadata_image::own(topic_range::map::iterator it) {
    if (it->second.use_count() > 1) {
        it->second = std::make_shared<topic_state>(*it->second);
    }
    return *it->second;
}

bool metadata_image::operator==(const metadata_image& o) const {
    if (_next != o._next || *_brokers != *o._brokers || *_drained != *o._drained || *_topic_names != *o._topic_names ||
        *_configs != *o._configs || *_scram != *o._scram || *_acls != *o._acls || _topics->size() != o._topics->size()) {
        return false;
    }
    return std::equal(_topics->begin(), _topics->end(), o._topics->begin(), [](const auto& a, const auto& b) {
        return a.first == b.first && *a.second == *b.second;
    });
}

result<void> metadata_image::apply(offset at, const metadata_record& r) {
    if (at < _next) {
        return errc::inconsistent_record;
    }
    auto res = apply_impl(at, r);
    if (res) {
        _next = at + 1;
    }
    return res;
}

result<void> metadata_image::apply_batches(bytes_view set) {
    std::error_code first;
    auto res = for_each_record(set, [&](offset at, const metadata_record& r) {
        if (first) {
            return;
        }
        if (auto a = apply(at, r); !a) {
            TLOG_WARN("metadata record at {} not applied: {} ({})", at.value(), a.error().message(), describe(r));
            first = a.error();
        }
    });
    if (!res) {
        return res;
    }
    return first ? result<void>(first) : success();
}

result<void> metadata_image::apply_impl(offset at, const metadata_record& rec) {
    if (auto* r = std::get_if<register_broker_record>(&rec)) {
        broker_registration b;
        b.id = node_id(r->broker_id);
        b.incarnation = r->incarnation_id;
        for (const auto& l : r->listeners) {
            b.endpoints.push_back({l.name, l.host, l.port});
        }
        b.rack = r->rack;
        b.fenced = r->fenced;
        b.epoch = r->broker_epoch >= 0 ? r->broker_epoch : at.value();
        _brokers.write()[r->broker_id] = std::move(b);
        return success();
    }
    if (auto* r = std::get_if<fence_broker_record>(&rec)) {
        if (!_brokers->contains(r->broker_id)) {
            return errc::inconsistent_record;
        }
        _brokers.write()[r->broker_id].fenced = true;
        return success();
    }
    if (auto* r = std::get_if<unfence_broker_record>(&rec)) {
        if (!_brokers->contains(r->broker_id)) {
            return errc::inconsistent_record;
        }
        _brokers.write()[r->broker_id].fenced = false;
        return success();
    }
    if (auto* r = std::get_if<broker_drain_record>(&rec)) {
        if (r->drained != _drained->contains(r->broker_id)) {
            if (r->drained) {
                _drained.write().insert(r->broker_id);
            } else {
                _drained.write().erase(r->broker_id);
            }
        }
        return success();
    }
    if (auto* r = std::get_if<unregister_broker_record>(&rec)) {
        if (!_brokers->contains(r->broker_id)) {
            return errc::inconsistent_record;
        }
        for (const auto& [id, t] : topics()) {
            for (const auto& p : t.partitions) {
                if (contains(p.replicas, r->broker_id)) {
                    return errc::inconsistent_record;
                }
            }
        }
        _brokers.write().erase(r->broker_id);
        return success();
    }
    if (auto* r = std::get_if<topic_record>(&rec)) {
        if (_topics->contains(r->topic_id) || _topic_names->contains(r->name)) {
            return errc::inconsistent_record;
        }
        _topics.write().emplace(r->topic_id, std::make_shared<topic_state>(topic_state{r->name, r->topic_id, {}}));
        _topic_names.write().emplace(r->name, r->topic_id);
        return success();
    }
    if (auto* r = std::get_if<partition_record>(&rec)) {
        const topic_state* t = topic(r->topic_id);
        if (!t || r->partition_index != int32_t(t->partitions.size()) || !valid_partition(*r)) {
            return errc::inconsistent_record;
        }
        own(_topics.write().find(r->topic_id)).partitions.push_back(state_of(*r));
        return success();
    }
    if (auto* r = std::get_if<partition_change_record>(&rec)) {
        const topic_state* t = topic(r->topic_id);
        if (!t || r->partition_index < 0 || r->partition_index >= int32_t(t->partitions.size()) ||
            !valid_partition(*r)) {
            return errc::inconsistent_record;
        }
        const auto& p = t->partitions[size_t(r->partition_index)];
        if (r->leader_epoch < p.leader_epoch) {
            return errc::inconsistent_record;
        }
        // Every change grows the partition epoch; 0 onto 0 is a record from before partition
        // epochs existed (such logs have only zeros) and is kept readable.
        if (r->partition_epoch <= p.partition_epoch && !(r->partition_epoch == 0 && p.partition_epoch == 0)) {
            return errc::inconsistent_record;
        }
        own(_topics.write().find(r->topic_id)).partitions[size_t(r->partition_index)] = state_of(*r);
        return success();
    }
    if (auto* r = std::get_if<remove_topic_record>(&rec)) {
        const topic_state* t = topic(r->topic_id);
        if (!t) {
            return errc::inconsistent_record;
        }
        const std::string name = t->name;
        if (config_key key(int8_t(resource_type::topic), name); _configs->contains(key)) {
            _configs.write().erase(key);
        }
        _topic_names.write().erase(name);
        _topics.write().erase(r->topic_id);
        return success();
    }
    if (auto* r = std::get_if<config_record>(&rec)) {
        config_key key(r->resource_type, r->resource_name);
        if (r->value) {
            _configs.write()[key][r->name] = *r->value;
        } else if (auto it = _configs->find(key); it != _configs->end() && it->second.contains(r->name)) {
            auto& configs = _configs.write();
            auto& values = configs[key];
            values.erase(r->name);
            if (values.empty()) {
                configs.erase(key);
            }
        }
        return success();
    }
    if (auto* r = std::get_if<user_scram_credential_record>(&rec)) {
        if (r->name.empty() || (r->mechanism != int8_t(scram_mechanism::sha256) &&
                                r->mechanism != int8_t(scram_mechanism::sha512))) {
            return errc::inconsistent_record;
        }
        auto to_string = [](const bytes& b) { return std::string(as_string_view(b)); };
        _scram.write()[r->name][r->mechanism] =
            scram_secret{to_string(r->salt), to_string(r->stored_key), to_string(r->server_key), r->iterations};
        return success();
    }
    if (auto* r = std::get_if<remove_user_scram_credential_record>(&rec)) {
        if (!scram(r->name, r->mechanism)) {
            return errc::inconsistent_record;
        }
        auto& users = _scram.write();
        auto u = users.find(r->name);
        u->second.erase(r->mechanism);
        if (u->second.empty()) {
            users.erase(u);
        }
        return success();
    }
    if (auto* r = std::get_if<acl_record>(&rec)) {
        auto b = binding_of(*r);
        if (security::invalid_binding(b)) {
            return errc::inconsistent_record;
        }
        if (!_acls->contains(b)) {
            _acls.write().insert(std::move(b));
            _acl_index.reset();
        }
        return success();
    }
    if (auto* r = std::get_if<remove_acl_record>(&rec)) {
        auto b = binding_of(*r);
        if (!_acls->contains(b)) {
            return errc::inconsistent_record;
        }
        _acls.write().erase(b);
        _acl_index.reset();
        return success();
    }
    return errc::unknown_record_type;
}

std::vector<metadata_record> metadata_image::to_records() const {
    std::vector<metadata_record> out;
    for (const auto& [id, b] : *_brokers) {
        register_broker_record r;
        r.broker_id = id;
        r.incarnation_id = b.incarnation;
        for (const auto& e : b.endpoints) {
            auto& l = r.listeners.emplace_back();
            l.name = e.listener;
            l.host = e.host;
            l.port = e.port;
        }
        r.rack = b.rack;
        r.fenced = b.fenced;
        r.broker_epoch = b.epoch;
        out.emplace_back(std::move(r));
    }
    for (int32_t id : *_drained) {
        broker_drain_record d;
        d.broker_id = id;
        d.drained = true;
        out.emplace_back(d);
    }
    for (const auto& [id, t] : topics()) {
        topic_record tr;
        tr.name = t.name;
        tr.topic_id = id;
        out.emplace_back(std::move(tr));
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            partition_record pr;
            pr.topic_id = id;
            pr.partition_index = int32_t(i);
            pr.replicas = p.replicas;
            pr.isr = p.isr;
            pr.leader = p.leader;
            pr.leader_epoch = p.leader_epoch;
            pr.partition_epoch = p.partition_epoch;
            pr.adding_replicas = p.adding;
            pr.removing_replicas = p.removing;
            out.emplace_back(std::move(pr));
        }
    }
    for (const auto& [key, values] : *_configs) {
        for (const auto& [name, value] : values) {
            config_record c;
            c.resource_type = key.first;
            c.resource_name = key.second;
            c.name = name;
            c.value = value;
            out.emplace_back(std::move(c));
        }
    }
    for (const auto& [user, mechanisms] : *_scram) {
        for (const auto& [mechanism, secret] : mechanisms) {
            user_scram_credential_record r;
            r.name = user;
            r.mechanism = mechanism;
            r.salt.assign(secret.salt.begin(), secret.salt.end());
            r.stored_key.assign(secret.stored_key.begin(), secret.stored_key.end());
            r.server_key.assign(secret.server_key.begin(), secret.server_key.end());
            r.iterations = secret.iterations;
            out.emplace_back(std::move(r));
        }
    }
    for (const auto& b : *_acls) {
        out.emplace_back(record_of<acl_record>(b));
    }
    return out;
}

cluster_snapshot metadata_image::to_snapshot(std::string cluster_id, node_id controller) const {
    cluster_snapshot s;
    s.cluster_id = std::move(cluster_id);
    s.controller = controller;
    s.version = _next.value();
    s.acls = acl_index();
    for (const auto& [id, b] : *_brokers) {
        s.brokers.emplace(id, broker_info{b.id, b.endpoints, b.rack, b.fenced});
    }
    for (const auto& [id, t] : topics()) {
        topic_info ti;
        ti.name = t.name;
        ti.id = id;
        ti.internal = t.name.starts_with("__");
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            ti.partitions.push_back(partition_info{partition_id(int32_t(i)), node_id(p.leader),
                                                   leader_epoch(p.leader_epoch), p.replicas, p.isr,
                                                   p.partition_epoch});
        }
        if (const auto* c = configs(resource_type::topic, t.name)) {
            ti.configs = *c;
        }
        s.topics.emplace(t.name, std::move(ti));
    }
    for (const auto& [key, values] : *_configs) {
        if (key.first == int8_t(resource_type::broker)) {
            s.broker_configs[key.second] = values;
        }
    }
    s.scram = *_scram;
    return s;
}

} // namespace trib::coordinator
