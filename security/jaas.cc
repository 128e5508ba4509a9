#include "security/jaas.h"

#include <cctype>

namespace trib::security {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// A bare word: anything up to space, '=' or ';'.
bool word_char(char c) { return !is_space(c) && c != '=' && c != ';' && c != '"'; }

class scanner {
public:
    explicit scanner(std::string_view s) : _s(s) {}
    void skip_space() {
        while (_i < _s.size() && is_space(_s[_i])) {
            ++_i;
        }
    }
    bool at_end() const { return _i >= _s.size(); }
    char peek() const { return at_end() ? '\0' : _s[_i]; }
    void advance() { ++_i; }
    std::string word() {
        size_t from = _i;
        while (_i < _s.size() && word_char(_s[_i])) {
            ++_i;
        }
        return std::string(_s.substr(from, _i - from));
    }
    // A quoted string, the opening quote current; nullopt if unterminated.
    std::optional<std::string> quoted() {
        ++_i;
        std::string out;
        while (_i < _s.size()) {
            char c = _s[_i++];
            if (c == '"') {
                return out;
            }
            if (c == '\\' && _i < _s.size()) {
                c = _s[_i++];
            }
            out.push_back(c);
        }
        return std::nullopt;
    }

private:
    std::string_view _s;
    size_t _i = 0;
};

outcome<jaas_entry> bad(std::string why) { return outcome<jaas_entry>::failure("sasl.jaas.config: " + why); }

} // namespace

outcome<jaas_entry> parse_jaas(std::string_view text) {
    scanner s(text);
    jaas_entry e;
    s.skip_space();
    e.login_module = s.word();
    if (e.login_module.empty()) {
        return bad("expected a login module class name");
    }
    s.skip_space();
    e.flag = s.word();
    if (e.flag != "required" && e.flag != "requisite" && e.flag != "sufficient" && e.flag != "optional") {
        return bad("expected a control flag (required, requisite, sufficient or optional) after " +
                   e.login_module);
    }
    while (true) {
        s.skip_space();
        if (s.at_end()) {
            return bad("missing ';' at the end of the login module entry");
        }
        if (s.peek() == ';') {
            s.advance();
            break;
        }
        auto key = s.word();
        if (key.empty()) {
            return bad("expected an option name");
        }
        s.skip_space();
        if (s.peek() != '=') {
            return bad("expected '=' after option " + key);
        }
        s.advance();
        s.skip_space();
        std::string value;
        if (s.peek() == '"') {
            auto q = s.quoted();
            if (!q) {
                return bad("unterminated quoted value for option " + key);
            }
            value = std::move(*q);
        } else {
            value = s.word();
            if (value.empty()) {
                return bad("expected a value for option " + key);
            }
        }
        e.options[key] = std::move(value);
    }
    s.skip_space();
    if (!s.at_end()) {
        return bad("only one login module entry is supported");
    }
    return e;
}

outcome<plain_users> plain_users_from_jaas(std::string_view text) {
    auto e = parse_jaas(text);
    if (!e) {
        return outcome<plain_users>::failure(e.error());
    }
    if (e.value().login_module != plain_login_module) {
        return outcome<plain_users>::failure("sasl.jaas.config: expected " + std::string(plain_login_module) +
                                             ", got " + e.value().login_module);
    }
    plain_users users;
    for (const auto& [k, v] : e.value().options) {
        if (k.starts_with("user_") && k.size() > 5) {
            users[k.substr(5)] = v;
        }
    }
    return users;
}

} // namespace trib::security
