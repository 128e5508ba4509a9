#include "coordinator/controller.h"

#include "common/config.h"
#include "common/log.h"
#include "coordinator/client/errc.h"
#include "coordinator/client/topic_config.h"
#include "coordinator/scram_control.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace trib::coordinator {

using protocol::error_code;

namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

int16_t code(error_code e) { return static_cast<int16_t>(e); }

std::vector<int32_t> without(const std::vector<int32_t>& v, int32_t x) {
    std::vector<int32_t> out;
    std::copy_if(v.begin(), v.end(), std::back_inserter(out), [x](int32_t b) { return b != x; });
    return out;
}

std::vector<int32_t> without_any(const std::vector<int32_t>& v, const std::vector<int32_t>& drop) {
    std::vector<int32_t> out;
    std::copy_if(v.begin(), v.end(), std::back_inserter(out), [&](int32_t b) { return !contains(drop, b); });
    return out;
}

// The record taking partition `index` of topic `id` from `p` to the given state: the partition
// epoch grows by one, the leader epoch by one when the leader changes.
partition_change_record change_record(const protocol::uuid& id, int32_t index, const partition_state& p,
                                      std::vector<int32_t> replicas, std::vector<int32_t> isr, int32_t leader,
                                      std::vector<int32_t> adding, std::vector<int32_t> removing) {
    partition_change_record pc;
    pc.topic_id = id;
    pc.partition_index = index;
    pc.replicas = std::move(replicas);
    pc.isr = std::move(isr);
    pc.leader = leader;
    pc.leader_epoch = leader != p.leader ? p.leader_epoch + 1 : p.leader_epoch;
    pc.partition_epoch = p.partition_epoch + 1;
    pc.adding_replicas = std::move(adding);
    pc.removing_replicas = std::move(removing);
    return pc;
}

bool is_node_id(const std::string& s) {
    return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Why `key=value` is not valid for a resource of type `t` (topic or broker), or nullopt.
std::optional<std::string> invalid_config(int8_t t, const std::string& key, const std::string& value) {
    return t == int8_t(resource_type::topic) ? validate_topic_config(key, value)
                                             : validate_broker_dynamic_config(key, value);
}

// Kafka's metric names put '.' and '_' in one place: a topic whose name differs from an
// existing one only there collides with it. The existing name, or nullopt.
std::optional<std::string> colliding_topic(const metadata_image& image, const std::string& name) {
    if (name.find_first_of("._") == std::string::npos) {
        return std::nullopt;
    }
    auto normal = [](std::string n) {
        std::replace(n.begin(), n.end(), '.', '_');
        return n;
    };
    const auto want = normal(name);
    for (const auto& [id, t] : image.topics()) {
        if (t.name != name && t.name.size() == name.size() && normal(t.name) == want) {
            return t.name;
        }
    }
    return std::nullopt;
}

// A config named twice among one resource's operations (Kafka refuses the resource).
template <typename Ops>
bool has_duplicate_names(const Ops& ops) {
    std::set<std::string_view> seen;
    for (const auto& op : ops) {
        if (!seen.insert(op.name).second) {
            return true;
        }
    }
    return false;
}

} // namespace

// Records of one decision, each applied to a scratch copy of the image as it is added, so
// later parts of the decision see earlier ones and nothing the image would refuse is
// proposed.
class controller::change {
public:
    explicit change(const metadata_image& base) : work(base) {}

    void add(metadata_record r) {
        if (auto a = work.apply(work.next_offset(), r); !a) {
            throw std::logic_error("controller built an inconsistent record: " + describe(r));
        }
        records.push_back(std::move(r));
    }

    metadata_image work;
    std::vector<metadata_record> records;
};

controller::controller(controller_config cfg, clock& clk)
  : _cfg(std::move(cfg)), _clock(clk), _rng(_cfg.seed ? _cfg.seed : std::random_device{}()) {}

void controller::set_log(replicated_log& log, std::function<void()> also) {
    _log = &log;
    _leadership = log.leader();
    log.on_leadership([this, also = std::move(also)](const leadership& l) {
        leadership_changed(l);
        if (also) {
            also();
        }
    });
}

void controller::leadership_changed(const leadership& l) {
    const bool gained = l.is_leader && !_leadership.is_leader;
    const bool lost = !l.is_leader && _leadership.is_leader;
    _leadership = l;
    if (gained || lost) {
        _pending_stale = true;  // rebuilt from the committed image once nothing is in flight
    }
    if (gained) {
        TLOG_INFO("coordinator {} is the active controller (term {})", _cfg.id.value(), l.term.value());
        for (const auto& [id, b] : _image.brokers()) {
            _lease_deadline[id] = _clock.now_ms() + _cfg.session_timeout_ms;
        }
        _shutting_down.clear();
        _next_rebalance_ms = -1;
    } else if (lost) {
        TLOG_INFO("coordinator {} is no longer the active controller (term {}, leader {})", _cfg.id.value(),
                  l.term.value(), l.leader ? l.leader->id.value() : -1);
    }
}

void controller::apply(offset at, const metadata_record& r) {
    if (auto a = _image.apply(at, r); !a) {
        // The log holds only records the controller checked: this is a broken invariant.
        throw std::runtime_error(fmt::format("metadata record at {} does not apply: {} ({})", at.value(),
                                             a.error().message(), describe(r)));
    }
    if (auto* reg = std::get_if<register_broker_record>(&r)) {
        _lease_deadline[reg->broker_id] = _clock.now_ms() + _cfg.session_timeout_ms;
    }
}

void controller::restore(const metadata_image& image) {
    _image = image;
    _pending = image;
    _lease_deadline.clear();
    for (const auto& [id, b] : _image.brokers()) {
        _lease_deadline[id] = _clock.now_ms() + _cfg.session_timeout_ms;
    }
}

std::string controller::not_active_message() const {
    if (_leadership.leader) {
        return fmt::format("coordinator {} is not the active controller: {} is", _cfg.id.value(),
                           _leadership.leader->id.value());
    }
    return fmt::format("coordinator {} is not the active controller, and knows of none yet", _cfg.id.value());
}

bool controller::lease_alive(int32_t broker) const {
    auto it = _lease_deadline.find(broker);
    return it != _lease_deadline.end() && _clock.now_ms() < it->second;
}

std::vector<int32_t> controller::usable_brokers() const {
    std::vector<int32_t> out;
    for (const auto& [id, b] : _pending.brokers()) {
        if (!b.fenced && lease_alive(id) && !_shutting_down.contains(id) && !_pending.is_drained(id)) {
            out.push_back(id);
        }
    }
    return out;
}

bool controller::may_decide() {
    if (!_log) {
        throw std::logic_error("controller has no log");
    }
    if (!active()) {
        return false;
    }
    if (_completed == _proposed) {
        // Nothing in flight: the pending image is the committed one (also after a failure).
        _pending = _image;
        _pending_stale = false;
    } else if (_pending_stale) {
        return false;  // failed appends are still coming back
    }
    // The log may hold entries of its own beyond what this controller proposed (a Raft
    // leader's): the next record lands after them.
    if (_pending.next_offset() < _log->end()) {
        _pending.set_next_offset(_log->end());
    }
    return true;
}

void controller::commit(change& c, std::function<void(result<offset>)> done) {
    if (c.records.empty()) {
        auto answer = [this, done = std::move(done)](bool ok) {
            if (ok) {
                done(_image.next_offset() - 1);
            } else {
                done(errc::not_leader);
            }
        };
        if (_completed == _proposed) {
            answer(true);
        } else {
            _after.emplace_back(_proposed, std::move(answer));
        }
        return;
    }
    for (const auto& r : c.records) {
        TLOG_DEBUG("proposing {}", describe(r));
    }
    _pending = std::move(c.work);
    const uint64_t seq = ++_proposed;
    _log->append(c.records, [this, seq, done = std::move(done)](result<offset> last) {
        _completed = seq;
        if (!last) {
            if (!_pending_stale) {
                TLOG_WARN("metadata append failed ({}): {} proposal(s) in flight are dropped",
                          last.error().message(), _proposed - seq + 1);
            }
            _pending_stale = true;
        }
        if (_pending_stale && _completed == _proposed) {
            _pending = _image;
            _pending_stale = false;
        }
        done(last);
        while (!_after.empty() && _after.front().first <= seq) {
            auto f = std::move(_after.front().second);
            _after.pop_front();
            f(last.has_value());
        }
    });
}

// ---- brokers ---------------------------------------------------------------------------

bool controller::eligible(const metadata_image& image, int32_t b) const {
    const auto* reg = image.broker(b);
    return reg && !reg->fenced && !_shutting_down.contains(b);
}

bool controller::unclean_enabled(const metadata_image& image, const std::string& name) const {
    constexpr const char* key = "unclean.leader.election.enable";
    for (const auto* configs : {image.configs(resource_type::topic, name), image.configs(resource_type::broker, "")}) {
        if (configs) {
            if (auto it = configs->find(key); it != configs->end()) {
                return it->second == "true";
            }
        }
    }
    return _cfg.unclean_leader_election_enable;
}

void controller::fence_effects(change& c, int32_t broker) {
    auto unfenced = [&](int32_t b) {
        const auto* reg = c.work.broker(b);
        return b != broker && reg && !reg->fenced;
    };
    auto can_lead = [&](int32_t b) { return b != broker && eligible(c.work, b); };
    std::vector<partition_change_record> changes;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (!contains(p.isr, broker) && p.leader != broker) {
                continue;
            }
            std::vector<int32_t> isr = without(p.isr, broker);
            if (isr.empty()) {
                isr = p.isr;  // the last member stays: it has every committed record
            }
            int32_t leader = -1;
            if (p.leader != -1 && unfenced(p.leader)) {
                leader = p.leader;
            } else if (auto it = std::find_if(isr.begin(), isr.end(), can_lead); it != isr.end()) {
                leader = *it;
            } else if (unclean_enabled(c.work, t.name)) {
                if (auto r = std::find_if(p.replicas.begin(), p.replicas.end(), can_lead); r != p.replicas.end()) {
                    leader = *r;
                    isr = {leader};
                    TLOG_WARN("unclean leader election: {}-{} gets leader {}, which is not in sync (ISR was {}): "
                              "records only the old ISR had are lost",
                              t.name, i, leader, p.isr);
                }
            }
            if (isr == p.isr && leader == p.leader) {
                continue;
            }
            changes.push_back(next_state(c.work, id, int32_t(i), p, std::move(isr), leader));
        }
    }
    for (auto& pc : changes) {
        c.add(std::move(pc));
    }
}

