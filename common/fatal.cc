#include "common/fatal.h"

#include "common/log.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>

namespace trib::log {

namespace {
std::mutex termination_mu;
std::string termination_path;
} // namespace

void set_termination_message_path(std::string path) {
    std::lock_guard g(termination_mu);
    termination_path = std::move(path);
}

void fatal(std::string_view why) {
    TLOG_ERROR("{}", why);
    std::string path;
    {
        std::lock_guard g(termination_mu);
        path = termination_path;
    }
    // No O_CREAT: outside Kubernetes there is no such file, and /dev is no place to make one.
    if (int fd = path.empty() ? -1 : ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC); fd >= 0) {
        std::string_view rest = why.substr(0, std::min<size_t>(why.size(), 4096));
        while (!rest.empty()) {
            ssize_t n = ::write(fd, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            rest.remove_prefix(size_t(n));
        }
        ::close(fd);
    }
    spdlog::default_logger()->flush();
}

} // namespace trib::log
