#pragma once

// The OAUTHBEARER verification keys from a JWKS file (sasl.oauthbearer.jwks.endpoint.url with a
// file: URL). Every connection's OAUTHBEARER exchange asks it for the keys, from any core, so it
// holds them behind a mutex (taken once per authentication, never on the data path).
//   - current(): the file is read again when `refresh` has passed since the last look and its
//     text changed;
//   - reload_for_unknown_kid(): a token names a kid the keys lack (the issuer rotated keys):
//     the file is read again at once, at most once per `unknown_kid_backoff`.
// A file that can't be read or parsed later keeps the keys in use (the reason is logged).
#include "security/oauthbearer.h"

#include <chrono>
#include <mutex>
#include <string>

namespace trib::broker {

class jwks_file final : public security::jwks_source {
public:
    using clock = std::chrono::steady_clock;

    // Reads the file; throws config::config_error naming `key` when it can't be read or parsed.
    jwks_file(std::string path, std::string key, std::chrono::milliseconds refresh,
              std::chrono::milliseconds unknown_kid_backoff = std::chrono::seconds(1));

    std::shared_ptr<const security::jwks> current() override;
    std::shared_ptr<const security::jwks> reload_for_unknown_kid() override;

    const std::string& path() const noexcept { return _path; }

private:
    // Reads the file again if its text changed (under _mu).
    void reread(const char* why);

    const std::string _path;
    const std::chrono::milliseconds _refresh, _unknown_kid_backoff;
    std::mutex _mu;
    std::string _text;
    std::shared_ptr<const security::jwks> _keys;
    clock::time_point _last_look, _last_unknown_kid;
};

} // namespace trib::broker