void controller::unfence_effects(change& c, int32_t broker) {
    if (!eligible(c.work, broker)) {
        return;  // in controlled shutdown: no new leaderships
    }
    std::vector<partition_change_record> changes;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (p.leader != -1 || !contains(p.replicas, broker)) {
                continue;
            }
            if (contains(p.isr, broker)) {
                changes.push_back(next_state(c.work, id, int32_t(i), p, p.isr, broker));
            } else if (unclean_enabled(c.work, t.name) &&
                       std::none_of(p.isr.begin(), p.isr.end(), [&](int32_t b) { return eligible(c.work, b); })) {
                TLOG_WARN("unclean leader election: {}-{} gets leader {}, which is not in sync (ISR was {}): "
                          "records only the old ISR had are lost",
                          t.name, i, broker, p.isr);
                changes.push_back(next_state(c.work, id, int32_t(i), p, {broker}, broker));
            }
        }
    }
    for (auto& pc : changes) {
        c.add(std::move(pc));
    }
}

size_t controller::shutdown_effects(change& c, int32_t broker) {
    std::vector<partition_change_record> changes;
    std::vector<std::string> stuck;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (p.leader != broker && !contains(p.isr, broker)) {
                continue;
            }
            std::vector<int32_t> isr = without(p.isr, broker);
            int32_t leader = p.leader;
            if (p.leader == broker) {
                auto it = std::find_if(isr.begin(), isr.end(), [&](int32_t b) { return eligible(c.work, b); });
                if (it == isr.end()) {
                    stuck.push_back(fmt::format("{}-{}", t.name, i));  // the only in-sync copy: stays
                    continue;
                }
                leader = *it;
            }
            if (isr.empty()) {
                continue;
            }
            changes.push_back(next_state(c.work, id, int32_t(i), p, std::move(isr), leader));
        }
    }
    for (auto& pc : changes) {
        c.add(std::move(pc));
    }
    if (changes.empty() && !stuck.empty()) {
        TLOG_WARN("broker {} shuts down still leading {} partition(s) no other in-sync replica can take: {}", broker,
                  stuck.size(), fmt::join(stuck, ", "));
    }
    return stuck.size();
}

void controller::register_broker(const register_request& req, std::function<void(register_response)> done) {
    register_response resp;
    resp.session_timeout_ms = int32_t(_cfg.session_timeout_ms);
    resp.heartbeat_interval_ms = _cfg.heartbeat_interval_ms;
    if (!may_decide()) {
        resp.error_code = code(error_code::not_controller);
        resp.error_message = not_active_message();
        done(std::move(resp));
        return;
    }
    auto fail = [&](error_code e, std::string msg) {
        TLOG_WARN("registration of broker {} refused: {}", req.broker_id, msg);
        resp.error_code = code(e);
        resp.error_message = std::move(msg);
        done(std::move(resp));
    };
    if (req.cluster_id != _cfg.cluster_id) {
        return fail(error_code::inconsistent_cluster_id,
                    fmt::format("broker {} belongs to cluster '{}', this coordinator to cluster '{}'",
                                req.broker_id, req.cluster_id, _cfg.cluster_id));
    }
    if (req.broker_id < 0) {
        return fail(error_code::invalid_request, "broker id must be >= 0");
    }
    std::vector<endpoint> endpoints;
    for (const auto& l : req.listeners) {
        endpoints.push_back({l.name, l.host, l.port});
    }
    const auto* existing = _pending.broker(req.broker_id);
    if (existing && existing->incarnation != req.incarnation_id && lease_alive(req.broker_id)) {
        auto left = _lease_deadline[req.broker_id] - _clock.now_ms();
        return fail(error_code::duplicate_broker_registration,
                    fmt::format("node id {} is held by a live broker (incarnation {}) whose lease runs for "
                                "another {} ms; incarnation {} cannot take it",
                                req.broker_id, existing->incarnation.to_string(), left,
                                req.incarnation_id.to_string()));
    }
    if (existing && existing->incarnation == req.incarnation_id && existing->endpoints == endpoints &&
        existing->rack == req.rack) {
        // The same broker again, on the same data (a retry, or a restart that kept its
        // incarnation): nothing changes in the log. A registration also ends a controlled
        // shutdown: a process shutting down only heartbeats, so this one has started again.
        // Answered once the registration it repeats (maybe still in flight) is committed.
        _lease_deadline[req.broker_id] = _clock.now_ms() + _cfg.session_timeout_ms;
        _shutting_down.erase(req.broker_id);
        change none(_pending);
        int32_t id = req.broker_id;
        commit(none, [this, id, resp = std::move(resp), done = std::move(done)](result<offset> last) mutable {
            const auto* b = _image.broker(id);
            if (!last || !b) {
                resp.error_code = code(error_code::not_controller);
                resp.error_message = not_active_message();
            } else {
                resp.broker_epoch = b->epoch;
            }
            done(std::move(resp));
        });
        return;
    }
    change c(_pending);
    register_broker_record r;
    r.broker_id = req.broker_id;
    r.incarnation_id = req.incarnation_id;
    for (const auto& l : req.listeners) {
        auto& e = r.listeners.emplace_back();
        e.name = l.name;
        e.host = l.host;
        e.port = l.port;
    }
    r.rack = req.rack;
    r.fenced = true;
    bool was_unfenced = existing && !existing->fenced;
    _shutting_down.erase(req.broker_id);  // a new registration ends a controlled shutdown
    c.add(std::move(r));
    if (was_unfenced) {
        fence_effects(c, req.broker_id);  // a new incarnation starts fenced: leadership moves
    }
    size_t n = c.records.size();
    int32_t id = req.broker_id;
    commit(c, [this, n, id, resp = std::move(resp), done = std::move(done)](result<offset> last) mutable {
        if (!last) {
            resp.error_code = code(error_code::not_controller);
            resp.error_message = "metadata log: " + last.error().message();
        } else {
            resp.broker_epoch = last->value() - int64_t(n - 1);
            _lease_deadline[id] = _clock.now_ms() + _cfg.session_timeout_ms;
            TLOG_INFO("broker {} registered (epoch {})", id, resp.broker_epoch);
        }
        done(std::move(resp));
    });
}

void controller::heartbeat(const heartbeat_request& req, std::function<void(heartbeat_response)> done) {
    heartbeat_response resp;
    resp.lease_ms = int32_t(_cfg.session_timeout_ms);
    if (!may_decide()) {
        resp.error_code = code(error_code::not_controller);
        resp.error_message = not_active_message();
        done(std::move(resp));
        return;
    }
    const auto* b = _pending.broker(req.broker_id);
    if (!b) {
        resp.error_code = code(error_code::broker_id_not_registered);
        resp.error_message = fmt::format("broker {} is not registered", req.broker_id);
        done(std::move(resp));
        return;
    }
    if (b->incarnation != req.incarnation_id || b->epoch != req.broker_epoch) {
        resp.error_code = code(error_code::stale_broker_epoch);
        resp.error_message = fmt::format("broker {} is registered with epoch {}, not {}: register again",
                                         req.broker_id, b->epoch, req.broker_epoch);
        done(std::move(resp));
        return;
    }
    _lease_deadline[req.broker_id] = _clock.now_ms() + _cfg.session_timeout_ms;
    if (req.want_shut_down) {
        return controlled_shutdown(req.broker_id, std::move(resp), std::move(done));
    }
    change c(_pending);
    const bool unfence = b->fenced && req.applied_offset >= b->epoch;
    if (unfence) {
        // Heard from in time and caught up with its own registration: unfence.
        unfence_broker_record u;
        u.broker_id = req.broker_id;
        c.add(std::move(u));
        unfence_effects(c, req.broker_id);
    }
    answer_heartbeat(c, req.broker_id, std::move(resp), std::move(done), [id = req.broker_id, unfence](heartbeat_response&) {
        if (unfence) {
            TLOG_INFO("broker {} unfenced", id);
        }
    });
}

void controller::answer_heartbeat(change& c, int32_t id, heartbeat_response resp,
                                  std::function<void(heartbeat_response)> done,
                                  std::function<void(heartbeat_response&)> on_commit) {
    commit(c, [this, id, resp = std::move(resp), done = std::move(done),
               on_commit = std::move(on_commit)](result<offset> last) mutable {
        if (!last) {
            resp.error_code = code(error_code::not_controller);
            resp.error_message = not_active_message();
            done(std::move(resp));
            return;
        }
        // Everything decided before this answer, a fencing included, is committed below it:
        // a broker back after losing its lease leads again only once its metadata has reached
        // it. Its fencing is as committed.
        resp.metadata_end = _image.next_offset().value();
        const auto* b = _image.broker(id);
        resp.is_fenced = !b || b->fenced;
        on_commit(resp);
        done(std::move(resp));
    });
}

void controller::controlled_shutdown(int32_t id, heartbeat_response resp, std::function<void(heartbeat_response)> done) {
    change c(_pending);
    const bool fenced = c.work.broker(id)->fenced;
    if (!fenced && _shutting_down.insert(id).second) {
        TLOG_INFO("broker {} asks for a controlled shutdown: moving its leaderships away", id);
    }
    // A fenced broker leads nothing and is in no ISR it could leave. Otherwise ShouldShutDown
    // once a heartbeat finds nothing left to move, answered when what was proposed before it
    // (the moves of earlier heartbeats) is committed, so they are on their way to the brokers
    // when it stops.
    if (!fenced) {
        shutdown_effects(c, id);
    }
    const bool nothing_left = c.records.empty();
    answer_heartbeat(c, id, std::move(resp), std::move(done), [id, nothing_left](heartbeat_response& r) {
        if (nothing_left) {
            TLOG_INFO("broker {} may shut down", id);
            r.should_shut_down = true;
        }
    });
}

