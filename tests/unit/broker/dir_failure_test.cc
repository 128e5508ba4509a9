// A replica's log that fails (storage::log::failed) or cannot be opened for an I/O error
// reaches partition_manager's dir failure listener with its directory and partition: the
// broker halts there (halt_for_failed_log_dir; failover_test.py fills a real disk).
#include "broker/metrics.h"
#include "broker/partition_manager.h"
#include "tests/fakes/file_size_limit.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

namespace trib::broker {
namespace {

using fakes::file_size_limit;
using fakes::temp_dir;

struct heard_failure {
    std::filesystem::path dir;
    topic_partition tp;
    std::string what;
    std::thread::id thread;
};

class dir_failure_test : public ::testing::Test {
protected:
    dir_failure_test() {
        _pool.start();
        _partitions.set_dir_failure_listener(
            [this](const std::filesystem::path& dir, const topic_partition& tp, const std::string& what) {
                std::lock_guard g(_mu);
                _heard.push_back({dir, tp, what, std::this_thread::get_id()});
            });
    }
    ~dir_failure_test() override {
        _partitions.close_all();
        _pool.stop();
    }

    // This broker (node 1) leads `tp`, its only replica.
    void host(const topic_partition& tp) {
        coordinator::partition_info state;
        state.id = partition_id(tp.partition);
        state.leader = node_id(1);
        state.replicas = {1};
        state.isr = {1};
        partition_change c;
        c.tp = tp;
        c.topic_id.b[0] = 7;
        c.state = state;
        c.config = storage::log_config{};
        _partitions.apply({c}, [](size_t) {});
    }

    // Runs f on the owner core of `tp` and waits for its result.
    template <typename F>
    auto on_owner(const topic_partition& tp, F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(_pool.executor(_partitions.owner(tp)), [&task] { task(); });
        return result.get();
    }

    std::vector<heard_failure> heard() {
        std::lock_guard g(_mu);
        return _heard;
    }

    temp_dir _dir;
    io_pool _pool{2};
    broker_metrics _metrics;
    partition_manager _partitions{_pool, {_dir.path()}, node_id(1), _metrics};
    std::mutex _mu;
    std::vector<heard_failure> _heard;
};

TEST_F(dir_failure_test, a_log_that_cannot_be_opened_for_an_io_error_fails_its_directory) {
    const topic_partition tp{"t", 0};
    // A file where the partition's directory goes: the log cannot create it.
    std::ofstream(_dir.path() / "t-0") << "not a directory";
    host(tp);
    auto got = heard();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].dir, _dir.path());
    EXPECT_EQ(got[0].tp, tp);
    EXPECT_EQ(got[0].what, "opening the log: create " + (_dir.path() / "t-0").string() + ": " + std::strerror(ENOTDIR));
    EXPECT_TRUE(on_owner(tp, [&] { return _partitions.local(tp) == nullptr; }));
}

TEST_F(dir_failure_test, a_failed_append_reports_its_directory_and_partition_on_the_owner_core) {
    const topic_partition tp{"t", 1};
    host(tp);
    ASSERT_TRUE(heard().empty());
    auto log_file = _dir.path() / "t-1" / "00000000000000000000.log";
    auto [first, second, owner_thread] = on_owner(tp, [&] {
        auto& log = _partitions.local(tp)->log();
        auto ok = storage::testing::make_batch({.payload = 1000});
        auto r1 = log.append(ok);
        file_size_limit limit(std::filesystem::file_size(log_file) + 500);
        auto too_far = storage::testing::make_batch({.payload = 1000});
        auto r2 = log.append(too_far);
        return std::tuple(bool(r1), r2 ? std::error_code() : r2.error(), std::this_thread::get_id());
    });
    EXPECT_TRUE(first);
    EXPECT_EQ(second, storage::errc::io_error);
    auto got = heard();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].dir, _dir.path());
    EXPECT_EQ(got[0].tp, tp);
    EXPECT_EQ(got[0].what, "append: pwrite " + log_file.string() + ": " + std::strerror(EFBIG));
    EXPECT_EQ(got[0].thread, owner_thread);
}

} // namespace
} // namespace trib::broker
