#include "common/cpu_limit.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <thread>

namespace trib {
namespace {

TEST(cpu_limit_test, cgroup_v2_cpu_max_gives_quota_over_period) {
    EXPECT_EQ(cgroup_v2_cpus("200000 100000\n"), 2.0);
    EXPECT_EQ(cgroup_v2_cpus("150000 100000"), 1.5);
    EXPECT_EQ(cgroup_v2_cpus("max 100000\n"), std::nullopt);
}

TEST(cpu_limit_test, unreadable_cgroup_texts_are_no_limit) {
    EXPECT_EQ(cgroup_v2_cpus(""), std::nullopt);
    EXPECT_EQ(cgroup_v2_cpus("200000"), std::nullopt);
    EXPECT_EQ(cgroup_v2_cpus("abc 100000"), std::nullopt);
    EXPECT_EQ(cgroup_v2_cpus("100000 0"), std::nullopt);
    EXPECT_EQ(cgroup_v1_cpus("-1\n", "100000\n"), std::nullopt);
    EXPECT_EQ(cgroup_v1_cpus("", "100000"), std::nullopt);
}

TEST(cpu_limit_test, cgroup_v1_quota_over_period) {
    EXPECT_EQ(cgroup_v1_cpus("50000\n", "100000\n"), 0.5);
    EXPECT_EQ(cgroup_v1_cpus("400000", "100000"), 4.0);
}

TEST(cpu_limit_test, the_cgroup_path_of_a_controller_or_of_the_unified_hierarchy) {
    const char* hybrid =
        "9:name=systemd:/\n"
        "4:memory:/kubepods/pod1/abc\n"
        "2:cpu,cpuacct:/kubepods/pod1/abc\n"
        "0::/kubepods.slice/pod1\n";
    EXPECT_EQ(cgroup_path(hybrid, "cpu"), "/kubepods/pod1/abc");
    EXPECT_EQ(cgroup_path(hybrid, "cpuacct"), "/kubepods/pod1/abc");
    EXPECT_EQ(cgroup_path(hybrid, ""), "/kubepods.slice/pod1");
    EXPECT_EQ(cgroup_path("0::/\n", "cpu"), std::nullopt);
    EXPECT_EQ(cgroup_path("2:cpuset:/x\n", "cpu"), std::nullopt);
    EXPECT_EQ(cgroup_path("garbage", ""), std::nullopt);
}

TEST(cpu_limit_test, usable_rounds_a_limit_up_and_never_exceeds_the_cpus_allowed) {
    EXPECT_EQ((cpu_limit{64, 2.0}).usable(), 2u);
    EXPECT_EQ((cpu_limit{64, 1.5}).usable(), 2u);
    EXPECT_EQ((cpu_limit{64, 0.25}).usable(), 1u);
    EXPECT_EQ((cpu_limit{2, 8.0}).usable(), 2u);
    EXPECT_EQ((cpu_limit{8, std::nullopt}).usable(), 8u);
    EXPECT_EQ((cpu_limit{0, std::nullopt}).usable(), 1u);
}

TEST(cpu_limit_test, this_process_has_at_least_one_usable_cpu) {
    auto limit = read_cpu_limit();
    EXPECT_GE(limit.online, 1u);
    EXPECT_GE(limit.usable(), 1u);
    EXPECT_LE(limit.usable(), limit.online);
}

TEST(cpu_limit_test, a_thread_pinned_to_one_cpu_may_use_one) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    int first = 0;
    while (!CPU_ISSET(first, &allowed)) {
        ++first;
    }
    cpu_limit seen{0, std::nullopt};  // stays 0 if the pinning failed
    std::thread pinned([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        if (sched_setaffinity(0, sizeof(one), &one) == 0) {
            seen = read_cpu_limit();
        }
    });
    pinned.join();
    EXPECT_EQ(seen.online, 1u);
    EXPECT_EQ(seen.usable(), 1u);
}

} // namespace
} // namespace trib