void controller::tick() {
    if (!may_decide()) {
        return;  // leases are the active controller's to enforce
    }
    change c(_pending);
    std::vector<int32_t> expired;
    for (const auto& [id, b] : _pending.brokers()) {
        if (!b.fenced && !lease_alive(id)) {
            expired.push_back(id);
        }
    }
    for (int32_t id : expired) {
        TLOG_WARN("broker {} missed its lease ({} ms): fencing it", id, _cfg.session_timeout_ms);
        fence_broker_record f;
        f.broker_id = id;
        c.add(std::move(f));
        fence_effects(c, id);
        _shutting_down.erase(id);
    }
    unclean_elections(c);
    finish_reassignments(c);
    drain_step(c);
    if (_cfg.auto_leader_rebalance_enable) {
        const int64_t now = _clock.now_ms();
        if (_next_rebalance_ms < 0) {
            _next_rebalance_ms = now + _cfg.leader_imbalance_check_interval_ms;
        } else if (now >= _next_rebalance_ms) {
            _next_rebalance_ms = now + _cfg.leader_imbalance_check_interval_ms;
            rebalance(c);
        }
    }
    if (c.records.empty()) {
        return;
    }
    commit(c, [](result<offset> last) {
        if (!last) {
            TLOG_ERROR("fencing brokers or rebalancing leaders failed: {}", last.error().message());
        }
    });
}

// ---- ISR changes and elections ---------------------------------------------------------

void controller::alter_partition(const alter_partition_request& req, int16_t version,
                                 std::function<void(alter_partition_response)> done) {
    alter_partition_response resp;
    if (!may_decide()) {
        resp.error_code = code(error_code::not_controller);
        done(std::move(resp));
        return;
    }
    const auto* requester = _pending.broker(req.broker_id);
    if (!requester || requester->epoch != req.broker_epoch) {
        TLOG_INFO("AlterPartition from broker {} at broker epoch {} refused: registered at {}", req.broker_id,
                  req.broker_epoch, requester ? requester->epoch : -1);
        resp.error_code = code(error_code::stale_broker_epoch);
        done(std::move(resp));
        return;
    }
    change c(_pending);
    for (const auto& t : req.topics) {
        auto& out_topic = resp.topics.emplace_back();
        out_topic.topic_id = t.topic_id;
        for (const auto& pd : t.partitions) {
            // Looked up again for each partition: a change to the topic earlier in this request
            // gives the scratch image a new copy of it.
            const topic_state* topic = c.work.topic(t.topic_id);
            auto& out = out_topic.partitions.emplace_back();
            out.partition_index = pd.partition_index;
            auto refuse = [&](error_code e, const std::string& why) {
                out.error_code = code(e);
                TLOG_INFO("AlterPartition from broker {} for {}-{} refused ({}): {}", req.broker_id,
                          topic ? topic->name : t.topic_id.to_string(), pd.partition_index, error_code_name(e), why);
            };
            if (!topic) {
                refuse(error_code::unknown_topic_id, "unknown topic id");
                continue;
            }
            if (pd.partition_index < 0 || size_t(pd.partition_index) >= topic->partitions.size()) {
                refuse(error_code::unknown_topic_or_partition, "no such partition");
                continue;
            }
            const partition_state p = topic->partitions[size_t(pd.partition_index)];
            // A request ahead of the image means this coordinator is behind (not the active
            // one): the leader should look for another, as KRaft answers.
            if (pd.leader_epoch > p.leader_epoch || pd.partition_epoch > p.partition_epoch) {
                refuse(error_code::not_controller,
                       fmt::format("request at leader epoch {} / partition epoch {} is ahead of {} / {}",
                                   pd.leader_epoch, pd.partition_epoch, p.leader_epoch, p.partition_epoch));
                continue;
            }
            if (pd.leader_epoch < p.leader_epoch) {
                refuse(error_code::fenced_leader_epoch,
                       fmt::format("leader epoch {} is older than {}", pd.leader_epoch, p.leader_epoch));
                continue;
            }
            if (req.broker_id != p.leader) {
                refuse(error_code::invalid_request, fmt::format("the leader is {}", p.leader));
                continue;
            }
            if (pd.partition_epoch != p.partition_epoch) {
                refuse(error_code::invalid_update_version,
                       fmt::format("partition epoch {} is older than {}", pd.partition_epoch, p.partition_epoch));
                continue;
            }
            if (pd.leader_recovery_state != 0) {
                refuse(error_code::invalid_request, "leader recovery states are not used here");
                continue;
            }
            std::vector<int32_t> isr;
            std::vector<int64_t> epochs;
            if (version >= 3) {
                for (const auto& m : pd.new_isr_with_epochs) {
                    isr.push_back(m.broker_id);
                    epochs.push_back(m.broker_epoch);
                }
            } else {
                isr = pd.new_isr;
                epochs.assign(isr.size(), -1);
            }
            const bool replicas_only = std::all_of(isr.begin(), isr.end(), [&](int32_t b) { return contains(p.replicas, b); });
            if (!replicas_only || std::set<int32_t>(isr.begin(), isr.end()).size() != isr.size() ||
                !contains(isr, p.leader)) {
                refuse(error_code::invalid_request,
                       fmt::format("new ISR {} must be distinct replicas of {} holding the leader", isr, p.replicas));
                continue;
            }
            // Every member (as KRaft checks) must be registered, unfenced, not shutting down
            // and, when the request says (v3), at the broker epoch it names.
            std::optional<std::string> ineligible;
            for (size_t k = 0; k < isr.size() && !ineligible; ++k) {
                const int32_t b = isr[k];
                const auto* reg = c.work.broker(b);
                if (!eligible(c.work, b)) {
                    ineligible = fmt::format("{} is fenced, unregistered or shutting down", b);
                } else if (epochs[k] != -1 && epochs[k] != reg->epoch) {
                    ineligible = fmt::format("{} is at broker epoch {}, not {}", b, reg->epoch, epochs[k]);
                }
            }
            if (ineligible) {
                refuse(error_code::ineligible_replica, *ineligible);
                continue;
            }
            std::set<int32_t> wanted(isr.begin(), isr.end());
            if (wanted != std::set<int32_t>(p.isr.begin(), p.isr.end())) {
                TLOG_INFO("ISR of {}-{}: {} -> {} (asked by leader {})", topic->name, pd.partition_index, p.isr, isr,
                          p.leader);
                c.add(next_state(c.work, topic->id, pd.partition_index, p, isr, p.leader));
                const auto& after = c.work.topic(t.topic_id)->partitions[size_t(pd.partition_index)];
                if (p.reassigning() && !after.reassigning()) {
                    TLOG_INFO("reassignment of {}-{} completes: replicas {} -> {}, leader {}", topic->name,
                              pd.partition_index, p.original_replicas(), after.replicas, after.leader);
                }
            }
            const auto& now = c.work.topic(t.topic_id)->partitions[size_t(pd.partition_index)];
            out.leader_id = now.leader;
            out.leader_epoch = now.leader_epoch;
            out.isr = now.isr;
            out.partition_epoch = now.partition_epoch;
        }
    }
    // Answered once committed; with nothing to write, once what it saw is.
    commit(c, [resp = std::move(resp), done = std::move(done)](result<offset> last) mutable {
        if (!last) {
            resp = alter_partition_response{};
            resp.error_code = code(error_code::not_controller);
        }
        done(std::move(resp));
    });
}

void controller::unclean_elections(change& c) {
    std::vector<std::pair<protocol::uuid, int32_t>> leaderless;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            if (t.partitions[i].leader == -1 && unclean_enabled(c.work, t.name)) {
                leaderless.emplace_back(id, int32_t(i));
            }
        }
    }
    for (const auto& [id, index] : leaderless) {
        elect(c, *c.work.topic(id), index, 1);  // ELIGIBLE_LEADERS_NOT_AVAILABLE: stays leaderless
    }
}

void controller::finish_reassignments(change& c) {
    std::vector<partition_change_record> done;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (!p.reassigning()) {
                continue;
            }
            auto pc = next_state(c.work, id, int32_t(i), p, p.isr, p.leader);
            if (pc.adding_replicas.empty() && pc.removing_replicas.empty()) {
                TLOG_INFO("reassignment of {}-{} completes: replicas {}, leader {}", t.name, i, pc.replicas, pc.leader);
                done.push_back(std::move(pc));
            }
        }
    }
    for (auto& pc : done) {
        c.add(std::move(pc));
    }
}

void controller::rebalance(change& c) {
    struct preferred {
        size_t total = 0;
        std::vector<std::pair<protocol::uuid, int32_t>> elsewhere;  // led by another broker
    };
    std::map<int32_t, preferred> by_broker;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (p.replicas.empty()) {
                continue;
            }
            auto& pref = by_broker[p.replicas.front()];
            ++pref.total;
            if (p.leader != p.replicas.front()) {
                pref.elsewhere.emplace_back(id, int32_t(i));
            }
        }
    }
    for (const auto& [broker, pref] : by_broker) {
        // Kafka's check: the share of a broker's preferred partitions led elsewhere.
        if (pref.elsewhere.size() * 100 <= pref.total * size_t(_cfg.leader_imbalance_per_broker_percentage) ||
            !eligible(c.work, broker) || c.work.is_drained(broker)) {
            continue;
        }
        size_t moved = 0;
        for (const auto& [id, index] : pref.elsewhere) {
            const auto& p = c.work.topic(id)->partitions[size_t(index)];
            if (contains(p.isr, broker)) {
                c.add(next_state(c.work, id, index, p, p.isr, broker));
                ++moved;
            }
        }
        if (moved > 0) {
            TLOG_INFO("leader imbalance of broker {}: {} of its {} preferred partitions led elsewhere; {} moved back",
                      broker, pref.elsewhere.size(), pref.total, moved);
        }
    }
}

