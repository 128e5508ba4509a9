// log::fatal: the reason goes to the termination message file when there is one, and only then.
#include "common/fatal.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace trib::log {
namespace {

std::string contents(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class fatal_test : public ::testing::Test {
protected:
    ~fatal_test() override { set_termination_message_path(""); }
    fakes::temp_dir _dir;
};

TEST_F(fatal_test, writes_the_reason_over_what_the_file_held) {
    const auto path = _dir.path() / "termination-log";
    std::ofstream(path) << "an older and longer reason from the last run";
    set_termination_message_path(path.string());
    fatal("log directory /d failed: halting");
    EXPECT_EQ(contents(path), "log directory /d failed: halting");
}

TEST_F(fatal_test, keeps_to_the_4_kib_the_kubelet_reads) {
    const auto path = _dir.path() / "termination-log";
    std::ofstream{path};
    set_termination_message_path(path.string());
    fatal(std::string(5000, 'x'));
    EXPECT_EQ(contents(path), std::string(4096, 'x'));
}

TEST_F(fatal_test, makes_no_file_where_there_is_none) {
    const auto path = _dir.path() / "termination-log";
    set_termination_message_path(path.string());
    fatal("start-up failed");
    EXPECT_FALSE(std::filesystem::exists(path));
    set_termination_message_path("");
    fatal("start-up failed");  // nowhere: only the log
    EXPECT_FALSE(std::filesystem::exists(path));
}

} // namespace
} // namespace trib::log
