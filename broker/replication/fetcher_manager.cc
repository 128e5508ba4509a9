#include "broker/replication/fetcher_manager.h"

#include "common/log.h"

#include <algorithm>
#include <set>

namespace trib::broker {

fetcher_manager::fetcher_manager(io_pool& pool, partition_manager& partitions, const broker_config& cfg,
                                 replication_quotas& quotas)
  : _pool(pool), _partitions(partitions), _cfg(cfg), _quotas(quotas) {}

std::optional<config::host_port> fetcher_manager::address_of(const cluster_snapshot& s, int32_t broker) const {
    auto it = s.brokers.find(broker);
    if (it == s.brokers.end() || it->second.endpoints.empty()) {
        return std::nullopt;
    }
    for (const auto& e : it->second.endpoints) {
        if (e.listener == _cfg.inter_broker_listener) {
            return config::host_port{e.host, e.port};
        }
    }
    const auto& e = it->second.endpoints.front();  // a broker with other listener names
    return config::host_port{e.host, e.port};
}

void fetcher_manager::update(const std::vector<partition_change>& changes, const cluster_snapshot& s) {
    if (_stopped) {
        return;
    }
    // Sources whose address may have changed, or that may now have one.
    std::set<int32_t> sources;
    for (const auto& [tp, f] : _following) {
        sources.insert(f.source);
    }
    std::vector<std::pair<const partition_change*, int32_t>> follows;
    for (const auto& c : changes) {
        int32_t leader = c.state ? c.state->leader.value() : -1;
        bool follows_someone = c.state && leader >= 0 && leader != _cfg.node_id;
        auto it = _following.find(c.tp);
        if (it != _following.end() && (!follows_someone || it->second.source != leader)) {
            if (auto f = _fetchers.find(it->second.source); f != _fetchers.end()) {
                f->second.fetcher->unfollow(c.tp);
            }
            _following.erase(it);
        }
        if (follows_someone) {
            const auto& isr = c.state->isr;
            bool in_isr = std::find(isr.begin(), isr.end(), _cfg.node_id) != isr.end();
            _following[c.tp] = followed{leader, follower_throttle{c.follower_throttled, in_isr}};
            follows.emplace_back(&c, leader);
            sources.insert(leader);
        }
    }
    for (int32_t b : sources) {
        auto addr = address_of(s, b);
        auto f = _fetchers.find(b);
        if (f == _fetchers.end()) {
            if (!addr) {
                continue;  // not registered yet: made when its address is known
            }
            auto fetcher = std::make_shared<replica_fetcher>(_pool.executor(size_t(b) % _pool.size()), _partitions,
                                                             _cfg, _quotas, node_id(b), *addr);
            fetcher->start();
            f = _fetchers.emplace(b, source{std::move(fetcher), *addr}).first;
            // Partitions that waited for this broker's address.
            for (const auto& [tp, fl] : _following) {
                if (fl.source == b) {
                    const auto* p = s.partition(tp.topic, tp.partition);
                    if (p) {
                        f->second.fetcher->follow(tp, p->epoch, fl.throttle);
                    }
                }
            }
        } else if (addr && (addr->host != f->second.target.host || addr->port != f->second.target.port)) {
            f->second.target = *addr;
            f->second.fetcher->retarget(*addr);
        }
    }
    for (const auto& [c, b] : follows) {
        if (auto f = _fetchers.find(b); f != _fetchers.end()) {
            f->second.fetcher->follow(c->tp, c->state->epoch, _following[c->tp].throttle);
        }
    }
}

void fetcher_manager::stop() {
    _stopped = true;
    std::vector<std::future<void>> done;
    for (auto& [b, f] : _fetchers) {
        done.push_back(f.fetcher->stop());
    }
    for (auto& d : done) {
        d.wait();
    }
    _fetchers.clear();
}

} // namespace trib::broker