// ---- placement -------------------------------------------------------------------------

std::vector<std::vector<int32_t>> controller::place(int32_t partitions, int16_t rf, int32_t first_index) {
    auto usable = usable_brokers();
    const size_t n = usable.size();
    std::vector<std::vector<int32_t>> out;
    if (n == 0 || rf <= 0 || size_t(rf) > n) {
        return out;
    }
    // Rack-aware when every usable broker declares a rack and there are several: brokers are
    // interleaved by rack (a1, b1, c1, a2, ...) as Kafka does, and each partition's replicas
    // take distinct racks first.
    std::map<std::string, std::vector<int32_t>> by_rack;
    bool all_racks = true;
    for (int32_t b : usable) {
        const auto& rack = _pending.broker(b)->rack;
        all_racks = all_racks && rack.has_value();
        if (rack) {
            by_rack[*rack].push_back(b);
        }
    }
    const bool rack_aware = all_racks && by_rack.size() > 1;
    std::vector<int32_t> arranged;
    std::map<int32_t, std::string> rack_of;
    if (rack_aware) {
        for (size_t i = 0; arranged.size() < n; ++i) {
            for (auto& [rack, brokers] : by_rack) {
                if (i < brokers.size()) {
                    arranged.push_back(brokers[i]);
                    rack_of[brokers[i]] = rack;
                }
            }
        }
    } else {
        arranged = usable;
    }
    const size_t start = size_t(_rng() % n);
    size_t shift = size_t(_rng() % n);
    for (int32_t i = 0; i < partitions; ++i) {
        const size_t pi = size_t(first_index + i);
        if (pi > 0 && pi % n == 0) {
            ++shift;
        }
        const size_t first = (pi + start) % n;
        std::vector<int32_t> replicas{arranged[first]};
        auto candidate = [&](size_t k) { return arranged[(first + 1 + (shift + k) % (n - 1)) % n]; };
        if (rack_aware) {
            std::set<std::string> used{rack_of[arranged[first]]};
            for (size_t k = 0; k + 1 < n && replicas.size() < size_t(rf); ++k) {
                int32_t b = candidate(k);
                if (!contains(replicas, b) && !used.contains(rack_of[b])) {
                    replicas.push_back(b);
                    used.insert(rack_of[b]);
                }
            }
        }
        for (size_t k = 0; k + 1 < n && replicas.size() < size_t(rf); ++k) {
            int32_t b = candidate(k);
            if (!contains(replicas, b)) {
                replicas.push_back(b);
            }
        }
        out.push_back(std::move(replicas));
    }
    return out;
}

// ---- admin -----------------------------------------------------------------------------

void controller::admin(int16_t api_key, int16_t api_version, bytes_view body, std::function<void(admin_reply)> done) {
    if (!may_decide()) {
        done(admin_reply{error_code::not_controller, not_active_message(), {}, offset(0)});
        return;
    }
    switch (api_key) {
    case protocol::create_topics_request::api_key:
        return run_admin(api_version, body, &controller::create_topics, std::move(done));
    case protocol::delete_topics_request::api_key:
        return run_admin(api_version, body, &controller::delete_topics, std::move(done));
    case protocol::create_partitions_request::api_key:
        return run_admin(api_version, body, &controller::create_partitions, std::move(done));
    case protocol::incremental_alter_configs_request::api_key:
        return run_admin(api_version, body, &controller::incremental_alter_configs, std::move(done));
    case protocol::alter_configs_request::api_key:
        return run_admin(api_version, body, &controller::alter_configs, std::move(done));
    case protocol::elect_leaders_request::api_key:
        return run_admin(api_version, body, &controller::elect_leaders, std::move(done));
    case protocol::alter_partition_reassignments_request::api_key:
        return run_admin(api_version, body, &controller::alter_partition_reassignments, std::move(done));
    case protocol::list_partition_reassignments_request::api_key:
        return run_admin(api_version, body, &controller::list_partition_reassignments, std::move(done));
    case protocol::drain_brokers_request::api_key:
        return run_admin(api_version, body, &controller::drain_brokers, std::move(done));
    case protocol::unregister_broker_request::api_key:
        return run_admin(api_version, body, &controller::unregister_broker, std::move(done));
    case protocol::alter_user_scram_credentials_request::api_key:
        return run_admin(api_version, body, &controller::alter_user_scram_credentials, std::move(done));
    case protocol::create_acls_request::api_key:
        return run_admin(api_version, body, &controller::create_acls, std::move(done));
    case protocol::delete_acls_request::api_key:
        return run_admin(api_version, body, &controller::delete_acls, std::move(done));
    default:
        done(admin_reply{error_code::invalid_request,
                         fmt::format("API key {} is not an admin request the coordinator executes", api_key),
                         {}, _image.next_offset()});
    }
}

template<typename Req, typename Resp>
void controller::run_admin(int16_t version, bytes_view body,
                           void (controller::*fn)(const Req&, int16_t, Resp&, change&),
                           std::function<void(admin_reply)> done) {
    if (version < Req::min_version || version > Req::max_version) {
        done(admin_reply{error_code::unsupported_version,
                         fmt::format("version {} of API {} is not supported", version, Req::api_key), {},
                         _image.next_offset()});
        return;
    }
    Req req;
    protocol::reader r(body);
    req.decode(r, version);
    if (!r.ok()) {
        done(admin_reply{error_code::invalid_request, "malformed admin request body", {}, _image.next_offset()});
        return;
    }
    Resp resp;
    change c(_pending);
    (this->*fn)(req, version, resp, c);
    protocol::writer w;
    resp.encode(w, version);
    bytes encoded = w.take();
    // With nothing to write (errors, validate_only), answered once what it saw is committed.
    commit(c, [encoded = std::move(encoded), done = std::move(done)](result<offset> last) mutable {
        if (!last) {
            done(admin_reply{error_code::not_controller, "metadata log: " + last.error().message(), {}, offset(0)});
            return;
        }
        done(admin_reply{error_code::none, {}, std::move(encoded), *last + 1});
    });
}

void controller::alter_user_scram_credentials(const protocol::alter_user_scram_credentials_request& req, int16_t,
                                              protocol::alter_user_scram_credentials_response& resp, change& c) {
    auto decided = alter_scram_credentials(c.work, req);
    resp = std::move(decided.response);
    for (auto& r : decided.records) {
        c.add(std::move(r));
    }
}

std::vector<int32_t> controller::initial_isr(const metadata_image& image, const std::vector<int32_t>& replicas) const {
    // Every replica on an unfenced broker, as Kafka (all logs are empty), or with
    // followers_replicate off the leader alone. The leader (the first member) is not a broker
    // in controlled shutdown when another can lead.
    std::vector<int32_t> isr;
    for (int32_t b : replicas) {
        const auto* reg = image.broker(b);
        if (reg && !reg->fenced) {
            isr.push_back(b);
        }
    }
    auto leader = std::find_if(isr.begin(), isr.end(), [&](int32_t b) { return eligible(image, b); });
    if (leader != isr.end()) {
        std::rotate(isr.begin(), leader, leader + 1);
    }
    if (!_cfg.followers_replicate && !isr.empty()) {
        isr.erase(isr.begin() + 1, isr.end());
    }
    return isr;
}

