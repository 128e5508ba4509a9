#include "operator/kafka/admin_session.h"

#include "protocol/messages/api_versions.h"
#include "protocol/messages/metadata.h"
#include "tests/fakes/kafka_fake_broker.h"

#include <gtest/gtest.h>

namespace trib::op::kafka {
namespace {

using namespace std::chrono_literals;

config::host_port at(const std::string& address) {
    return config::parse_host_port(address);
}

// The ApiVersions answer net::kafka_client reads (it asks v3): Metadata up to v8 only.
bytes api_versions_v3(int32_t correlation_id) {
    protocol::api_versions_response av;
    av.api_keys = {{protocol::metadata_request::api_key, 0, 8, {}}};
    return fakes::framed(fakes::encode_response(av, 3, correlation_id));
}

TEST(admin_session, a_call_negotiates_the_version_and_returns_the_answer) {
    fakes::kafka_fake_broker broker([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        if (key == protocol::api_versions_request::api_key) {
            return api_versions_v3(cid);
        }
        protocol::metadata_response md;
        md.cluster_id = "abc";
        md.controller_id = 7;
        return fakes::framed(fakes::encode_response(md, 8, cid));
    });
    admin_session s({.timeout = 5s});
    std::string why;
    protocol::metadata_request req;
    auto r = s.call<protocol::metadata_response>(at(broker.address()), req, 12, why);
    ASSERT_TRUE(r) << why;
    // The fake answers at v8 only (v8 is not flexible, v12 is): it decoded, so v8 was asked.
    EXPECT_EQ(r->controller_id, 7);
    EXPECT_EQ(r->cluster_id, std::optional<std::string>("abc"));
    s.close_all();
}

TEST(admin_session, an_unreachable_peer_is_an_error_with_the_address_and_the_api) {
    admin_session s({.timeout = 2s});
    std::string why;
    const auto dead = fakes::dead_address();
    auto r = s.call<protocol::metadata_response>(at(dead), protocol::metadata_request{}, 12, why);
    ASSERT_FALSE(r);
    EXPECT_NE(why.find(dead + ": Metadata: "), std::string::npos) << why;
}

TEST(admin_session, a_peer_that_hangs_up_is_an_error_not_a_wait) {
    fakes::kafka_fake_broker broker([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        if (key == protocol::api_versions_request::api_key) {
            return api_versions_v3(cid);
        }
        return std::nullopt;  // closes the connection
    });
    admin_session s({.timeout = 30s});
    std::string why;
    const auto started = std::chrono::steady_clock::now();
    auto r = s.call<protocol::metadata_response>(at(broker.address()), protocol::metadata_request{}, 12, why);
    ASSERT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);  // not the call's timeout
    EXPECT_NE(why.find("Metadata"), std::string::npos) << why;
}

TEST(admin_session, a_coordinator_call_sends_the_version_given_without_api_versions) {
    std::vector<int16_t> keys;
    fakes::kafka_fake_broker broker([&](int16_t key, int32_t cid) -> std::optional<bytes> {
        keys.push_back(key);
        protocol::metadata_response md;
        md.controller_id = 3;
        return fakes::framed(fakes::encode_response(md, 4, cid));
    });
    admin_session s({.timeout = 5s});
    std::string why;
    auto r = s.call_coordinator<protocol::metadata_response>(at(broker.address()), protocol::metadata_request{}, 4, why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->controller_id, 3);
    EXPECT_EQ(keys, std::vector<int16_t>{protocol::metadata_request::api_key});
    s.close_all();
}

} // namespace
} // namespace trib::op::kafka
