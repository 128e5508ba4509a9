#include "broker/delayed.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>

namespace trib::broker {

void waiter::wake() {
    if (_woken.exchange(true)) {
        return;  // a wake-up is already on its way
    }
    asio::post(_ex, [weak = weak_from_this()] {
        if (auto self = weak.lock()) {
            self->_timer.cancel();
        }
    });
}

asio::awaitable<bool> waiter::wait_until(clock::time_point deadline) {
    // The cancel a wake() posts runs on this executor after it set _woken, so it is never
    // missed: either it finds the timer waiting, or _woken is seen here first. A cancel left
    // over from a wake already seen ends a later wait early; the loop waits again.
    for (;;) {
        if (_woken.exchange(false)) {
            co_return true;
        }
        if (clock::now() >= deadline) {
            co_return false;
        }
        boost::system::error_code ec;
        _timer.expires_at(deadline);
        co_await _timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void watch_list::add(const std::shared_ptr<waiter>& w, std::function<bool()> ready) {
    // Drops the watches of requests that have gone on the way. A partition without events (no
    // appends, a still high watermark) never runs check(), and every fetch that waited on it,
    // a follower's every half second, would stay listed: the list grew without bound and this
    // scan took a third of the brokers' CPU in an RF=3 benchmark with idle topics beside.
    bool found = false;
    std::erase_if(_watches, [&](watch& x) {
        if (x.w.expired()) {
            return true;
        }
        if (!found && !x.w.owner_before(w) && !w.owner_before(x.w)) {
            x.ready = std::move(ready);
            found = true;
        }
        return false;
    });
    if (!found) {
        _watches.push_back({w, std::move(ready)});
    }
}

void watch_list::check() {
    std::erase_if(_watches, [](watch& x) {
        auto w = x.w.lock();
        if (!w) {
            return true;
        }
        if (x.ready()) {
            w->wake();
            return true;
        }
        return false;
    });
}

void watch_list::wake_all() {
    auto all = std::move(_watches);
    _watches.clear();
    for (auto& x : all) {
        if (auto w = x.w.lock()) {
            w->wake();
        }
    }
}

namespace {
// Adds `w` once; drops the waiters of requests that have gone on the way, so a partition
// that never changes keeps only live ones.
void add_once(std::vector<std::weak_ptr<waiter>>& list, const std::shared_ptr<waiter>& w) {
    bool found = false;
    std::erase_if(list, [&](const std::weak_ptr<waiter>& x) {
        if (x.expired()) {
            return true;
        }
        found = found || (!x.owner_before(w) && !w.owner_before(x));
        return false;
    });
    if (!found) {
        list.push_back(w);
    }
}

void wake(std::vector<std::weak_ptr<waiter>>& list) {
    for (auto& x : list) {
        if (auto w = x.lock()) {
            w->wake();
        }
    }
}
} // namespace

void partition_news::watch(const std::shared_ptr<waiter>& w, reader r) {
    std::lock_guard lock(_mu);
    if (r == reader::follower) {
        add_once(_followers, w);
        _followers_watch.store(true, std::memory_order_seq_cst);
    } else {
        add_once(_consumers, w);
        _consumers_watch.store(true, std::memory_order_seq_cst);
    }
}

void partition_news::subscribe(const std::shared_ptr<news_subscription>& s) {
    std::lock_guard lock(_mu);
    std::erase_if(_subscriptions, [](const std::weak_ptr<news_subscription>& x) { return x.expired(); });
    _subscriptions.push_back(s);
    _subscribed.store(true, std::memory_order_seq_cst);
}

void partition_news::bump(bool visible) {
    _all.fetch_add(1, std::memory_order_seq_cst);
    if (visible) {
        _visible.fetch_add(1, std::memory_order_seq_cst);
    }
    // Seen unset, the registration comes after the bump above, and its caller sees the stamp.
    bool followers = _followers_watch.load(std::memory_order_seq_cst);
    bool consumers = visible && _consumers_watch.load(std::memory_order_seq_cst);
    bool subscribed = _subscribed.load(std::memory_order_seq_cst);
    if (!followers && !consumers && !subscribed) {
        return;
    }
    std::vector<std::weak_ptr<waiter>> woken_followers, woken_consumers;
    {
        std::lock_guard lock(_mu);
        if (subscribed) {
            // Posted under the lock (the inbox's lock nests inside this one, never the other
            // way round): no copy of the list on the append path.
            std::erase_if(_subscriptions, [visible](const std::weak_ptr<news_subscription>& x) {
                auto sub = x.lock();
                if (!sub) {
                    return true;
                }
                if ((visible || sub->reader == reader::follower) && !sub->posted.exchange(true)) {
                    sub->inbox->post(sub->token);
                }
                return false;
            });
            _subscribed.store(!_subscriptions.empty(), std::memory_order_seq_cst);
        }
        if (followers) {
            woken_followers.swap(_followers);
            _followers_watch.store(false, std::memory_order_seq_cst);
        }
        if (consumers) {
            woken_consumers.swap(_consumers);
            _consumers_watch.store(false, std::memory_order_seq_cst);
        }
    }
    wake(woken_followers);
    wake(woken_consumers);
}

size_t partition_news::watchers() const {
    std::lock_guard lock(_mu);
    return _followers.size() + _consumers.size();
}

size_t partition_news::subscribers() const {
    std::lock_guard lock(_mu);
    return size_t(std::count_if(_subscriptions.begin(), _subscriptions.end(),
                                [](const std::weak_ptr<news_subscription>& x) { return !x.expired(); }));
}

void session_inbox::post(uint64_t token) {
    std::shared_ptr<waiter> w;
    {
        std::lock_guard lock(_mu);
        _posted.push_back(token);
        _pending.store(true, std::memory_order_seq_cst);
        w = std::exchange(_waiter, {}).lock();
    }
    if (w) {
        w->wake();
    }
}

bool session_inbox::watch(const std::shared_ptr<waiter>& w) {
    std::lock_guard lock(_mu);
    if (!_posted.empty()) {
        return true;
    }
    _waiter = w;
    return false;
}

std::vector<uint64_t> session_inbox::drain() {
    std::lock_guard lock(_mu);
    _pending.store(false, std::memory_order_seq_cst);
    return std::exchange(_posted, {});
}

} // namespace trib::broker