void controller::create_topics(const protocol::create_topics_request& req, int16_t, protocol::create_topics_response& resp,
                               change& c) {
    std::map<std::string, int> count;
    for (const auto& t : req.topics) {
        ++count[t.name];
    }
    const auto usable = usable_brokers();
    std::set<std::string> answered;
    for (const auto& t : req.topics) {
        if (!answered.insert(t.name).second) {
            continue;  // a name given twice is answered once (as Kafka)
        }
        auto& res = resp.topics.emplace_back();
        res.name = t.name;
        res.error_message = std::nullopt;
        auto fail = [&](error_code e, std::string msg) {
            res.error_code = code(e);
            res.error_message = std::move(msg);
            res.num_partitions = -1;
            res.replication_factor = -1;
        };
        if (count[t.name] > 1) {
            fail(error_code::invalid_request, "topic '" + t.name + "' appears more than once in the request");
            continue;
        }
        if (auto why = invalid_topic_name(t.name)) {
            fail(error_code::invalid_topic_exception, *why);
            continue;
        }
        if (c.work.topic(t.name)) {
            fail(error_code::topic_already_exists, "Topic '" + t.name + "' already exists.");
            continue;
        }
        if (auto other = colliding_topic(c.work, t.name)) {
            fail(error_code::invalid_topic_exception,
                 "Topic '" + t.name + "' collides with existing topic: " + *other);
            continue;
        }
        std::optional<std::string> config_error;
        for (const auto& kv : t.configs) {
            if (!kv.value) {
                config_error = "config " + kv.name + " has a null value";
            } else if (auto why = validate_topic_config(kv.name, *kv.value)) {
                config_error = why;
            }
            if (config_error) {
                break;
            }
        }
        if (config_error) {
            fail(error_code::invalid_config, *config_error);
            continue;
        }
        std::vector<std::vector<int32_t>> assignment;
        if (!t.assignments.empty()) {
            if (t.num_partitions != -1 || t.replication_factor != -1) {
                fail(error_code::invalid_request,
                     "numPartitions and replicationFactor must be -1 when replica assignments are given");
                continue;
            }
            std::map<int32_t, std::vector<int32_t>> by_index;
            for (const auto& a : t.assignments) {
                by_index[a.partition_index] = a.broker_ids;
            }
            std::optional<std::string> why;
            int32_t expected = 0;
            for (const auto& [index, brokers] : by_index) {
                std::set<int32_t> distinct(brokers.begin(), brokers.end());
                if (index != expected++) {
                    why = "partitions must be numbered 0..n-1";
                } else if (brokers.empty() || distinct.size() != brokers.size()) {
                    why = fmt::format("partition {}: replicas must be non-empty and distinct", index);
                } else if (brokers.size() != by_index.begin()->second.size()) {
                    why = "every partition must have the same number of replicas";
                } else {
                    for (int32_t b : brokers) {
                        if (!c.work.broker(b)) {
                            why = fmt::format("partition {}: broker {} is not registered", index, b);
                        }
                    }
                }
                if (why) {
                    break;
                }
                assignment.push_back(brokers);
            }
            if (why || t.assignments.size() != by_index.size()) {
                fail(error_code::invalid_replica_assignment, why.value_or("a partition is assigned twice"));
                continue;
            }
        } else {
            int32_t partitions = t.num_partitions == -1 ? _cfg.num_partitions : t.num_partitions;
            int16_t rf = t.replication_factor == -1 ? _cfg.default_replication_factor : t.replication_factor;
            if (partitions <= 0) {
                fail(error_code::invalid_partitions, "Number of partitions must be larger than 0.");
                continue;
            }
            if (rf <= 0) {
                fail(error_code::invalid_replication_factor, "Replication factor must be larger than 0.");
                continue;
            }
            if (size_t(rf) > usable.size()) {
                fail(error_code::invalid_replication_factor,
                     fmt::format("Unable to replicate the partition {} time(s): The target replication factor of "
                                 "{} cannot be reached because only {} broker(s) are registered and unfenced.",
                                 rf, rf, usable.size()));
                continue;
            }
            assignment = place(partitions, rf, 0);
        }
        std::vector<std::vector<int32_t>> isrs;
        bool leaderless = false;
        for (const auto& replicas : assignment) {
            isrs.push_back(initial_isr(c.work, replicas));
            leaderless = leaderless || isrs.back().empty();
        }
        if (leaderless) {
            fail(error_code::invalid_replica_assignment, "every replica of a partition is on a fenced broker");
            continue;
        }
        res.num_partitions = int32_t(assignment.size());
        res.replication_factor = int16_t(assignment.front().size());
        if (req.validate_only) {
            continue;
        }
        protocol::uuid id;
        do {
            for (size_t i = 0; i < 16; i += 8) {
                uint64_t v = _rng();
                std::memcpy(id.b.data() + i, &v, 8);
            }
            id.b[6] = uint8_t((id.b[6] & 0x0f) | 0x40);
            id.b[8] = uint8_t((id.b[8] & 0x3f) | 0x80);
        } while (c.work.topic(id));
        topic_record tr;
        tr.name = t.name;
        tr.topic_id = id;
        c.add(std::move(tr));
        for (size_t i = 0; i < assignment.size(); ++i) {
            partition_record pr;
            pr.topic_id = id;
            pr.partition_index = int32_t(i);
            pr.replicas = assignment[i];
            pr.isr = isrs[i];
            pr.leader = isrs[i].front();
            pr.leader_epoch = 0;
            c.add(std::move(pr));
        }
        for (const auto& kv : t.configs) {
            config_record cr;
            cr.resource_type = int8_t(resource_type::topic);
            cr.resource_name = t.name;
            cr.name = kv.name;
            cr.value = kv.value;
            c.add(std::move(cr));
        }
        res.topic_id = id;
        TLOG_INFO("creating topic {} ({} partitions, replication factor {})", t.name, assignment.size(),
                  assignment.front().size());
    }
}

void controller::delete_topics(const protocol::delete_topics_request& req, int16_t version,
                               protocol::delete_topics_response& resp, change& c) {
    struct target {
        std::optional<std::string> name;
        protocol::uuid id;
    };
    std::vector<target> targets;
    if (version >= 6) {
        for (const auto& t : req.topics) {
            targets.push_back({t.name, t.topic_id});
        }
    } else {
        for (const auto& n : req.topic_names) {
            targets.push_back({n, {}});
        }
    }
    // A topic named (or identified) twice is answered once, INVALID_REQUEST, and kept (as Kafka).
    std::map<std::pair<std::optional<std::string>, protocol::uuid>, int> count;
    for (const auto& t : targets) {
        ++count[{t.name, t.id}];
    }
    std::set<std::pair<std::optional<std::string>, protocol::uuid>> answered;
    for (const auto& t : targets) {
        if (!answered.insert({t.name, t.id}).second) {
            continue;
        }
        auto& res = resp.responses.emplace_back();
        res.name = t.name;
        res.topic_id = t.id;
        if (count[{t.name, t.id}] > 1) {
            res.error_code = code(error_code::invalid_request);
            res.error_message = "topic appears more than once in the request";
            continue;
        }
        const topic_state* topic = nullptr;
        if (!t.id.is_zero()) {
            topic = c.work.topic(t.id);
            if (!topic) {
                res.error_code = code(error_code::unknown_topic_id);
                res.error_message = "unknown topic id " + t.id.to_string();
                continue;
            }
        } else {
            topic = t.name ? c.work.topic(*t.name) : nullptr;
            if (!topic) {
                res.error_code = code(error_code::unknown_topic_or_partition);
                res.error_message = "This server does not host this topic-partition.";
                continue;
            }
        }
        res.name = topic->name;
        res.topic_id = topic->id;
        TLOG_INFO("deleting topic {}", topic->name);
        remove_topic_record rr;
        rr.topic_id = topic->id;
        c.add(std::move(rr));
    }
}

void controller::create_partitions(const protocol::create_partitions_request& req, int16_t,
                                   protocol::create_partitions_response& resp, change& c) {
    const auto usable = usable_brokers();
    for (const auto& t : req.topics) {
        auto& res = resp.results.emplace_back();
        res.name = t.name;
        auto fail = [&](error_code e, std::string msg) {
            res.error_code = code(e);
            res.error_message = std::move(msg);
        };
        const topic_state* topic = c.work.topic(t.name);
        if (!topic) {
            fail(error_code::unknown_topic_or_partition, "This server does not host this topic-partition.");
            continue;
        }
        const int32_t current = int32_t(topic->partitions.size());
        if (t.count <= current) {
            fail(error_code::invalid_partitions,
                 fmt::format("Topic currently has {} partitions, which is higher than or equal to the requested {}.",
                             current, t.count));
            continue;
        }
        const int32_t added = t.count - current;
        const size_t rf = topic->partitions.empty() ? 1 : topic->partitions.front().replicas.size();
        std::vector<std::vector<int32_t>> assignment;
        if (t.assignments && !t.assignments->empty()) {
            std::optional<std::string> why;
            if (int32_t(t.assignments->size()) != added) {
                why = fmt::format("{} assignments given for {} new partitions", t.assignments->size(), added);
            }
            for (const auto& a : *t.assignments) {
                std::set<int32_t> distinct(a.broker_ids.begin(), a.broker_ids.end());
                if (why) {
                    break;
                }
                if (a.broker_ids.size() != rf || distinct.size() != rf) {
                    why = fmt::format("each new partition needs {} distinct replicas", rf);
                }
                for (int32_t b : a.broker_ids) {
                    const auto* reg = c.work.broker(b);
                    if (!reg || reg->fenced) {
                        why = fmt::format("broker {} is not registered or is fenced", b);
                    }
                }
                assignment.push_back(a.broker_ids);
            }
            if (why) {
                fail(error_code::invalid_replica_assignment, *why);
                continue;
            }
        } else {
            if (rf > usable.size()) {
                fail(error_code::invalid_replication_factor,
                     fmt::format("The replication factor {} is larger than the {} unfenced broker(s).", rf,
                                 usable.size()));
                continue;
            }
            assignment = place(added, int16_t(rf), current);
        }
        res.error_message = std::nullopt;
        if (req.validate_only) {
            continue;
        }
        auto id = topic->id;
        for (int32_t i = 0; i < added; ++i) {
            partition_record pr;
            pr.topic_id = id;
            pr.partition_index = current + i;
            pr.replicas = assignment[size_t(i)];
            pr.isr = initial_isr(c.work, pr.replicas);
            if (pr.isr.empty()) {
                throw std::logic_error("create_partitions placed a partition on fenced brokers only");
            }
            pr.leader = pr.isr.front();
            c.add(std::move(pr));
        }
        TLOG_INFO("topic {}: {} -> {} partitions", t.name, current, t.count);
    }
}

namespace {

// Checks a resource of an AlterConfigs-like request; returns the error or none.
std::pair<error_code, std::string> check_resource(const metadata_image& image, int8_t type, const std::string& name) {
    if (type == int8_t(resource_type::topic)) {
        if (!image.topic(name)) {
            if (auto why = invalid_topic_name(name)) {
                return {error_code::invalid_topic_exception, *why};
            }
            return {error_code::unknown_topic_or_partition, "unknown topic " + name};
        }
        return {error_code::none, {}};
    }
    if (type == int8_t(resource_type::broker)) {
        if (!name.empty() && !is_node_id(name)) {
            return {error_code::invalid_request, "broker resource name must be empty or a node id, not '" + name + "'"};
        }
        return {error_code::none, {}};
    }
    return {error_code::invalid_request, fmt::format("resource type {} cannot be altered", type)};
}

// Records turning `before` into `after` for one resource.
void config_changes(std::vector<config_record>& out, int8_t type, const std::string& name, const config_map& before,
                    const config_map& after) {
    for (const auto& [k, v] : after) {
        auto it = before.find(k);
        if (it == before.end() || it->second != v) {
            config_record r;
            r.resource_type = type;
            r.resource_name = name;
            r.name = k;
            r.value = v;
            out.push_back(std::move(r));
        }
    }
    for (const auto& [k, v] : before) {
        if (!after.contains(k)) {
            config_record r;
            r.resource_type = type;
            r.resource_name = name;
            r.name = k;
            r.value = std::nullopt;
            out.push_back(std::move(r));
        }
    }
}

// Ends one resource of an AlterConfigs or IncrementalAlterConfigs request: its error, or
// (unless only validating) the records that turn `before` into `after`.
template<typename Result, typename Change>
void finish_resource(Result& out, error_code err, const std::string& msg, bool validate_only, int8_t type,
                     const std::string& name, const config_map& before, const config_map& after, Change& c) {
    if (err != error_code::none) {
        out.error_code = code(err);
        out.error_message = msg;
        return;
    }
    if (validate_only) {
        return;
    }
    std::vector<config_record> records;
    config_changes(records, type, name, before, after);
    for (auto& r : records) {
        c.add(std::move(r));
    }
}

} // namespace

