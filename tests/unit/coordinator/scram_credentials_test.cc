// SCRAM credentials in the metadata log: AlterUserScramCredentials decided by the controller
// (Kafka's validation and error codes), the records applied to the image, kept through a
// snapshot and a restart, and announced in the delta.
#include "tests/fakes/coordinator_harness.h"

#include "coordinator/client/metadata_delta.h"
#include "security/scram.h"

#include <gtest/gtest.h>

#include <map>

namespace trib::coordinator::testing {
namespace {

using protocol::error_code;
using req_t = protocol::alter_user_scram_credentials_request;
using resp_t = protocol::alter_user_scram_credentials_response;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

// What the Java tool sends for `password` (salt and salted password).
req_t::scram_credential_upsertion upsertion(std::string name, int8_t mechanism, std::string_view password,
                                            int32_t iterations = 8192) {
    req_t::scram_credential_upsertion u;
    u.name = std::move(name);
    u.mechanism = mechanism;
    u.iterations = iterations;
    const std::string salt = "salt-of-" + u.name;
    u.salt = to_bytes(salt);
    auto alg = mechanism == 2 ? security::scram_algorithm::sha512 : security::scram_algorithm::sha256;
    if (mechanism == 1 || mechanism == 2) {
        u.salted_password = to_bytes(security::scram_salted_password(alg, password, salt, iterations));
    } else {
        u.salted_password = to_bytes("x");
    }
    return u;
}

req_t::scram_credential_deletion deletion(std::string name, int8_t mechanism) {
    req_t::scram_credential_deletion d;
    d.name = std::move(name);
    d.mechanism = mechanism;
    return d;
}

// The answer per user.
std::map<std::string, int16_t> by_user(const resp_t& resp) {
    std::map<std::string, int16_t> out;
    for (const auto& r : resp.results) {
        EXPECT_FALSE(out.contains(r.user)) << r.user << " answered twice";
        out[r.user] = r.error_code;
        EXPECT_EQ(r.error_code == 0, !r.error_message.has_value()) << r.user;
    }
    return out;
}

TEST(scram, upsertion_stores_the_derived_keys_never_the_salted_password) {
    harness h;
    req_t req;
    req.upsertions.push_back(upsertion("alice", 1, "alice-secret"));
    req.upsertions.push_back(upsertion("bob", 2, "bob-secret", 4096));
    auto resp = h.admin<req_t, resp_t>(req, 0);
    EXPECT_EQ(by_user(resp), (std::map<std::string, int16_t>{{"alice", 0}, {"bob", 0}}));

    const auto* alice = h.image().scram("alice", 1);
    ASSERT_NE(alice, nullptr);
    EXPECT_EQ(h.image().scram("alice", 2), nullptr);
    auto salted = security::scram_salted_password(security::scram_algorithm::sha256, "alice-secret",
                                                  "salt-of-alice", 8192);
    auto expected = security::scram_credential_from_salted(security::scram_algorithm::sha256, salted,
                                                           "salt-of-alice", 8192);
    EXPECT_EQ(alice->salt, "salt-of-alice");
    EXPECT_EQ(alice->stored_key, expected.stored_key);
    EXPECT_EQ(alice->server_key, expected.server_key);
    EXPECT_NE(alice->stored_key, salted);
    EXPECT_EQ(alice->iterations, 8192);
    ASSERT_NE(h.image().scram("bob", 2), nullptr);
    EXPECT_EQ(h.image().scram("bob", 2)->iterations, 4096);
    // The broker's snapshot carries them.
    auto snap = h.image().to_snapshot("c", node_id(0));
    EXPECT_EQ(snap.scram.at("alice").at(1), *alice);

    // A new password replaces the credential.
    req_t again;
    again.upsertions.push_back(upsertion("alice", 1, "other", 16384));
    EXPECT_EQ(by_user(h.admin<req_t, resp_t>(again, 0)).at("alice"), 0);
    EXPECT_EQ(h.image().scram("alice", 1)->iterations, 16384);
}

TEST(scram, refusals_use_kafkas_error_codes) {
    harness h;
    req_t setup;
    setup.upsertions.push_back(upsertion("carol", 1, "pw"));
    setup.upsertions.push_back(upsertion("twice", 1, "pw"));
    ASSERT_EQ(by_user(h.admin<req_t, resp_t>(setup, 0)),
              (std::map<std::string, int16_t>{{"carol", 0}, {"twice", 0}}));

    req_t req;
    req.upsertions.push_back(upsertion("", 1, "pw"));
    req.upsertions.push_back(upsertion("unknown-mech", 3, "pw"));
    req.upsertions.push_back(upsertion("few", 1, "pw", 4095));
    req.upsertions.push_back(upsertion("many", 2, "pw", 16385));
    req.deletions.push_back(deletion("nobody", 1));
    req.deletions.push_back(deletion("carol", 2));     // carol has SHA-256 only
    req.deletions.push_back(deletion("twice", 1));  // exists: the second mention is the error
    req.upsertions.push_back(upsertion("twice", 1, "pw"));
    req.upsertions.push_back(upsertion("dup", 1, "pw"));
    req.upsertions.push_back(upsertion("dup", 2, "pw"));
    req.upsertions.push_back(upsertion("fine", 2, "pw"));
    auto got = by_user(h.admin<req_t, resp_t>(req, 0));
    EXPECT_EQ(got, (std::map<std::string, int16_t>{
                       {"", code(error_code::unacceptable_credential)},
                       {"unknown-mech", code(error_code::unsupported_sasl_mechanism)},
                       {"few", code(error_code::unacceptable_credential)},
                       {"many", code(error_code::unacceptable_credential)},
                       {"nobody", code(error_code::resource_not_found)},
                       {"carol", code(error_code::resource_not_found)},
                       {"twice", code(error_code::duplicate_resource)},
                       {"dup", code(error_code::duplicate_resource)},
                       {"fine", 0},
                   }));
    // Only the accepted one was written; carol kept her credential.
    EXPECT_NE(h.image().scram("fine", 2), nullptr);
    EXPECT_EQ(h.image().scram("dup", 1), nullptr);
    EXPECT_NE(h.image().scram("twice", 1), nullptr) << "neither the deletion nor the upsertion was made";
    EXPECT_NE(h.image().scram("carol", 1), nullptr);
    EXPECT_EQ(h.image().scram().size(), 3u);
}

TEST(scram, deletion_removes_one_mechanism_then_the_user) {
    harness h;
    req_t setup;
    setup.upsertions.push_back(upsertion("dave", 1, "pw"));
    h.admin<req_t, resp_t>(setup, 0);
    req_t setup2;
    setup2.upsertions.push_back(upsertion("dave", 2, "pw"));
    h.admin<req_t, resp_t>(setup2, 0);
    ASSERT_EQ(h.image().scram().at("dave").size(), 2u);

    req_t del;
    del.deletions.push_back(deletion("dave", 1));
    EXPECT_EQ(by_user(h.admin<req_t, resp_t>(del, 0)).at("dave"), 0);
    EXPECT_EQ(h.image().scram("dave", 1), nullptr);
    EXPECT_NE(h.image().scram("dave", 2), nullptr);
    EXPECT_EQ(by_user(h.admin<req_t, resp_t>(del, 0)).at("dave"), code(error_code::resource_not_found));

    req_t del2;
    del2.deletions.push_back(deletion("dave", 2));
    EXPECT_EQ(by_user(h.admin<req_t, resp_t>(del2, 0)).at("dave"), 0);
    EXPECT_TRUE(h.image().scram().empty());
}

TEST(scram, credentials_survive_a_snapshot_and_a_restart) {
    harness h;
    req_t req;
    req.upsertions.push_back(upsertion("erin", 1, "pw"));
    req.upsertions.push_back(upsertion("frank", 2, "pw"));
    h.admin<req_t, resp_t>(req, 0);

    // to_records rebuilds the same image.
    metadata_image rebuilt;
    offset at{0};
    for (const auto& r : h.image().to_records()) {
        ASSERT_TRUE(rebuilt.apply(at, r));
        at = at + 1;
    }
    EXPECT_EQ(rebuilt.scram(), h.image().scram());

    ASSERT_TRUE(h.log->snapshot(h.image()));
    req_t del;
    del.deletions.push_back(deletion("frank", 2));
    h.admin<req_t, resp_t>(del, 0);
    metadata_image before = h.image();
    h.reopen();  // snapshot + the removal after it
    EXPECT_EQ(h.image(), before);
    EXPECT_NE(h.image().scram("erin", 1), nullptr);
    EXPECT_EQ(h.image().scram("frank", 2), nullptr);
}

TEST(scram, records_are_announced_in_the_delta_and_checked_by_the_image) {
    metadata_image img;
    user_scram_credential_record set;
    set.name = "gina";
    set.mechanism = 2;
    set.salt = to_bytes("s");
    set.stored_key = to_bytes("k1");
    set.server_key = to_bytes("k2");
    set.iterations = 4096;
    metadata_delta d;
    d.add(img, set);
    EXPECT_TRUE(d.scram);
    EXPECT_FALSE(d.everything);
    EXPECT_FALSE(d.empty());
    ASSERT_TRUE(img.apply(offset(0), set));

    remove_user_scram_credential_record missing;
    missing.name = "gina";
    missing.mechanism = 1;
    EXPECT_FALSE(img.apply(offset(1), missing)) << "removing a credential that is not there";
    auto bad = set;
    bad.mechanism = 0;
    EXPECT_FALSE(img.apply(offset(1), bad)) << "unknown mechanism";
    bad = set;
    bad.name.clear();
    EXPECT_FALSE(img.apply(offset(1), bad)) << "empty user";

    remove_user_scram_credential_record gone;
    gone.name = "gina";
    gone.mechanism = 2;
    metadata_delta d2;
    d2.add(img, gone);
    EXPECT_TRUE(d2.scram);
    ASSERT_TRUE(img.apply(offset(1), gone));
    EXPECT_TRUE(img.scram().empty());

    // Both records round-trip through a batch; describe() never shows the keys.
    std::vector<metadata_record> records = {set, gone};
    bytes batch = make_batch(records, 1);
    std::vector<metadata_record> back;
    ASSERT_TRUE(for_each_record(batch, [&](offset, const metadata_record& r) { back.push_back(r); }));
    EXPECT_EQ(back, records);
    EXPECT_EQ(describe(set).find("k1"), std::string::npos);
}

} // namespace
} // namespace trib::coordinator::testing
