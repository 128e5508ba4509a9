#include "coordinator/raft/log_store.h"

#include "common/batch_header.h"
#include "common/log.h"
#include "coordinator/raft/codec.h"
#include "coordinator/raft/store_errc.h"
#include "coordinator/single_voter_log.h"
#include "protocol/records.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <stdexcept>

namespace trib::coordinator::raft {

namespace fs = std::filesystem;

namespace {

int64_t wall_ms() { return storage::system_clock().now_ms().value(); }

// Whole batches back to back, each with a valid CRC, nothing after them.
bool whole_batches(bytes_view data) {
    protocol::record_set_iterator it(data);
    while (true) {
        auto b = it.next();
        if (!b) {
            return false;
        }
        if (!*b) {
            return !it.partial_tail();
        }
        if (!read_and_verify_batch((*b)->data)) {
            return false;
        }
    }
}

[[noreturn]] void start_up_error(const fs::path& dir, const std::string& what) {
    throw std::runtime_error(fmt::format("raft metadata log in {}: {}", dir.string(), what));
}

} // namespace

log_store::log_store(fs::path dir, std::unique_ptr<storage::log> log, voter_set configured)
  : _dir(std::move(dir)), _log(std::move(log)), _configured(std::move(configured)) {}

log_store::~log_store() { close(); }

void log_store::close() {
    if (_log && !_log->is_closed()) {
        _log->close();
    }
}

std::unique_ptr<log_store> log_store::open(const fs::path& dir, options opts) {
    auto opened = storage::log::open(dir, opts.log, storage::system_clock(), opts.syncer);
    if (!opened) {
        start_up_error(dir, "cannot open: " + opened.error().message());
    }
    std::unique_ptr<log_store> self(new log_store(dir, std::move(*opened), std::move(opts.configured_voters)));
    self->load_snapshot();
    self->scan_voters();
    self->_since_snapshot = self->_log->size_bytes();
    TLOG_INFO("raft metadata log {}: entries [{}, {}), last term {}, snapshot end {} (term {})", dir.string(),
              self->first().value(), self->end().value(), self->last_term().value(),
              self->_snapshot ? self->_snapshot->end.value() : -1,
              self->_snapshot ? self->_snapshot->term.value() : -1);
    return self;
}

void log_store::load_snapshot() {
    auto found = read_latest_snapshot(_dir);
    if (!found) {
        if (first() > offset(0)) {
            start_up_error(_dir, fmt::format("starts at offset {} but there is no snapshot", first().value()));
        }
        return;
    }
    auto& [at, data] = *found;
    snapshot_meta meta{at, term_id(0), _configured};
    size_t header_size = 0;
    if (auto h = read_batch_header(data); h && h->total_size() <= data.size()) {
        auto header = read_snapshot_header(bytes_view(data).first(h->total_size()));
        if (!header) {
            start_up_error(_dir, fmt::format("snapshot {} has a malformed header", at.value()));
        }
        if (*header) {
            if ((*header)->end != at) {
                start_up_error(_dir, fmt::format("snapshot file {} says it ends at {}", at.value(),
                                                 (*header)->end.value()));
            }
            meta = std::move(**header);
            header_size = h->total_size();
        }
    }
    if (at < first()) {
        start_up_error(_dir, fmt::format("starts at offset {}, after its snapshot's end {}: entries were lost",
                                         first().value(), at.value()));
    }
    if (at > end() || (at > first() && term_at(at - 1) != std::optional<term_id>(meta.term))) {
        // The log doesn't hold the snapshot's history: an install interrupted after the
        // snapshot was written. Finish it.
        TLOG_WARN("raft metadata log {} [{}, {}) does not continue its snapshot at {} (term {}): restarting the "
                  "log there",
                  _dir.string(), first().value(), end().value(), at.value(), meta.term.value());
        if (auto r = _log->truncate_fully_and_start_at(at); !r) {
            start_up_error(_dir, "resetting the log to its snapshot: " + r.error().message());
        }
    } else if (at > first()) {
        // A save_snapshot() interrupted before it dropped the entries below it.
        if (auto r = _log->advance_log_start_offset(at); !r) {
            start_up_error(_dir, "dropping the entries below its snapshot: " + r.error().message());
        }
    }
    _snapshot = std::move(meta);
    _snapshot_data.assign(data.begin() + std::ptrdiff_t(header_size), data.end());
}

void log_store::scan_voters() {
    std::vector<offset> control;
    auto walked = _log->for_each_batch_header([&](const batch_header& h) {
        if (h.control() && offset(h.base_offset) >= first()) {
            control.push_back(offset(h.base_offset));
        }
        return true;
    });
    if (!walked) {
        start_up_error(_dir, "reading batch headers: " + walked.error().message());
    }
    for (offset o : control) {
        auto data = _log->read_bytes(o, 1);
        if (!data) {
            start_up_error(_dir, fmt::format("reading the control batch at {}: {}", o.value(), data.error().message()));
        }
        auto h = read_batch_header(*data);
        if (!h) {
            start_up_error(_dir, fmt::format("control batch at {} unreadable", o.value()));
        }
        auto e = batch_to_entry(bytes_view(*data).first(h->total_size()));
        if (!e) {
            start_up_error(_dir, fmt::format("control batch at {}: {}", o.value(), e.error().message()));
        }
        if (e->kind == entry_kind::voters) {
            auto set = decode_voters(e->payload);  // checked by batch_to_entry
            _voter_changes.emplace_back(e->at, std::move(*set));
        }
    }
}

std::optional<term_id> log_store::term_at(offset o) const {
    if (o == first() - 1) {
        return _snapshot ? _snapshot->term : term_id(0);
    }
    if (o >= first() && o < end()) {
        const auto& epochs = _log->epochs().entries();
        auto it = std::upper_bound(epochs.begin(), epochs.end(), o,
                                   [](offset v, const storage::epoch_entry& e) { return v < e.start_offset; });
        if (it == epochs.begin()) {
            return term_id(0);  // batches from before Raft (leader epoch -1)
        }
        return term_id(std::prev(it)->epoch.value());
    }
    return std::nullopt;
}

term_id log_store::last_term() const {
    return *term_at(end() - 1);
}

result<void> log_store::append(std::span<const entry> entries) {
    if (entries.empty()) {
        return success();
    }
    offset next = end();
    term_id last = last_term();
    bytes batches;
    const int64_t now = wall_ms();
    for (const auto& e : entries) {
        if (e.at != next) {
            return store_errc::not_contiguous;
        }
        if (e.term < last) {
            return store_errc::term_regressed;
        }
        auto b = entry_to_batch(e, now);
        if (!b) {
            return b.error();
        }
        batches.insert(batches.end(), b->begin(), b->end());
        next = e.end();
        last = e.term;
    }
    auto appended = _log->append(std::span<uint8_t>(batches), std::nullopt, true);
    if (!appended) {
        return appended.error();
    }
    if (appended->base != entries.front().at) {
        // storage::log numbered them from its end, which we checked: a broken invariant.
        throw std::logic_error(fmt::format("raft log append landed at {} instead of {}", appended->base.value(),
                                           entries.front().at.value()));
    }
    for (const auto& e : entries) {
        if (e.kind == entry_kind::voters) {
            _voter_changes.emplace_back(e.at, *decode_voters(e.payload));  // checked by entry_to_batch
        }
    }
    _since_snapshot += batches.size();
    return success();
}

void log_store::sync(std::function<void(std::error_code)> done) {
    _log->sync(end() - 1, std::move(done));
}

result<void> log_store::sync() {
    std::promise<std::error_code> p;
    auto f = p.get_future();
    sync([&p](std::error_code ec) { p.set_value(ec); });
    auto ec = f.get();
    return ec ? result<void>(ec) : success();
}

result<void> log_store::truncate(offset from) {
    if (from < first()) {
        return store_errc::below_log_start;
    }
    if (from >= end()) {
        return success();
    }
    if (auto r = _log->truncate(from); !r) {
        return r;
    }
    std::erase_if(_voter_changes, [&](const auto& c) { return c.first >= end(); });
    return success();
}

result<std::vector<entry>> log_store::entries(offset from, size_t max_bytes) const {
    if (from < first()) {
        return store_errc::below_log_start;
    }
    if (from > end()) {
        return store_errc::beyond_log_end;
    }
    if (from == end()) {
        return std::vector<entry>();
    }
    auto data = _log->read_bytes(from, max_bytes);
    if (!data) {
        return data.error();
    }
    return batches_to_entries(*data);
}

result<bytes> log_store::read_batches(offset from, size_t max_bytes, offset upto) const {
    return _log->read_bytes(from, max_bytes, upto);
}

const voter_set& log_store::voters() const {
    if (!_voter_changes.empty()) {
        return _voter_changes.back().second;
    }
    return _snapshot ? _snapshot->voters : _configured;
}

result<bytes> log_store::snapshot_chunk(uint64_t at, size_t max_bytes) const {
    if (at > _snapshot_data.size()) {
        return store_errc::beyond_log_end;
    }
    size_t n = std::min<uint64_t>(max_bytes, _snapshot_data.size() - at);
    return bytes(_snapshot_data.begin() + std::ptrdiff_t(at), _snapshot_data.begin() + std::ptrdiff_t(at + n));
}

result<void> log_store::write_snapshot_file(const snapshot_meta& meta, const bytes& data) {
    if (!whole_batches(data)) {
        return store_errc::bad_entry;
    }
    auto header = snapshot_header_batch(meta, wall_ms());
    if (!header) {
        return header.error();
    }
    bytes file = std::move(*header);
    file.insert(file.end(), data.begin(), data.end());
    return write_snapshot(_dir, meta.end, file);
}

result<void> log_store::save_snapshot(const snapshot_meta& meta, bytes data) {
    if (_snapshot && meta.end <= _snapshot->end) {
        return store_errc::stale_snapshot;
    }
    if (meta.end > end() || term_at(meta.end - 1) != std::optional<term_id>(meta.term)) {
        return store_errc::snapshot_mismatch;
    }
    if (auto w = write_snapshot_file(meta, data); !w) {
        return w;
    }
    // From here on the term below the log start comes from the snapshot.
    _snapshot = meta;
    _snapshot_data = std::move(data);
    if (auto r = _log->advance_log_start_offset(meta.end); !r) {
        return r;  // open() finishes it
    }
    std::erase_if(_voter_changes, [&](const auto& c) { return c.first < first(); });
    // Counted again from here: the log's size would still hold the segment the snapshot
    // covers (only whole segments go), and ask for the next snapshot at every commit.
    _since_snapshot = 0;
    TLOG_INFO("raft metadata snapshot at {} (term {}, {} bytes)", meta.end.value(), meta.term.value(),
              _snapshot_data.size());
    return success();
}

result<void> log_store::install_snapshot(const snapshot_meta& meta, bytes data) {
    if (_snapshot && meta.end <= _snapshot->end) {
        return store_errc::stale_snapshot;
    }
    // The snapshot first: a crash before the log is reset leaves a log open() resets to it.
    if (auto w = write_snapshot_file(meta, data); !w) {
        return w;
    }
    if (auto r = _log->truncate_fully_and_start_at(meta.end); !r) {
        return r;
    }
    _voter_changes.clear();
    _snapshot = meta;
    _snapshot_data = std::move(data);
    _since_snapshot = 0;
    TLOG_INFO("raft metadata snapshot installed at {} (term {}, {} bytes)", meta.end.value(), meta.term.value(),
              _snapshot_data.size());
    return success();
}

} // namespace trib::coordinator::raft
