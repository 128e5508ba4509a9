#include "coordinator/single_voter_log.h"

#include "common/log.h"
#include "coordinator/client/errc.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <boost/asio/post.hpp>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace trib::coordinator {

namespace fs = std::filesystem;

namespace {

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool fsync_path(const fs::path& p, bool dir) {
    int fd = ::open(p.c_str(), dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) {
        return false;
    }
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

std::optional<offset> snapshot_offset_of(const fs::path& p) {
    if (p.extension() != ".snapshot") {
        return std::nullopt;
    }
    auto stem = p.stem().string();
    if (stem.size() != 20 || stem.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return offset(std::stoll(stem));
}

} // namespace

fs::path snapshot_path(const fs::path& log_dir, offset at) {
    return log_dir / "snapshots" / fmt::format("{:020d}.snapshot", at.value());
}

bytes encode_snapshot(const metadata_image& image) {
    auto records = image.to_records();
    bytes out;
    int64_t now = wall_ms();
    for (size_t i = 0; i < records.size(); i += 1000) {
        auto n = std::min<size_t>(1000, records.size() - i);
        bytes b = make_batch(std::span<const metadata_record>(records.data() + i, n), now);
        out.insert(out.end(), b.begin(), b.end());
    }
    return out;
}

std::optional<std::pair<offset, bytes>> read_latest_snapshot(const fs::path& log_dir) {
    std::error_code ec;
    std::vector<std::pair<offset, fs::path>> found;
    for (const auto& e : fs::directory_iterator(log_dir / "snapshots", ec)) {
        if (auto o = snapshot_offset_of(e.path())) {
            found.emplace_back(*o, e.path());
        }
    }
    std::sort(found.begin(), found.end());
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
        std::ifstream in(it->second, std::ios::binary);
        bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        metadata_image check;
        if (in.bad() || !check.apply_batches(data)) {
            TLOG_WARN("ignoring unreadable metadata snapshot {}", it->second.string());
            continue;
        }
        return std::pair<offset, bytes>(it->first, std::move(data));
    }
    return std::nullopt;
}

result<void> write_snapshot(const fs::path& log_dir, offset at, const bytes& batches) {
    auto dir = log_dir / "snapshots";
    std::error_code ec;
    fs::create_directories(dir, ec);
    auto final_path = snapshot_path(log_dir, at);
    auto tmp = final_path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return std::error_code(errno, std::generic_category());
    }
    size_t done = 0;
    while (done < batches.size()) {
        ssize_t n = ::write(fd, batches.data() + done, batches.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            return std::error_code(e, std::generic_category());
        }
        done += size_t(n);
    }
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        return std::error_code(e, std::generic_category());
    }
    ::close(fd);
    fs::rename(tmp, final_path, ec);
    if (ec) {
        return ec;
    }
    if (!fsync_path(dir, true)) {
        return std::error_code(errno, std::generic_category());
    }
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        auto o = snapshot_offset_of(e.path());
        if ((o && *o < at) || e.path().extension() == ".tmp") {
            fs::remove(e.path(), ec);
        }
    }
    return success();
}

single_voter_log::single_voter_log(fs::path dir, std::unique_ptr<storage::syncer> syncer,
                                   std::unique_ptr<storage::log> log, state_machine& sm,
                                   std::optional<raft::voter> self, asio::io_context* ctx)
  : _dir(std::move(dir))
  , _syncer(std::move(syncer))
  , _log(std::move(log))
  , _ctx(ctx)
  , _committed(_log->next_offset())
  , _sm(sm)
  , _self(std::move(self)) {}

single_voter_log::~single_voter_log() { close(); }

void single_voter_log::close() {
    if (_syncer) {
        _syncer->stop();  // every fsync asked for is done
    }
    if (_log && !_log->is_closed()) {
        _log->close();
    }
}

log_factory single_voter_log::factory(fs::path dir, storage::log_config cfg, std::optional<raft::voter> self) {
    return [dir = std::move(dir), cfg, self = std::move(self)](state_machine& sm, asio::io_context& ctx) {
        return std::unique_ptr<replicated_log>(open(dir, cfg, sm, {self, &ctx, {}}));
    };
}

