#include "storage/log.h"
#include "storage/syncer.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/storage_fake_clock.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <sys/stat.h>

#include <filesystem>
#include <thread>
#include <unistd.h>

namespace trib::storage {
namespace {

using namespace testing;
using fakes::temp_dir;

// An fsync hook the test holds shut: calls from threads other than the test's own block
// until release(). Counts completed fsyncs.
class fsync_gate {
public:
    int operator()(int fd) {
        std::unique_lock lk(_mu);
        if (std::this_thread::get_id() != _owner) {
            ++_entered;
            _cv.notify_all();
            _cv.wait(lk, [&] { return _open; });
        }
        lk.unlock();
        int rc = ::fdatasync(fd);
        std::lock_guard g(_mu);
        ++_completed;
        return rc;
    }
    void wait_entered(int n) {
        std::unique_lock lk(_mu);
        _cv.wait(lk, [&] { return _entered >= n; });
    }
    void release() {
        std::lock_guard g(_mu);
        _open = true;
        _cv.notify_all();
    }
    int completed() {
        std::lock_guard g(_mu);
        return _completed;
    }

private:
    std::mutex _mu;
    std::condition_variable _cv;
    std::thread::id _owner = std::this_thread::get_id();
    bool _open = false;
    int _entered = 0;
    int _completed = 0;
};

// Counts callbacks and lets the test wait for them.
class completions {
public:
    std::function<void(std::error_code)> callback(fsync_gate* gate = nullptr) {
        return [this, gate](std::error_code ec) {
            std::lock_guard g(_mu);
            EXPECT_FALSE(ec) << ec.message();
            if (gate) {
                EXPECT_GE(gate->completed(), 1);  // after an fsync, never before
            }
            ++_n;
            _cv.notify_all();
        };
    }
    void wait(int n) {
        std::unique_lock lk(_mu);
        _cv.wait(lk, [&] { return _n >= n; });
    }

private:
    std::mutex _mu;
    std::condition_variable _cv;
    int _n = 0;
};

TEST(syncer, waiting_requests_share_one_fsync) {
    fsync_gate gate;
    syncer s(std::ref(gate));
    s.start();
    temp_dir dir;
    auto l = log::open(dir.path(), {}, system_clock(), &s);
    ASSERT_TRUE(l);
    completions done;
    const int n = 100;
    append_ok(**l, {});
    (*l)->sync(offset(0), done.callback(&gate));
    gate.wait_entered(1);  // the syncer is inside the first fsync; the rest queue up
    for (int i = 1; i < n; ++i) {
        auto r = append_ok(**l, {.seed = uint32_t(i)});
        (*l)->sync(r.last, done.callback(&gate));
    }
    gate.release();
    done.wait(n);
    EXPECT_EQ(s.round_count(), 2u);
    EXPECT_LE(s.fsync_count(), 2u);  // far fewer than 100
    s.stop();
    (*l)->close();
}

TEST(syncer, concurrent_logs_on_several_threads_share_rounds) {
    fsync_gate gate;
    syncer s(std::ref(gate));
    s.start();
    const int threads = 4, per_thread = 25;
    std::vector<std::unique_ptr<temp_dir>> dirs;
    std::vector<std::unique_ptr<log>> logs;
    for (int t = 0; t < threads; ++t) {
        dirs.push_back(std::make_unique<temp_dir>());
        auto l = log::open(dirs.back()->path(), {.fsync_each_append = true}, system_clock(), &s);
        ASSERT_TRUE(l);
        logs.push_back(std::move(*l));
    }
    completions done;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                auto r = append_ok(*logs[size_t(t)], {.seed = uint32_t(i)});
                logs[size_t(t)]->sync(r.last, done.callback(&gate));
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    gate.release();
    done.wait(threads * per_thread);
    // The first round held at most a few requests; everything else waited for one more round.
    EXPECT_LE(s.fsync_count(), uint64_t(2 * threads));
    EXPECT_LE(s.round_count(), 2u);
    s.stop();
    for (auto& l : logs) {
        l->close();
    }
}

TEST(syncer, segments_rolled_truncated_and_deleted_while_syncing) {
    fsync_gate gate;
    syncer s(std::ref(gate));
    s.start();
    temp_dir dir;
    log_config cfg{.segment_bytes = 500, .retention_ms = -1, .retention_bytes = 0};
    auto l = log::open(dir.path(), cfg, system_clock(), &s);
    ASSERT_TRUE(l);
    completions done;
    append_ok(**l, {.payload = 39});
    (*l)->sync(offset(0), done.callback());
    gate.wait_entered(1);  // the syncer holds segment 0's file
    int requests = 1;
    for (int i = 0; i < 40; ++i) {  // rolls every 5 batches, each roll queues a sync
        auto r = append_ok(**l, {.payload = 39, .seed = uint32_t(i)});
        (*l)->sync(r.last, done.callback());
        ++requests;
    }
    auto deleted = (*l)->apply_retention();  // deletes every segment but the active one
    ASSERT_TRUE(deleted);
    EXPECT_GT(*deleted, 5u);
    ASSERT_TRUE((*l)->truncate(offset(38)));
    gate.release();
    done.wait(requests);
    s.stop();
    EXPECT_EQ((*l)->next_offset(), offset(38));
    EXPECT_EQ(append_ok(**l, {}).base, offset(38));
    (*l)->close();
}

TEST(syncer, stop_completes_queued_requests_and_later_ones_run_inline) {
    syncer s;
    s.start();
    temp_dir dir;
    auto l = log::open(dir.path(), {}, system_clock(), &s);
    ASSERT_TRUE(l);
    completions done;
    for (int i = 0; i < 10; ++i) {
        auto r = append_ok(**l, {});
        (*l)->sync(r.last, done.callback());
    }
    s.stop();
    done.wait(10);
    bool inline_done = false;
    (*l)->sync(offset(0), [&](std::error_code ec) { inline_done = !ec; });
    EXPECT_TRUE(inline_done);
    (*l)->close();
}

TEST(syncer, fsync_errors_reach_the_callback) {
    syncer s([](int) {
        errno = EIO;
        return -1;
    });
    s.start();
    temp_dir dir;
    auto l = log::open(dir.path(), {}, system_clock(), &s);
    ASSERT_TRUE(l);
    append_ok(**l, {});
    std::mutex mu;
    std::condition_variable cv;
    std::optional<std::error_code> got;
    (*l)->sync(offset(0), [&](std::error_code ec) {
        std::lock_guard g(mu);
        got = ec;
        cv.notify_all();
    });
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return got.has_value(); });
    EXPECT_EQ(*got, errc::io_error);
    lk.unlock();
    s.stop();
}