void controller::incremental_alter_configs(const protocol::incremental_alter_configs_request& req, int16_t,
                                           protocol::incremental_alter_configs_response& resp, change& c) {
    for (const auto& res : req.resources) {
        auto& out = resp.responses.emplace_back();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name;
        out.error_message = std::nullopt;
        auto [err, msg] = check_resource(c.work, res.resource_type, res.resource_name);
        const config_map* current = c.work.configs(resource_type(res.resource_type), res.resource_name);
        config_map before = current ? *current : config_map{};
        config_map after = before;
        if (err == error_code::none && has_duplicate_names(res.configs)) {
            err = error_code::invalid_request;
            msg = "Error due to duplicate config keys";
        }
        for (const auto& op : res.configs) {
            if (err != error_code::none) {
                break;
            }
            bool known = res.resource_type == int8_t(resource_type::topic) ? topic_config_keys().contains(op.name)
                                                                           : is_broker_dynamic_config(op.name);
            if (!known) {
                err = error_code::invalid_config;
                msg = "unknown or read-only config " + op.name;
                break;
            }
            switch (op.config_operation) {
            case 0:  // SET
                if (!op.value) {
                    err = error_code::invalid_config;
                    msg = "SET " + op.name + " needs a value";
                } else {
                    after[op.name] = *op.value;
                }
                break;
            case 1:  // DELETE
                after.erase(op.name);
                break;
            case 2:    // APPEND
            case 3: {  // SUBTRACT
                if (op.name != "cleanup.policy" && op.name != "log.cleanup.policy") {
                    err = error_code::invalid_config;
                    msg = op.name + " is not a list config";
                    break;
                }
                // Without an override, the list starts from the key's default, as in Kafka
                // (APPEND compact to a topic without cleanup.policy gives "delete,compact").
                auto items = config::split_list(after.contains(op.name) ? after[op.name] : std::string("delete"));
                for (const auto& v : config::split_list(op.value.value_or(""))) {
                    auto it = std::find(items.begin(), items.end(), v);
                    if (op.config_operation == 2 && it == items.end()) {
                        items.push_back(v);
                    } else if (op.config_operation == 3 && it != items.end()) {
                        items.erase(it);
                    }
                }
                if (items.empty()) {
                    after.erase(op.name);
                } else {
                    after[op.name] = config::join(items, ",");
                }
                break;
            }
            default:
                err = error_code::invalid_request;
                msg = fmt::format("unknown config operation {}", op.config_operation);
            }
        }
        if (err == error_code::none) {
            for (const auto& [k, v] : after) {
                if (auto why = invalid_config(res.resource_type, k, v)) {
                    err = error_code::invalid_config;
                    msg = *why;
                    break;
                }
            }
        }
        finish_resource(out, err, msg, req.validate_only, res.resource_type, res.resource_name, before, after, c);
    }
}

void controller::alter_configs(const protocol::alter_configs_request& req, int16_t,
                               protocol::alter_configs_response& resp, change& c) {
    for (const auto& res : req.resources) {
        auto& out = resp.responses.emplace_back();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name;
        out.error_message = std::nullopt;
        auto [err, msg] = check_resource(c.work, res.resource_type, res.resource_name);
        const config_map* current = c.work.configs(resource_type(res.resource_type), res.resource_name);
        config_map before = current ? *current : config_map{};
        config_map after;
        if (err == error_code::none && has_duplicate_names(res.configs)) {
            err = error_code::invalid_request;
            msg = "Error due to duplicate config keys";
        }
        if (err == error_code::none) {
            for (const auto& kv : res.configs) {
                if (!kv.value) {
                    continue;  // null: back to the default
                }
                if (auto why = invalid_config(res.resource_type, kv.name, *kv.value)) {
                    err = error_code::invalid_config;
                    msg = *why;
                    break;
                }
                after[kv.name] = *kv.value;
            }
        }
        finish_resource(out, err, msg, req.validate_only, res.resource_type, res.resource_name, before, after, c);
    }
}

// ---- ElectLeaders ----------------------------------------------------------------------

std::pair<error_code, std::string> controller::elect(change& c, const topic_state& seen, int32_t index, int8_t type) {
    // The scratch image's current copy: an election earlier in this decision may have changed it.
    const topic_state& t = *c.work.topic(seen.id);
    if (index < 0 || size_t(index) >= t.partitions.size()) {
        return {error_code::unknown_topic_or_partition, "This server does not host this topic-partition."};
    }
    const partition_state p = t.partitions[size_t(index)];
    if (type == 0) {  // PREFERRED
        const int32_t preferred = p.replicas.empty() ? -1 : p.replicas.front();
        if (p.leader == preferred) {
            return {error_code::election_not_needed, "Leader election not needed for topic partition."};
        }
        if (!contains(p.isr, preferred) || !eligible(c.work, preferred)) {
            return {error_code::preferred_leader_not_available,
                    fmt::format("Failed to elect leader for partition {}-{} under strategy PreferredReplicaPartitionLeaderElectionStrategy",
                                t.name, index)};
        }
        TLOG_INFO("preferred leader election: {}-{} leader {} -> {}", t.name, index, p.leader, preferred);
        c.add(next_state(c.work, t.id, index, p, p.isr, preferred));
        return {error_code::none, {}};
    }
    if (type == 1) {  // UNCLEAN
        if (p.leader != -1) {
            return {error_code::election_not_needed, "Leader election not needed for topic partition."};
        }
        auto can_lead = [&](int32_t b) { return eligible(c.work, b); };
        if (auto it = std::find_if(p.isr.begin(), p.isr.end(), can_lead); it != p.isr.end()) {
            c.add(next_state(c.work, t.id, index, p, p.isr, *it));  // an in-sync replica is back: clean
            return {error_code::none, {}};
        }
        if (auto it = std::find_if(p.replicas.begin(), p.replicas.end(), can_lead); it != p.replicas.end()) {
            TLOG_WARN("unclean leader election (ElectLeaders): {}-{} gets leader {}, which is not in sync (ISR was "
                      "{}): records only the old ISR had are lost",
                      t.name, index, *it, p.isr);
            c.add(next_state(c.work, t.id, index, p, {*it}, *it));
            return {error_code::none, {}};
        }
        return {error_code::eligible_leaders_not_available,
                fmt::format("no replica of {}-{} is on a live broker", t.name, index)};
    }
    return {error_code::invalid_request, fmt::format("unknown election type {}", type)};
}

void controller::elect_leaders(const protocol::elect_leaders_request& req, int16_t version,
                               protocol::elect_leaders_response& resp, change& c) {
    const int8_t type = version >= 1 ? req.election_type : 0;
    using result_t = protocol::elect_leaders_response::replica_election_result;
    auto result_of = [&](const std::string& topic) -> result_t& {
        auto it = std::find_if(resp.replica_election_results.begin(), resp.replica_election_results.end(),
                               [&](const result_t& r) { return r.topic == topic; });
        if (it != resp.replica_election_results.end()) {
            return *it;
        }
        auto& r = resp.replica_election_results.emplace_back();
        r.topic = topic;
        return r;
    };
    auto answer = [&](const std::string& topic, int32_t index, error_code e, std::string msg) {
        auto& pr = result_of(topic).partition_result.emplace_back();
        pr.partition_id = index;
        pr.error_code = code(e);
        if (e != error_code::none) {
            pr.error_message = std::move(msg);
        } else {
            pr.error_message = std::nullopt;
        }
    };
    if (!req.topic_partitions) {
        // Every partition; as Kafka, every topic is answered, without the partitions that
        // needed no election.
        std::set<std::string> names;
        for (const auto& [id, t] : c.work.topics()) {
            names.insert(t.name);
        }
        for (const auto& name : names) {
            const topic_state* t = c.work.topic(name);
            result_of(name);
            for (int32_t i = 0; i < int32_t(t->partitions.size()); ++i) {
                auto [e, msg] = elect(c, *t, i, type);
                if (e != error_code::election_not_needed) {
                    answer(t->name, i, e, std::move(msg));
                }
            }
        }
        return;
    }
    for (const auto& tp : *req.topic_partitions) {
        const topic_state* t = c.work.topic(tp.topic);
        for (int32_t i : tp.partitions) {
            if (!t) {
                answer(tp.topic, i, error_code::unknown_topic_or_partition,
                       "This server does not host this topic-partition.");
                continue;
            }
            auto [e, msg] = elect(c, *t, i, type);
            answer(tp.topic, i, e, std::move(msg));
        }
    }
}


// ---- reassignment (KIP-455) -------------------------------------------------------------
//
// A reassignment of a partition from its original replicas O to a target T is one record:
// replicas = T followed by O - T, adding = T - O, removing = O - T, the ISR and leader kept.
// The adding replicas are followers of the leader like any other, fetch, and join the ISR
// through the leader's AlterPartition. The change that puts the last of them in the ISR (or
// any later one, should the leader have to move and have no eligible successor then) ends
// the reassignment in the same record: replicas = T, ISR without the removing replicas, a new
// leader from T when the leader leaves. The partition never has fewer in-sync replicas during
// the move than before it. Brokers stop and delete a replica that leaves the replicas.
// A cancel reverts to O: ISR without the adding replicas, a leader from O if it was one of
// them. The state lives in the partition's records, so a move survives a failover of the
// active controller or a restart of any broker.

partition_change_record controller::next_state(const metadata_image& image, const protocol::uuid& id, int32_t index,
                                               const partition_state& p, std::vector<int32_t> isr,
                                               int32_t leader) const {
    auto pc = change_record(id, index, p, p.replicas, std::move(isr), leader, p.adding, p.removing);
    complete_if_caught_up(image, p, pc);
    return pc;
}

