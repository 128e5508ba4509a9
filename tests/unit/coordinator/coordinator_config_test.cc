// The coordinator's replication settings load with Kafka's names and defaults; the quorum
// settings choose the metadata log.
#include "coordinator/coordinator_config.h"

#include "coordinator/raft_log.h"
#include "tests/fakes/temp_dir.h"

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

struct null_sm final : state_machine {
    void apply(offset, const metadata_record&) override {}
    void restore(const metadata_image&) override {}
};

// The log the configuration opens, in a temp dir, closed again.
template<typename Log>
bool opens(std::vector<std::pair<std::string, std::string>> overrides) {
    fakes::temp_dir dir("trib-coordcfg");
    overrides.emplace_back("log.dirs", dir.path().string());
    auto c = load_coordinator_config(options(std::move(overrides)));
    asio::io_context ctx;
    null_sm sm;
    auto log = c.open_log(sm, ctx);
    const bool is = dynamic_cast<Log*>(log.get()) != nullptr;
    log->close();
    return is;
}

TEST(coordinator_config, the_voters_choose_the_metadata_log) {
    // A quorum of one runs Raft too, so that it can grow by AddRaftVoter.
    EXPECT_TRUE(opens<raft_log>({}));
    EXPECT_TRUE(opens<raft_log>({{"node.id", "1"}, {"controller.quorum.voters", "1@127.0.0.1:9093"}}));
    EXPECT_TRUE(opens<raft_log>({{"node.id", "2"},
                                 {"controller.quorum.voters", "1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095"}}));
    // Not among the voters: a coordinator joining the quorum (AddRaftVoter) follows without a vote.
    EXPECT_TRUE(opens<raft_log>({{"node.id", "4"}, {"controller.quorum.voters", "1@127.0.0.1:9093"}}));
    EXPECT_THROW(load_coordinator_config(options({{"controller.quorum.election.timeout.ms", "5"}})),
                 config::config_error);
}

} // namespace
} // namespace trib::coordinator
