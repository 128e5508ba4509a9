#include "common/runtime.h"

#include "common/log.h"

namespace trib {
namespace {
thread_local size_t this_core = SIZE_MAX;
}

void log_failed_coroutine(std::exception_ptr e, const char* what) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        TLOG_ERROR("{} failed: {}", what, ex.what());
    } catch (...) {
        TLOG_ERROR("{} failed", what);
    }
}

io_pool::io_pool(size_t cores) {
    if (cores == 0) {
        cores = 1;
    }
    for (size_t i = 0; i < cores; ++i) {
        _contexts.push_back(std::make_unique<core_context>(1));
    }
}

io_pool::~io_pool() {
    stop();
    for (auto& c : _contexts) {
        c->shutdown();  // every pending handler destroyed while every context still exists
    }
}

size_t io_pool::current_core() const noexcept {
    return this_core < _contexts.size() ? this_core : _contexts.size();
}

void io_pool::start() {
    for (size_t i = 0; i < _contexts.size(); ++i) {
        _guards.emplace_back(_contexts[i]->get_executor());
        _threads.emplace_back([this, i] {
            this_core = i;
            for (;;) {
                try {
                    _contexts[i]->run();
                    return;
                } catch (const std::exception& e) {
                    // A handler that throws is a broken invariant; log it and keep the core alive.
                    TLOG_ERROR("core {}: unhandled exception: {}", i, e.what());
                }
            }
        });
    }
}

void io_pool::stop() {
    _guards.clear();
    for (auto& c : _contexts) {
        c->stop();
    }
    for (auto& t : _threads) {
        if (t.joinable()) {
            t.join();
        }
    }
    _threads.clear();
}

} // namespace trib
