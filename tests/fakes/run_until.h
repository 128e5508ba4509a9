#pragma once

#include "common/runtime.h"

#include <chrono>
#include <functional>

namespace trib::fakes {

// Runs `ctx` until `done()` holds or `limit` passes; returns done(). Tests on real loopback
// sockets use it so that no wait is longer than the condition needs.
inline bool run_until(asio::io_context& ctx, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        ctx.run_for(std::chrono::milliseconds(10));
        if (ctx.stopped()) {
            ctx.restart();
        }
    }
    return done();
}

} // namespace trib::fakes
