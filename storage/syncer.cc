#include "storage/syncer.h"

#include "common/log.h"
#include "storage/errc.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unistd.h>

namespace trib::storage {

syncer::syncer(fsync_fn fsync, writeback_fn writeback)
  : _fsync(std::move(fsync)), _writeback(std::move(writeback)) {}

syncer::~syncer() { stop(); }

void syncer::start() {
    std::lock_guard g(_mu);
    if (_running) {
        return;
    }
    _running = true;
    _stopping = false;
    _thread = std::thread([this] { run(); });
}

void syncer::stop() {
    {
        std::lock_guard g(_mu);
        if (!_running) {
            return;
        }
        _stopping = true;
    }
    _cv.notify_all();
    _thread.join();
    std::lock_guard g(_mu);
    _running = false;
}

int syncer::fdatasync(int fd) {
    _fsyncs.fetch_add(1);
    return _fsync ? _fsync(fd) : ::fdatasync(fd);
}

void syncer::submit(sync_request r) {
    {
        std::lock_guard g(_mu);
        if (_running && !_stopping) {
            _queue.push_back(std::move(r));
            _cv.notify_one();
            return;
        }
    }
    std::vector<sync_request> round;
    round.push_back(std::move(r));
    _rounds.fetch_add(1);
    complete(round, [this](int fd) { return fdatasync(fd); });
}

void syncer::start_writeback(std::shared_ptr<file> f, uint64_t from, uint64_t len) {
    std::vector<writeback_request> round;
    {
        std::lock_guard g(_mu);
        if (_running && !_stopping) {
            if (_writebacks.size() < writeback_queue_max) {
                _writebacks.push_back({std::move(f), from, len});
                _cv.notify_one();
            }
            return;
        }
    }
    round.push_back({std::move(f), from, len});
    write_back(round);
}

void syncer::write_back(std::vector<writeback_request>& round) {
    for (auto& w : round) {
        int rc = _writeback ? _writeback(w.f->fd(), w.from, w.len)
                            : ::sync_file_range(w.f->fd(), off_t(w.from), off_t(w.len), SYNC_FILE_RANGE_WRITE);
        if (rc != 0) {
            // Nothing waits on it: the kernel still writes the pages back itself.
            TLOG_DEBUG("storage: starting writeback of {} failed: {}", w.f->path().string(), std::strerror(errno));
        }
        _writebacks_done.fetch_add(1);
    }
    round.clear();  // drops the files' references
}

void syncer::run() {
    std::vector<sync_request> round;
    std::vector<writeback_request> writebacks;
    for (;;) {
        {
            std::unique_lock lk(_mu);
            _cv.wait(lk, [&] { return _stopping || !_queue.empty() || !_writebacks.empty(); });
            if (_queue.empty() && _writebacks.empty()) {
                return;  // stopping and drained
            }
            round.swap(_queue);
            writebacks.swap(_writebacks);
        }
        write_back(writebacks);
        if (!round.empty()) {
            _rounds.fetch_add(1);
            complete(round, [this](int fd) { return fdatasync(fd); });
            round.clear();
        }
    }
}

void syncer::complete(std::vector<sync_request>& round, const std::function<int(int)>& fsync) {
    // Each distinct file once per round; remember its outcome for every request naming it.
    std::unordered_map<const file*, std::string> outcome;  // what failed; empty: synced
    for (auto& r : round) {
        for (auto& f : r.files) {
            if (outcome.contains(f.get())) {
                continue;
            }
            int rc = fsync ? fsync(f->fd()) : ::fdatasync(f->fd());
            std::string failure;
            if (rc != 0) {
                (void)io_failure("fdatasync", f->path(), errno);
                failure = last_io_failure();
            }
            outcome.emplace(f.get(), std::move(failure));
        }
    }
    for (auto& r : round) {
        std::string failure;
        for (auto& f : r.files) {
            if (const auto& e = outcome[f.get()]; !e.empty()) {
                failure = e;
            }
        }
        std::error_code ec = failure.empty() ? std::error_code() : make_error_code(errc::io_error);
        if (r.progress) {
            if (!ec) {
                r.progress->advance(r.durable_to, r.epoch);
            } else {
                // The kernel may have dropped the pages it could not write and report the
                // next fdatasync clean: the log cannot vouch for its files any more.
                r.progress->fail(failure);
            }
        }
        r.files.clear();  // drop file references before running user code
        if (r.done) {
            r.done(ec);
        }
    }
}

} // namespace trib::storage