void controller::complete_if_caught_up(const metadata_image& image, const partition_state& p,
                                       partition_change_record& pc) const {
    if (pc.adding_replicas.empty() && pc.removing_replicas.empty()) {
        return;
    }
    if (!std::all_of(pc.adding_replicas.begin(), pc.adding_replicas.end(), [&](int32_t b) { return contains(pc.isr, b); })) {
        return;
    }
    auto target = without_any(pc.replicas, pc.removing_replicas);
    auto isr = without_any(pc.isr, pc.removing_replicas);
    if (isr.empty()) {
        return;
    }
    int32_t leader = pc.leader;
    if (leader != -1 && contains(pc.removing_replicas, leader)) {
        auto it = std::find_if(target.begin(), target.end(), [&](int32_t b) { return contains(isr, b) && eligible(image, b); });
        if (it == target.end()) {
            return;  // the leaving leader stays until a target replica in sync can take over
        }
        leader = *it;
    }
    pc.replicas = std::move(target);
    pc.isr = std::move(isr);
    // The leader epoch grows once per leader change, counted from `p` (not from a leader
    // already changed in this record).
    pc.leader = leader;
    pc.leader_epoch = leader != p.leader ? p.leader_epoch + 1 : p.leader_epoch;
    pc.adding_replicas.clear();
    pc.removing_replicas.clear();
}

std::pair<error_code, std::string> controller::reassign(change& c, const topic_state& seen, int32_t index,
                                                        const std::optional<std::vector<int32_t>>& target) {
    const topic_state& t = *c.work.topic(seen.id);
    if (index < 0 || size_t(index) >= t.partitions.size()) {
        return {error_code::unknown_topic_or_partition, fmt::format("Unable to find partition {}-{}.", t.name, index)};
    }
    const partition_state p = t.partitions[size_t(index)];
    const auto original = p.original_replicas();
    if (!target) {
        if (!p.reassigning()) {
            return {error_code::no_reassignment_in_progress,
                    fmt::format("No ongoing reassignment for partition {}-{}.", t.name, index)};
        }
        auto isr = without_any(p.isr, p.adding);
        if (isr.empty()) {
            return {error_code::invalid_replica_assignment,
                    fmt::format("cannot cancel the reassignment of {}-{}: none of its original replicas {} is in "
                                "sync (ISR {}), reverting would lose records",
                                t.name, index, original, p.isr)};
        }
        int32_t leader = p.leader;
        if (leader == -1 || contains(p.adding, leader)) {
            auto it = std::find_if(original.begin(), original.end(),
                                   [&](int32_t b) { return contains(isr, b) && eligible(c.work, b); });
            leader = it != original.end() ? *it : -1;
        }
        TLOG_INFO("reassignment of {}-{} cancelled: replicas {} -> {}", t.name, index, p.replicas, original);
        c.add(change_record(t.id, index, p, original, std::move(isr), leader, {}, {}));
        return {error_code::none, {}};
    }
    const auto& want = *target;
    if (want.empty()) {
        return {error_code::invalid_replica_assignment,
                fmt::format("the target replica list of {}-{} is empty", t.name, index)};
    }
    if (std::set<int32_t>(want.begin(), want.end()).size() != want.size()) {
        return {error_code::invalid_replica_assignment,
                fmt::format("the target replicas {} of {}-{} name a broker twice", want, t.name, index)};
    }
    for (int32_t b : want) {
        if (!c.work.broker(b)) {
            return {error_code::invalid_replica_assignment,
                    fmt::format("the target replicas {} of {}-{} name broker {}, which is not registered", want,
                                t.name, index, b)};
        }
    }
    auto adding = without_any(want, original);
    auto removing = without_any(original, want);
    for (int32_t b : adding) {
        if (c.work.is_drained(b) && !contains(p.replicas, b)) {
            return {error_code::invalid_replica_assignment,
                    fmt::format("the target replicas {} of {}-{} name broker {}, which is drained: it takes no new "
                                "replicas until it is undrained",
                                want, t.name, index, b)};
        }
    }
    auto replicas = want;
    replicas.insert(replicas.end(), removing.begin(), removing.end());
    // Replicas a replaced reassignment was adding and this one does not want leave the ISR.
    auto isr = without_any(p.isr, without_any(p.replicas, replicas));
    if (isr.empty()) {
        return {error_code::invalid_replica_assignment,
                fmt::format("reassigning {}-{} to {} leaves no in-sync replica (ISR {})", t.name, index, want, p.isr)};
    }
    int32_t leader = p.leader;
    if (leader != -1 && !contains(isr, leader)) {
        auto it = std::find_if(replicas.begin(), replicas.end(),
                               [&](int32_t b) { return contains(isr, b) && eligible(c.work, b); });
        leader = it != replicas.end() ? *it : -1;
    }
    if (replicas == p.replicas && isr == p.isr && leader == p.leader && adding == p.adding && removing == p.removing) {
        return {error_code::none, {}};  // already so: nothing to write
    }
    auto pc = change_record(t.id, index, p, std::move(replicas), std::move(isr), leader, std::move(adding),
                            std::move(removing));
    complete_if_caught_up(c.work, p, pc);
    TLOG_INFO("reassignment of {}-{}: replicas {} -> {} (adding {}, removing {}){}", t.name, index, original, want,
              pc.adding_replicas, pc.removing_replicas,
              pc.adding_replicas.empty() && pc.removing_replicas.empty() ? ", complete at once" : "");
    c.add(std::move(pc));
    return {error_code::none, {}};
}

void controller::alter_partition_reassignments(const protocol::alter_partition_reassignments_request& req, int16_t,
                                               protocol::alter_partition_reassignments_response& resp, change& c) {
    resp.error_message = std::nullopt;
    for (const auto& rt : req.topics) {
        auto& out = resp.responses.emplace_back();
        out.name = rt.name;
        for (const auto& rp : rt.partitions) {
            auto& po = out.partitions.emplace_back();
            po.partition_index = rp.partition_index;
            po.error_message = std::nullopt;
            const topic_state* t = c.work.topic(rt.name);
            auto [e, msg] = t ? reassign(c, *t, rp.partition_index, rp.replicas)
                              : std::pair{error_code::unknown_topic_or_partition,
                                          fmt::format("Unable to find partition {}-{}.", rt.name, rp.partition_index)};
            po.error_code = code(e);
            if (e != error_code::none) {
                TLOG_INFO("reassignment of {}-{} refused ({}): {}", rt.name, rp.partition_index, error_code_name(e), msg);
                po.error_message = std::move(msg);
            }
        }
    }
}

void controller::list_partition_reassignments(const protocol::list_partition_reassignments_request& req, int16_t,
                                              protocol::list_partition_reassignments_response& resp, change& c) {
    resp.error_message = std::nullopt;
    using ongoing_topic = protocol::list_partition_reassignments_response::ongoing_topic_reassignment;
    auto add = [&](const topic_state& t, int32_t index, ongoing_topic*& out) {
        if (index < 0 || size_t(index) >= t.partitions.size()) {
            return;  // as Kafka: partitions that don't exist are not listed
        }
        const auto& p = t.partitions[size_t(index)];
        if (!p.reassigning()) {
            return;
        }
        if (!out) {
            out = &resp.topics.emplace_back();
            out->name = t.name;
        }
        auto& o = out->partitions.emplace_back();
        o.partition_index = index;
        o.replicas = p.replicas;
        o.adding_replicas = p.adding;
        o.removing_replicas = p.removing;
    };
    if (!req.topics) {
        std::map<std::string, const topic_state*> by_name;
        for (const auto& [id, t] : c.work.topics()) {
            by_name[t.name] = &t;
        }
        for (const auto& [name, t] : by_name) {
            ongoing_topic* out = nullptr;
            for (int32_t i = 0; i < int32_t(t->partitions.size()); ++i) {
                add(*t, i, out);
            }
        }
        return;
    }
    for (const auto& rt : *req.topics) {
        const topic_state* t = c.work.topic(rt.name);
        if (!t) {
            continue;
        }
        ongoing_topic* out = nullptr;
        for (int32_t i : rt.partition_indexes) {
            add(*t, i, out);
        }
    }
}

// ---- drain and unregister ----------------------------------------------------------------

protocol::drain_brokers_response::drain_state controller::drain_state_of(const metadata_image& image, int32_t b) const {
    protocol::drain_brokers_response::drain_state st;
    st.broker_id = b;
    st.drained = image.is_drained(b);
    for (const auto& [id, t] : image.topics()) {
        for (const auto& p : t.partitions) {
            st.replicas += contains(p.replicas, b) ? 1 : 0;
            st.leaders += p.leader == b ? 1 : 0;
            st.moves_in_flight += contains(p.removing, b) ? 1 : 0;
        }
    }
    if (auto it = _drain_stuck.find(b); it != _drain_stuck.end() && st.drained) {
        st.stuck = it->second;
    }
    return st;
}

