#pragma once

// Lowers this process's file size limit (RLIMIT_FSIZE) for a test's scope, so that a write
// past it fails with EFBIG as the kernel answers it (SIGXFSZ ignored meanwhile): a real
// write error without a full disk. Restores both on destruction. ctest runs each test in a
// process of its own.
#include <gtest/gtest.h>

#include <csignal>
#include <sys/resource.h>

namespace trib::fakes {

class file_size_limit {
public:
    explicit file_size_limit(rlim_t bytes) {
        EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &_saved), 0);
        _old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lim = _saved;
        lim.rlim_cur = bytes;
        EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    }
    ~file_size_limit() {
        ::setrlimit(RLIMIT_FSIZE, &_saved);
        std::signal(SIGXFSZ, _old_handler);
    }
    file_size_limit(const file_size_limit&) = delete;
    file_size_limit& operator=(const file_size_limit&) = delete;

private:
    rlimit _saved{};
    void (*_old_handler)(int) = nullptr;
};

} // namespace trib::fakes
