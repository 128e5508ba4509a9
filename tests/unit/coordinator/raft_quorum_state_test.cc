#include "coordinator/raft/quorum_state.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace trib::coordinator::raft {
namespace {

namespace fs = std::filesystem;

bytes file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const bytes& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

TEST(raft_quorum_state, absent_file_is_term_zero_without_a_vote) {
    fakes::temp_dir tmp;
    auto qs = quorum_state::open(tmp.path() / "meta");
    EXPECT_EQ(qs.current(), (hard_state{term_id(0), node_id(-1)}));
}

TEST(raft_quorum_state, round_trip_through_restarts) {
    fakes::temp_dir tmp;
    {
        auto qs = quorum_state::open(tmp.path());
        ASSERT_TRUE(qs.save({term_id(3), node_id(-1)}));
        ASSERT_TRUE(qs.save({term_id(3), node_id(2)}));
        EXPECT_EQ(qs.current(), (hard_state{term_id(3), node_id(2)}));
    }
    EXPECT_FALSE(fs::exists(tmp.path() / "quorum-state.tmp"));
    {
        auto qs = quorum_state::open(tmp.path());
        EXPECT_EQ(qs.current(), (hard_state{term_id(3), node_id(2)}));
        ASSERT_TRUE(qs.save({term_id(7), node_id(-1)}));
    }
    // A leftover .tmp (a crash during a save) is not the state.
    write_bytes(tmp.path() / "quorum-state.tmp", encode_hard_state({term_id(9), node_id(1)}));
    auto qs = quorum_state::open(tmp.path());
    EXPECT_EQ(qs.current(), (hard_state{term_id(7), node_id(-1)}));
}

TEST(raft_quorum_state, going_back_is_a_callers_bug) {
    fakes::temp_dir tmp;
    auto qs = quorum_state::open(tmp.path());
    ASSERT_TRUE(qs.save({term_id(4), node_id(1)}));
    EXPECT_THROW((void)qs.save({term_id(3), node_id(1)}), std::logic_error);
    EXPECT_THROW((void)qs.save({term_id(4), node_id(2)}), std::logic_error);
    EXPECT_THROW((void)qs.save({term_id(4), node_id(-1)}), std::logic_error);
    EXPECT_EQ(quorum_state::open(tmp.path()).current(), (hard_state{term_id(4), node_id(1)}));
}

TEST(raft_quorum_state, a_damaged_file_stops_start_up) {
    fakes::temp_dir tmp;
    const bytes good = encode_hard_state({term_id(5), node_id(3)});
    const std::vector<std::pair<std::string, std::function<bytes()>>> damages = {
        {"empty", [] { return bytes{}; }},
        {"torn", [&] { return bytes(good.begin(), good.end() - 3); }},
        {"longer", [&] { auto b = good; b.push_back(0); return b; }},
        {"term bit flipped", [&] { auto b = good; b[15] ^= 1; return b; }},
        {"vote bit flipped", [&] { auto b = good; b[19] ^= 4; return b; }},
        {"wrong magic", [&] { auto b = good; b[0] = 'X'; return b; }},
        {"zeros", [&] { return bytes(good.size(), 0); }},
    };
    for (const auto& [name, make] : damages) {
        write_bytes(tmp.path() / "quorum-state", make());
        try {
            (void)quorum_state::open(tmp.path());
            ADD_FAILURE() << name << ": a damaged quorum-state opened";
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("quorum-state"), std::string::npos) << name << ": " << what;
            EXPECT_NE(what.find("damaged"), std::string::npos) << name << ": " << what;
        }
    }
    write_bytes(tmp.path() / "quorum-state", good);
    EXPECT_EQ(quorum_state::open(tmp.path()).current(), (hard_state{term_id(5), node_id(3)}));
}

TEST(raft_quorum_state, file_layout) {
    fakes::temp_dir tmp;
    auto qs = quorum_state::open(tmp.path());
    ASSERT_TRUE(qs.save({term_id(0x0102030405), node_id(7)}));
    auto b = file_bytes(tmp.path() / "quorum-state");
    ASSERT_EQ(b.size(), 24u);
    EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "TRQS");
    EXPECT_EQ(load_be16(b.data() + 4), 1);
    EXPECT_EQ(load_be64(b.data() + 8), 0x0102030405u);
    EXPECT_EQ(load_be32(b.data() + 16), 7u);
}

} // namespace
} // namespace trib::coordinator::raft