void controller::drain_step(change& c) {
    const auto drained = c.work.drained();
    _drain_stuck.clear();
    if (drained.empty()) {
        return;
    }
    auto is_drained = [&](int32_t b) { return drained.contains(b); };
    auto may_take = [&](int32_t b) { return !is_drained(b) && eligible(c.work, b) && lease_alive(b); };
    std::map<int32_t, size_t> load;  // replicas per broker, planned moves included
    int32_t in_flight = 0;
    struct todo {
        protocol::uuid id;
        int32_t index;
    };
    std::vector<todo> leader_moves, replica_moves;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            for (int32_t b : p.replicas) {
                ++load[b];
            }
            const bool touches = std::any_of(p.replicas.begin(), p.replicas.end(), is_drained);
            if (!touches) {
                continue;
            }
            if (p.leader != -1 && is_drained(p.leader)) {
                leader_moves.push_back({id, int32_t(i)});
            }
            if (p.reassigning()) {
                in_flight += std::any_of(p.removing.begin(), p.removing.end(), is_drained) ? 1 : 0;
            } else {
                replica_moves.push_back({id, int32_t(i)});
            }
        }
    }
    auto stuck = [&](const topic_state& t, int32_t index, int32_t b, const std::string& why) {
        _drain_stuck[b].push_back(fmt::format("{}-{}: {}", t.name, index, why));
    };
    // Leaderships first: cheap, and a partition led elsewhere keeps serving while it moves.
    for (const auto& m : leader_moves) {
        const topic_state& t = *c.work.topic(m.id);
        const partition_state p = t.partitions[size_t(m.index)];
        auto it = std::find_if(p.replicas.begin(), p.replicas.end(),
                               [&](int32_t b) { return contains(p.isr, b) && !is_drained(b) && eligible(c.work, b); });
        if (it != p.replicas.end()) {
            TLOG_INFO("drain: {}-{} leader {} -> {}", t.name, m.index, p.leader, *it);
            c.add(next_state(c.work, m.id, m.index, p, p.isr, *it));
        }
    }
    for (const auto& m : replica_moves) {
        const topic_state& t = *c.work.topic(m.id);
        const partition_state p = t.partitions[size_t(m.index)];
        const int32_t source = *std::find_if(p.replicas.begin(), p.replicas.end(), is_drained);
        if (p.leader == -1) {
            stuck(t, m.index, source, "offline (no leader to copy from)");
            continue;
        }
        if (in_flight >= _cfg.drain_max_moves) {
            continue;  // waits for a slot; not stuck
        }
        std::vector<int32_t> target;
        std::optional<std::string> why;
        for (int32_t r : p.replicas) {
            if (!is_drained(r)) {
                target.push_back(r);
                continue;
            }
            const auto* from = c.work.broker(r);
            const auto rack = from ? from->rack : std::nullopt;
            std::set<std::optional<std::string>> racks_used;
            for (int32_t k : p.replicas) {
                if (!is_drained(k)) {
                    const auto* reg = c.work.broker(k);
                    racks_used.insert(reg ? reg->rack : std::nullopt);
                }
            }
            int32_t best = -1;
            std::tuple<int, int, size_t, int32_t> best_key{};
            for (const auto& [b, reg] : c.work.brokers()) {
                if (!may_take(b) || contains(p.replicas, b) || contains(target, b)) {
                    continue;
                }
                // Lower is better: the leaving replica's rack, then a rack the partition lacks,
                // then the fewest replicas, then the lowest id (deterministic).
                std::tuple<int, int, size_t, int32_t> key{rack && reg.rack == rack ? 0 : 1,
                                                          racks_used.contains(reg.rack) ? 1 : 0, load[b], b};
                if (best == -1 || key < best_key) {
                    best = b;
                    best_key = key;
                }
            }
            if (best == -1) {
                why = "no broker can take its replica (every other broker is drained, fenced, shutting down or "
                      "already holds one)";
                break;
            }
            target.push_back(best);
        }
        if (why) {
            stuck(t, m.index, source, *why);
            continue;
        }
        auto [e, msg] = reassign(c, t, m.index, target);
        if (e != error_code::none) {
            stuck(t, m.index, source, msg);
            continue;
        }
        for (int32_t b : target) {
            if (!contains(p.replicas, b)) {
                ++load[b];
            }
        }
        ++in_flight;
        TLOG_INFO("drain: {}-{} replicas {} -> {}", t.name, m.index, p.replicas, target);
    }
}

void controller::drain_brokers(const protocol::drain_brokers_request& req, int16_t,
                               protocol::drain_brokers_response& resp, change& c) {
    resp.error_message = std::nullopt;
    auto fail = [&](error_code e, std::string msg) {
        TLOG_INFO("DrainBrokers refused ({}): {}", error_code_name(e), msg);
        resp.error_code = code(e);
        resp.error_message = std::move(msg);
    };
    if (req.mode < 0 || req.mode > 2) {
        return fail(error_code::invalid_request, fmt::format("unknown mode {} (0 drain, 1 undrain, 2 describe)", req.mode));
    }
    std::set<int32_t> named(req.broker_ids.begin(), req.broker_ids.end());
    for (int32_t b : named) {
        if (!c.work.broker(b) && !c.work.is_drained(b)) {
            return fail(error_code::broker_id_not_registered, fmt::format("broker {} is not registered", b));
        }
    }
    if (req.mode == 0) {
        // Every partition on the brokers to drain must fit, at its replication factor, on the
        // registered brokers that remain.
        std::set<int32_t> remaining;
        for (const auto& [id, b] : c.work.brokers()) {
            if (!named.contains(id) && !c.work.is_drained(id)) {
                remaining.insert(id);
            }
        }
        for (const auto& [id, t] : c.work.topics()) {
            for (size_t i = 0; i < t.partitions.size(); ++i) {
                const auto& p = t.partitions[i];
                auto target = p.target_replicas();
                if (std::none_of(target.begin(), target.end(), [&](int32_t b) { return named.contains(b); })) {
                    continue;
                }
                if (target.size() > remaining.size()) {
                    return fail(error_code::invalid_request,
                                fmt::format("cannot drain brokers {}: {}-{} has {} replicas and only {} broker(s) "
                                            "would remain ({}); add brokers or lower its replication factor first",
                                            named, t.name, i, target.size(), remaining.size(), remaining));
                }
            }
        }
    }
    if (req.mode != 2) {
        for (int32_t b : named) {
            if (c.work.is_drained(b) != (req.mode == 0)) {
                broker_drain_record d;
                d.broker_id = b;
                d.drained = req.mode == 0;
                c.add(std::move(d));
                TLOG_INFO("broker {} {}", b, req.mode == 0 ? "drained: its replicas and leaderships move away"
                                                          : "undrained: it takes new replicas again");
            }
        }
        if (req.mode == 0) {
            drain_step(c);  // the first moves go with the request
        }
    }
    std::set<int32_t> shown = named;
    shown.insert(c.work.drained().begin(), c.work.drained().end());
    for (int32_t b : shown) {
        resp.brokers.push_back(drain_state_of(c.work, b));
    }
}

void controller::unregister_broker(const protocol::unregister_broker_request& req, int16_t,
                                   protocol::unregister_broker_response& resp, change& c) {
    resp.error_message = std::nullopt;
    auto fail = [&](error_code e, std::string msg) {
        TLOG_INFO("UnregisterBroker {} refused ({}): {}", req.broker_id, error_code_name(e), msg);
        resp.error_code = code(e);
        resp.error_message = std::move(msg);
    };
    const auto* reg = c.work.broker(req.broker_id);
    if (!reg) {
        return fail(error_code::broker_id_not_registered, fmt::format("broker {} is not registered", req.broker_id));
    }
    std::vector<std::string> held, only_copy;
    for (const auto& [id, t] : c.work.topics()) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            if (!contains(p.replicas, req.broker_id)) {
                continue;
            }
            held.push_back(fmt::format("{}-{}", t.name, i));
            if (p.replicas.size() == 1 || p.isr == std::vector<int32_t>{req.broker_id}) {
                only_copy.push_back(held.back());
            }
        }
    }
    if (!held.empty()) {
        auto first = [](const std::vector<std::string>& v) {
            return fmt::format("{}{}", fmt::join(v.begin(), v.begin() + std::min<ptrdiff_t>(ptrdiff_t(v.size()), 5), ", "),
                               v.size() > 5 ? ", ..." : "");
        };
        return fail(error_code::invalid_request,
                    only_copy.empty()
                        ? fmt::format("broker {} still holds replicas of {} partition(s) ({}): drain it first",
                                      req.broker_id, held.size(), first(held))
                        : fmt::format("broker {} holds the only copy of {} partition(s) ({}) and replicas of {} in "
                                      "all: unregistering it would lose their records; drain it first",
                                      req.broker_id, only_copy.size(), first(only_copy), held.size()));
    }
    if (!reg->fenced && lease_alive(req.broker_id)) {
        return fail(error_code::invalid_request,
                    fmt::format("broker {} is running (unfenced, heartbeating): stop it first", req.broker_id));
    }
    unregister_broker_record u;
    u.broker_id = req.broker_id;
    c.add(std::move(u));
    _lease_deadline.erase(req.broker_id);
    TLOG_INFO("broker {} unregistered{}", req.broker_id,
              c.work.is_drained(req.broker_id) ? " (still drained: its id takes no replicas until undrained)" : "");
}

// ---- ACLs ------------------------------------------------------------------------------

void controller::create_acls(const protocol::create_acls_request& req, int16_t, protocol::create_acls_response& resp,
                             change& c) {
    for (const auto& a : req.creations) {
        auto& out = resp.results.emplace_back();
        out.error_message = std::nullopt;
        security::acl_binding b{security::acl_resource(a.resource_type), a.resource_name,
                                security::acl_pattern(a.resource_pattern_type), a.principal, a.host,
                                security::acl_operation(a.operation), security::acl_permission(a.permission_type)};
        if (auto why = security::invalid_binding(b)) {
            out.error_code = int16_t(error_code::invalid_request);
            out.error_message = *why;
            continue;
        }
        if (!c.work.acls().contains(b)) {  // an existing binding is a success without a record
            c.add(record_of<acl_record>(b));
        }
    }
}

void controller::delete_acls(const protocol::delete_acls_request& req, int16_t, protocol::delete_acls_response& resp,
                             change& c) {
    for (const auto& f : req.filters) {
        auto& out = resp.filter_results.emplace_back();
        out.error_message = std::nullopt;
        security::acl_filter filter{security::acl_resource(f.resource_type_filter), f.resource_name_filter,
                                    security::acl_pattern(f.pattern_type_filter),   f.principal_filter,
                                    f.host_filter,                                  security::acl_operation(f.operation),
                                    security::acl_permission(f.permission_type)};
        if (auto why = security::invalid_filter(filter)) {
            out.error_code = int16_t(error_code::invalid_request);
            out.error_message = *why;
            continue;
        }
        // A binding two filters match is removed (and answered) by the first.
        std::vector<security::acl_binding> matched;
        for (const auto& b : c.work.acls()) {
            if (filter.matches(b)) {
                matched.push_back(b);
            }
        }
        using matching_acl = std::decay_t<decltype(out.matching_acls)>::value_type;  // same fields as the record
        for (const auto& b : matched) {
            out.matching_acls.push_back(record_of<matching_acl>(b));
            out.matching_acls.back().error_message = std::nullopt;
            c.add(record_of<remove_acl_record>(b));
        }
    }
}

} // namespace trib::coordinator
