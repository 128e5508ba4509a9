// A log whose files fail a write or a sync (log::failed): the operation that met the error
// returns it, the owner hears of it once, and the log takes no more writes.
#include "storage/errc.h"
#include "storage/log.h"
#include "storage/syncer.h"
#include "tests/fakes/file_size_limit.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/temp_dir.h"
#include "tests/unit/storage/storage_test_util.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib::storage {
namespace {

using fakes::file_size_limit;
using fakes::temp_dir;
using testing::append_ok;
using testing::make_batch;
using testing::read_all;

// What the failure listener heard, and on which thread.
class failures {
public:
    std::function<void(const std::string&)> listener() {
        return [this](const std::string& what) {
            std::lock_guard g(_mu);
            _seen.push_back(what);
            _threads.push_back(std::this_thread::get_id());
            _cv.notify_all();
        };
    }
    void wait_for_one() {
        std::unique_lock lk(_mu);
        ASSERT_TRUE(_cv.wait_for(lk, std::chrono::seconds(30), [&] { return !_seen.empty(); }));
    }
    std::vector<std::string> seen() {
        std::lock_guard g(_mu);
        return _seen;
    }
    std::vector<std::thread::id> threads() {
        std::lock_guard g(_mu);
        return _threads;
    }

private:
    std::mutex _mu;
    std::condition_variable _cv;
    std::vector<std::string> _seen;
    std::vector<std::thread::id> _threads;
};

// Every write the log refuses once failed, each answering errc::log_failed.
void expect_writes_refused(log& l) {
    auto batch = make_batch({});
    auto a = l.append(batch);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error(), errc::log_failed);
    EXPECT_EQ(l.flush().error(), errc::log_failed);
    EXPECT_EQ(l.maybe_flush().error(), errc::log_failed);
    EXPECT_EQ(l.truncate(offset(0)).error(), errc::log_failed);
    EXPECT_EQ(l.truncate_fully_and_start_at(offset(0)).error(), errc::log_failed);
    EXPECT_EQ(l.advance_log_start_offset(offset(1)).error(), errc::log_failed);
    EXPECT_EQ(l.apply_retention().error(), errc::log_failed);
    EXPECT_EQ(l.begin_epoch(leader_epoch(7)).error(), errc::log_failed);
}

int failing_fdatasync(int) {
    errno = EIO;
    return -1;
}

TEST(log_failure, a_failed_background_sync_fails_the_log_on_the_syncer_thread) {
    syncer s(failing_fdatasync);
    s.start();
    temp_dir dir;
    failures heard;
    {
        auto l = log::open(dir.path(), {}, system_clock(), &s);
        ASSERT_TRUE(l);
        (*l)->set_failure_listener(heard.listener());
        append_ok(**l, {.records = 3});
        EXPECT_FALSE((*l)->failed());
        std::mutex mu;
        std::condition_variable cv;
        std::optional<std::error_code> got;
        (*l)->sync(offset(2), [&](std::error_code ec) {
            std::lock_guard g(mu);
            got = ec;
            cv.notify_all();
        });
        {
            std::unique_lock lk(mu);
            ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return got.has_value(); }));
            EXPECT_EQ(*got, errc::io_error);
        }
        heard.wait_for_one();
        EXPECT_TRUE((*l)->failed());
        ASSERT_EQ(heard.seen().size(), 1u);
        // The call, the file and the system's reason, for the broker's halt message.
        const std::string seg = (dir.path() / "00000000000000000000.log").string();
        EXPECT_EQ(heard.seen()[0], "fdatasync " + seg + ": " + std::strerror(EIO));
        EXPECT_NE(heard.threads()[0], std::this_thread::get_id()) << "heard on the appending thread";
        expect_writes_refused(**l);
        // Reads go on: the records appended before are still served.
        auto batches = read_all(**l);
        ASSERT_EQ(batches.size(), 1u);
        EXPECT_EQ(batches[0].last, 2);
        EXPECT_EQ(heard.seen().size(), 1u) << "the listener runs once";
        (*l)->close();
    }
    s.stop();
    // The close wrote no clean mark over files that failed: the next open scans them.
    auto again = log::open(dir.path(), {});
    ASSERT_TRUE(again);
    EXPECT_FALSE((*again)->opened_with().clean);
    EXPECT_EQ((*again)->next_offset(), offset(3));
    (*again)->close();
}

TEST(log_failure, an_append_whose_flush_messages_flush_fails_is_not_acknowledged) {
    // No syncer thread: the log's inline fsyncs go through the hook and fail.
    syncer s(failing_fdatasync);
    temp_dir dir;
    failures heard;
    auto l = log::open(dir.path(), {.flush_messages = 3}, system_clock(), &s);
    ASSERT_TRUE(l);
    (*l)->set_failure_listener(heard.listener());
    append_ok(**l, {});
    append_ok(**l, {});
    EXPECT_TRUE(heard.seen().empty());
    // The third record reaches flush.messages: its flush fails, and so does the append.
    auto batch = make_batch({});
    auto third = (*l)->append(batch);
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error(), errc::io_error);
    EXPECT_TRUE((*l)->failed());
    ASSERT_EQ(heard.seen().size(), 1u);
    EXPECT_EQ(heard.seen()[0], "append: fdatasync " + (dir.path() / "00000000000000000000.log").string() + ": " +
                                   std::strerror(EIO));
    EXPECT_EQ(heard.threads()[0], std::this_thread::get_id());
    expect_writes_refused(**l);
    (*l)->close();
}

TEST(log_failure, a_write_the_file_system_refuses_fails_the_log_and_a_bad_batch_does_not) {
    temp_dir dir;
    failures heard;
    auto l = log::open(dir.path(), {.max_batch_bytes = 64 << 10}, system_clock());
    ASSERT_TRUE(l);
    (*l)->set_failure_listener(heard.listener());
    // The caller's errors leave the log as it was.
    auto big = make_batch({.payload = 100 << 10});
    auto refused = (*l)->append(big);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), errc::batch_too_large);
    auto bad = make_batch({});
    bad.back() ^= 0xff;  // the CRC no longer matches
    auto invalid = (*l)->append(bad);
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error(), errc::invalid_batch);
    EXPECT_FALSE((*l)->failed());

    append_ok(**l, {.payload = 1000});
    int64_t appended = 1;
    std::optional<std::error_code> err;
    {
        file_size_limit limit(std::filesystem::file_size(dir.path() / "00000000000000000000.log") + 20'000);
        for (int i = 0; i < 100 && !err; ++i) {
            auto batch = make_batch({.payload = 1000, .seed = uint32_t(i)});
            if (auto r = (*l)->append(batch)) {
                ++appended;
            } else {
                err = r.error();
            }
        }
    }
    ASSERT_TRUE(err.has_value()) << "no append reached the file size limit";
    EXPECT_EQ(*err, errc::io_error);
    EXPECT_GE(appended, 15);  // about 20,000 bytes of batches of 1,061 fit under the limit
    EXPECT_TRUE((*l)->failed());
    ASSERT_EQ(heard.seen().size(), 1u);
    EXPECT_EQ(heard.seen()[0], "append: pwrite " + (dir.path() / "00000000000000000000.log").string() + ": " +
                                   std::strerror(EFBIG));
    // Under the limit again, the log still takes nothing: its files failed once.
    expect_writes_refused(**l);
    auto batches = read_all(**l);
    EXPECT_EQ(int64_t(batches.size()), appended);
    (*l)->close();
}

} // namespace
} // namespace trib::storage
