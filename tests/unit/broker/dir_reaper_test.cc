#include "broker/dir_reaper.h"

#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fstream>

namespace trib::broker {
namespace {

void fill(const std::filesystem::path& dir, int files) {
    std::filesystem::create_directories(dir / "sub");
    for (int i = 0; i < files; ++i) {
        std::ofstream(dir / fmt::format("f{}", i)) << "data";
    }
    std::ofstream(dir / "sub" / "g") << "more";
}

TEST(dir_reaper, removes_what_it_is_given_and_nothing_else) {
    fakes::temp_dir tmp;
    const auto a = tmp.path() / "t-0.aa-delete";
    const auto b = tmp.path() / "t-1.bb-delete";
    const auto kept = tmp.path() / "t-2";
    fill(a, 50);
    fill(b, 3);
    fill(kept, 3);
    dir_reaper r;
    r.remove(a);
    r.remove(b);
    r.wait_idle();
    EXPECT_FALSE(std::filesystem::exists(a));
    EXPECT_FALSE(std::filesystem::exists(b));
    EXPECT_TRUE(std::filesystem::exists(kept / "sub" / "g"));
    EXPECT_EQ(r.removed(), 2u);
}

TEST(dir_reaper, a_directory_already_gone_is_no_error) {
    fakes::temp_dir tmp;
    dir_reaper r;
    r.remove(tmp.path() / "never-was-delete");
    r.wait_idle();
    EXPECT_EQ(r.removed(), 1u);  // remove_all of nothing succeeds
}

TEST(dir_reaper, stopping_leaves_the_queue_for_the_next_start) {
    fakes::temp_dir tmp;
    std::vector<std::filesystem::path> dirs;
    for (int i = 0; i < 20; ++i) {
        dirs.push_back(tmp.path() / fmt::format("t-{}.x-delete", i));
        fill(dirs.back(), 20);
    }
    {
        dir_reaper r;
        for (const auto& d : dirs) {
            r.remove(d);
        }
    }  // destroyed at once: finishes at most the directory being removed, and returns
    // What is left is still named -delete; the next start's reaper (open_dirs) takes it.
    dir_reaper again;
    for (const auto& d : dirs) {
        if (std::filesystem::exists(d)) {
            again.remove(d);
        }
    }
    again.wait_idle();
    for (const auto& d : dirs) {
        EXPECT_FALSE(std::filesystem::exists(d));
    }
}

} // namespace
} // namespace trib::broker