std::unique_ptr<single_voter_log> single_voter_log::open(const fs::path& dir, storage::log_config cfg,
                                                         state_machine& sm, single_voter_options options) {
    std::unique_ptr<storage::syncer> syncer;
    if (options.ctx) {
        syncer = std::make_unique<storage::syncer>(std::move(options.fsync));
        syncer->start();
    }
    auto opened = storage::log::open(dir, cfg, storage::system_clock(), syncer.get());
    if (!opened) {
        throw std::runtime_error("cannot open the metadata log in " + dir.string() + ": " +
                                 opened.error().message());
    }
    std::unique_ptr<single_voter_log> self(
        new single_voter_log(dir, std::move(syncer), std::move(*opened), sm, std::move(options.self), options.ctx));
    auto& log = *self->_log;
    offset from = log.log_start_offset();
    if (auto snap = read_latest_snapshot(dir)) {
        metadata_image image;
        (void)image.apply_batches(snap->second);  // checked by read_latest_snapshot
        image.set_next_offset(snap->first);
        if (snap->first > log.next_offset()) {
            throw std::runtime_error(fmt::format(
                "metadata log in {} ends at offset {}, before its snapshot at {}: the log lost records",
                dir.string(), log.next_offset().value(), snap->first.value()));
        }
        sm.restore(image);
        from = snap->first;
        self->_snapshot_at = snap->first;
        self->_snapshot = std::move(snap->second);
    } else if (log.log_start_offset() > offset(0)) {
        throw std::runtime_error(fmt::format("metadata log in {} starts at {} but there is no snapshot",
                                             dir.string(), log.log_start_offset().value()));
    }
    // Replay the log after the snapshot.
    size_t replayed = 0;
    while (from < log.next_offset()) {
        auto chunk = log.read_bytes(from, 1 << 20);
        if (!chunk) {
            throw std::runtime_error("reading the metadata log at " + std::to_string(from.value()) + ": " +
                                     chunk.error().message());
        }
        offset next = from;
        auto res = for_each_record(*chunk, [&](offset at, const metadata_record& r) {
            if (at >= from) {
                sm.apply(at, r);
                ++replayed;
            }
            next = at + 1;
        });
        if (!res || next == from) {
            throw std::runtime_error("malformed metadata log at offset " + std::to_string(from.value()));
        }
        from = next;
        self->_since_snapshot += chunk->size();
    }
    TLOG_INFO("metadata log {}: snapshot at {}, {} records replayed, next offset {}", dir.string(),
              self->_snapshot_at ? self->_snapshot_at->value() : -1, replayed, log.next_offset().value());
    return self;
}

void single_voter_log::append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) {
    if (records.empty()) {
        if (_unsynced.empty()) {
            done(committed() - 1);
        } else {
            _unsynced.push_back({_unsynced.back().last, _unsynced.back().last, {}, std::move(done)});
        }
        return;
    }
    bytes batch = make_batch(records, wall_ms());
    auto appended = _log->append(batch);
    if (!appended) {
        TLOG_ERROR("metadata log append failed: {}", appended.error().message());
        done(appended.error());
        return;
    }
    _since_snapshot += batch.size();
    _unsynced.push_back({appended->base, appended->last, {records.begin(), records.end()}, std::move(done)});
    const offset last = appended->last;
    if (!_syncer) {
        std::error_code sync_error;
        _log->sync(last, [&](std::error_code ec) { sync_error = ec; });  // inline: no syncer thread
        synced(last, sync_error);
        return;
    }
    // The callback runs on the syncer's thread: the completion goes back to the owner's.
    _log->sync(last, [this, last](std::error_code ec) { asio::post(*_ctx, [this, last, ec] { synced(last, ec); }); });
}

void single_voter_log::synced(offset upto, std::error_code ec) {
    if (ec) {
        // The records are in the page cache but not known durable; an fsync failure leaves
        // the file in an unknown state (fsyncgate): stop rather than acknowledge.
        TLOG_ERROR("metadata log fsync failed: {}", ec.message());
        throw std::runtime_error("metadata log fsync failed: " + ec.message());
    }
    while (!_unsynced.empty() && _unsynced.front().last <= upto) {
        auto a = std::move(_unsynced.front());
        _unsynced.pop_front();
        offset at = a.base;
        for (const auto& r : a.records) {
            _sm.apply(at, r);
            ++at;
        }
        if (!a.records.empty()) {
            _committed = a.last + 1;
        }
        a.done(a.last);
    }
}

result<bytes> single_voter_log::read(offset from, size_t max_bytes) {
    return _log->read_bytes(from, max_bytes, committed());
}

std::optional<snapshot_view> single_voter_log::latest_snapshot() const {
    if (!_snapshot_at) {
        return std::nullopt;
    }
    return snapshot_view{*_snapshot_at, &_snapshot};
}

result<void> single_voter_log::snapshot(const metadata_image& image) {
    offset at = image.next_offset();
    if (at != committed()) {
        return errc::inconsistent_record;
    }
    if (_snapshot_at && *_snapshot_at == at) {
        return success();
    }
    bytes data = encode_snapshot(image);
    if (auto w = write_snapshot(_dir, at, data); !w) {
        return w;
    }
    _snapshot_at = at;
    _snapshot = std::move(data);
    _since_snapshot = 0;
    if (auto a = _log->advance_log_start_offset(at); !a) {
        return a;
    }
    TLOG_INFO("metadata snapshot at offset {} ({} bytes)", at.value(), _snapshot.size());
    return success();
}

} // namespace trib::coordinator
