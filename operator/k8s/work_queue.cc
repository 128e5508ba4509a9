#include "operator/k8s/work_queue.h"

#include <algorithm>

namespace trib::op::k8s {

std::chrono::milliseconds backoff::when(const std::string& key) {
    int n = _failures[key]++;
    // Doubling past the cap would overflow long before it matters: stop at 2^30.
    auto delay = _base * (int64_t{1} << std::min(n, 30));
    return std::min(delay, _cap);
}

int backoff::failures(const std::string& key) const {
    auto it = _failures.find(key);
    return it == _failures.end() ? 0 : it->second;
}

work_queue::work_queue(const clock& c, backoff limiter) : _clock(c), _limiter(std::move(limiter)) {}

void work_queue::add(const std::string& key) {
    std::lock_guard lock(_mu);
    add_locked(key);
}

void work_queue::add_locked(const std::string& key) {
    if (_shutdown || !_dirty.insert(key).second) {
        return;
    }
    if (_processing.count(key)) {
        return; // done() queues it again
    }
    _queue.push_back(key);
    _cv.notify_one();
}

void work_queue::add_after(const std::string& key, std::chrono::milliseconds delay) {
    if (delay <= std::chrono::milliseconds::zero()) {
        add(key);
        return;
    }
    std::lock_guard lock(_mu);
    if (_shutdown) {
        return;
    }
    auto due = _clock.steady_now() + delay;
    auto [it, inserted] = _waiting.emplace(key, due);
    if (!inserted && due < it->second) {
        it->second = due;
    }
    // A worker blocked in get() may be sleeping until a later due time.
    _cv.notify_all();
}

void work_queue::add_rate_limited(const std::string& key) {
    std::chrono::milliseconds delay;
    {
        std::lock_guard lock(_mu);
        delay = _limiter.when(key);
    }
    add_after(key, delay);
}

void work_queue::forget(const std::string& key) {
    std::lock_guard lock(_mu);
    _limiter.forget(key);
}

int work_queue::requeues(const std::string& key) const {
    std::lock_guard lock(_mu);
    return _limiter.failures(key);
}

std::optional<std::chrono::steady_clock::time_point> work_queue::promote_locked() {
    auto now = _clock.steady_now();
    std::optional<std::chrono::steady_clock::time_point> next;
    for (auto it = _waiting.begin(); it != _waiting.end();) {
        if (it->second <= now) {
            add_locked(it->first);
            it = _waiting.erase(it);
        } else {
            next = next ? std::min(*next, it->second) : it->second;
            ++it;
        }
    }
    return next;
}

std::optional<std::string> work_queue::pop_locked() {
    if (_queue.empty()) {
        return std::nullopt;
    }
    std::string key = std::move(_queue.front());
    _queue.pop_front();
    _processing.insert(key);
    _dirty.erase(key);
    return key;
}

std::optional<std::string> work_queue::get() {
    std::unique_lock lock(_mu);
    while (!_shutdown) {
        auto next_due = promote_locked();
        if (auto key = pop_locked()) {
            return key;
        }
        if (next_due) {
            _cv.wait_for(lock, *next_due - _clock.steady_now());
        } else {
            _cv.wait(lock);
        }
    }
    return std::nullopt;
}

std::optional<std::string> work_queue::try_get() {
    std::lock_guard lock(_mu);
    if (_shutdown) {
        return std::nullopt;
    }
    promote_locked();
    return pop_locked();
}

void work_queue::done(const std::string& key) {
    std::lock_guard lock(_mu);
    _processing.erase(key);
    if (_dirty.count(key) && !_shutdown) {
        _queue.push_back(key);
        _cv.notify_one();
    }
}

void work_queue::shutdown() {
    std::lock_guard lock(_mu);
    _shutdown = true;
    _queue.clear();
    _waiting.clear();
    _cv.notify_all();
}

bool work_queue::shutting_down() const {
    std::lock_guard lock(_mu);
    return _shutdown;
}

size_t work_queue::ready() const {
    std::lock_guard lock(_mu);
    return _queue.size();
}

} // namespace trib::op::k8s
