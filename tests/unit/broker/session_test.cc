// The session clock of KIP-368: how long a SASL session lasts, when it has ended, and which
// requests a connection in each state may send (broker/session.h).
#include "broker/session.h"

#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace trib::broker {
namespace {

using namespace std::chrono_literals;
using admission = session::admission;

constexpr int16_t produce = protocol::produce_request::api_key;
constexpr int16_t api_versions = protocol::api_versions_request::api_key;
constexpr int16_t handshake = protocol::sasl_handshake_request::api_key;
constexpr int16_t authenticate = protocol::sasl_authenticate_request::api_key;

TEST(session_lifetime, off_without_a_bound_or_a_credential_end) {
    EXPECT_EQ(session_lifetime_ms(0, std::nullopt, 1'000'000), std::nullopt);
    EXPECT_EQ(session_lifetime_ms(-5, std::nullopt, 1'000'000), std::nullopt);  // not set, as Kafka reads it
}

TEST(session_lifetime, the_configured_bound_alone) {
    EXPECT_EQ(session_lifetime_ms(2000, std::nullopt, 1'000'000), 2000);
}

TEST(session_lifetime, a_credential_end_alone) {
    // An OAUTHBEARER token expiring in 30 s with connections.max.reauth.ms unset.
    EXPECT_EQ(session_lifetime_ms(0, 1'030'000, 1'000'000), 30'000);
}

TEST(session_lifetime, the_smaller_of_both) {
    EXPECT_EQ(session_lifetime_ms(2000, 1'030'000, 1'000'000), 2000);
    EXPECT_EQ(session_lifetime_ms(60'000, 1'030'000, 1'000'000), 30'000);
}

TEST(session_lifetime, an_expired_credential_gives_zero_never_negative) {
    EXPECT_EQ(session_lifetime_ms(2000, 999'000, 1'000'000), 0);
    EXPECT_EQ(session_lifetime_ms(0, 1'000'000, 1'000'000), 0);
    EXPECT_EQ(session_lifetime_ms(0, INT64_MIN, 1'000'000), 0);
}

TEST(session_lifetime, a_far_future_credential_does_not_overflow) {
    EXPECT_EQ(session_lifetime_ms(0, INT64_MAX, 1'000'000), INT64_MAX - 1'000'000);
    EXPECT_EQ(session_lifetime_ms(5000, INT64_MAX, 1'000'000), 5000);
    EXPECT_EQ(session_lifetime_ms(0, INT64_MAX, -7), INT64_MAX);  // a wall clock before the epoch
}

listener_sasl scram_listener() {
    listener_sasl l;
    l.mechanisms = {"SCRAM-SHA-256"};
    l.max_reauth_ms["SCRAM-SHA-256"] = 2000;
    return l;
}

TEST(session, a_plaintext_listener_serves_everything) {
    session s(nullptr);
    const auto t = session::clock::now();
    EXPECT_EQ(s.admit(produce, t), admission::serve);
    EXPECT_FALSE(s.may_begin_reauth(t));
}

TEST(session, before_authentication_only_api_versions_and_sasl) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    EXPECT_EQ(s.admit(api_versions, t), admission::serve);
    EXPECT_EQ(s.admit(handshake, t), admission::serve);
    EXPECT_EQ(s.admit(authenticate, t), admission::serve);
    EXPECT_EQ(s.admit(produce, t), admission::unauthenticated);
    EXPECT_FALSE(s.may_begin_reauth(t));
}

TEST(session, authenticated_without_an_end_never_expires_nor_reauthenticates) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    EXPECT_EQ(s.authenticated("alice", 0, std::nullopt, t, 1'000'000), 0);
    EXPECT_EQ(s.principal, "User:alice");
    EXPECT_FALSE(s.expires_at);
    EXPECT_EQ(s.admit(produce, t + 24h), admission::serve);
    EXPECT_FALSE(s.may_begin_reauth(t + 24h));  // a SaslHandshake is then refused, not a re-authentication
}

TEST(session, expires_at_its_lifetime_and_then_admits_only_a_reauthentication) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    EXPECT_EQ(s.authenticated("alice", 2000, std::nullopt, t, 1'000'000), 2000);
    ASSERT_TRUE(s.expires_at);
    EXPECT_EQ(*s.expires_at, t + 2000ms);
    EXPECT_EQ(s.admit(produce, t + 1999ms), admission::serve);
    EXPECT_FALSE(s.expired(t + 1999ms));
    EXPECT_TRUE(s.expired(t + 2000ms));
    EXPECT_EQ(s.admit(produce, t + 2000ms), admission::expired);
    EXPECT_EQ(s.admit(api_versions, t + 2000ms), admission::expired);
    EXPECT_EQ(s.admit(authenticate, t + 2000ms), admission::expired);
    EXPECT_EQ(s.admit(handshake, t + 2000ms), admission::serve);
}

TEST(session, a_reauthentication_may_begin_before_the_end_and_admits_only_sasl_authenticate) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    s.mechanism = "SCRAM-SHA-256";
    s.authenticated("alice", 2000, std::nullopt, t, 1'000'000);
    EXPECT_TRUE(s.may_begin_reauth(t + 1500ms));
    s.begin_reauth(t + 1500ms);
    EXPECT_TRUE(s.reauthenticating);
    EXPECT_EQ(s.principal, "User:alice");  // requests in flight keep running as alice
    EXPECT_EQ(s.admit(authenticate, t + 1600ms), admission::serve);
    EXPECT_EQ(s.admit(produce, t + 1600ms), admission::reauthenticating);
    EXPECT_EQ(s.admit(api_versions, t + 1600ms), admission::reauthenticating);
    EXPECT_EQ(s.admit(handshake, t + 1600ms), admission::reauthenticating);
    // Past the old end while the exchange goes on: SaslAuthenticate still passes.
    EXPECT_EQ(s.admit(authenticate, t + 2500ms), admission::serve);

    // Done: a new lifetime from the end of the re-authentication.
    EXPECT_EQ(s.authenticated("alice", 2000, std::nullopt, t + 2600ms, 1'002'600), 2000);
    EXPECT_EQ(*s.expires_at, t + 4600ms);
    EXPECT_EQ(s.admit(produce, t + 4000ms), admission::serve);
}

TEST(session, reauthentications_are_at_least_a_second_apart) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    s.authenticated("alice", 500, std::nullopt, t, 1'000'000);
    s.begin_reauth(t + 400ms);
    s.authenticated("alice", 500, std::nullopt, t + 410ms, 1'000'410);
    EXPECT_FALSE(s.may_begin_reauth(t + 1399ms));
    // Its session has ended too: the handshake is not a re-authentication, so it closes.
    EXPECT_EQ(s.admit(handshake, t + 1000ms), admission::expired);
    EXPECT_TRUE(s.may_begin_reauth(t + 1400ms));
    EXPECT_EQ(s.admit(handshake, t + 1400ms), admission::serve);
}

TEST(session, a_token_end_bounds_the_session) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    // The token expires in 700 ms, before connections.max.reauth.ms.
    EXPECT_EQ(s.authenticated("svc", 2000, 1'000'700, t, 1'000'000), 700);
    EXPECT_EQ(*s.expires_at, t + 700ms);
}

TEST(session, a_huge_lifetime_does_not_overflow_the_clock) {
    const auto l = scram_listener();
    session s(&l);
    const auto t = session::clock::now();
    EXPECT_EQ(s.authenticated("svc", INT64_MAX, std::nullopt, t, 1'000'000), INT64_MAX);
    ASSERT_TRUE(s.expires_at);
    EXPECT_GT(*s.expires_at, t + 24h * 365 * 100);
    EXPECT_EQ(s.admit(produce, t + 24h), admission::serve);
}

} // namespace
} // namespace trib::broker
