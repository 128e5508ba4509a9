#include "security/plain.h"

#include <openssl/crypto.h>

namespace trib::security {

bool is_served_mechanism(std::string_view m) noexcept {
    for (auto s : served_mechanisms) {
        if (s == m) {
            return true;
        }
    }
    return false;
}

outcome<plain_message> parse_plain(std::string_view msg) {
    auto first = msg.find('\0');
    if (first == std::string_view::npos) {
        return outcome<plain_message>::failure("invalid SASL/PLAIN message: expected authzid, user and password "
                                               "separated by NUL");
    }
    auto second = msg.find('\0', first + 1);
    if (second == std::string_view::npos) {
        return outcome<plain_message>::failure("invalid SASL/PLAIN message: expected authzid, user and password "
                                               "separated by NUL");
    }
    if (msg.find('\0', second + 1) != std::string_view::npos) {
        return outcome<plain_message>::failure("invalid SASL/PLAIN message: more than three fields");
    }
    plain_message m{std::string(msg.substr(0, first)), std::string(msg.substr(first + 1, second - first - 1)),
                    std::string(msg.substr(second + 1))};
    if (m.authcid.empty()) {
        return outcome<plain_message>::failure("invalid SASL/PLAIN message: empty user name");
    }
    if (m.password.empty()) {
        return outcome<plain_message>::failure("invalid SASL/PLAIN message: empty password");
    }
    if (!m.authzid.empty() && m.authzid != m.authcid) {
        return outcome<plain_message>::failure("authentication failed: authorization id must be empty or equal "
                                               "the user name");
    }
    return m;
}

namespace {

// Compares without an early exit, so the time taken says nothing of where they differ.
bool equal_secret(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

class plain_server final : public sasl_server {
public:
    explicit plain_server(const plain_users& users) : _users(users) {}

    outcome<std::string> step(std::string_view token) override {
        if (_done || _failed) {
            _failed = true;
            return outcome<std::string>::failure("SASL/PLAIN takes one message");
        }
        auto m = parse_plain(token);
        if (!m) {
            _failed = true;
            return outcome<std::string>::failure(m.error());
        }
        auto it = _users.find(m.value().authcid);
        // Unknown user or wrong password: one message for both, as Kafka gives.
        if (it == _users.end() || !equal_secret(it->second, m.value().password)) {
            _failed = true;
            return outcome<std::string>::failure("authentication failed: invalid username or password");
        }
        _user = m.value().authcid;
        _done = true;
        return std::string();
    }
    bool complete() const noexcept override { return _done; }
    const std::string& username() const noexcept override { return _user; }

private:
    const plain_users& _users;
    std::string _user;
    bool _done = false;
    bool _failed = false;
};

} // namespace

std::unique_ptr<sasl_server> make_plain_server(const plain_users& users) {
    return std::make_unique<plain_server>(users);
}

} // namespace trib::security

namespace trib::security {

namespace {

class plain_client final : public sasl_client {
public:
    plain_client(std::string username, std::string password)
      : _username(std::move(username)), _password(std::move(password)) {}

    std::string first() override {
        std::string msg;
        msg.push_back('\0');
        msg += _username;
        msg.push_back('\0');
        msg += _password;
        return msg;
    }
    outcome<std::optional<std::string>> next(std::string_view) override { return std::optional<std::string>(); }

private:
    std::string _username, _password;
};

} // namespace

std::unique_ptr<sasl_client> make_plain_client(std::string username, std::string password) {
    return std::make_unique<plain_client>(std::move(username), std::move(password));
}

} // namespace trib::security