TEST(sync_progress, a_request_from_before_a_truncation_does_not_advance) {
    sync_progress p(100);
    auto epoch = p.epoch();
    p.lower(50);
    EXPECT_EQ(p.durable(), 50);
    p.advance(120, epoch);  // covered the old data only
    EXPECT_EQ(p.durable(), 50);
    p.advance(60, p.epoch());
    EXPECT_EQ(p.durable(), 60);
    p.advance(55, p.epoch());
    EXPECT_EQ(p.durable(), 60);
}

ino_t inode_of(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
}

ino_t inode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_ino;
}

// Records the writeback ranges the syncer starts (the file by inode: the fd may be reused).
class writeback_log {
public:
    int operator()(int fd, uint64_t from, uint64_t len) {
        std::lock_guard g(_mu);
        _ranges.push_back({inode_of(fd), from, len});
        return 0;
    }
    struct range {
        ino_t file;
        uint64_t from;
        uint64_t len;
    };
    std::vector<range> ranges() {
        std::lock_guard g(_mu);
        return _ranges;
    }

private:
    std::mutex _mu;
    std::vector<range> _ranges;
};

constexpr uint64_t batch_bytes = batch_header::size + 10000;  // {.payload = 10000}

TEST(syncer, appends_hand_whole_pages_to_writeback_every_writeback_bytes) {
    writeback_log started;
    syncer s({}, std::ref(started));
    s.start();
    temp_dir dir;
    log_config cfg{.segment_bytes = 1 << 20, .retention_ms = -1};
    cfg.writeback_bytes = 64 << 10;
    auto l = log::open(dir.path(), cfg, system_clock(), &s);
    ASSERT_TRUE(l);
    const ino_t segment0 = inode_of(dir.path() / "00000000000000000000.log");
    uint64_t appended = 0;
    while (appended < (300u << 10)) {
        appended = append_ok(**l, {.payload = 10000}).position + batch_bytes;
    }
    s.stop();  // runs what is queued
    auto ranges = started.ranges();
    ASSERT_EQ(ranges.size(), 4u);  // at 64, 128, 192 and 256 KiB of whole pages, at least
    uint64_t next = 0;
    for (const auto& r : ranges) {
        EXPECT_EQ(r.file, segment0);
        EXPECT_EQ(r.from, next);  // contiguous, from the segment's start
        EXPECT_EQ(r.len % 4096, 0u);
        EXPECT_GE(r.len, 64u << 10);
        EXPECT_LT(r.len, (64u << 10) + batch_bytes + 4096);  // asked as soon as a batch crossed the mark
        next = r.from + r.len;
    }
    EXPECT_LE(next, appended);
    EXPECT_GT(appended - next, 0u);  // the rest waits for the next 64 KiB
    EXPECT_EQ(s.writeback_count(), 4u);
    (*l)->close();
}

