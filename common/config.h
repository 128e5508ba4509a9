#pragma once

// Configuration with Apache Kafka's property names.
//
// A program declares a typed schema, then load() merges, in increasing precedence:
//   1. the schema's defaults
//   2. files, in the order given, a later file's keys replacing an earlier one's: Java
//      `.properties`, or YAML when the name ends in .yaml / .yml (Kubernetes mounts a shared
//      file and a per-pod one, e.g. broker.properties then broker-0.properties)
//   3. environment variables KAFKA_*, mapped to keys the way Confluent's and Apache's images
//      do (KAFKA_ADVERTISED_LISTENERS -> advertised.listeners; see key_for_env)
//   4. command-line overrides (`--override key=value`, as kafka-server-start.sh takes them)
// so a server.properties or the environment block of a compose file written for a Kafka
// image works unchanged.
//
// Values may refer to environment variables as `${env:NAME}`, the syntax of Kafka's
// EnvVarConfigProvider (KIP-887), in any layer: advertised.listeners=PLAIN://${env:POD_IP}:9092.
// Unlike Kafka, Tributary needs no `config.providers=env` declaration for it, but accepts
// one (and config.providers.<name>.class = Kafka's or Strimzi's EnvVarConfigProvider under
// another name, and its param.allowlist.pattern). As in Kafka, a reference is replaced once
// (the result is not scanned again), there is no escape syntax, and `${other:...}` for a
// provider nobody declared is left as written. Unlike Kafka, which leaves `${env:NAME}` as
// written when NAME is unset, an unset or disallowed variable is a configuration error: the
// literal text would only fail later, further from its cause.
//
// Every value given has its `${env:NAME}` references resolved and is checked against its
// key's type and validator, whichever layer it comes from, even when a later layer replaces it. Unknown keys in the file or in overrides are fatal; unknown KAFKA_* variables
// only log a warning, because compose files carry unrelated ones.
//
// Errors are config_error exceptions, not result<T>: they happen once at start-up, the
// program's answer is to print the message and exit, and the message has to name the key,
// the value and where it came from, which an error_code cannot carry.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace trib::config {

// An invalid configuration, with a message for the operator, e.g.
//   invalid value 'abc' for num.partitions (from env KAFKA_NUM_PARTITIONS): not an integer
//   unknown configuration key 'lisenters' in /etc/x.properties (did you mean 'listeners'?)
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class type {
    string,    // trimmed
    int32,
    int64,
    boolean,   // true / false, any case
    dbl,
    list,      // comma-separated, items trimmed, empty items dropped
    password,  // a string that is never logged: all() and error messages show [hidden]
};
std::string_view type_name(type t) noexcept;

// Text helpers for values in Kafka's formats: `s` without leading and trailing ASCII
// whitespace; the trimmed, non-empty items of a comma-separated list; items joined by `sep`.
std::string_view trim_view(std::string_view s) noexcept;
std::vector<std::string> split_list(std::string_view s);
std::string join(const std::vector<std::string>& items, std::string_view sep);
// Appends code point `cp` (at most 0x10FFFF) to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

// Checks a value that already has the key's type; returns the reason it is invalid, or
// nullopt. It gets the normalized text: trimmed, booleans lowercased, lists as "a,b".
using validator = std::function<std::optional<std::string>(const std::string&)>;

// Declared with designated initializers, naming only what differs from the defaults:
//   s.add({.name = "num.partitions", .t = type::int32, .default_value = "1",
//          .doc = "Partitions of an auto-created topic.", .validate = at_least(1)});
// Every member has a default member initializer so g++ -Wextra does not warn about the ones
// left out.
struct key_spec {
    std::string name{};
    type t = type::string;
    std::optional<std::string> default_value{};  // nullopt: unset unless configured
    std::string doc{};
    validator validate{};                        // optional
    std::vector<std::string> aliases{};          // other names for the key (broker.id for node.id)
};

// The keys a program accepts.
class schema {
public:
    // Throws std::invalid_argument (a programming error) if the name or an alias is taken,
    // or the default does not pass the key's type and validator.
    schema& add(key_spec spec);

    // Accepts every key that starts with `prefix` ("listener.name."), read as text (a
    // password when `secret`: never logged) and reached with values::with_prefix(): for
    // Kafka's per-listener keys, whose middle part is a name only the configuration gives.
    schema& add_prefix(std::string prefix, std::string doc, bool secret = false);
    // The prefix family `key` belongs to, or nullptr.
    const std::pair<std::string, bool>* prefix_of(std::string_view key) const;

    // The key named `name_or_alias`, or nullptr.
    const key_spec* find(std::string_view name_or_alias) const;
    const std::vector<key_spec>& keys() const noexcept { return _keys; }
    // The known name closest to `unknown` by edit distance, if one is close enough to be a
    // plausible typo.
    std::optional<std::string> suggest(std::string_view unknown) const;
    // One paragraph per key: name, type, default, aliases, doc. For --help.
    std::string help() const;

private:
    std::vector<key_spec> _keys;
    std::map<std::string, size_t, std::less<>> _index;  // names and aliases -> _keys
    std::vector<std::pair<std::string, bool>> _prefixes;  // (prefix, secret)
};

