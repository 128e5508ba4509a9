#include "broker/partition_manager.h"

#include "broker/log_dirs.h"
#include "common/fatal.h"
#include "common/log.h"
#include "storage/errc.h"
#include "storage/file.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <future>
#include <set>

#include <endian.h>
#include <fcntl.h>
#include <unistd.h>

namespace trib::broker {

namespace {
// fsync of a directory, so a rename in it is durable.
void sync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

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

partition_manager::partition_manager(io_pool& pool, std::vector<std::filesystem::path> log_dirs, node_id self,
                                     broker_metrics& metrics)
  : _pool(pool), _dirs(std::move(log_dirs)), _self(self), _metrics(metrics), _shards(pool.size()) {
    if (_dirs.empty()) {
        throw std::invalid_argument("partition_manager: no log directory");
    }
    _disk.start();
}

size_t partition_manager::owner(const topic_partition& tp) const noexcept {
    return (std::hash<std::string>{}(tp.topic) * 31 + size_t(tp.partition)) % _shards.size();
}

partition* partition_manager::find(size_t core, const topic_partition& tp) {
    auto& shard = _shards[core];
    auto it = shard.find(tp);
    return it == shard.end() ? nullptr : it->second.get();
}

void partition_manager::open_dirs() {
    std::call_once(_dirs_once, [this] {
        std::vector<std::string> names;
        std::vector<std::vector<std::string>> listing(_dirs.size());
        for (size_t d = 0; d < _dirs.size(); ++d) {
            names.push_back(_dirs[d].string());
            std::filesystem::create_directories(_dirs[d]);
            for (const auto& entry : std::filesystem::directory_iterator(_dirs[d])) {
                std::string name = entry.path().filename().string();
                if (!entry.is_directory()) {
                    continue;
                }
                if (name.ends_with("-delete") &&
                    parse_partition_dir(name.substr(0, name.size() - 7) + "-future")) {
                    // The old copy of a replica whose move swapped (AlterReplicaLogDirs), or
                    // of a future copy that was discarded: nothing refers to it any more.
                    // Its removal (a whole replica's log, maybe) goes on off the start-up path.
                    TLOG_INFO("removing {}: a replica deleted or moved before the last stop", entry.path().string());
                    _reaper.remove(entry.path());
                    continue;
                }
                listing[d].push_back(std::move(name));
            }
        }
        auto found = scan_log_dirs(names, listing);
        if (found.conflict) {
            throw std::runtime_error(*found.conflict);
        }
        for (const auto& [tp, where] : found.future) {
            auto path = _dirs[where.first] / where.second;
            if (found.current.contains(tp)) {
                // The move had not swapped: the replica in its old directory is the one in
                // use, and the move goes on from the copy's end once it opens (resume_move),
                // as Kafka resumes a future log; unless the copy's directory is unusable now.
                if (!dir_usable(where.first)) {
                    TLOG_WARN("{}: discarding the unfinished move to {}: the directory is not usable",
                              partition_dir(tp), _dirs[where.first].string());
                    discard(path, tp);
                    continue;
                }
                std::lock_guard lock(_placement_mu);
                _resume.emplace(tp, where);
                _moving[tp] = where.first;
                continue;
            }
            // The swap renamed the old log away and stopped before renaming this one: the
            // future copy was complete (both logs closed) and is the replica now.
            auto to = _dirs[where.first] / partition_dir(tp);
            TLOG_INFO("{}: completing the move to {} that a stop interrupted", partition_dir(tp),
                      _dirs[where.first].string());
            std::filesystem::rename(path, to);
            sync_dir(_dirs[where.first]);
            found.current.emplace(tp, where.first);
        }
        for (const auto& dir : _dirs) {
            _marks.push_back(std::make_unique<storage::written_marks>(dir));
        }
        std::lock_guard lock(_placement_mu);
        _placement = std::move(found.current);
        if (_dirs.size() > 1) {
            std::vector<size_t> count(_dirs.size());
            for (const auto& [tp, d] : _placement) {
                ++count[d];
            }
            std::string counts;
            for (size_t d = 0; d < _dirs.size(); ++d) {
                counts += (d ? ", " : "") + _dirs[d].string() + ": " + std::to_string(count[d]);
            }
            TLOG_INFO("{} log directories; partition logs found in each: {}", _dirs.size(), counts);
        }
    });
}

std::optional<size_t> partition_manager::dir_index_of(const topic_partition& tp) const {
    std::lock_guard lock(_placement_mu);
    auto it = _placement.find(tp);
    return it == _placement.end() ? std::nullopt : std::optional<size_t>(it->second);
}

bool partition_manager::dir_usable(size_t d) const {
    std::error_code ec;
    return d < _dirs.size() && std::filesystem::is_directory(_dirs[d], ec) && ::access(_dirs[d].c_str(), W_OK | X_OK) == 0;
}

std::optional<std::filesystem::path> partition_manager::place(const topic_partition& tp) {
    std::lock_guard lock(_placement_mu);
    if (auto it = _placement.find(tp); it != _placement.end()) {
        return _dirs[it->second] / partition_dir(tp);
    }
    std::vector<size_t> count(_dirs.size());
    std::vector<bool> usable(_dirs.size());
    for (const auto* placed : {&_placement, &_moving}) {
        for (const auto& [p, d] : *placed) {
            ++count[d];
        }
    }
    for (size_t d = 0; d < _dirs.size(); ++d) {
        usable[d] = dir_usable(d);
    }
    std::optional<size_t> d;
    if (auto it = _preferred.find(tp); it != _preferred.end()) {
        if (usable[it->second]) {
            d = it->second;  // AlterReplicaLogDirs named it before the replica came
        }
        _preferred.erase(it);
    }
    if (!d) {
        d = choose_log_dir(count, usable);
    }
    if (!d) {
        return std::nullopt;
    }
    _placement.emplace(tp, *d);
    return _dirs[*d] / partition_dir(tp);
}

void partition_manager::unplace(const topic_partition& tp) {
    std::lock_guard lock(_placement_mu);
    _placement.erase(tp);
}

std::optional<size_t> partition_manager::find_log_dir(const std::string& path) const {
    auto normal = [](std::filesystem::path p) {
        std::error_code ec;
        auto canonical = std::filesystem::weakly_canonical(p, ec);  // symbolic links resolved
        p = (ec ? p : canonical).lexically_normal();
        if (!p.has_filename() && p != p.root_path()) {
            p = p.parent_path();
        }
        return p;
    };
    if (path.empty()) {
        return std::nullopt;
    }
    auto want = normal(path);
    for (size_t d = 0; d < _dirs.size(); ++d) {
        if (normal(_dirs[d]) == want) {
            return d;
        }
    }
    return std::nullopt;
}

std::optional<partition_manager::future_info> partition_manager::future_of(const topic_partition& tp) {
    partition* p = local(tp);
    if (!p || !p->future() || p->future()->failed) {
        return std::nullopt;
    }
    const auto& f = *p->future();
    return future_info{f.dir, int64_t(f.log->size_bytes()), f.log->next_offset().value()};
}

namespace {

std::string random_hex_id() {
    std::random_device rd;
    std::string id;
    static constexpr char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; ++i) {
        id += digits[rd() % 16];
    }
    return id;
}

} // namespace

void partition_manager::set_move_rate(std::optional<int64_t> bytes_per_second) {
    std::lock_guard lock(_quota_mu);
    if (_quota.rate() != bytes_per_second) {
        TLOG_INFO("moves between log directories: {}",
                  bytes_per_second ? "at most " + std::to_string(*bytes_per_second) + " bytes/s" : "no limit");
    }
    _quota.set_rate(bytes_per_second);
}

protocol::error_code partition_manager::start_move(size_t core, const topic_partition& tp, size_t to) {
    if (to >= _dirs.size()) {
        return protocol::error_code::log_dir_not_found;
    }
    if (!dir_usable(to)) {
        return protocol::error_code::kafka_storage_error;
    }
    partition* p = find(core, tp);
    if (!p) {
        std::lock_guard lock(_placement_mu);
        if (!_placement.contains(tp)) {
            _preferred[tp] = to;
        }
        return protocol::error_code::replica_not_available;
    }
    auto* f = p->future();
    if (f && (f->dir != to || f->failed)) {
        cancel_move(*p, "another directory was asked for");
        f = nullptr;
    }
    if (dir_index_of(tp) == to || f) {
        return protocol::error_code::none;  // already there, or on its way
    }
    auto name = future_partition_dir(tp, random_hex_id());
    auto path = _dirs[to] / name;
    auto log = storage::log::open(path, p->log().config(), storage::system_clock(), &_disk, nullptr);
    if (!log) {
        TLOG_WARN("{}: cannot make its log in {}: {}", partition_dir(tp), _dirs[to].string(), log.error().message());
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        return protocol::error_code::kafka_storage_error;
    }
    std::ofstream(path / "partition.metadata") << "topic_id: " << p->topic_id().to_string() << "\n";
    if (auto start = p->log().log_start_offset(); start > offset(0)) {
        if (auto r = (*log)->truncate_fully_and_start_at(start); !r) {
            TLOG_WARN("{}: cannot start its log in {}: {}", partition_dir(tp), _dirs[to].string(), r.error().message());
            (*log)->close();
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
            return protocol::error_code::kafka_storage_error;
        }
    }
    p->set_future(std::make_unique<future_log>(future_log{to, name, std::move(*log)}));
    {
        std::lock_guard lock(_placement_mu);
        _moving[tp] = to;
    }
    TLOG_INFO("{}: moving its log from {} to {} ({} bytes)", partition_dir(tp), p->log().dir().parent_path().string(),
              _dirs[to].string(), p->log().size_bytes());
    asio::post(_pool.executor(core), [this, core, tp, name] { copy_step(core, tp, name); });
    return protocol::error_code::none;
}

void partition_manager::cancel_move(partition& p, const std::string& why) {
    auto f = p.take_future();
    if (!f) {
        return;
    }
    TLOG_INFO("{}: move to {} given up: {}", partition_dir(p.tp()), _dirs[f->dir].string(), why);
    if (!f->log->is_closed()) {
        f->log->close();
    }
    discard(_dirs[f->dir] / f->name, p.tp());
    std::lock_guard lock(_placement_mu);
    _moving.erase(p.tp());
}

void partition_manager::copy_step(size_t core, const topic_partition& tp, const std::string& name) {
    partition* p = find(core, tp);
    if (!p || !p->future() || p->future()->name != name) {
        return;  // the replica went, or this move was cancelled or replaced
    }
    auto& f = *p->future();
    if (f.failed) {
        cancel_move(*p, "it could not follow a truncation of the log");
        return;
    }
    auto& from = p->log();
    auto& to = *f.log;
    // About 8 MiB per turn of the core, so produce and fetch requests go on between turns;
    // under a rate (replica.alter.log.dirs.io.max.bytes.per.second), what the broker's quota
    // grants now.
    const uint64_t want = 8 << 20;
    uint64_t granted = 0;
    if (to.next_offset() < from.next_offset()) {
        const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
        std::lock_guard lock(_quota_mu);
        granted = _quota.grant(now, want);
        if (granted == 0) {
            auto timer = std::make_shared<asio::steady_timer>(
                _pool.executor(core), std::chrono::microseconds(int64_t(_quota.wait_s() * 1e6)));
            timer->async_wait([this, core, tp, name, timer](const boost::system::error_code&) {
                copy_step(core, tp, name);
            });
            return;
        }
    }
    size_t budget = granted;
    uint64_t used = 0;
    // What this step copied is paid for whichever way it ends.
    struct settle_on_exit {
        partition_manager& self;
        uint64_t granted;
        const uint64_t& used;
        ~settle_on_exit() {
            std::lock_guard lock(self._quota_mu);
            self._quota.settle(granted, used);
        }
    } pay{*this, granted, used};
    while (to.next_offset() < from.next_offset() && budget > 0) {
        if (to.next_offset() < from.log_start_offset()) {
            // Retention or DeleteRecords moved the log's start past the copy's end.
            if (auto r = to.truncate_fully_and_start_at(from.log_start_offset()); !r) {
                cancel_move(*p, r.error().message());
                return;
            }
            continue;
        }
        auto data = from.read_bytes(to.next_offset(), std::min<size_t>(budget, 1 << 20));
        if (!data || data->size() < 12) {
            cancel_move(*p, data ? "the log gave no batch to copy" : data.error().message());
            return;
        }
        uint64_t raw_base = 0;
        std::memcpy(&raw_base, data->data(), sizeof raw_base);
        offset base(int64_t(be64toh(raw_base)));
        if (base < to.next_offset()) {
            // The log's start lies inside its first batch (DeleteRecords): the copy starts
            // with that whole batch, and takes the log start again at the swap.
            if (to.next_offset() != to.log_start_offset()) {
                cancel_move(*p, "the log's batches do not continue the copy");
                return;
            }
            if (auto r = to.truncate_fully_and_start_at(base); !r) {
                cancel_move(*p, r.error().message());
                return;
            }
        }
        if (auto r = to.append(std::span<uint8_t>(*data), std::nullopt, false, storage::append_source::copy); !r) {
            cancel_move(*p, r.error().message());
            return;
        }
        budget -= std::min(budget, data->size());
        used += data->size();
        f.copied += data->size();
    }
    if (to.next_offset() > from.next_offset()) {
        cancel_move(*p, "the copy went past the log's end");
        return;
    }
    if (to.next_offset() == from.next_offset()) {
        finish_move(*p);
        return;
    }
    asio::post(_pool.executor(core), [this, core, tp, name] { copy_step(core, tp, name); });
}

// The swap, in one turn of the owner core (no append can fall between the copy's last batch
// and the switch). On disk: both logs are closed (durably), the old directory is renamed
// `<topic>-<p>.<id>-delete`, then the future one `<topic>-<p>`; a stop between the two
// renames leaves the future log and no replica, which open_dirs() completes; a stop before
// the first leaves both, and the future one is deleted. Each rename is fsync'ed before the
// next step, so the future log is never named the replica before it is complete.
void partition_manager::finish_move(partition& p) {
    const auto tp = p.tp();
    auto& f = *p.future();
    auto& cur = p.log();
    const auto cfg = cur.config();
    const auto old_dir = cur.dir();
    const auto future_dir = _dirs[f.dir] / f.name;
    const auto new_dir = _dirs[f.dir] / partition_dir(tp);
    const auto id = f.name.substr(partition_dir(tp).size() + 1, f.name.size() - partition_dir(tp).size() - 1 - 7);
    const auto doomed = old_dir.parent_path() / (partition_dir(tp) + "." + id + "-delete");
    const size_t to = f.dir;
    if (f.log->log_start_offset() < cur.log_start_offset()) {
        if (auto r = f.log->advance_log_start_offset(cur.log_start_offset()); !r) {
            cancel_move(p, r.error().message());
            return;
        }
    }
    if (auto latest = cur.epochs().latest_epoch()) {
        if (auto r = f.log->begin_epoch(*latest); !r) {
            cancel_move(p, r.error().message());
            return;
        }
    }
    (void)p.producers().write_snapshot(*f.log);  // failures are logged; the new log walks its batches then
    f.log->close();
    cur.close();
    // Puts the old log back where it was after a failed step (renamed back if it was).
    auto restore = [&](const std::string& why) {
        std::error_code ec;
        if (!std::filesystem::exists(old_dir, ec)) {
            std::filesystem::rename(doomed, old_dir, ec);
            sync_dir(old_dir.parent_path());
        }
        auto reopened = open_replica_log(old_dir, *dir_index_of(tp), tp, cfg);
        if (!reopened) {
            TLOG_ERROR("{}: cannot reopen its log after a failed move: {}", partition_dir(tp),
                       reopened.error().message());
        } else {
            p.replace_log(std::move(*reopened));
        }
        cancel_move(p, why);
    };
    std::error_code ec;
    std::filesystem::rename(old_dir, doomed, ec);
    if (ec) {
        restore("cannot rename " + old_dir.string() + ": " + ec.message());
        return;
    }
    sync_dir(old_dir.parent_path());
    std::filesystem::rename(future_dir, new_dir, ec);
    if (ec) {
        restore("cannot rename " + future_dir.string() + ": " + ec.message());
        return;
    }
    sync_dir(new_dir.parent_path());
    auto opened = open_replica_log(new_dir, to, tp, cfg);
    if (!opened) {
        std::filesystem::rename(new_dir, future_dir, ec);
        sync_dir(new_dir.parent_path());
        restore("cannot open the moved log: " + opened.error().message());
        return;
    }
    p.replace_log(std::move(*opened));
    p.take_future();
    {
        std::lock_guard lock(_placement_mu);
        _placement[tp] = to;
        _moving.erase(tp);
    }
    _reaper.remove(doomed);
    TLOG_INFO("{}: log moved to {} (up to offset {})", partition_dir(tp), _dirs[to].string(),
              p.log().next_offset().value());
}

void partition_manager::resume_move(size_t core, partition& p) {
    const auto tp = p.tp();
    std::optional<std::pair<size_t, std::string>> found;
    {
        std::lock_guard lock(_placement_mu);
        if (auto it = _resume.find(tp); it != _resume.end()) {
            found = std::move(it->second);
            _resume.erase(it);
        }
    }
    if (!found) {
        return;
    }
    const size_t to = found->first;
    const std::string name = found->second;
    const auto path = _dirs[to] / name;
    auto give_up = [&](const std::string& why) {
        TLOG_WARN("{}: discarding the unfinished move to {}: {}", partition_dir(tp), _dirs[to].string(), why);
        discard(path, tp);
        std::lock_guard lock(_placement_mu);
        _moving.erase(tp);
    };
    std::string have;
    if (std::ifstream in(path / "partition.metadata"); in) {
        have.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (have != "topic_id: " + p.topic_id().to_string() + "\n") {
        give_up("its partition.metadata does not name the replica's topic id");
        return;
    }
    auto log = storage::log::open(path, p.log().config(), storage::system_clock(), &_disk, nullptr);
    if (!log) {
        give_up(log.error().message());
        return;
    }
    // The copy never holds offsets the log does not (a log recovered shorter than its copy).
    if ((*log)->next_offset() > p.log().next_offset()) {
        if (auto r = (*log)->truncate(p.log().next_offset()); !r) {
            (*log)->close();
            give_up(r.error().message());
            return;
        }
    }
    TLOG_INFO("{}: resuming its move from {} to {} at offset {} ({} of {} bytes copied)", partition_dir(tp),
              p.log().dir().parent_path().string(), _dirs[to].string(), (*log)->next_offset().value(),
              (*log)->size_bytes(), p.log().size_bytes());
    p.set_future(std::make_unique<future_log>(future_log{to, name, std::move(*log)}));
    asio::post(_pool.executor(core), [this, core, tp, name = name] { copy_step(core, tp, name); });
}

void partition_manager::apply(const std::vector<partition_change>& changes,
                              const std::function<void(size_t)>& after) {
    open_dirs();
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
        resume_move(core, *it->second);
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

// Out of the way in one rename (`<topic>-<p>.<id>-delete`, which open_dirs hands to the
// reaper again after a stop), then removed by the reaper's thread: never gigabytes of unlinks
// on a core. If the rename fails the directory is removed here, as before.
void partition_manager::discard(const std::filesystem::path& dir, const topic_partition& tp) {
    const auto doomed = dir.parent_path() / (partition_dir(tp) + "." + random_hex_id() + "-delete");
    std::error_code ec;
    std::filesystem::rename(dir, doomed, ec);
    if (ec) {
        if (ec != std::errc::no_such_file_or_directory) {
            TLOG_WARN("cannot rename {} to remove it: {}; removing it in place", dir.string(), ec.message());
            std::filesystem::remove_all(dir, ec);
        }
        return;
    }
    _reaper.remove(doomed);
}

void partition_manager::drop(size_t core, std::map<topic_partition, std::unique_ptr<partition>>::iterator it) {
    auto dir = it->second->log().dir();
    cancel_move(*it->second, "the replica is deleted");
    if (_on_role) {
        _on_role(it->first, nullptr);
    }
    _metrics.forget_partition(it->first.topic, it->first.partition);
    it->second->stop();
    it->second->log().close();
    auto tp = it->first;
    _shards[core].erase(it);
    discard(dir, tp);
    unplace(tp);
    TLOG_INFO("deleted partition log {}", dir.string());
}

size_t partition_manager::remove_strays(const cluster_snapshot& snapshot) {
    size_t removed = 0;
    for (const auto& dir : _dirs) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
            auto marker = entry.path() / "partition.metadata";
            if (!entry.is_directory() || !std::filesystem::exists(marker)) {
                continue;  // not a partition log (the embedded coordinator's log has no marker)
            }
            std::string have;
            if (std::ifstream in(marker); in) {
                have.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            }
            auto name = parse_partition_dir(entry.path().filename().string());
            bool keep = false;
            if (name) {
                const auto* t = snapshot.topic(name->tp.topic);
                const auto* p = snapshot.partition(name->tp.topic, name->tp.partition);
                keep = t && p && have == "topic_id: " + t->id.to_string() + "\n" && p->has_replica(_self.value());
            }
            if (!keep) {
                TLOG_INFO("removing {}: its topic was deleted or moved while this broker was away",
                          entry.path().string());
                if (name) {
                    discard(entry.path(), name->tp);
                } else {
                    std::filesystem::remove_all(entry.path(), ec);
                }
                if (name && !name->future && dir_index_of(name->tp) == size_t(&dir - _dirs.data())) {
                    unplace(name->tp);
                }
                if (name && name->future) {
                    // A future log open_dirs() kept, of a replica that never opened.
                    std::lock_guard lock(_placement_mu);
                    if (auto it = _resume.find(name->tp);
                        it != _resume.end() && it->second.second == entry.path().filename().string()) {
                        _resume.erase(it);
                        _moving.erase(name->tp);
                    }
                }
                ++removed;
            }
        }
    }
    return removed;
}

void halt_for_failed_log_dir(const std::filesystem::path& dir, const topic_partition& tp, const std::string& what) {
    log::fatal(fmt::format("log directory {} failed ({}-{}: {}): halting the broker. The other brokers' in-sync "
                           "replicas take over its leaderships once the coordinator fences it; mend the directory "
                           "and start the broker again: recovery checks what was not flushed",
                           dir.string(), tp.topic, tp.partition, what));
    std::_Exit(1);
}

result<std::unique_ptr<storage::log>> partition_manager::open_replica_log(const std::filesystem::path& path, size_t d,
                                                                          const topic_partition& tp,
                                                                          const storage::log_config& cfg) {
    auto log = storage::log::open(path, cfg, storage::system_clock(), &_disk, _marks.at(d).get());
    if (!_on_dir_failure) {
        return log;
    }
    if (!log) {
        // Recovery that cannot read or write the directory (EIO, a full disk): the replica
        // cannot be served, and a broker without it would still be chosen to lead it.
        if (log.error() == storage::errc::io_error) {
            _on_dir_failure(_dirs[d], tp, "opening the log: " + storage::last_io_failure());
        }
        return log;
    }
    (*log)->set_failure_listener([fn = _on_dir_failure, dir = _dirs[d], tp](const std::string& what) {
        fn(dir, tp, what);
    });
    return log;
}

std::unique_ptr<partition> partition_manager::open_partition(const topic_partition& tp, const protocol::uuid& id,
                                                             const storage::log_config& cfg) {
    auto where = place(tp);
    if (!where) {
        TLOG_ERROR("cannot open log of {}-{}: no usable log directory", tp.topic, tp.partition);
        return nullptr;
    }
    const auto& dir = *where;
    auto marker = dir / "partition.metadata";
    std::string want = "topic_id: " + id.to_string() + "\n";
    if (std::ifstream in(marker); in) {
        std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (have != want) {
            TLOG_INFO("{} holds an earlier topic of the same name ({}): removing it", dir.string(), have);
            discard(dir, tp);
        }
    }
    auto log = open_replica_log(dir, *dir_index_of(tp), tp, cfg);
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
                p->changed();  // the log start moved
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
        if (!p || p->log().dir() != r->dir) {  // gone meanwhile, or moved to another log directory
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
            if (auto f = p->take_future()) {
                f->log->close();  // an unfinished move: the next start resumes it (open_dirs)
            }
        }
        _shards[core].clear();
    });
}

} // namespace trib::broker
