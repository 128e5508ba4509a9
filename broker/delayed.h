#pragma once

// Delayed operations (Kafka's purgatory): a request that must wait for something to happen
// to a partition (a fetch for bytes, an acks=all produce for the high watermark, later a
// join or sync for members) waits without holding a thread, until the event or its deadline.
//
// Two halves, because a request lives on its connection's core and the partitions it waits
// on live on their owner cores:
//   - `waiter`, on the request's core: the request's deadline and wake-up. The request
//     checks its condition, and when it must wait, registers the waiter with each partition
//     involved, then `co_await wait_until(deadline)`; woken, it checks again (one hop per
//     owner core), so the decision is always made against the partitions' current state.
//     (An acks=all produce skips that hop for batches its watch saw committed: the watch's
//     condition records what it saw on the owner core before the wake, see produce.cc.)
//   - `watch_list`, on a partition's owner core: the waiters and, for each, the condition
//     it waits for, cheap to test there (an offset compared with the log end or high
//     watermark). The partition runs check() after each event (append, high watermark
//     moved) and wake_all() when its state changes (leadership, stop), so a waiter is woken
//     only when its condition holds or the answer may have changed.
#include "common/runtime.h"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace trib::broker {

class waiter : public std::enable_shared_from_this<waiter> {
public:
    using clock = std::chrono::steady_clock;

    explicit waiter(asio::any_io_executor ex) : _ex(ex), _timer(ex) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    // From any thread: ends the current wait, or the next one if none is under way.
    void wake();
    // On the waiter's executor: until wake() or `deadline`. Returns whether it was woken (a
    // wake that came before the call ends it at once).
    asio::awaitable<bool> wait_until(clock::time_point deadline);

private:
    asio::any_io_executor _ex;
    asio::steady_timer _timer;
    std::atomic<bool> _woken{false};
};

// On one core only.
class watch_list {
public:
    // Wakes `w` at the first check() where `ready()` holds, or at wake_all(). A waiter added
    // again replaces its earlier watch (a request re-registers on every pass). Drops the
    // watches of requests that have gone, so a partition without events (where check() never
    // runs) keeps only its live waiters.
    void add(const std::shared_ptr<waiter>& w, std::function<bool()> ready);
    // After an event: wakes and drops the watches whose condition holds, and drops those whose
    // request has gone.
    void check();
    // The state the conditions were about changed (leadership, the partition stopped): every
    // waiter looks again.
    void wake_all();
    size_t size() const noexcept { return _watches.size(); }

private:
    struct watch {
        std::weak_ptr<waiter> w;
        std::function<bool()> ready;
    };
    std::vector<watch> _watches;
};

// A partition's change stamps, readable on any core, so that an incremental fetch can leave
// out, without a hop to the owner core, the partitions of its session that have nothing new
// (broker/README.md, "Fetch sessions that skip idle partitions"). The owner core bumps them
// whenever something a fetch's answer depends on changes: records appended or cut, the high
// watermark or log start moved, leadership, epoch, ISR or replicas changed, the partition
// stopped. A fetch that read the partition to its end keeps the stamp it saw there; while
// the stamp stays, a read would answer the same again.
//
// Two stamps, because a leader's append that doesn't move the high watermark is news to its
// followers (they copy up to the log end) and not to consumers (they read below the high
// watermark): `all` moves on every change, `visible` on every change but such an append.
//
// A fetch that waits registers its waiter for the partitions it left out; the next bump
// that concerns it wakes it (a follower's at any bump, a consumer's at a visible one).
// Register, then compare the stamp: a bump after the registration wakes the waiter, one
// before it shows in the stamp.
struct news_subscription;

class partition_news {
public:
    enum class reader : uint8_t { follower, consumer };

    // Any core.
    uint64_t stamp(reader r) const noexcept {
        return (r == reader::follower ? _all : _visible).load(std::memory_order_seq_cst);
    }
    void watch(const std::shared_ptr<waiter>& w, reader r);

    // A session entry's standing subscription (below): every later bump that concerns its
    // reader posts it, until the subscription is dropped. Any core. Subscribe, then compare
    // the stamp, as for watch().
    void subscribe(const std::shared_ptr<news_subscription>& s);

    // The owner core: something changed; `visible` false for a leader's append that left the
    // high watermark where it was.
    void bump(bool visible = true);

    size_t watchers() const;
    size_t subscribers() const;

private:
    std::atomic<uint64_t> _all{1};
    std::atomic<uint64_t> _visible{1};
    std::atomic<bool> _followers_watch{false};
    std::atomic<bool> _consumers_watch{false};
    mutable std::mutex _mu;
    std::vector<std::weak_ptr<waiter>> _followers;
    std::vector<std::weak_ptr<waiter>> _consumers;
    std::atomic<bool> _subscribed{false};
    std::vector<std::weak_ptr<news_subscription>> _subscriptions;  // dropped ones go at the next bump
};

// A fetch session's mailbox (fetch_session.h): the partitions of a session that have nothing
// new stay subscribed to their news, and the first bump after that posts the entry's token
// here. A fetch of the session drains it, to read those again, and a fetch that waits is
// woken by a post: one registration however many partitions the session leaves out.
class session_inbox {
public:
    // Any core: adds `token` and wakes the fetch waiting, if any.
    void post(uint64_t token);
    // Whether a post is waiting to be drained.
    bool pending() const noexcept { return _pending.load(std::memory_order_seq_cst); }
    // Wakes `w` at the next post; returns true, without registering, when one is already
    // waiting (the caller drains it instead of waiting).
    bool watch(const std::shared_ptr<waiter>& w);
    // The tokens posted since the last drain, each once per post.
    std::vector<uint64_t> drain();

private:
    mutable std::mutex _mu;
    std::vector<uint64_t> _posted;
    std::weak_ptr<waiter> _waiter;
    std::atomic<bool> _pending{false};
};

// One session entry's subscription to its partition's news. `posted` is set by the bump that
// posts the token, cleared by the session when it drains it, so a partition bumped a
// thousand times between two fetches posts once.
struct news_subscription {
    news_subscription(std::shared_ptr<session_inbox> i, uint64_t t, partition_news::reader r)
      : inbox(std::move(i)), token(t), reader(r) {}
    std::shared_ptr<session_inbox> inbox;
    uint64_t token;
    partition_news::reader reader;
    std::atomic<bool> posted{false};
};

} // namespace trib::broker
