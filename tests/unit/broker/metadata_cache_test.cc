#include "broker/cluster_metadata.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <future>

namespace trib::broker {
namespace {

// Runs f on `core`'s thread and waits for its result.
template <typename F>
auto on_core(io_pool& pool, size_t core, F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(pool.executor(core), [&task] { task(); });
    return result.get();
}

std::shared_ptr<const cluster_snapshot> snapshot_at(int64_t version) {
    auto s = std::make_shared<cluster_snapshot>();
    s->version = version;
    return s;
}

struct metadata_cache_test : ::testing::Test {
    metadata_cache_test() { pool.start(); }
    ~metadata_cache_test() override { pool.stop(); }
    io_pool pool{2};
    metadata_cache cache{pool};
};

TEST_F(metadata_cache_test, each_core_reads_what_it_installed) {
    on_core(pool, 0, [&] { cache.install(0, snapshot_at(3)); return 0; });
    on_core(pool, 1, [&] { cache.install(1, snapshot_at(3)); return 0; });
    EXPECT_EQ(on_core(pool, 0, [&] { return cache.get()->version; }), 3);
    EXPECT_EQ(on_core(pool, 1, [&] { return cache.get()->version; }), 3);
}

TEST_F(metadata_cache_test, a_core_behind_the_others_answers_from_the_newest) {
    auto v5 = snapshot_at(5);
    on_core(pool, 0, [&] { cache.install(0, v5); return 0; });
    // Core 1 has not installed 5 yet: its requests must not go back to what it still holds.
    EXPECT_EQ(on_core(pool, 1, [&] { return cache.get().get(); }), v5.get());
    EXPECT_EQ(cache.get().get(), v5.get());  // outside the pool
}

TEST_F(metadata_cache_test, an_older_snapshot_installed_late_does_not_win) {
    on_core(pool, 0, [&] { cache.install(0, snapshot_at(7)); return 0; });
    on_core(pool, 1, [&] { cache.install(1, snapshot_at(6)); return 0; });
    EXPECT_EQ(on_core(pool, 1, [&] { return cache.get()->version; }), 7);
    EXPECT_EQ(cache.get()->version, 7);
}

} // namespace
} // namespace trib::broker
