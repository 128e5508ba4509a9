#pragma once

// One io_context per core (DESIGN.md, Runtime). State owned by a core is touched only from
// that core's thread; other cores post work to it instead of taking a lock.
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <type_traits>

#include <memory>
#include <thread>
#include <vector>

namespace trib {

namespace asio = boost::asio;

class io_pool {
public:
    explicit io_pool(size_t cores);
    io_pool(const io_pool&) = delete;
    io_pool& operator=(const io_pool&) = delete;
    ~io_pool();

    size_t size() const noexcept { return _contexts.size(); }
    asio::io_context& context(size_t core) { return *_contexts[core]; }
    asio::io_context::executor_type executor(size_t core) { return _contexts[core]->get_executor(); }
    // The core whose thread is calling, or size() when called from elsewhere.
    size_t current_core() const noexcept;

    // Runs every context on a thread of its own; returns at once.
    void start();
    // Stops every context and joins the threads.
    void stop();

private:
    using guard = asio::executor_work_guard<asio::io_context::executor_type>;
    // An io_context whose pending handlers can be destroyed before the object itself: the
    // pool shuts every core's context down first and destroys them after, so a handler
    // destroyed on one core that refers to another core's context (a cross-core hop still in
    // flight at exit) finds it alive. Destroyed one by one, the second was already gone
    // (ASan: heap-use-after-free at broker shutdown).
    struct core_context : asio::io_context {
        using asio::io_context::io_context;
        using asio::io_context::shutdown;
    };
    std::vector<std::unique_ptr<core_context>> _contexts;
    std::vector<guard> _guards;
    std::vector<std::thread> _threads;
};

// Completion handler for co_spawn: logs the exception a coroutine ended with, if any, as
// "<what> failed: <reason>". Never fire and forget without it.
void log_failed_coroutine(std::exception_ptr e, const char* what);

// Runs the plain function `f` on `target` (another core, or a service's thread) and resumes
// the awaiting coroutine on its own executor with f's result. An exception thrown by f is
// rethrown in the awaiting coroutine. Cheaper than co_spawn for work that doesn't suspend,
// and R only needs to be default-constructible and movable.
template<typename Executor, typename F, typename R = std::invoke_result_t<F&>>
asio::awaitable<R> run_on(Executor target, F f) {
    // Asio's use_awaitable initiation is itself a coroutine taking its arguments by value, and
    // g++ 12 miscopies by-value coroutine arguments that hold short (in-place) strings. Only a
    // pointer crosses into it.
    auto fn = std::make_shared<F>(std::move(f));
    return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, R)>(
        [target, fn](auto handler) mutable {
            asio::post(target, [fn = std::move(fn), handler = std::move(handler)]() mutable {
                std::exception_ptr error;
                R r{};
                try {
                    r = (*fn)();
                } catch (...) {
                    error = std::current_exception();
                }
                fn.reset();
                auto ex = asio::get_associated_executor(handler);
                asio::post(ex, [handler = std::move(handler), error, r = std::move(r)]() mutable {
                    handler(error, std::move(r));
                });
            });
        },
        asio::use_awaitable);
}

} // namespace trib
