#include "security/jaas.h"
#include "security/plain.h"
#include "security/scram.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

using namespace trib::security;
using namespace std::string_literals;

TEST(plain, parses_the_three_fields) {
    auto m = parse_plain("\0alice\0secret"s);
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m.value().authzid, "");
    EXPECT_EQ(m.value().authcid, "alice");
    EXPECT_EQ(m.value().password, "secret");
    EXPECT_TRUE(parse_plain("alice\0alice\0secret"s));
}

TEST(plain, bad_messages_are_errors) {
    EXPECT_FALSE(parse_plain(""));
    EXPECT_FALSE(parse_plain("alice"));
    EXPECT_FALSE(parse_plain("\0alice"s));
    EXPECT_FALSE(parse_plain("\0\0secret"s));
    EXPECT_FALSE(parse_plain("\0alice\0"s));
    EXPECT_FALSE(parse_plain("\0alice\0secret\0more"s));
    auto other = parse_plain("bob\0alice\0secret"s);
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().find("authorization id"), std::string::npos);
}

TEST(plain, server_checks_the_password) {
    plain_users users{{"alice", "alice-secret"}};
    auto ok = make_plain_server(users);
    ASSERT_TRUE(ok->step("\0alice\0alice-secret"s));
    EXPECT_TRUE(ok->complete());
    EXPECT_EQ(ok->username(), "alice");

    auto wrong = make_plain_server(users);
    auto r = wrong->step("\0alice\0alice-secreT"s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "authentication failed: invalid username or password");
    EXPECT_FALSE(wrong->complete());
    EXPECT_FALSE(make_plain_server(users)->step("\0bob\0alice-secret"s));
    EXPECT_FALSE(make_plain_server(users)->step("\0alice\0alice-secre"s));
}

TEST(jaas, plain_users) {
    auto u = plain_users_from_jaas(
        R"(org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" )"
        R"(user_admin="admin-secret" user_alice="al\"ice";)");
    ASSERT_TRUE(u) << u.error();
    EXPECT_EQ(u.value(), (plain_users{{"admin", "admin-secret"}, {"alice", "al\"ice"}}));
    auto bare = plain_users_from_jaas("org.apache.kafka.common.security.plain.PlainLoginModule required user_x=y;");
    ASSERT_TRUE(bare) << bare.error();
    EXPECT_EQ(bare.value().at("x"), "y");
}

TEST(jaas, bad_syntax_is_an_error_naming_the_problem) {
    const std::string mod = "org.apache.kafka.common.security.plain.PlainLoginModule";
    EXPECT_FALSE(plain_users_from_jaas(""));
    EXPECT_FALSE(plain_users_from_jaas(mod + " required user_a=\"b\""));      // no ';'
    EXPECT_FALSE(plain_users_from_jaas(mod + " mandatory user_a=\"b\";"));    // bad flag
    EXPECT_FALSE(plain_users_from_jaas(mod + " required user_a=\"b;"));       // unterminated
    EXPECT_FALSE(plain_users_from_jaas(mod + " required user_a;"));           // no '='
    EXPECT_FALSE(plain_users_from_jaas(mod + " required user_a=\"b\"; x"));   // two entries
    auto other = plain_users_from_jaas("org.apache.kafka.common.security.scram.ScramLoginModule required;");
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().find("PlainLoginModule"), std::string::npos);
}

TEST(base64, round_trip_and_strictness) {
    for (std::string s : {""s, "a"s, "ab"s, "abc"s, "abcd"s, "\xff\x00\x10"s}) {
        auto d = base64_decode(base64_encode(s));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, s);
    }
    EXPECT_EQ(base64_encode("n,,"), "biws");
    EXPECT_FALSE(base64_decode("biw"));
    EXPECT_FALSE(base64_decode("bi=s"));
    EXPECT_FALSE(base64_decode("b!ws"));
    EXPECT_FALSE(base64_decode("===="));
}

