// single_voter_log with its fsyncs on a syncer thread: an append completes on the owner's
// io_context only after its fsync, in the order appends were made, with its records applied
// first; what is written but not synced is neither committed nor served.
#include "coordinator/single_voter_log.h"
#include "tests/fakes/run_until.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

namespace trib::coordinator {
namespace {

struct recorder final : state_machine {
    void apply(offset at, const metadata_record& r) override { applied.emplace_back(at, r); }
    void restore(const metadata_image&) override { ++restores; }
    std::vector<std::pair<offset, metadata_record>> applied;
    int restores = 0;
};

std::vector<metadata_record> fences(int32_t first, int n) {
    std::vector<metadata_record> out;
    for (int i = 0; i < n; ++i) {
        out.emplace_back(fence_broker_record{first + i, {}});
    }
    return out;
}

TEST(single_voter_log, appends_complete_after_their_fsync_in_order_on_the_owner) {
    fakes::temp_dir dir("trib-svl");
    asio::io_context ctx;
    recorder sm;
    auto log = single_voter_log::open(dir.path(), {}, sm, {std::nullopt, &ctx, {}});
    ASSERT_EQ(log->committed(), offset(0));

    std::vector<int64_t> done;
    auto record = [&](result<offset> r) {
        ASSERT_TRUE(r) << r.error().message();
        done.push_back(r->value());
    };
    for (int i = 0; i < 5; ++i) {
        log->append(fences(i * 2, 2), record);
    }
    log->append({}, record);  // no records: completes after the appends before it
    EXPECT_TRUE(done.empty()) << "nothing completes before its fsync, and never inside append()";
    EXPECT_EQ(log->end(), offset(10)) << "written";
    EXPECT_EQ(log->committed(), offset(0)) << "not committed before it is durable";
    auto unserved = log->read(offset(0), 1 << 20);
    EXPECT_TRUE(!unserved || unserved->empty()) << "brokers are never served what is not durable";

    ASSERT_TRUE(fakes::run_until(ctx, [&] { return done.size() == 6; }));
    EXPECT_EQ(done, (std::vector<int64_t>{1, 3, 5, 7, 9, 9}));
    ASSERT_EQ(sm.applied.size(), 10u);
    for (size_t i = 0; i < sm.applied.size(); ++i) {
        EXPECT_EQ(sm.applied[i].first, offset(int64_t(i)));
    }
    EXPECT_EQ(log->committed(), offset(10));
    EXPECT_EQ(log->unsynced(), 0u);
    auto served = log->read(offset(0), 1 << 20);
    ASSERT_TRUE(served);
    EXPECT_FALSE(served->empty());
    log->close();
    log.reset();

    recorder again;
    auto reopened = single_voter_log::open(dir.path(), {}, again);
    EXPECT_EQ(again.applied.size(), 10u) << "every acknowledged record is there after a restart";
    EXPECT_EQ(reopened->committed(), offset(10));
}

TEST(single_voter_log, appends_made_while_an_fsync_runs_share_the_next_one) {
    fakes::temp_dir dir("trib-svl");
    asio::io_context ctx;
    recorder sm;
    std::mutex mu;
    std::condition_variable cv;
    bool armed = false;
    bool held = false;
    bool release = false;
    const auto test_thread = std::this_thread::get_id();
    // Once armed, the first fsync of the syncer thread waits until the test lets it go.
    auto fsync = [&](int fd) {
        std::unique_lock g(mu);
        if (armed && !held && std::this_thread::get_id() != test_thread) {
            held = true;
            cv.notify_all();
            cv.wait(g, [&] { return release; });
        }
        return ::fdatasync(fd);
    };
    auto log = single_voter_log::open(dir.path(), {}, sm, {std::nullopt, &ctx, fsync});
    std::vector<int64_t> done;
    auto record = [&](result<offset> r) { done.push_back(r ? r->value() : -1); };
    const uint64_t rounds_before = log->fsync_rounds();
    {
        std::lock_guard g(mu);
        armed = true;
    }
    log->append(fences(0, 1), record);
    {
        std::unique_lock g(mu);
        cv.wait(g, [&] { return held; });  // the syncer thread is inside the first fsync
    }
    for (int i = 1; i < 8; ++i) {
        log->append(fences(i, 1), record);
    }
    {
        std::lock_guard g(mu);
        release = true;
    }
    cv.notify_all();
    ASSERT_TRUE(fakes::run_until(ctx, [&] { return done.size() == 8; }));
    EXPECT_EQ(done, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(log->fsync_rounds() - rounds_before, 2u)
        << "the seven appends made during the first fsync shared one round";
}

TEST(single_voter_log, without_an_io_context_append_completes_inline) {
    fakes::temp_dir dir("trib-svl");
    recorder sm;
    auto log = single_voter_log::open(dir.path(), {}, sm);
    std::optional<int64_t> last;
    log->append(fences(1, 3), [&](result<offset> r) { last = r ? r->value() : -1; });
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(*last, 2);
    EXPECT_EQ(log->committed(), offset(3));
    EXPECT_EQ(sm.applied.size(), 3u);
    EXPECT_TRUE(log->leader().is_leader) << "a single voter always decides";
}

} // namespace
} // namespace trib::coordinator
