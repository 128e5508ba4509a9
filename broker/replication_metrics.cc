#include "broker/replication_metrics.h"

#include <algorithm>

namespace trib::broker {

replica_health assess(replica_role role, size_t replicas, size_t isr, int32_t min_isr) {
    replica_health h;
    h.offline = role == replica_role::none;
    h.leader = role == replica_role::leader;
    if (h.leader) {
        h.under_replicated = isr < replicas;
        h.under_min_isr = int64_t(isr) < int64_t(min_isr);
        h.at_min_isr = int64_t(isr) == int64_t(min_isr);
    }
    return h;
}

isr_diff compare_isr(const std::vector<int32_t>& before, const std::vector<int32_t>& after) {
    auto in = [](const std::vector<int32_t>& v, int32_t b) { return std::find(v.begin(), v.end(), b) != v.end(); };
    isr_diff c;
    c.shrank = std::any_of(before.begin(), before.end(), [&](int32_t b) { return !in(after, b); });
    c.expanded = std::any_of(after.begin(), after.end(), [&](int32_t b) { return !in(before, b); });
    return c;
}

namespace {
struct described {
    const char* name;
    const char* help;
};
// In the order of replication_metrics::total.
constexpr std::array<described, 7> total_metrics{{
    {"kafka_server_replicamanager_partitioncount", "Partition replicas hosted here"},
    {"kafka_server_replicamanager_leadercount", "Partitions led here"},
    {"kafka_server_replicamanager_underreplicatedpartitions",
     "Partitions led here whose ISR is smaller than their replica set"},
    {"kafka_server_replicamanager_underminisrpartitioncount",
     "Partitions led here whose ISR is smaller than min.insync.replicas"},
    {"kafka_server_replicamanager_atminisrpartitioncount",
     "Partitions led here whose ISR is exactly min.insync.replicas"},
    {"kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions hosted here that have no leader"},
    {"kafka_server_replicafetchermanager_maxlag",
     "Largest replica lag (offsets) of any follower of a partition led here"},
}};
// In the order of replication_metrics::per_replica.
constexpr std::array<described, 5> replica_metrics{{
    {"kafka_cluster_partition_underreplicated", "1 when led here and the ISR is smaller than the replica set"},
    {"kafka_cluster_partition_underminisr", "1 when led here and the ISR is smaller than min.insync.replicas"},
    {"kafka_cluster_partition_atminisr", "1 when led here and the ISR is exactly min.insync.replicas"},
    {"kafka_cluster_partition_insyncreplicascount", "ISR size when led here, else 0"},
    {"kafka_cluster_partition_replicascount", "Replica count when led here, else 0"},
}};

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& r, const described& d) {
    return prometheus::BuildGauge().Name(d.name).Help(d.help).Register(r);
}
prometheus::Counter& counter(prometheus::Registry& r, const described& d) {
    return prometheus::BuildCounter().Name(d.name).Help(d.help).Register(r).Add({});
}
} // namespace

replication_metrics::replication_metrics(prometheus::Registry& r) {
    static_assert(total_metrics.size() == n_totals && replica_metrics.size() == n_per_replica);
    for (size_t i = 0; i < n_totals; ++i) {
        // Kafka's MaxLag bean is named by its fetcher manager's client id, "Replica".
        _totals[i] = &gauge(r, total_metrics[i]).Add(i == max_lag ? prometheus::Labels{{"clientId", "Replica"}}
                                                                  : prometheus::Labels{});
    }
    for (size_t i = 0; i < n_per_replica; ++i) {
        _per_replica[i] = &gauge(r, replica_metrics[i]);
    }
    _lag = &gauge(r, {"tributary_partition_replica_lag_offsets",
                      "Leader only: its log end minus the offset a follower's last fetch started at"});
    _shrinks = &counter(r, {"kafka_server_replicamanager_isrshrinks_total",
                            "ISR changes this broker asked for as leader that removed members"});
    _expands = &counter(r, {"kafka_server_replicamanager_isrexpands_total",
                            "ISR changes this broker asked for as leader that added members"});
}

void replication_metrics::attach(size_t cores) {
    _cores.clear();
    for (size_t i = 0; i < cores; ++i) {
        _cores.push_back(std::make_unique<core_state>());
    }
}

