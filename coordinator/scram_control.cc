#include "coordinator/scram_control.h"

#include "protocol/error_code.h"
#include "security/scram.h"

#include <map>
#include <optional>
#include <string>

namespace trib::coordinator {

using protocol::error_code;

namespace {

struct refusal {
    error_code error;
    std::string message;
};

std::optional<security::scram_algorithm> algorithm_of(int8_t mechanism) {
    if (mechanism == int8_t(scram_mechanism::sha256)) {
        return security::scram_algorithm::sha256;
    }
    if (mechanism == int8_t(scram_mechanism::sha512)) {
        return security::scram_algorithm::sha512;
    }
    return std::nullopt;
}

std::optional<refusal> check_name_and_mechanism(const std::string& name, int8_t mechanism) {
    if (name.empty()) {
        return refusal{error_code::unacceptable_credential, "Username must not be empty"};
    }
    if (!algorithm_of(mechanism)) {
        return refusal{error_code::unsupported_sasl_mechanism,
                       "Unknown SCRAM mechanism " + std::to_string(mechanism) +
                           " (1: SCRAM-SHA-256, 2: SCRAM-SHA-512)"};
    }
    return std::nullopt;
}

const refusal duplicate{error_code::duplicate_resource, "A user credential cannot be altered twice in the same request"};

} // namespace

scram_alteration alter_scram_credentials(const metadata_image& image,
                                         const protocol::alter_user_scram_credentials_request& req) {
    using deletion = protocol::alter_user_scram_credentials_request::scram_credential_deletion;
    using upsertion = protocol::alter_user_scram_credentials_request::scram_credential_upsertion;
    // Kept in request order per kind; std::map by user so a user is answered once.
    std::map<std::string, const deletion*> deletions;
    std::map<std::string, const upsertion*> upsertions;
    std::map<std::string, refusal> refused;

    for (const auto& d : req.deletions) {
        if (refused.contains(d.name)) {
            continue;
        }
        if (deletions.erase(d.name) > 0) {
            refused.emplace(d.name, duplicate);
        } else if (auto why = check_name_and_mechanism(d.name, d.mechanism)) {
            refused.emplace(d.name, *why);
        } else if (!image.scram(d.name, d.mechanism)) {
            refused.emplace(d.name, refusal{error_code::resource_not_found,
                                            "Attempt to delete a user credential that does not exist"});
        } else {
            deletions.emplace(d.name, &d);
        }
    }
    for (const auto& u : req.upsertions) {
        if (refused.contains(u.name)) {
            continue;
        }
        if (deletions.erase(u.name) + upsertions.erase(u.name) > 0) {
            refused.emplace(u.name, duplicate);
        } else if (auto why = check_name_and_mechanism(u.name, u.mechanism)) {
            refused.emplace(u.name, *why);
        } else if (u.iterations < security::scram_min_iterations) {
            refused.emplace(u.name, refusal{error_code::unacceptable_credential,
                                            "Too few iterations (at least " +
                                                std::to_string(security::scram_min_iterations) + ")"});
        } else if (u.iterations > security::scram_max_iterations) {
            refused.emplace(u.name, refusal{error_code::unacceptable_credential,
                                            "Too many iterations (at most " +
                                                std::to_string(security::scram_max_iterations) + ")"});
        } else if (u.salt.empty() || u.salted_password.empty()) {
            refused.emplace(u.name, refusal{error_code::unacceptable_credential,
                                            "The salt and the salted password must not be empty"});
        } else {
            upsertions.emplace(u.name, &u);
        }
    }

    scram_alteration out;
    auto answer = [&](const std::string& user, error_code e, std::optional<std::string> message) {
        auto& r = out.response.results.emplace_back();
        r.user = user;
        r.error_code = int16_t(e);
        r.error_message = std::move(message);
    };
    for (const auto& [name, d] : deletions) {
        answer(name, error_code::none, std::nullopt);
        remove_user_scram_credential_record rec;
        rec.name = name;
        rec.mechanism = d->mechanism;
        out.records.emplace_back(std::move(rec));
    }
    for (const auto& [name, u] : upsertions) {
        answer(name, error_code::none, std::nullopt);
        auto cred = security::scram_credential_from_salted(
            *algorithm_of(u->mechanism), as_string_view(u->salted_password),
            std::string(as_string_view(u->salt)), u->iterations);
        user_scram_credential_record rec;
        rec.name = name;
        rec.mechanism = u->mechanism;
        rec.salt.assign(cred.salt.begin(), cred.salt.end());
        rec.stored_key.assign(cred.stored_key.begin(), cred.stored_key.end());
        rec.server_key.assign(cred.server_key.begin(), cred.server_key.end());
        rec.iterations = cred.iterations;
        out.records.emplace_back(std::move(rec));
    }
    for (const auto& [name, why] : refused) {
        answer(name, why.error, why.message);
    }
    return out;
}

} // namespace trib::coordinator
