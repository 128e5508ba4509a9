#include "storage/syncer.h"

#include "common/log.h"
#include "storage/errc.h"

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unistd.h>

namespace trib::storage {

syncer::syncer(fsync_fn fsync) : _fsync(std::move(fsync)) {}

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

void syncer::run() {
    std::vector<sync_request> round;
    for (;;) {
        {
            std::unique_lock lk(_mu);
            _cv.wait(lk, [&] { return _stopping || !_queue.empty(); });
            if (_queue.empty()) {
                return;  // stopping and drained
            }
            round.swap(_queue);
        }
        _rounds.fetch_add(1);
        complete(round, [this](int fd) { return fdatasync(fd); });
        round.clear();
    }
}

void syncer::complete(std::vector<sync_request>& round, const std::function<int(int)>& fsync) {
    // Each distinct file once per round; remember its outcome for every request naming it.
    std::unordered_map<const file*, std::error_code> outcome;
    for (auto& r : round) {
        for (auto& f : r.files) {
            if (outcome.contains(f.get())) {
                continue;
            }
            int rc = fsync ? fsync(f->fd()) : ::fdatasync(f->fd());
            std::error_code ec;
            if (rc != 0) {
                TLOG_ERROR("storage: fdatasync {} failed: {}", f->path().string(), std::strerror(errno));
                ec = errc::io_error;
            }
            outcome.emplace(f.get(), ec);
        }
    }
    for (auto& r : round) {
        std::error_code ec;
        for (auto& f : r.files) {
            if (auto e = outcome[f.get()]) {
                ec = e;
            }
        }
        if (!ec && r.progress) {
            r.progress->advance(r.durable_to, r.epoch);
        }
        r.files.clear();  // drop file references before running user code
        if (r.done) {
            r.done(ec);
        }
    }
}

} // namespace trib::storage
