#include "broker/jwks_file.h"

#include "common/config.h"

#include <gtest/gtest.h>

#include <fstream>

namespace trib::broker {
namespace {

// A JWKS with one EC P-256 key (the curve's generator point: a valid public key) named `kid`.
std::string jwks_with(const std::string& kid) {
    return R"({"keys":[{"kty":"EC","kid":")" + kid +
           R"(","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",)"
           R"("y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}]})";
}

void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
}

std::string path_for(const char* name) { return testing::TempDir() + name; }

TEST(jwks_file, refresh_reads_a_changed_file_and_keeps_keys_over_a_bad_one) {
    const auto path = path_for("jwks_file_refresh.json");
    write(path, jwks_with("a"));
    jwks_file f(path, "key", std::chrono::milliseconds(0), std::chrono::hours(1));
    EXPECT_NE(f.current()->find("a"), nullptr);
    write(path, jwks_with("b"));
    EXPECT_NE(f.current()->find("b"), nullptr);
    EXPECT_EQ(f.current()->find("a"), nullptr);
    write(path, "{not json");
    EXPECT_NE(f.current()->find("b"), nullptr);  // the keys in use stay
}

TEST(jwks_file, unknown_kid_rereads_at_once_but_rate_limited) {
    const auto path = path_for("jwks_file_kid.json");
    write(path, jwks_with("a"));
    jwks_file f(path, "key", std::chrono::hours(1), std::chrono::hours(1));
    write(path, jwks_with("b"));
    EXPECT_EQ(f.current()->find("b"), nullptr);  // refresh interval not yet over
    EXPECT_NE(f.reload_for_unknown_kid()->find("b"), nullptr);
    write(path, jwks_with("c"));
    EXPECT_EQ(f.reload_for_unknown_kid()->find("c"), nullptr);  // within the back-off
}

TEST(jwks_file, unreadable_or_invalid_at_start_is_a_config_error) {
    EXPECT_THROW(jwks_file(path_for("jwks_file_missing.json"), "key", std::chrono::hours(1)), config::config_error);
    const auto path = path_for("jwks_file_empty.json");
    write(path, R"({"keys":[]})");
    EXPECT_THROW(jwks_file(path, "key", std::chrono::hours(1)), config::config_error);
}

} // namespace
} // namespace trib::broker
