// The operator's drain_ops over the Kafka protocol (controller/drain_ops.cc), against a
// scripted loopback broker: answers decoded into drain states, error codes sorted into
// refusals, unknown ids and "ask again later", and addresses tried in order.
#include "operator/controller/drain_ops.h"

#include "protocol/error_code.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/drain_brokers.h"
#include "protocol/messages/unregister_broker.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::controller {
namespace {

using namespace std::chrono_literals;
using protocol::error_code;

// The ApiVersions answer net::kafka_client reads (it asks v3): DrainBrokers and
// UnregisterBroker v0.
bytes api_versions_v3(int32_t correlation_id) {
    protocol::api_versions_response av;
    av.api_keys = {{protocol::drain_brokers_request::api_key, 0, 0, {}},
                   {protocol::unregister_broker_request::api_key, 0, 0, {}}};
    return fakes::framed(fakes::encode_response(av, 3, correlation_id));
}

// A broker answering every DrainBrokers with `drain` and every UnregisterBroker with
// `unregister`, on `calls` connections (drain_ops keeps none between calls).
struct scripted {
    explicit scripted(int calls)
      : broker([this](int16_t key, int32_t cid) -> std::optional<bytes> {
            if (key == protocol::api_versions_request::api_key) {
                return api_versions_v3(cid);
            }
            if (key == protocol::drain_brokers_request::api_key) {
                return fakes::framed(fakes::encode_response(drain, 0, cid));
            }
            return fakes::framed(fakes::encode_response(unregister, 0, cid));
        }, calls) {}

    protocol::drain_brokers_response drain;
    protocol::unregister_broker_response unregister;
    fakes::kafka_fake_broker broker;
};

TEST(drain_ops, a_describe_gives_each_broker_with_what_it_holds_from_the_first_address_that_answers) {
    scripted b(1);
    protocol::drain_brokers_response::drain_state s;
    s.broker_id = 3;
    s.drained = true;
    s.replicas = 4;
    s.leaders = 1;
    s.moves_in_flight = 2;
    s.stuck = {"t-0: offline"};
    b.drain.brokers = {s};
    auto ops = make_kafka_drain_ops({.timeout = 3s});
    auto a = ops->describe(fakes::dead_address() + "," + b.broker.address());
    ASSERT_EQ(a.outcome, drain_outcome::ok) << a.message;
    ASSERT_EQ(a.brokers.size(), 1u);
    EXPECT_EQ(a.brokers[0].id, 3);
    EXPECT_TRUE(a.brokers[0].drained);
    EXPECT_EQ(a.brokers[0].replicas, 4);
    EXPECT_EQ(a.brokers[0].leaders, 1);
    EXPECT_EQ(a.brokers[0].moves_in_flight, 2);
    EXPECT_EQ(a.brokers[0].stuck, std::vector<std::string>{"t-0: offline"});
    EXPECT_FALSE(a.brokers[0].empty());
}

TEST(drain_ops, error_codes_are_refusals_unknown_ids_or_later) {
    for (auto [code, outcome] : {std::pair{error_code::invalid_request, drain_outcome::refused},
                                 std::pair{error_code::broker_id_not_registered, drain_outcome::not_registered},
                                 std::pair{error_code::not_controller, drain_outcome::unavailable}}) {
        scripted b(2);
        b.drain.error_code = int16_t(code);
        b.drain.error_message = "t-0 has 3 replicas and only 2 broker(s) would remain";
        b.unregister.error_code = int16_t(code);
        b.unregister.error_message = "broker 4 is running";
        auto ops = make_kafka_drain_ops({.timeout = 3s});
        auto a = ops->drain(b.broker.address(), {3, 4});
        EXPECT_EQ(a.outcome, outcome) << a.message;
        EXPECT_NE(a.message.find(std::string(protocol::error_code_name(code)) + ": t-0 has 3 replicas"),
                  std::string::npos)
            << a.message;
        a = ops->unregister(b.broker.address(), 4);
        EXPECT_EQ(a.outcome, outcome) << a.message;
        EXPECT_NE(a.message.find("broker 4 is running"), std::string::npos) << a.message;
    }
}

TEST(drain_ops, no_broker_answering_is_unavailable_with_each_reason) {
    auto ops = make_kafka_drain_ops({.timeout = 2s});
    const auto dead = fakes::dead_address();
    auto a = ops->unregister(dead, 3);
    EXPECT_EQ(a.outcome, drain_outcome::unavailable);
    EXPECT_NE(a.message.find(dead + ": UnregisterBroker"), std::string::npos) << a.message;
    EXPECT_EQ(ops->describe("").outcome, drain_outcome::unavailable);
    a = ops->describe("not an address");
    EXPECT_EQ(a.outcome, drain_outcome::unavailable);
    EXPECT_NE(a.message.find("not an address"), std::string::npos) << a.message;
}

TEST(drain_ops, an_unregistration_the_controller_takes_is_ok) {
    scripted b(2);
    auto ops = make_kafka_drain_ops({.timeout = 3s});
    EXPECT_EQ(ops->unregister(b.broker.address(), 4).outcome, drain_outcome::ok);
    EXPECT_EQ(ops->undrain(b.broker.address(), 4).outcome, drain_outcome::ok);
}

} // namespace
} // namespace trib::op::controller
