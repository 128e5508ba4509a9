#include "protocol/error_code.h"

#include <gtest/gtest.h>

namespace trib::protocol {
namespace {

TEST(error_code, values_and_names_match_kafka) {
    EXPECT_EQ(to_int(error_code::unknown_server_error), -1);
    EXPECT_EQ(to_int(error_code::not_leader_or_follower), 6);
    EXPECT_EQ(to_int(error_code::unsupported_version), 35);
    EXPECT_EQ(to_int(error_code::fenced_leader_epoch), 74);
    EXPECT_EQ(to_int(error_code::transaction_abortable), 120);
    EXPECT_EQ(error_code_name(error_code::none), "NONE");
    EXPECT_EQ(error_code_name(error_code::not_coordinator), "NOT_COORDINATOR");
    EXPECT_EQ(error_code_name(error_code(9999)), "UNKNOWN");
    EXPECT_TRUE(is_retriable(error_code::not_leader_or_follower));
    EXPECT_FALSE(is_retriable(error_code::topic_already_exists));
}

} // namespace
} // namespace trib::protocol
