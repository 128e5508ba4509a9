#include "broker/dir_reaper.h"

#include "common/log.h"

namespace trib::broker {

dir_reaper::dir_reaper() : _thread([this] { run(); }) {}

dir_reaper::~dir_reaper() {
    {
        std::lock_guard lock(_mu);
        _stopping = true;
    }
    _cv.notify_all();
    _thread.join();
}

void dir_reaper::remove(std::filesystem::path dir) {
    {
        std::lock_guard lock(_mu);
        _queue.push_back(std::move(dir));
    }
    _cv.notify_all();
}

void dir_reaper::wait_idle() {
    std::unique_lock lock(_mu);
    _cv.wait(lock, [this] { return (_queue.empty() && !_busy) || _stopping; });
}

uint64_t dir_reaper::removed() const {
    std::lock_guard lock(_mu);
    return _removed;
}

void dir_reaper::run() {
    std::unique_lock lock(_mu);
    for (;;) {
        _cv.wait(lock, [this] { return _stopping || !_queue.empty(); });
        if (_stopping) {
            return;
        }
        auto dir = std::move(_queue.front());
        _queue.pop_front();
        _busy = true;
        lock.unlock();
        std::error_code ec;
        auto count = std::filesystem::remove_all(dir, ec);
        if (ec) {
            TLOG_WARN("cannot remove {}: {} (tried again at the next start)", dir.string(), ec.message());
        } else {
            TLOG_DEBUG("removed {} ({} files)", dir.string(), count);
        }
        lock.lock();
        _busy = false;
        _removed += ec ? 0 : 1;
        _cv.notify_all();
    }
}

} // namespace trib::broker
