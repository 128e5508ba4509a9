#pragma once

// A callback run every interval on one io_context until stop(). For a process's main loop,
// whose io_context.run() returns (and whose shutdown proceeds) only once no timer is armed.
//
// cancel() on an Asio timer cannot recall a completion that is already queued: when the
// timer expired in the same reactor pass as the handler that stops it, the wait completes
// with success after the cancel, and a handler that re-arms on success keeps the io_context
// alive for good. A broker stopping on SIGTERM hung that way (the once-a-second tick had
// expired beside the controlled-shutdown poll that stopped it). stop() here sets a flag the
// completion checks, so no callback runs and nothing is re-armed after it (a completion
// from before a stop and a new start doesn't run either: each start is a new generation).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace trib {

class repeating_timer {
public:
    repeating_timer(boost::asio::io_context& ctx, std::chrono::milliseconds interval, std::function<void()> fn)
        : _timer(ctx), _interval(interval), _fn(std::move(fn)) {}
    repeating_timer(const repeating_timer&) = delete;
    repeating_timer& operator=(const repeating_timer&) = delete;

    // The first run comes one interval from now. Call start and stop on the io_context's
    // thread, or before it runs.
    void start() { arm(++_generation); }
    void stop() {
        ++_generation;
        _timer.cancel();
    }

private:
    void arm(uint64_t generation) {
        _timer.expires_after(_interval);
        _timer.async_wait([this, generation](boost::system::error_code ec) {
            if (ec || generation != _generation) {
                return;
            }
            _fn();
            if (generation == _generation) {  // _fn may have stopped it
                arm(generation);
            }
        });
    }

    boost::asio::steady_timer _timer;
    std::chrono::milliseconds _interval;
    std::function<void()> _fn;
    uint64_t _generation = 0;
};

} // namespace trib
