#include "coordinator/identity.h"

#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace trib::coordinator {
namespace {

std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(coordinator_identity, written_once_in_kafkas_layout_and_kept) {
    fakes::temp_dir dir;
    auto id = load_directory_id(dir.path(), 101, "c1");
    EXPECT_FALSE(id.is_zero());
    auto text = read_all(dir.path() / "meta.properties");
    EXPECT_NE(text.find("version=1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("node.id=101\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cluster.id=c1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("directory.id=" + id.to_string() + "\n"), std::string::npos) << text;
    EXPECT_EQ(load_directory_id(dir.path(), 101, "c1"), id);
}

TEST(coordinator_identity, another_node_or_cluster_is_refused) {
    fakes::temp_dir dir;
    load_directory_id(dir.path(), 101, "c1");
    EXPECT_THROW(load_directory_id(dir.path(), 102, "c1"), std::runtime_error);
    EXPECT_THROW(load_directory_id(dir.path(), 101, "c2"), std::runtime_error);
    std::ofstream(dir.path() / "meta.properties") << "version=1\nnode.id=101\ncluster.id=c1\ndirectory.id=nope\n";
    EXPECT_THROW(load_directory_id(dir.path(), 101, "c1"), std::runtime_error);
}

// kafka-metadata-quorum remove-controller --controller-directory-id takes an id starting with
// '-' for an option; one id in 64 would, were they not drawn again (as Kafka draws its own).
TEST(coordinator_identity, no_directory_id_starts_with_a_dash) {
    for (int i = 0; i < 300; ++i) {
        fakes::temp_dir dir;
        auto id = load_directory_id(dir.path(), 101, "c1");
        ASSERT_NE(id.to_string().front(), '-') << id.to_string();
    }
}

} // namespace
} // namespace trib::coordinator
