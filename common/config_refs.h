#pragma once

// `${env:NAME}` in configuration values: Kafka's EnvVarConfigProvider (KIP-887), resolved by
// config::load() in every layer (files, KAFKA_* variables, --override).
//
// References are found the way Kafka's ConfigTransformer finds them: `${provider:name}` or
// `${provider:path:name}`, ending at the first `}`; each is replaced once, so a variable's
// value is never scanned again; there is no escape syntax (Kafka has none). Which provider
// names resolve:
//   - `env`, always: Kafka needs `config.providers=env` for it, Tributary does not, so the
//     per-pod files the operator writes and hand-written ones need no boilerplate (a
//     value that means the text `${env:X}` literally is not a plausible setting);
//   - names declared as in Kafka, `config.providers=a,b` with
//     `config.providers.a.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider`
//     (or Strimzi's io.strimzi.kafka.EnvVarConfigProvider);
//   - a name declared with any other class (FileConfigProvider, a vault plugin, ...) is an
//     error when a value uses it: Tributary cannot run Java providers;
//   - any other name: the reference stays as written, as in Kafka.
// `config.providers.<name>.param.allowlist.pattern` limits the variables a provider may read,
// as in Kafka: a regular expression found anywhere in the name (Java's Pattern.asPredicate;
// here ECMAScript syntax, which agrees with Java's on the usual patterns).
//
// Where Kafka leaves `${env:NAME}` as written when NAME is unset or not allowed, this is a
// config_error naming the key, the variable and where the value came from: the literal text
// would only fail later (an unresolvable advertised host), far from its cause.

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace trib::config {

// Whether `key` declares config providers rather than being a setting: `config.providers`
// and `config.providers.*`. load() takes these out of every layer before the schema sees them.
bool is_provider_key(std::string_view key) noexcept;

class env_references {
public:
    struct setting {
        std::string value;
        std::string origin;  // for error messages: a file, "env KAFKA_...", "--override"
    };

    // `providers`: the config.providers* settings of all layers, later layers having replaced
    // earlier ones. `environ`: a null-terminated NAME=VALUE array. Throws config_error for an
    // allowlist pattern that is no regular expression.
    env_references(const std::map<std::string, setting, std::less<>>& providers, const char* const* environ);

    // `value` with every reference to an env provider replaced. `key` and `origin` name the
    // setting in error messages. Values without `${` come back unchanged.
    std::string expand(std::string_view value, std::string_view key, std::string_view origin) const;

private:
    struct provider {
        std::string cls;                  // empty: the built-in `env`
        bool env = true;                  // false: a class Tributary cannot run
        std::optional<std::regex> allow;  // allowlist.pattern
        std::string allow_key;            // its key, for messages
    };
    std::map<std::string, provider, std::less<>> _providers;
    std::map<std::string, std::string, std::less<>> _env;
};

} // namespace trib::config
