#include "broker/partition_manager.h"

#include "common/log.h"

#include <boost/asio/post.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <set>

namespace trib::broker {

partition_manager::partition_manager(io_pool& pool, std::filesystem::path data_dir, node_id self,
                                     broker_metrics& metrics)
  : _pool(pool), _data_dir(std::move(data_dir)), _self(self), _metrics(metrics), _shards(pool.size()) {}

size_t partition_manager::owner(const topic_partition& tp) const noexcept {
    return (std::hash<std::string>{}(tp.topic) * 31 + size_t(tp.partition)) % _shards.size();
}

partition* partition_manager::find(size_t core, const topic_partition& tp) {
    auto& shard = _shards[core];
    auto it = shard.find(tp);
    return it == shard.end() ? nullptr : it->second.get();
}

std::filesystem::path partition_manager::dir_of(const topic_partition& tp) const {
    return _data_dir / (tp.topic + "-" + std::to_string(tp.partition));
}

namespace {
// Runs fn(core) on every core and waits for all of them. Used off the io threads (start-up,
// metadata changes from the authority's thread), never from a coroutine.
void on_every_core(io_pool& pool, const std::function<void(size_t)>& fn) {
    std::vector<std::future<void>> done;
    for (size_t core = 0; core < pool.size(); ++core) {
        auto p = std::make_shared<std::promise<void>>();
        done.push_back(p->get_future());
        asio::post(pool.executor(core), [p, core, &fn] {
            try {
                fn(core);
                p->set_value();
            } catch (...) {
                p->set_exception(std::current_exception());
            }
        });
    }
    for (auto& f : done) {
        f.get();
    }
}
} // namespace

void partition_manager::apply(const std::vector<partition_change>& changes,
                              const std::function<void(size_t)>& after) {
    std::filesystem::create_directories(_data_dir);
    std::call_once(_marks_once, [this] { _marks = std::make_unique<storage::written_marks>(_data_dir); });
    std::vector<std::vector<const partition_change*>> by_core(_shards.size());
    for (const auto& c : changes) {
        by_core[owner(c.tp)].push_back(&c);
    }
    auto started = std::chrono::steady_clock::now();
    std::vector<open_summary> opened(_shards.size());
    on_every_core(_pool, [&](size_t core) {
        for (const auto* c : by_core[core]) {
            apply_one(core, *c, opened[core]);
        }
        after(core);
    });
    open_summary all;
    for (const auto& o : opened) {
        all.logs += o.logs;
        all.unclean += o.unclean;
        all.segments_scanned += o.segments_scanned;
        all.bytes_scanned += o.bytes_scanned;
        all.bytes_trusted += o.bytes_trusted;
    }
    if (all.logs > 0) {
        // At start-up this is the time to open every log (restart time, bench/restart_bench.py).
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        // Of what recovery walked after an unclean shutdown, "trusted" is what written marks
        // vouched for (headers checked), "CRC-checked" the rest.
        TLOG_INFO("opened {} partition log(s) in {} ms; {} after an unclean shutdown ({} segment(s) scanned: {} MB "
                  "trusted by written marks, {} MB CRC-checked)",
                  all.logs, ms.count(), all.unclean, all.segments_scanned, all.bytes_trusted / 1000000,
                  all.bytes_scanned / 1000000);
    }
}

void partition_manager::apply_one(size_t core, const partition_change& c, open_summary& opened) {
    auto& shard = _shards[core];
    auto it = shard.find(c.tp);
    if (it != shard.end() && (!c.state || it->second->topic_id() != c.topic_id)) {
        drop(core, it);  // gone, or the topic was deleted and created again meanwhile
        it = shard.end();
    }
    if (!c.state) {
        return;
    }
    if (it == shard.end()) {
        if (!c.config) {
            TLOG_ERROR("{}-{}: a new replica without its config: not opened", c.tp.topic, c.tp.partition);
            return;
        }
        auto part = open_partition(c.tp, c.topic_id, *c.config);
        if (!part) {
            return;
        }
        const auto& how = part->log().opened_with();
        ++opened.logs;
        opened.unclean += how.clean ? 0 : 1;
        opened.segments_scanned += how.segments_scanned;
        opened.bytes_scanned += how.bytes_scanned;
        opened.bytes_trusted += how.bytes_trusted;
        it = shard.emplace(c.tp, std::move(part)).first;
    } else if (c.config) {
        it->second->log().update_config(*c.config);
    }
    if (c.config) {
        it->second->set_min_insync_replicas(c.min_insync_replicas);
        it->second->set_leader_throttled(c.leader_throttled);
    }
    it->second->apply(*c.state);
    if (_on_role) {
        _on_role(c.tp, it->second.get());
    }
}

void partition_manager::drop(size_t core, std::map<topic_partition, std::unique_ptr<partition>>::iterator it) {
    auto dir = dir_of(it->first);
    if (_on_role) {
        _on_role(it->first, nullptr);
    }
    _metrics.forget_partition(it->first.topic, it->first.partition);
    it->second->stop();
    it->second->log().close();
    _shards[core].erase(it);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    TLOG_INFO("deleted partition log {}", dir.string());
}

size_t partition_manager::remove_strays(const cluster_snapshot& snapshot) {
    size_t removed = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(_data_dir, ec)) {
        auto marker = entry.path() / "partition.metadata";
        if (!entry.is_directory() || !std::filesystem::exists(marker)) {
            continue;  // not a partition log (the embedded coordinator's log has no marker)
        }
        std::string name = entry.path().filename().string();
        auto dash = name.rfind('-');
        std::string have;
        if (std::ifstream in(marker); in) {
            have.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        bool keep = false;
        if (dash != std::string::npos) {
            std::string topic = name.substr(0, dash);
            int32_t index = -1;
            try {
                index = std::stoi(name.substr(dash + 1));
            } catch (const std::exception&) {
            }
            const auto* t = snapshot.topic(topic);
            const auto* p = snapshot.partition(topic, index);
            keep = t && p && have == "topic_id: " + t->id.to_string() + "\n" &&
                   p->has_replica(_self.value());
        }
        if (!keep) {
            TLOG_INFO("removing {}: its topic was deleted or moved while this broker was away",
                      entry.path().string());
            std::filesystem::remove_all(entry.path(), ec);
            ++removed;
        }
    }
    return removed;
}

std::unique_ptr<partition> partition_manager::open_partition(const topic_partition& tp, const protocol::uuid& id,
                                                             const storage::log_config& cfg) {
    auto dir = dir_of(tp);
    auto marker = dir / "partition.metadata";
    std::string want = "topic_id: " + id.to_string() + "\n";
    if (std::ifstream in(marker); in) {
        std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (have != want) {
            TLOG_INFO("{} holds an earlier topic of the same name ({}): removing it", dir.string(), have);
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    }
    auto log = storage::log::open(dir, cfg, storage::system_clock(), nullptr, _marks.get());
    if (!log) {
        TLOG_ERROR("cannot open log of {}-{}: {}", tp.topic, tp.partition, log.error().message());
        return nullptr;
    }
    if (!std::filesystem::exists(marker)) {
        // Written after the log directory exists; a crash before it leaves a log without a
        // marker, which the next open adopts (it can only be this topic's: the marker of an
        // earlier topic would still be there).
        std::ofstream(marker) << want;
    }
    auto part = std::make_unique<partition>(tp, id, std::move(*log), _self);
    part->rebuild_producer_state();
    return part;
}

asio::awaitable<std::vector<isr_change>> partition_manager::collect_isr_changes(int64_t lag_max_ms) {
    std::vector<isr_change> out;
    int64_t now = partition::clock_ms();
    for (size_t core = 0; core < _shards.size(); ++core) {
        auto mine = co_await run_on(_pool.executor(core), [this, core, now, lag_max_ms] {
            std::vector<isr_change> found;
            for (auto& [tp, p] : _shards[core]) {
                if (auto isr = p->wanted_isr(now, lag_max_ms)) {
                    p->set_pending_isr(*isr);
                    found.push_back({tp, p->topic_id(), p->epoch(), p->partition_epoch(), std::move(*isr)});
                }
            }
            return found;
        });
        for (auto& c : mine) {
            out.push_back(std::move(c));
        }
    }
    co_return out;
}

asio::awaitable<void> partition_manager::forget_isr_changes(const std::vector<isr_change>& changes) {
    for (size_t core = 0; core < _shards.size(); ++core) {
        co_await run_on(_pool.executor(core), [this, core, &changes] {
            for (const auto& c : changes) {
                if (owner(c.tp) != core) {
                    continue;
                }
                if (partition* p = find(core, c.tp); p && p->pending_isr() && p->epoch() == c.epoch) {
                    p->isr_change_refused(partition::clock_ms() + 1000);
                }
            }
            return true;
        });
    }
}

void partition_manager::run_retention() {
    on_every_core(_pool, [&](size_t core) {
        for (auto& [tp, p] : _shards[core]) {
            auto r = p->log().apply_retention();
            if (!r) {
                TLOG_WARN("retention on {}-{}: {}", tp.topic, tp.partition, r.error().message());
            } else if (*r > 0) {
                if (auto s = p->producers().retain(p->log()); !s) {
                    TLOG_WARN("producer snapshots of {}-{}: {}", tp.topic, tp.partition, s.error().message());
                }
            }
        }
    });
}

partition_manager::cleaning_report partition_manager::clean_one(const storage::record_codec& codec,
                                                                 uint64_t dedupe_buffer_bytes,
                                                                 const std::atomic<bool>& stop) {
    struct candidate {
        topic_partition tp;
        storage::cleaning_task task;
        double ratio = 0;
    };
    // The dirtiest due log of each core, then of all (Kafka's choice: the highest dirty ratio).
    std::vector<std::optional<candidate>> best(_shards.size());
    std::vector<double> max_ratio(_shards.size(), 0.0);
    on_every_core(_pool, [&](size_t core) {
        for (auto& [tp, p] : _shards[core]) {
            if (!p->log().config().compact) {
                continue;
            }
            const auto ratio = p->log().dirty_ratio(p->high_watermark());
            if (!ratio) {
                continue;
            }
            max_ratio[core] = std::max(max_ratio[core], *ratio);
            if (best[core] && best[core]->ratio >= *ratio) {
                continue;
            }
            if (auto task = p->log().prepare_cleaning(p->high_watermark())) {
                best[core] = candidate{tp, std::move(*task), *ratio};
            }
        }
    });
    cleaning_report report;
    std::optional<candidate> chosen;
    for (size_t core = 0; core < best.size(); ++core) {
        report.max_dirty_ratio = std::max(report.max_dirty_ratio, max_ratio[core]);
        if (best[core] && (!chosen || best[core]->ratio > chosen->ratio)) {
            chosen = std::move(best[core]);
        }
    }
    if (!chosen) {
        return report;
    }
    const auto started = std::chrono::steady_clock::now();
    auto r = storage::clean(chosen->task, &codec, dedupe_buffer_bytes, &stop);
    if (!r) {
        if (!stop) {
            TLOG_WARN("cleaning {}-{}: {}", chosen->tp.topic, chosen->tp.partition, r.error().message());
        }
        for (const auto& in : chosen->task.segments) {
            (void)storage::remove_file(storage::cleaned_path(chosen->task.dir, in.base));
        }
        return report;
    }
    const size_t core = owner(chosen->tp);
    bool installed = false;
    on_every_core(_pool, [&](size_t c) {
        if (c != core) {
            return;
        }
        partition* p = find(core, chosen->tp);
        if (!p) {  // gone meanwhile: so is its directory, or it will be
            for (const auto& s : r->segments) {
                (void)storage::remove_file(storage::cleaned_path(r->dir, s.base));
            }
            return;
        }
        auto done = p->log().install_cleaned(*r);
        if (!done) {
            TLOG_WARN("installing the cleaned segments of {}-{}: {}", chosen->tp.topic, chosen->tp.partition,
                      done.error().message());
        }
        installed = done && *done;
    });
    if (installed) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        TLOG_INFO("cleaned {}-{} up to offset {}: {} segment(s), {} record(s) removed, {} of {} bytes kept, {:.3f} s",
                  chosen->tp.topic, chosen->tp.partition, r->cleaned_to.value(), r->segments.size(),
                  r->records_removed, r->bytes_written, r->bytes_read, seconds);
        report.pass = cleaned{chosen->tp, std::move(*r), seconds};
    }
    return report;
}

void partition_manager::periodic() {
    on_every_core(_pool, [&](size_t core) {
        for (auto& [tp, p] : _shards[core]) {
            _metrics.log_size(tp.topic, tp.partition, p->log().size_bytes());
            auto r = p->log().maybe_flush();
            if (!r) {
                TLOG_WARN("flush of {}-{}: {}", tp.topic, tp.partition, r.error().message());
            }
        }
        _metrics.replication().refresh(core, _shards[core]);
    });
}

void partition_manager::close_all() {
    on_every_core(_pool, [&](size_t core) {
        for (auto& [tp, p] : _shards[core]) {
            if (_on_role) {
                _on_role(tp, nullptr);
            }
            p->stop();
            (void)p->producers().write_snapshot(p->log());  // failures are logged; it saves a walk
            p->log().close();
        }
        _shards[core].clear();
    });
}

} // namespace trib::broker