TEST(syncer, writeback_starts_again_from_the_start_of_a_new_segment_and_is_off_at_zero) {
    writeback_log started;
    syncer s({}, std::ref(started));  // not started: inline
    temp_dir dir;
    log_config cfg{.segment_bytes = 100 << 10, .retention_ms = -1};
    cfg.writeback_bytes = 32 << 10;
    auto l = log::open(dir.path(), cfg, system_clock(), &s);
    ASSERT_TRUE(l);
    for (int i = 0; i < 14; ++i) {  // 10 batches fill segment 0; the 11th rolls
        append_ok(**l, {.payload = 10000, .seed = uint32_t(i)});
    }
    const auto second = dir.path() / "00000000000000000010.log";
    ASSERT_TRUE(std::filesystem::exists(second));
    auto ranges = started.ranges();
    ASSERT_GE(ranges.size(), 2u);
    EXPECT_EQ(ranges.front().file, inode_of(dir.path() / "00000000000000000000.log"));
    EXPECT_EQ(ranges.back().file, inode_of(second));
    EXPECT_EQ(ranges.back().from, 0u);  // the new segment from its start
    const size_t before = ranges.size();

    cfg.writeback_bytes = 0;
    (*l)->update_config(cfg);
    for (int i = 0; i < 10; ++i) {
        append_ok(**l, {.payload = 10000, .seed = uint32_t(100 + i)});
    }
    EXPECT_EQ(started.ranges().size(), before);
    (*l)->close();
}

TEST(syncer, writeback_through_the_kernel_leaves_the_data_readable) {
    syncer s;  // ::sync_file_range
    s.start();
    temp_dir dir;
    log_config cfg{.retention_ms = -1};
    cfg.writeback_bytes = 16 << 10;
    auto l = log::open(dir.path(), cfg, system_clock(), &s);
    ASSERT_TRUE(l);
    for (int i = 0; i < 20; ++i) {
        append_ok(**l, {.payload = 5000, .seed = uint32_t(i)});
    }
    s.stop();
    EXPECT_GE(s.writeback_count(), 5u);
    auto seen = read_all(**l);
    ASSERT_EQ(seen.size(), 20u);
    EXPECT_EQ(seen.back().base, 19);
    (*l)->close();
}

TEST(syncer, a_flush_for_age_goes_to_the_syncer_thread_and_one_for_count_stays_inline) {
    fsync_gate gate;  // this thread's fsyncs pass; the syncer thread's wait for release()
    syncer s(std::ref(gate));
    s.start();
    temp_dir dir;
    trib::storage::testing::fake_clock clk;
    auto l = log::open(dir.path(), {.flush_messages = 10, .flush_ms = 1000}, clk, &s);
    ASSERT_TRUE(l);
    const offset rp0 = (*l)->checkpointed_recovery_point();
    append_ok(**l, {});
    clk.advance(1000);
    // The oldest unflushed record is flush.ms old: the flush is the syncer's, held shut in its
    // fsync, and both this call and the next append return meanwhile.
    ASSERT_TRUE((*l)->maybe_flush());
    ASSERT_EQ(gate.completed(), 0) << "an fsync ran on the appending thread";
    gate.wait_entered(1);
    append_ok(**l, {});
    EXPECT_EQ((*l)->checkpointed_recovery_point(), rp0);
    gate.release();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (gate.completed() < 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_EQ(gate.completed(), 1);
    EXPECT_EQ(s.round_count(), 1u);

    // flush.messages: the append that reaches 10 records since that flush fsyncs before it
    // returns, on this thread (the gate lets it through), and checkpoints its end.
    for (int i = 0; i < 8; ++i) {
        append_ok(**l, {});
    }
    EXPECT_EQ(gate.completed(), 1);
    auto last = append_ok(**l, {});
    EXPECT_GT(gate.completed(), 1);
    EXPECT_EQ((*l)->checkpointed_recovery_point(), last.last + 1);
    EXPECT_EQ(s.round_count(), 1u);  // nothing more went to the syncer
    s.stop();
    (*l)->close();
}

} // namespace
} // namespace trib::storage
