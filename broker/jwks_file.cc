#include "broker/jwks_file.h"

#include "common/config.h"
#include "common/log.h"

#include <fstream>
#include <sstream>

namespace trib::broker {

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) {
        return std::nullopt;
    }
    return s.str();
}

} // namespace

jwks_file::jwks_file(std::string path, std::string key, std::chrono::milliseconds refresh,
                     std::chrono::milliseconds unknown_kid_backoff)
    : _path(std::move(path)), _refresh(refresh), _unknown_kid_backoff(unknown_kid_backoff) {
    auto text = read_file(_path);
    if (!text) {
        throw config::config_error(key + ": can't read the JWKS file " + _path);
    }
    auto keys = security::parse_jwks(*text);
    if (!keys) {
        throw config::config_error(key + ": " + _path + ": " + keys.error());
    }
    if (keys.value().keys.empty()) {
        throw config::config_error(key + ": " + _path + " has no RSA or EC signature key");
    }
    _text = std::move(*text);
    _keys = std::make_shared<const security::jwks>(std::move(keys.value()));
    _last_look = clock::now();
    // A back-off ago, so the first unknown kid reads at once: the steady clock's epoch is the
    // machine's boot, which may be less than a back-off away.
    _last_unknown_kid = _last_look - _unknown_kid_backoff;
}

void jwks_file::reread(const char* why) {
    _last_look = clock::now();
    auto text = read_file(_path);
    if (!text) {
        TLOG_WARN("OAUTHBEARER: can't read the JWKS file {} ({}); keeping the {} keys in use", _path, why,
                  _keys->keys.size());
        return;
    }
    if (*text == _text) {
        return;
    }
    auto keys = security::parse_jwks(*text);
    if (!keys) {
        TLOG_WARN("OAUTHBEARER: the JWKS file {} is not valid ({}): {}; keeping the {} keys in use", _path, why,
                  keys.error(), _keys->keys.size());
        return;
    }
    _text = std::move(*text);
    _keys = std::make_shared<const security::jwks>(std::move(keys.value()));
    TLOG_INFO("OAUTHBEARER: read {} keys from the JWKS file {} ({})", _keys->keys.size(), _path, why);
}

std::shared_ptr<const security::jwks> jwks_file::current() {
    std::lock_guard lock(_mu);
    if (clock::now() - _last_look >= _refresh) {
        reread("refresh interval");
    }
    return _keys;
}

std::shared_ptr<const security::jwks> jwks_file::reload_for_unknown_kid() {
    std::lock_guard lock(_mu);
    const auto now = clock::now();
    if (now - _last_unknown_kid >= _unknown_kid_backoff) {
        _last_unknown_kid = now;
        reread("a token's kid is not among the keys");
    }
    return _keys;
}

} // namespace trib::broker