// The loaded, validated configuration. Getters take a key's name or alias.
// Asking for a key the schema does not have, or with the wrong type, is a programming error
// (std::logic_error); getting a key that has no value (no default, not set) throws
// config_error naming the key and how to set it.
class values {
public:
    // The normalized text of any key (int64 getters accept int32 keys, get_double any number).
    const std::string& get_string(std::string_view key) const;
    int32_t get_int32(std::string_view key) const;
    int64_t get_int64(std::string_view key) const;
    bool get_bool(std::string_view key) const;
    double get_double(std::string_view key) const;
    std::vector<std::string> get_list(std::string_view key) const;

    // Set explicitly or has a default.
    bool has(std::string_view key) const;
    // Where the value came from: "default", "file <path>", "env KAFKA_X", "override"; "unset".
    std::string source(std::string_view key) const;
    // Every key with a value -> its value, passwords as [hidden]. For logging at start-up.
    std::map<std::string, std::string> all() const;
    // The keys set under `prefix` (a schema::add_prefix family, or a longer prefix within
    // one) -> their values, untrimmed.
    std::map<std::string, std::string> with_prefix(std::string_view prefix) const;

private:
    friend class loader;  // config.cc: builds values for load()

    struct entry {
        type t = type::string;
        std::optional<std::string> value;
        std::string source = "unset";
    };
    const entry& lookup(std::string_view key, std::initializer_list<type> allowed) const;
    const std::string& text(std::string_view key, std::initializer_list<type> allowed) const;

    std::map<std::string, entry, std::less<>> _entries;     // canonical name -> entry
    std::map<std::string, std::string, std::less<>> _names;  // name or alias -> canonical
    std::map<std::string, entry, std::less<>> _prefixed;    // add_prefix keys that are set
    std::string _env_prefix;                                 // for "how to set it" hints
};

struct load_options {
    std::vector<std::filesystem::path> files;  // applied in order: later files win
    std::vector<std::pair<std::string, std::string>> overrides;  // applied in order
    // A null-terminated NAME=VALUE array; nullptr means the process environment.
    const char* const* environ = nullptr;
    std::string env_prefix = "KAFKA_";
    // Keys (or environment variable names) that are accepted and ignored wherever they
    // appear, e.g. Kafka settings this program has no use for, so a stock server.properties
    // loads. An entry ending in '*' matches by prefix ("log4j.*", "KAFKA_SASL_*").
    std::set<std::string> ignored_unknown;
};

// Loads and validates; throws config_error.
values load(const schema& s, const load_options& opts);

// --- pieces of load(), public for tests and tools --------------------------------------

// Environment name -> key, as Confluent's images map them: strip `prefix`, lowercase,
// `___` -> `-`, `__` -> `_`, `_` -> `.`. With prefix KAFKA_, Bitnami's KAFKA_CFG_ prefix is
// stripped too. Returns nullopt if `env_name` does not start with the prefix.
std::optional<std::string> key_for_env(std::string_view env_name, std::string_view prefix = "KAFKA_");
// Key -> environment name, the inverse: `node.id` -> KAFKA_NODE_ID.
std::string env_for_key(std::string_view key, std::string_view prefix = "KAFKA_");
// Whether a KAFKA_* variable is known to belong to the start scripts or images rather than
// the broker (KAFKA_HEAP_OPTS, KAFKA_OPTS, KAFKA_JMX_*, KAFKA_LOG4J_*, ...).
bool is_non_config_env(std::string_view env_name);

// Reads a program's command line the way Kafka's start scripts take it, plus more files:
//   <program> [server.properties | config.yaml]... [--override key=value]... | --help
//             | --help-config | --version
// Returns the load options, or the exit status the program should end with at once (after
// printing help or the version, or a usage error on stderr).
// The project's version (CMake's PROJECT_VERSION), as `--version` prints it.
extern const char* const version;

std::variant<load_options, int> parse_command_line(int argc, const char* const* argv, const schema& s,
                                                   std::string_view program);

// Splits `key=value` as given to --override; throws config_error if there is no '='.
std::pair<std::string, std::string> parse_override(std::string_view arg);

// Parses Java .properties text (comments, `=`/`:`/space separators, line continuations,
// \t \n \r \f \uXXXX escapes) into (key, value) pairs in file order. `origin` names the
// text in error messages.
std::vector<std::pair<std::string, std::string>> parse_properties(std::string_view text,
                                                                  std::string_view origin = "properties");
// Parses a YAML mapping, flattening nested maps with dots and joining lists with commas.
std::vector<std::pair<std::string, std::string>> parse_yaml(std::string_view text,
                                                            std::string_view origin = "yaml");

// --- reusable validators ----------------------------------------------------------------

namespace detail {
validator at_least_int(int64_t n);
validator at_least_double(double n);
validator between_int(int64_t lo, int64_t hi);
validator between_double(double lo, double hi);
} // namespace detail

// The number is >= n.
template<typename T>
    requires std::is_arithmetic_v<T>
validator at_least(T n) {
    if constexpr (std::is_integral_v<T>) {
        return detail::at_least_int(int64_t(n));
    } else {
        return detail::at_least_double(double(n));
    }
}
// The number is within [lo, hi].
template<typename T>
    requires std::is_arithmetic_v<T>
validator between(T lo, T hi) {
    if constexpr (std::is_integral_v<T>) {
        return detail::between_int(int64_t(lo), int64_t(hi));
    } else {
        return detail::between_double(double(lo), double(hi));
    }
}
// The value is one of `allowed` (exact match, or ignoring ASCII case).
validator one_of(std::vector<std::string> allowed, bool case_sensitive = true);
// For lists: every item passes `v`.
validator each(validator v);

} // namespace trib::config
