// Crash tests: a child process appends to a log and reports every acknowledged batch through a
// pipe; the parent SIGKILLs it at random moments, reopens the log, and checks that every
// acknowledged batch is there, intact, and that the log is a clean run of valid batches.
// Bounded to a few seconds per variant; no timing assertions (delays only pick kill moments).
#include "common/log.h"
#include "storage/log.h"
#include "storage/syncer.h"
#include "storage/written_marks.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <csignal>
#include <future>
#include <map>
#include <poll.h>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;

struct ack {
    int64_t base;
    int64_t last;
    uint32_t crc;   // the batch's CRC field: covers everything after it
    uint32_t size;
};
static_assert(sizeof(ack) == 24 && sizeof(ack) <= PIPE_BUF, "atomic pipe writes");

log_config crash_config(bool fsync, bool direct) {
    return {.segment_bytes = 64 * 1024, .index_interval_bytes = 1024, .fsync_each_append = fsync,
            .direct_writes = direct, .direct_min_bytes = 1500};  // batches of 81-3080 bytes: both ways
}

// With `marks`, the log lives in `dir`/p-0 and the written marks of `dir` are rewritten every
// few milliseconds, so kills land before, during and after their writes.
std::unique_ptr<written_marks> marks_for(const std::filesystem::path& dir, bool marks) {
    return marks ? std::make_unique<written_marks>(dir, std::chrono::milliseconds(3)) : nullptr;
}
std::filesystem::path log_dir(const std::filesystem::path& dir, bool marks) { return marks ? dir / "p-0" : dir; }

[[noreturn]] void run_child(const std::filesystem::path& dir, int out, bool fsync, bool direct, uint32_t seed,
                            bool marks) {
    spdlog::set_level(spdlog::level::err);
    syncer s;
    if (fsync) {
        s.start();
    }
    auto m = marks_for(dir, marks);
    auto l = log::open(log_dir(dir, marks), crash_config(fsync, direct), system_clock(), fsync ? &s : nullptr,
                       m.get());
    if (!l) {
        _exit(2);
    }
    std::mt19937 rng(seed);
    for (uint32_t i = 0;; ++i) {
        bytes b = testing::make_batch({.records = int32_t(1 + rng() % 5),
                                       .payload = 20 + rng() % 3000,
                                       .max_timestamp = 1'000'000 + i,
                                       .seed = uint32_t(rng())});
        auto r = (*l)->append(b);
        if (!r) {
            _exit(3);
        }
        if (fsync) {
            std::promise<std::error_code> p;
            auto f = p.get_future();
            (*l)->sync(r->last, [&p](std::error_code ec) { p.set_value(ec); });
            if (f.get()) {
                _exit(4);
            }
        } else {
            ::usleep(100);  // keep the log small: the point is where the kill lands
        }
        ack a{r->base.value(), r->last.value(), load_be32(b.data() + 17), uint32_t(b.size())};
        if (::write(out, &a, sizeof a) != sizeof a) {
            _exit(5);
        }
    }
}

void crash_rounds(bool fsync, int rounds, bool direct = false, bool marks = false) {
    temp_dir dir;
    std::mt19937 rng(fsync ? 1234 : 5678);
    std::vector<ack> acked;
    int64_t total_appended = 0;
    uint64_t trusted = 0;
    for (int round = 0; round < rounds; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            run_child(dir.path(), fds[1], fsync, direct, uint32_t(rng()), marks);
        }
        ::close(fds[1]);
        // Drain acknowledgements until the random kill moment.
        auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(5 + rng() % 150);
        std::vector<uint8_t> buf;
        auto drain = [&](int timeout_ms) {
            pollfd p{fds[0], POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) > 0) {
                uint8_t chunk[4096];
                ssize_t n = ::read(fds[0], chunk, sizeof chunk);
                if (n > 0) {
                    buf.insert(buf.end(), chunk, chunk + n);
                }
                return n > 0;
            }
            return false;
        };
        for (auto now = std::chrono::steady_clock::now(); now < kill_at; now = std::chrono::steady_clock::now()) {
            drain(int(std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - now).count()) + 1);
        }
        ::kill(pid, SIGKILL);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
        while (drain(0)) {
        }
        ::close(fds[0]);
        ASSERT_EQ(buf.size() % sizeof(ack), 0u);
        for (size_t i = 0; i < buf.size(); i += sizeof(ack)) {
            ack a;
            std::memcpy(&a, buf.data() + i, sizeof a);
            acked.push_back(a);
        }

        auto m = marks_for(dir.path(), marks);
        auto l = log::open(log_dir(dir.path(), marks), crash_config(fsync, direct), system_clock(), nullptr, m.get());
        ASSERT_TRUE(l) << l.error().message();
        auto all = read_all(**l);  // every batch valid, offsets contiguous
        ASSERT_FALSE(::testing::Test::HasFailure()) << "round " << round;
        EXPECT_EQ(all.empty() ? 0 : all.back().last + 1, (*l)->next_offset().value());
        std::map<int64_t, const seen_batch*> by_base;
        for (const auto& b : all) {
            by_base[b.base] = &b;
        }
        for (const auto& a : acked) {
            auto it = by_base.find(a.base);
            ASSERT_NE(it, by_base.end()) << "round " << round << ": acknowledged batch " << a.base << " lost";
            EXPECT_EQ(it->second->last, a.last);
            EXPECT_EQ(it->second->crc, a.crc);
            EXPECT_EQ(it->second->size, a.size);
        }
        total_appended = (*l)->next_offset().value();
        trusted += (*l)->opened_with().bytes_trusted;
        // Alternate: half the rounds the child finds a cleanly closed log, half a crashed one.
        if (round % 2 == 0) {
            (*l)->close();
        }
    }
    ::testing::Test::RecordProperty("acknowledged_batches", int(acked.size()));
    ::testing::Test::RecordProperty("offsets", int(total_appended));
    ::testing::Test::RecordProperty("bytes_trusted_by_marks", int(trusted));
    EXPECT_GT(acked.size(), size_t(rounds));  // the children did get work done
    EXPECT_GT(total_appended, 0);
    if (marks) {
        EXPECT_GT(trusted, 0u);  // recoveries did go through the marks
    }
}

TEST(crash, sigkill_with_group_commit_loses_no_acknowledged_batch) { crash_rounds(true, 30); }

TEST(crash, sigkill_without_fsync_keeps_every_appended_batch) { crash_rounds(false, 15); }

// Direct writes (the broker's default): what a completed O_DIRECT write put on the device
// survives the kill like page-cache data, and the zero padding after it is no corruption.
TEST(crash, sigkill_with_direct_writes_keeps_every_appended_batch) { crash_rounds(false, 15, true); }

// Written marks (the broker's default): recovery trusts, without CRC, what completed appends
// wrote according to a marks file rewritten every 3 ms, and still keeps every acknowledged
// batch and serves only valid ones; with direct writes, so the padding is crossed too.
TEST(crash, sigkill_with_written_marks_keeps_every_appended_batch) { crash_rounds(false, 20, false, true); }
TEST(crash, sigkill_with_written_marks_and_direct_writes_keeps_every_appended_batch) {
    crash_rounds(false, 20, true, true);
}

} // namespace
} // namespace trib::storage
