// The session clock of KIP-368: how long a SASL session lasts, when it has ended, and which
// requests a connection in each state may send (net/sasl_session.h, through the broker's and
// the coordinator's per-connection state, net/sasl_connection.h).
#include "net/sasl_connection.h"

#include "protocol/error_code.h"
#include "protocol/messages.h"
#include "security/plain.h"

#include <gtest/gtest.h>

namespace trib::net {
namespace {

using namespace std::chrono_literals;
using session = sasl_connection;
using security::listener_sasl;
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

// A SCRAM-SHA-256 listener with connections.max.reauth.ms 2000, a fresh connection, and a time.
struct session_clock : ::testing::Test {
    const listener_sasl l = scram_listener();
    session s{&l};
    const session::clock::time_point t = session::clock::now();
};

TEST(session, a_plaintext_listener_serves_everything) {
    session s(nullptr);
    const auto t = session::clock::now();
    EXPECT_EQ(s.admit(produce, t), admission::serve);
    EXPECT_FALSE(s.may_begin_reauth(t));
}

TEST_F(session_clock, before_authentication_only_api_versions_and_sasl) {
    EXPECT_EQ(s.admit(api_versions, t), admission::serve);
    EXPECT_EQ(s.admit(handshake, t), admission::serve);
    EXPECT_EQ(s.admit(authenticate, t), admission::serve);
    EXPECT_EQ(s.admit(produce, t), admission::unauthenticated);
    EXPECT_FALSE(s.may_begin_reauth(t));
}

TEST_F(session_clock, authenticated_without_an_end_never_expires_nor_reauthenticates) {
    EXPECT_EQ(s.authenticated("alice", 0, std::nullopt, t, 1'000'000), 0);
    EXPECT_EQ(s.principal, "User:alice");
    EXPECT_FALSE(s.expires_at);
    EXPECT_EQ(s.admit(produce, t + 24h), admission::serve);
    EXPECT_FALSE(s.may_begin_reauth(t + 24h));  // a SaslHandshake is then refused, not a re-authentication
}

TEST_F(session_clock, expires_at_its_lifetime_and_then_admits_only_a_reauthentication) {
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

TEST_F(session_clock, a_reauthentication_may_begin_before_the_end_and_admits_only_sasl_authenticate) {
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

TEST_F(session_clock, reauthentications_are_at_least_a_second_apart) {
    s.authenticated("alice", 500, std::nullopt, t, 1'000'000);
    s.begin_reauth(t + 400ms);
    s.authenticated("alice", 500, std::nullopt, t + 410ms, 1'000'410);
    EXPECT_FALSE(s.may_begin_reauth(t + 1399ms));
    // Its session has ended too: the handshake is not a re-authentication, so it closes.
    EXPECT_EQ(s.admit(handshake, t + 1000ms), admission::expired);
    EXPECT_TRUE(s.may_begin_reauth(t + 1400ms));
    EXPECT_EQ(s.admit(handshake, t + 1400ms), admission::serve);
}

TEST_F(session_clock, a_token_end_bounds_the_session) {
    // The token expires in 700 ms, before connections.max.reauth.ms.
    EXPECT_EQ(s.authenticated("svc", 2000, 1'000'700, t, 1'000'000), 700);
    EXPECT_EQ(*s.expires_at, t + 700ms);
}

TEST_F(session_clock, a_huge_lifetime_does_not_overflow_the_clock) {
    EXPECT_EQ(s.authenticated("svc", INT64_MAX, std::nullopt, t, 1'000'000), INT64_MAX);
    ASSERT_TRUE(s.expires_at);
    EXPECT_GT(*s.expires_at, t + 24h * 365 * 100);
    EXPECT_EQ(s.admit(produce, t + 24h), admission::serve);
}

// The handlers' decisions, with a real PLAIN server behind them.
struct plain_connection {
    listener_sasl l;
    security::plain_users users{{"alice", "a"}, {"bob", "b"}};
    session s{&l};
    session::clock::time_point t = session::clock::now();

    plain_connection() {
        l.mechanisms = {"PLAIN", "SCRAM-SHA-256"};
        l.max_reauth_ms["PLAIN"] = 2000;
    }
    session::handshake_outcome handshake(const std::string& m) {
        auto o = s.handshake(m, t);
        if (o == session::handshake_outcome::start) {
            s.server = security::make_plain_server(users);
        }
        return o;
    }
    // The first authentication, as alice.
    session::step::kind logged_in() {
        handshake("PLAIN");
        return login("alice", "a").k;
    }
    session::step login(const std::string& user, const std::string& password, int16_t version = 1) {
        return s.authenticate(std::string(1, '\0') + user + '\0' + password, version, l.max_reauth_ms_for(s.mechanism),
                              t, 1'000'000);
    }
};

TEST(session_exchange, first_authentication_then_a_reauthentication_with_a_new_lifetime) {
    plain_connection c;
    ASSERT_EQ(c.handshake("PLAIN"), session::handshake_outcome::start);
    auto first = c.login("alice", "a");
    ASSERT_EQ(first.k, session::step::authenticated) << first.text;
    EXPECT_EQ(first.lifetime_ms, 2000);
    EXPECT_FALSE(first.reauthentication);
    EXPECT_TRUE(c.s.client_supports_reauth);

    c.t += 1500ms;
    ASSERT_EQ(c.handshake("PLAIN"), session::handshake_outcome::start);
    auto again = c.login("alice", "a");
    ASSERT_EQ(again.k, session::step::authenticated) << again.text;
    EXPECT_TRUE(again.reauthentication);
    EXPECT_EQ(*c.s.expires_at, c.t + 2000ms);
    // A second SaslAuthenticate after success: refused, the connection kept.
    EXPECT_EQ(c.login("alice", "a").k, session::step::illegal_state);
}

TEST(session_exchange, the_principal_cannot_change) {
    plain_connection c;
    ASSERT_EQ(c.logged_in(), session::step::authenticated);
    ASSERT_EQ(c.handshake("PLAIN"), session::handshake_outcome::start);
    auto bob = c.login("bob", "b");
    EXPECT_EQ(bob.k, session::step::failed);
    EXPECT_TRUE(bob.reauthentication);
    EXPECT_NE(bob.text.find("User:bob"), std::string::npos) << bob.text;
    EXPECT_NE(bob.text.find("User:alice"), std::string::npos) << bob.text;
    EXPECT_EQ(c.s.principal, "User:alice");  // requests in flight keep it until the close
    EXPECT_NE(c.s.at, session::stage::done);
}

TEST(session_exchange, a_wrong_password_at_reauthentication_fails) {
    plain_connection c;
    ASSERT_EQ(c.logged_in(), session::step::authenticated);
    c.handshake("PLAIN");
    auto wrong = c.login("alice", "old");
    EXPECT_EQ(wrong.k, session::step::failed);
    EXPECT_TRUE(wrong.reauthentication);
}

TEST(session_exchange, another_mechanism_is_answered_then_refused) {
    plain_connection c;
    ASSERT_EQ(c.logged_in(), session::step::authenticated);
    EXPECT_EQ(c.handshake("SCRAM-SHA-256"), session::handshake_outcome::refused_later);
    auto r = c.login("alice", "a");
    EXPECT_EQ(r.k, session::step::failed);
    EXPECT_NE(r.text.find("PLAIN"), std::string::npos) << r.text;
    // One not enabled at all: refused at the handshake.
    plain_connection d;
    d.logged_in();
    EXPECT_EQ(d.handshake("GSSAPI"), session::handshake_outcome::unsupported);
}

TEST(session_exchange, no_reauthentication_without_an_end_or_within_a_second) {
    plain_connection c;
    c.l.max_reauth_ms["PLAIN"] = 0;
    c.handshake("PLAIN");
    auto first = c.login("alice", "a");
    EXPECT_EQ(first.lifetime_ms, 0);
    EXPECT_EQ(c.handshake("PLAIN"), session::handshake_outcome::illegal_state_keep);
    EXPECT_EQ(c.s.at, session::stage::done);

    plain_connection d;
    d.logged_in();
    d.t += 100ms;
    ASSERT_EQ(d.handshake("PLAIN"), session::handshake_outcome::start);
    d.login("alice", "a");
    d.t += 999ms;
    EXPECT_EQ(d.handshake("PLAIN"), session::handshake_outcome::illegal_state_keep);
    d.t += 1ms;
    EXPECT_EQ(d.handshake("PLAIN"), session::handshake_outcome::start);
}

TEST(session_exchange, out_of_order_requests) {
    plain_connection c;
    EXPECT_EQ(c.login("alice", "a").k, session::step::before_handshake);
    c.handshake("PLAIN");
    EXPECT_EQ(c.handshake("PLAIN"), session::handshake_outcome::illegal_state_close);
}

TEST(session_exchange, a_v0_client_is_not_told_but_still_expires) {
    plain_connection c;
    c.handshake("PLAIN");
    auto r = c.login("alice", "a", 0);
    ASSERT_EQ(r.k, session::step::authenticated);
    EXPECT_FALSE(c.s.client_supports_reauth);
    EXPECT_EQ(c.s.admit(produce, c.t + 2000ms), admission::expired);
}

// The answers both programs send (broker/handlers/sasl.cc, coordinator/service.cc).
TEST(sasl_answers, a_plaintext_listener_answers_illegal_sasl_state_and_keeps_the_connection) {
    session s(nullptr);
    const auto t = session::clock::now();
    auto h = s.answer_handshake(1, "PLAIN", "PLAINTEXT", t);
    EXPECT_EQ(h.error_code, int16_t(protocol::error_code::illegal_sasl_state));
    EXPECT_TRUE(h.mechanisms.empty());
    EXPECT_FALSE(h.close);
    EXPECT_FALSE(h.outcome);
    auto a = s.answer_authenticate("x", 1, t, 1'000'000);
    EXPECT_EQ(a.error_code, int16_t(protocol::error_code::illegal_sasl_state));
    EXPECT_EQ(a.error_message, "this listener does not use SASL");
    EXPECT_FALSE(a.close);
}

TEST(sasl_answers, handshake_v0_is_answered_with_the_mechanisms_then_closed) {
    plain_connection c;
    auto h = c.s.answer_handshake(0, "PLAIN", "SASL_PLAINTEXT", c.t);
    EXPECT_EQ(h.error_code, int16_t(protocol::error_code::unsupported_version));
    EXPECT_EQ(h.mechanisms, c.l.mechanisms);
    ASSERT_TRUE(h.close);
    EXPECT_NE(h.close->find("v0"), std::string::npos);
    EXPECT_FALSE(h.outcome);
    EXPECT_EQ(c.s.at, session::stage::handshake);
}

TEST(sasl_answers, an_unknown_mechanism_is_refused_naming_it_and_the_listener) {
    plain_connection c;
    auto h = c.s.answer_handshake(1, "GSSAPI", "SASL_PLAINTEXT", c.t);
    EXPECT_EQ(h.error_code, int16_t(protocol::error_code::unsupported_sasl_mechanism));
    EXPECT_EQ(h.mechanisms, c.l.mechanisms);
    EXPECT_EQ(h.close, "SASL mechanism 'GSSAPI' is not enabled on listener SASL_PLAINTEXT");
    EXPECT_EQ(h.outcome, session::handshake_outcome::unsupported);
}

TEST(sasl_answers, a_login_tells_its_lifetime_and_a_failure_closes_with_the_reason) {
    plain_connection c;
    auto h = c.s.answer_handshake(1, "PLAIN", "SASL_PLAINTEXT", c.t);
    EXPECT_EQ(h.error_code, 0);
    ASSERT_EQ(h.outcome, session::handshake_outcome::start);
    c.s.server = security::make_plain_server(c.users);
    auto ok = c.s.answer_authenticate(std::string("\0alice\0a", 8), 1, c.t, 1'000'000);
    EXPECT_EQ(ok.error_code, 0);
    EXPECT_EQ(ok.k, session::step::authenticated);
    EXPECT_EQ(ok.lifetime_ms, 2000);  // the listener's connections.max.reauth.ms for PLAIN
    EXPECT_FALSE(ok.error_message);
    EXPECT_FALSE(ok.close);
    EXPECT_EQ(c.s.principal, "User:alice");

    // The session has an end, so a SaslHandshake begins a re-authentication...
    auto re = c.s.answer_handshake(1, "PLAIN", "SASL_PLAINTEXT", c.t + 500ms);
    EXPECT_EQ(re.error_code, 0);
    ASSERT_EQ(re.outcome, session::handshake_outcome::start);
    c.s.server = security::make_plain_server(c.users);
    auto renewed = c.s.answer_authenticate(std::string("\0alice\0a", 8), 1, c.t + 600ms, 1'000'600);
    EXPECT_EQ(renewed.k, session::step::authenticated);
    EXPECT_TRUE(renewed.reauthentication);
    EXPECT_EQ(renewed.lifetime_ms, 2000);
    // ...and another within a second of it is refused, the connection kept.
    auto again = c.s.answer_handshake(1, "PLAIN", "SASL_PLAINTEXT", c.t + 1400ms);
    EXPECT_EQ(again.error_code, int16_t(protocol::error_code::illegal_sasl_state));
    EXPECT_TRUE(again.mechanisms.empty());
    EXPECT_FALSE(again.close);
    EXPECT_EQ(again.outcome, session::handshake_outcome::illegal_state_keep);

    plain_connection d;
    d.handshake("PLAIN");
    auto bad = d.s.answer_authenticate(std::string("\0alice\0wrong", 12), 1, d.t, 1'000'000);
    EXPECT_EQ(bad.error_code, int16_t(protocol::error_code::sasl_authentication_failed));
    ASSERT_TRUE(bad.error_message);
    EXPECT_EQ(bad.close, "SASL authentication failed");
    EXPECT_EQ(d.s.principal, std::string(anonymous_principal));
}

TEST(sasl_answers, before_handshake_is_illegal_and_closes) {
    plain_connection c;
    auto a = c.s.answer_authenticate("x", 1, c.t, 1'000'000);
    EXPECT_EQ(a.error_code, int16_t(protocol::error_code::illegal_sasl_state));
    EXPECT_EQ(a.error_message, "SaslAuthenticate before SaslHandshake");
    EXPECT_EQ(a.close, "SaslAuthenticate before SaslHandshake");
}

TEST_F(session_clock, refusals_name_the_request_the_state_and_the_listener) {
    EXPECT_EQ(s.refusal(admission::unauthenticated, produce, 7, "SASL_PLAINTEXT"),
              "Produce request (correlation id 7) before SASL authentication: only ApiVersions, SaslHandshake and "
              "SaslAuthenticate may come first (listener SASL_PLAINTEXT)");
    EXPECT_NE(s.refusal(admission::unauthenticated, 9999, 7, "L").find("API key 9999 request"), std::string::npos);
    s.authenticated("alice", 2000, std::nullopt, t, 1'000'000);
    const auto expired = s.refusal(admission::expired, produce, 8, "SASL_PLAINTEXT");
    EXPECT_EQ(expired.rfind("expired SASL session of User:alice: Produce request (correlation id 8) after", 0), 0u)
        << expired;
    EXPECT_NE(expired.find("cannot re-authenticate"), std::string::npos) << "no SaslAuthenticate v1 was seen";
}

} // namespace
} // namespace trib::net