void replication_metrics::refresh(size_t core, shard& replicas) {
    if (core >= _cores.size()) {
        return;
    }
    auto& st = *_cores[core];
    ++st.pass;
    std::array<int64_t, n_totals> t{};
    for (auto& [tp, p] : replicas) {
        auto& s = series_of(st, tp);
        s.pass = st.pass;
        auto h = assess(p->role(), p->replicas().size(), p->isr().size(), p->min_insync_replicas());
        ++t[partitions];
        t[leaders] += h.leader;
        t[under_replicated] += h.under_replicated;
        t[under_min_isr] += h.under_min_isr;
        t[at_min_isr] += h.at_min_isr;
        t[offline] += h.offline;
        s.gauges[r_under_replicated]->Set(h.under_replicated);
        s.gauges[r_under_min_isr]->Set(h.under_min_isr);
        s.gauges[r_at_min_isr]->Set(h.at_min_isr);
        s.gauges[r_isr]->Set(h.leader ? double(p->isr().size()) : 0);
        s.gauges[r_replicas]->Set(h.leader ? double(p->replicas().size()) : 0);
        update_lag(s, tp, *p, t[max_lag]);
        auto changes = p->take_isr_changes();
        if (changes.shrinks > 0) {
            _shrinks->Increment(changes.shrinks);
        }
        if (changes.expands > 0) {
            _expands->Increment(changes.expands);
        }
    }
    for (auto it = st.series.begin(); it != st.series.end();) {
        if (it->second.pass != st.pass) {
            remove(it->second);  // the replica went away since the last pass
            it = st.series.erase(it);
        } else {
            ++it;
        }
    }
    for (size_t i = 0; i < n_totals; ++i) {
        st.totals[i].store(t[i], std::memory_order_relaxed);
    }
    publish();
}

replication_metrics::replica_series& replication_metrics::series_of(core_state& st, const topic_partition& tp) {
    auto it = st.series.find(tp);
    if (it != st.series.end()) {
        return it->second;
    }
    prometheus::Labels labels{{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}};
    replica_series s;
    for (size_t i = 0; i < n_per_replica; ++i) {
        s.gauges[i] = &_per_replica[i]->Add(labels);
    }
    return st.series.emplace(tp, std::move(s)).first->second;
}

void replication_metrics::update_lag(replica_series& s, const topic_partition& tp, partition& p, int64_t& max_lag) {
    // A follower's series lives while this broker leads and knows where the follower is
    // (its first fetch of this leader's term); a lag unknown is left out rather than guessed.
    size_t kept = 0;
    if (p.is_leader()) {
        offset end = p.log_end();
        for (int32_t b : p.replicas()) {
            offset at = b == p.leader().value() ? offset(-1) : p.follower_end(node_id(b));
            if (at < offset(0)) {
                continue;
            }
            int64_t lag = std::max<int64_t>(0, end - at);
            max_lag = std::max(max_lag, lag);
            auto it = std::find_if(s.lag.begin(), s.lag.end(), [&](const auto& e) { return e.first == b; });
            if (it == s.lag.end()) {
                s.lag.emplace_back(b, &_lag->Add({{"topic", tp.topic},
                                                  {"partition", std::to_string(tp.partition)},
                                                  {"replica", std::to_string(b)}}));
                it = s.lag.end() - 1;
            }
            it->second->Set(double(lag));
            std::iter_swap(it, s.lag.begin() + ptrdiff_t(kept));  // seen ones first
            ++kept;
        }
    }
    for (size_t i = kept; i < s.lag.size(); ++i) {
        _lag->Remove(s.lag[i].second);
    }
    s.lag.resize(kept);
}

void replication_metrics::remove(replica_series& s) {
    for (size_t i = 0; i < n_per_replica; ++i) {
        _per_replica[i]->Remove(s.gauges[i]);
    }
    for (auto& [b, g] : s.lag) {
        _lag->Remove(g);
    }
    s.lag.clear();
}

void replication_metrics::publish() {
    // Each core stores its own totals; whichever core finishes last publishes the complete
    // sums (one that finishes earlier may publish another core's figures from a second ago).
    for (size_t i = 0; i < n_totals; ++i) {
        int64_t v = 0;
        for (const auto& c : _cores) {
            int64_t x = c->totals[i].load(std::memory_order_relaxed);
            v = i == max_lag ? std::max(v, x) : v + x;
        }
        _totals[i]->Set(double(v));
    }
}

} // namespace trib::broker
