#pragma once
// The controller's work queue, with client-go's workqueue semantics (rate-limiting delaying
// queue), keyed by "namespace/name":
// - add(key) while the key is waiting is a no-op: many events about one object make one
//   reconcile;
// - a key being processed (handed out by get(), not yet done()) is never handed to a second
//   worker; adding it meanwhile marks it dirty and done() queues it again, so no change is
//   lost and no object is reconciled twice at once;
// - add_after(key, delay) queues it later (requeue-after, periodic resync); a key waiting
//   for several delays keeps the earliest;
// - add_rate_limited(key) queues it after a per-key exponential back-off (base doubling per
//   failure up to a cap); forget(key) resets it after a success;
// - get() blocks until a key is ready or shutdown(); after shutdown() it returns nullopt at
//   once and queued keys are dropped.
// Thread-safe. The clock is injectable: tests move a fake one and use try_get().
#include "operator/k8s/clock.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace trib::op::k8s {

// Per-key exponential back-off: base * 2^(failures so far), at most `cap`.
class backoff {
public:
    backoff(std::chrono::milliseconds base = std::chrono::milliseconds(5),
            std::chrono::milliseconds cap = std::chrono::minutes(5))
        : _base(base), _cap(cap) {}
    // The delay before the next retry of `key`; counts one more failure.
    std::chrono::milliseconds when(const std::string& key);
    void forget(const std::string& key) { _failures.erase(key); }
    int failures(const std::string& key) const;

private:
    std::chrono::milliseconds _base, _cap;
    std::map<std::string, int> _failures;
};

class work_queue {
public:
    explicit work_queue(const clock& c = system_clock(), backoff limiter = backoff());
    work_queue(const work_queue&) = delete;
    work_queue& operator=(const work_queue&) = delete;

    void add(const std::string& key);
    void add_after(const std::string& key, std::chrono::milliseconds delay);
    void add_rate_limited(const std::string& key);
    // Resets the key's back-off (call after a successful reconcile).
    void forget(const std::string& key);
    // Failures counted for the key since the last forget().
    int requeues(const std::string& key) const;

    // The next key to process, blocking; nullopt once shut down. Call done(key) after.
    std::optional<std::string> get();
    // As get() without blocking: nullopt when nothing is ready now.
    std::optional<std::string> try_get();
    void done(const std::string& key);

    void shutdown();
    bool shutting_down() const;
    // Keys ready to be handed out (not those waiting for a delay or in process).
    size_t ready() const;

private:
    void add_locked(const std::string& key);
    // Moves keys whose delay has passed to the queue; the earliest still waiting, if any.
    std::optional<std::chrono::steady_clock::time_point> promote_locked();
    std::optional<std::string> pop_locked();

    const clock& _clock;
    mutable std::mutex _mu;
    std::condition_variable _cv;
    backoff _limiter;
    std::deque<std::string> _queue;
    std::set<std::string> _dirty;      // queued, or added again while processing
    std::set<std::string> _processing; // handed out, not yet done()
    std::map<std::string, std::chrono::steady_clock::time_point> _waiting; // key → when it is due
    bool _shutdown = false;
};

} // namespace trib::op::k8s
