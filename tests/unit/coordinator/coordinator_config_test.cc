// The coordinator's replication settings load with Kafka's names and defaults.
#include "coordinator/coordinator_config.h"

#include <gtest/gtest.h>

namespace trib::coordinator {
namespace {

config::load_options options(std::vector<std::pair<std::string, std::string>> overrides) {
    static const char* const no_environment[] = {nullptr};
    config::load_options o;
    o.overrides = std::move(overrides);
    o.environ = no_environment;
    return o;
}

TEST(coordinator_config, replication_settings_default_as_kafka) {
    auto c = load_coordinator_config(options({}));
    EXPECT_FALSE(c.controller.unclean_leader_election_enable);
    EXPECT_TRUE(c.controller.auto_leader_rebalance_enable);
    EXPECT_EQ(c.controller.leader_imbalance_check_interval_ms, 300'000);
    EXPECT_EQ(c.controller.leader_imbalance_per_broker_percentage, 10);
    EXPECT_TRUE(c.controller.followers_replicate);
}

TEST(coordinator_config, replication_settings_are_read_and_checked) {
    auto c = load_coordinator_config(options({{"unclean.leader.election.enable", "true"},
                                              {"auto.leader.rebalance.enable", "false"},
                                              {"leader.imbalance.check.interval.seconds", "30"},
                                              {"leader.imbalance.per.broker.percentage", "25"}}));
    EXPECT_TRUE(c.controller.unclean_leader_election_enable);
    EXPECT_FALSE(c.controller.auto_leader_rebalance_enable);
    EXPECT_EQ(c.controller.leader_imbalance_check_interval_ms, 30'000);
    EXPECT_EQ(c.controller.leader_imbalance_per_broker_percentage, 25);
    EXPECT_THROW(load_coordinator_config(options({{"leader.imbalance.per.broker.percentage", "101"}})),
                 config::config_error);
    EXPECT_THROW(load_coordinator_config(options({{"leader.imbalance.check.interval.seconds", "0"}})),
                 config::config_error);
}

} // namespace
} // namespace trib::coordinator