// RFC 7677 section 3: user "user", password "pencil".
TEST(scram, rfc7677_sha256_exchange) {
    auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    ASSERT_TRUE(salt);
    auto salted = scram_salted_password(scram_algorithm::sha256, "pencil", *salt, 4096);
    auto cred = scram_credential_from_salted(scram_algorithm::sha256, salted, *salt, 4096);
    auto server = make_scram_server(
        scram_algorithm::sha256,
        [&](const std::string& u) -> std::optional<scram_credential> {
            if (u == "user") {
                return cred;
            }
            return std::nullopt;
        },
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    auto first = server->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ASSERT_TRUE(first) << first.error();
    EXPECT_EQ(first.value(), "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    EXPECT_FALSE(server->complete());
    auto final = server->step("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                              "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    ASSERT_TRUE(final) << final.error();
    EXPECT_EQ(final.value(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    EXPECT_TRUE(server->complete());
    EXPECT_EQ(server->username(), "user");
    EXPECT_FALSE(server->step("again"));
}

TEST(scram, wrong_proof_fails) {
    auto salt = *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    auto cred = scram_credential_from_salted(scram_algorithm::sha256,
                                             scram_salted_password(scram_algorithm::sha256, "pencil", salt, 4096),
                                             salt, 4096);
    auto lookup = [&](const std::string&) -> std::optional<scram_credential> { return cred; };
    const std::string nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    auto server = make_scram_server(scram_algorithm::sha256, lookup, nonce);
    ASSERT_TRUE(server->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    // The RFC's proof with its first character changed.
    auto r = server->step("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                          "p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "authentication failed: invalid user credentials");
    EXPECT_FALSE(server->complete());

    // librdkafka's client-final nonce: its own nonce, then the joint one (Kafka accepts it).
    {
        auto lib = make_scram_server(scram_algorithm::sha256, lookup, nonce);
        ASSERT_TRUE(lib->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
        auto r2 = lib->step("c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        ASSERT_FALSE(r2);  // the proof was computed over the RFC's message, not this one
        EXPECT_EQ(r2.error(), "authentication failed: invalid user credentials");
    }
    // A nonce that does not end with client + server nonce.
    auto other = make_scram_server(scram_algorithm::sha256, lookup, nonce);
    ASSERT_TRUE(other->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    EXPECT_FALSE(other->step("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
}

TEST(scram, unknown_user_and_bad_messages_fail) {
    auto none = [](const std::string&) -> std::optional<scram_credential> { return std::nullopt; };
    EXPECT_FALSE(make_scram_server(scram_algorithm::sha512, none)->step("n,,n=bob,r=abc"));
    for (const char* bad : {"", "n", "n,", "n,,", "p=tls-unique,,n=u,r=x", "n,,r=x,n=u", "n,,n=u", "n,,n=,r=x",
                            "n,,n=a=2Xb,r=x", "n,,m=ext,n=u,r=x", "q,,n=u,r=x"}) {
        EXPECT_FALSE(parse_scram_client_first(bad)) << bad;
    }
    auto f = parse_scram_client_first("n,a=us=3Der,n=us=3Der,r=abc,ext=1");
    ASSERT_TRUE(f) << f.error();
    EXPECT_EQ(f.value().username, "us=er");
    EXPECT_EQ(f.value().authzid, "us=er");
    EXPECT_EQ(f.value().gs2_header, "n,a=us=3Der,");
    EXPECT_EQ(f.value().bare, "n=us=3Der,r=abc,ext=1");
    for (const char* bad : {"", "c=biws", "c=biws,r=x", "c=biws,r=x,q=1", "c=b!ws,r=x,p=AAAA", "c=biws,r=x,p=A"}) {
        EXPECT_FALSE(parse_scram_client_final(bad)) << bad;
    }
}

// A full exchange computed the way a client does, for SHA-512 (no RFC vector for it).
TEST(scram, sha512_client_and_server_agree) {
    const auto a = scram_algorithm::sha512;
    auto cred = make_scram_credential(a, "alice-secret", 4096);
    auto server = make_scram_server(a, [&](const std::string&) -> std::optional<scram_credential> { return cred; });
    auto sf = server->step("n,,n=alice,r=clientnonce");
    ASSERT_TRUE(sf) << sf.error();
    // r=<nonce>,s=<salt>,i=<n>
    const auto& text = sf.value();
    auto s_at = text.find(",s=");
    auto i_at = text.find(",i=");
    std::string nonce = text.substr(2, s_at - 2);
    ASSERT_TRUE(nonce.starts_with("clientnonce"));
    auto salt = *base64_decode(text.substr(s_at + 3, i_at - s_at - 3));
    EXPECT_EQ(salt, cred.salt);
    EXPECT_EQ(text.substr(i_at + 3), "4096");

    // The client's side of RFC 5802, from the password.
    auto salted = scram_salted_password(a, "alice-secret", salt, 4096);
    auto client_cred = scram_credential_from_salted(a, salted, salt, 4096);
    EXPECT_EQ(client_cred.stored_key, cred.stored_key);
    const std::string without_proof = "c=biws,r=" + nonce;
    const std::string auth_message = "n=alice,r=clientnonce," + text + "," + without_proof;
    unsigned char ck[64], sig[64];
    unsigned int len = 0;
    HMAC(EVP_sha512(), salted.data(), int(salted.size()), reinterpret_cast<const unsigned char*>("Client Key"), 10, ck,
         &len);
    HMAC(EVP_sha512(), client_cred.stored_key.data(), int(client_cred.stored_key.size()),
         reinterpret_cast<const unsigned char*>(auth_message.data()), auth_message.size(), sig, &len);
    std::string proof(64, '\0');
    for (size_t i = 0; i < 64; ++i) {
        proof[i] = char(ck[i] ^ sig[i]);
    }
    auto fin = server->step(without_proof + ",p=" + base64_encode(proof));
    ASSERT_TRUE(fin) << fin.error();
    EXPECT_TRUE(fin.value().starts_with("v="));
    EXPECT_TRUE(server->complete());
}

// --- the client side (a broker authenticating to another) ---------------------------------

TEST(scram_client, rfc7677_sha256_messages) {
    auto client = make_scram_client(scram_algorithm::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    EXPECT_EQ(client->first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    auto fin = client->next("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    ASSERT_TRUE(fin) << fin.error();
    ASSERT_TRUE(fin.value().has_value());
    EXPECT_EQ(*fin.value(), "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    auto done = client->next("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    ASSERT_TRUE(done) << done.error();
    EXPECT_FALSE(done.value().has_value()) << "the exchange is over";
}

TEST(scram_client, a_server_that_does_not_know_the_password_is_refused) {
    auto client = make_scram_client(scram_algorithm::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    client->first();
    ASSERT_TRUE(client->next("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
    auto bad = client->next("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("signature"), std::string::npos) << bad.error();
}

TEST(scram_client, bad_server_first_messages_are_refused) {
    for (std::string_view msg : {"", "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // not our nonce
                                 "r=cnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",      // ours, not extended
                                 "r=cnonceX,s=!!,i=4096", "r=cnonceX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=12",
                                 "r=cnonceX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999",
                                 "r=cnonceX,s=W22ZaJ0SNY7soEsUEjb6gQ==", "e=unknown-user"}) {
        auto client = make_scram_client(scram_algorithm::sha512, "alice", "secret", "cnonce");
        client->first();
        EXPECT_FALSE(client->next(msg)) << msg;
        EXPECT_FALSE(client->next("v=x")) << "the exchange is over after a failure";
    }
}

// Our client against our server, both SCRAM algorithms, names that need escaping; a wrong
// password is refused by the server.
TEST(scram_client, talks_to_our_server) {
    for (auto a : {scram_algorithm::sha256, scram_algorithm::sha512}) {
        auto cred = make_scram_credential(a, "s3cret", 4096);
        auto lookup = [&](const std::string& u) -> std::optional<scram_credential> {
            return u == "broker,one=1" ? std::optional(cred) : std::nullopt;
        };
        auto client = make_sasl_client(mechanism_name(a), "broker,one=1", "s3cret");
        ASSERT_NE(client, nullptr);
        auto server = make_scram_server(a, lookup);
        auto sf = server->step(client->first());
        ASSERT_TRUE(sf) << sf.error();
        auto cf = client->next(sf.value());
        ASSERT_TRUE(cf && cf.value()) << (cf ? "" : cf.error());
        auto fin = server->step(*cf.value());
        ASSERT_TRUE(fin) << fin.error();
        EXPECT_TRUE(server->complete());
        EXPECT_EQ(server->username(), "broker,one=1");
        auto done = client->next(fin.value());
        ASSERT_TRUE(done) << done.error();
        EXPECT_FALSE(done.value().has_value());

        auto wrong = make_sasl_client(mechanism_name(a), "broker,one=1", "guess");
        auto server2 = make_scram_server(a, lookup);
        auto sf2 = server2->step(wrong->first());
        ASSERT_TRUE(sf2);
        auto cf2 = wrong->next(sf2.value());
        ASSERT_TRUE(cf2 && cf2.value());
        EXPECT_FALSE(server2->step(*cf2.value())) << "wrong password";
    }
}

TEST(plain_client, one_message_the_server_accepts) {
    auto client = make_sasl_client("PLAIN", "alice", "secret");
    ASSERT_NE(client, nullptr);
    const plain_users users{{"alice", "secret"}};  // the server refers to its users: they outlive it
    auto server = make_plain_server(users);
    auto answer = server->step(client->first());
    ASSERT_TRUE(answer) << answer.error();
    EXPECT_TRUE(server->complete());
    auto done = client->next(answer.value());
    ASSERT_TRUE(done);
    EXPECT_FALSE(done.value().has_value());
    EXPECT_EQ(make_sasl_client("GSSAPI", "a", "b"), nullptr);
}
