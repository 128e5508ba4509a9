#include "admin/commands.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>

namespace trib::admin {

int run_on_io_context(const std::function<asio::awaitable<int>(asio::any_io_executor)>& body) {
    asio::io_context ctx;
    int rc = 1;
    asio::co_spawn(ctx, body(ctx.get_executor()), [&rc](std::exception_ptr e, int r) {
        if (e) {
            log_failed_coroutine(e, "tributary-admin");
        } else {
            rc = r;
        }
    });
    ctx.run();
    return rc;
}

int report_failure(const char* command, const std::string& why, int status) {
    std::fprintf(stderr, "tributary-admin %s: %s\n", command, why.c_str());
    return status;
}

} // namespace trib::admin
