#include "common/config.h"

#include <iostream>

#include "common/config_refs.h"
#include "common/log.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

extern "C" char** environ;  // POSIX; declared by <unistd.h> only under _GNU_SOURCE

namespace trib::config {

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    } else {
        out += char(0xf0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3f));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    }
}

std::string_view trim_view(std::string_view s) noexcept {
    auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    while (true) {
        auto comma = s.find(',');
        auto item = trim_view(s.substr(0, comma));
        if (!item.empty()) {
            out.emplace_back(item);
        }
        if (comma == std::string_view::npos) {
            return out;
        }
        s.remove_prefix(comma + 1);
    }
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out.append(sep);
        }
        out.append(item);
    }
    return out;
}

namespace {

constexpr std::string_view hidden = "[hidden]";

std::string trim(std::string_view s) { return std::string(trim_view(s)); }

char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }
char ascii_upper(char c) noexcept { return c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c; }

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos).append(to);
    }
    out.append(s, pos);
    return out;
}


// A leading '+' is accepted, as Java's parseInt / parseDouble do; from_chars does not.
std::string_view strip_plus(std::string_view s) {
    if (s.size() > 1 && s.front() == '+' && s[1] != '-' && s[1] != '+') {
        s.remove_prefix(1);
    }
    return s;
}

// Returns the reason `s` is not an int64.
std::optional<std::string> to_int64(std::string_view s, int64_t& out) {
    s = strip_plus(s);
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    if (ec == std::errc::result_out_of_range) {
        return "out of range for a 64-bit integer";
    }
    if (ec != std::errc{} || p != end || s.empty()) {
        return "not an integer";
    }
    return std::nullopt;
}

std::optional<std::string> to_int32(std::string_view s, int32_t& out) {
    int64_t v = 0;
    if (auto reason = to_int64(s, v)) {
        return *reason == "not an integer" ? reason : "out of range for a 32-bit integer";
    }
    if (v < INT32_MIN || v > INT32_MAX) {
        return "out of range for a 32-bit integer";
    }
    out = int32_t(v);
    return std::nullopt;
}

std::optional<std::string> to_double(std::string_view s, double& out) {
    s = strip_plus(s);
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    if (ec != std::errc{} || p != end || s.empty()) {
        return "not a number";
    }
    if (!std::isfinite(out)) {
        return "not a finite number";
    }
    return std::nullopt;
}

// The sign of (the number in `s`) - n, exactly for integers; nullopt if `s` is no number.
std::optional<int> compare_number(std::string_view s, int64_t n) {
    int64_t i = 0;
    if (!to_int64(s, i)) {
        return i < n ? -1 : i > n ? 1 : 0;
    }
    double d = 0;
    if (!to_double(s, d)) {
        return d < double(n) ? -1 : d > double(n) ? 1 : 0;
    }
    return std::nullopt;
}

std::string number_text(double d) {
    std::ostringstream os;
    os << d;
    return os.str();
}

// Checks `raw` against type `t` and writes its normalized text to `out`; returns the reason
// it is invalid. Strings are trimmed like Kafka's ConfigDef does; passwords are not.
std::optional<std::string> normalize(type t, std::string_view raw, std::string& out) {
    switch (t) {
    case type::password:
        out = std::string(raw);
        return std::nullopt;
    case type::string:
        out = trim(raw);
        return std::nullopt;
    case type::int32: {
        int32_t v = 0;
        if (auto reason = to_int32(trim(raw), v)) {
            return reason;
        }
        out = std::to_string(v);
        return std::nullopt;
    }
    case type::int64: {
        int64_t v = 0;
        if (auto reason = to_int64(trim(raw), v)) {
            return reason;
        }
        out = std::to_string(v);
        return std::nullopt;
    }
    case type::boolean: {
        auto v = lower(trim(raw));
        if (v != "true" && v != "false") {
            return "not a boolean (expected true or false)";
        }
        out = std::move(v);
        return std::nullopt;
    }
    case type::dbl: {
        double v = 0;
        auto text = trim(raw);
        if (auto reason = to_double(text, v)) {
            return reason;
        }
        out = std::move(text);
        return std::nullopt;
    }
    case type::list:
        out = join(split_list(raw), ",");
        return std::nullopt;
    }
    return "unknown type";
}

// Type check, then the key's own validator.
std::optional<std::string> check(const key_spec& spec, std::string_view raw, std::string& out) {
    if (auto reason = normalize(spec.t, raw, out)) {
        return reason;
    }
    if (spec.validate) {
        return spec.validate(out);
    }
    return std::nullopt;
}

std::string shown(type t, std::string_view value) {
    return t == type::password ? std::string(hidden) : std::string(value);
}

// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

bool matches_any(const std::set<std::string>& patterns, std::string_view name) {
    for (const auto& p : patterns) {
        if (!p.empty() && p.back() == '*'
                ? name.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)
                : name == p) {
            return true;
        }
    }
    return false;
}

// --- .properties -----------------------------------------------------------------------

bool is_prop_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\f'; }

// Java's Properties.loadConvert: \t \n \r \f, \uXXXX (UTF-16, emitted as UTF-8), and a
// backslash before any other character stands for that character.
std::string unescape(std::string_view s, std::string_view origin, size_t line) {
    auto fail = [&](std::string_view what) {
        return config_error(std::string(origin) + ":" + std::to_string(line) + ": " + std::string(what));
    };
    std::string out;
    uint32_t high = 0;  // a UTF-16 high surrogate waiting for its pair, or 0
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c != '\\' || i + 1 == s.size()) {
            if (high) {
                throw fail("unpaired UTF-16 surrogate in \\u escape");
            }
            if (c != '\\') {
                out += c;
            }
            continue;
        }
        c = s[++i];
        if (c != 'u') {
            if (high) {
                throw fail("unpaired UTF-16 surrogate in \\u escape");
            }
            out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
            continue;
        }
        if (s.size() - i - 1 < 4) {
            throw fail("malformed \\uXXXX escape");
        }
        uint32_t unit = 0;
        for (size_t k = 1; k <= 4; ++k) {
            char h = s[i + k];
            unit <<= 4;
            if (h >= '0' && h <= '9') {
                unit |= uint32_t(h - '0');
            } else if (ascii_lower(h) >= 'a' && ascii_lower(h) <= 'f') {
                unit |= uint32_t(ascii_lower(h) - 'a' + 10);
            } else {
                throw fail("malformed \\uXXXX escape");
            }
        }
        i += 4;
        if (high) {
            if (unit < 0xdc00 || unit > 0xdfff) {
                throw fail("unpaired UTF-16 surrogate in \\u escape");
            }
            append_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
            high = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
            high = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            throw fail("unpaired UTF-16 surrogate in \\u escape");
        } else {
            append_utf8(out, unit);
        }
    }
    if (high) {
        throw fail("unpaired UTF-16 surrogate in \\u escape");
    }
    return out;
}

// --- YAML ------------------------------------------------------------------------------

void flatten(const YAML::Node& node, const std::string& key, std::string_view origin,
             std::vector<std::pair<std::string, std::string>>& out) {
    auto fail = [&](std::string_view what) {
        return config_error("unsupported value for '" + key + "' in " + std::string(origin) +
                            " (line " + std::to_string(node.Mark().line + 1) + "): " +
                            std::string(what));
    };
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        out.emplace_back(key, "");
        return;
    case YAML::NodeType::Scalar:
        out.emplace_back(key, node.Scalar());
        return;
    case YAML::NodeType::Sequence: {
        std::vector<std::string> items;
        for (const auto& item : node) {
            if (item.IsScalar()) {
                items.push_back(item.Scalar());
            } else if (!item.IsNull()) {
                throw fail("a list may hold only plain values");
            }
        }
        out.emplace_back(key, join(items, ","));
        return;
    }
    case YAML::NodeType::Map:
        for (const auto& kv : node) {
            if (!kv.first.IsScalar()) {
                throw fail("keys must be plain strings");
            }
            auto name = kv.first.Scalar();
            flatten(kv.second, key.empty() ? name : key + "." + name, origin, out);
        }
        return;
    }
}

} // namespace

std::string_view type_name(type t) noexcept {
    switch (t) {
    case type::string: return "string";
    case type::int32: return "int32";
    case type::int64: return "int64";
    case type::boolean: return "boolean";
    case type::dbl: return "double";
    case type::list: return "list";
    case type::password: return "password";
    }
    return "unknown";
}

// --- schema ----------------------------------------------------------------------------

schema& schema::add(key_spec spec) {
    if (spec.name.empty()) {
        throw std::invalid_argument("configuration key with an empty name");
    }
    if (_index.contains(spec.name)) {
        throw std::invalid_argument("configuration key '" + spec.name + "' declared twice");
    }
    for (const auto& alias : spec.aliases) {
        if (alias.empty() || alias == spec.name || _index.contains(alias)) {
            throw std::invalid_argument("alias '" + alias + "' of '" + spec.name +
                                        "' is empty or already declared");
        }
    }
    if (spec.default_value) {
        std::string normalized;
        if (auto reason = check(spec, *spec.default_value, normalized)) {
            throw std::invalid_argument("default '" + shown(spec.t, *spec.default_value) +
                                        "' of configuration key '" + spec.name + "': " + *reason);
        }
        spec.default_value = std::move(normalized);
    }
    size_t pos = _keys.size();
    _index.emplace(spec.name, pos);
    for (const auto& alias : spec.aliases) {
        _index.emplace(alias, pos);
    }
    _keys.push_back(std::move(spec));
    return *this;
}

schema& schema::add_prefix(std::string prefix, std::string doc, bool secret) {
    (void)doc;
    _prefixes.emplace_back(std::move(prefix), secret);
    return *this;
}

const std::pair<std::string, bool>* schema::prefix_of(std::string_view key) const {
    for (const auto& p : _prefixes) {
        if (key.starts_with(p.first) && key.size() > p.first.size()) {
            return &p;
        }
    }
    return nullptr;
}

const key_spec* schema::find(std::string_view name_or_alias) const {
    auto it = _index.find(name_or_alias);
    return it == _index.end() ? nullptr : &_keys[it->second];
}

std::optional<std::string> schema::suggest(std::string_view unknown) const {
    size_t limit = std::min<size_t>(3, std::max<size_t>(1, unknown.size() / 3));
    std::optional<std::string> best;
    size_t best_distance = limit + 1;
    for (const auto& [name, pos] : _index) {
        size_t d = edit_distance(unknown, name);
        if (d < best_distance) {
            best_distance = d;
            best = name;
        }
    }
    return best;
}

std::string schema::help() const {
    std::string out;
    for (const auto& k : _keys) {
        out += k.name + " (" + std::string(type_name(k.t));
        if (k.default_value) {
            out += ", default '" + shown(k.t, *k.default_value) + "'";
        }
        if (!k.aliases.empty()) {
            out += ", also " + join(k.aliases, ", ");
        }
        out += ")\n";
        if (!k.doc.empty()) {
            out += "    " + k.doc + "\n";
        }
    }
    return out;
}

// --- values ----------------------------------------------------------------------------

const values::entry& values::lookup(std::string_view key, std::initializer_list<type> allowed) const {
    auto name = _names.find(key);
    if (name == _names.end()) {
        throw std::logic_error("configuration key '" + std::string(key) + "' is not in the schema");
    }
    const auto& e = _entries.find(name->second)->second;
    if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), e.t) == allowed.end()) {
        throw std::logic_error("configuration key '" + std::string(key) + "' is a " +
                               std::string(type_name(e.t)) + ", read as " +
                               std::string(type_name(*allowed.begin())));
    }
    return e;
}

const std::string& values::text(std::string_view key, std::initializer_list<type> allowed) const {
    const auto& e = lookup(key, allowed);
    if (!e.value) {
        const auto& name = _names.find(key)->second;
        throw config_error("missing configuration " + name + ": set it in a configuration file, as " +
                           env_for_key(name, _env_prefix) + " in the environment, or with --override " +
                           name + "=...");
    }
    return *e.value;
}

const std::string& values::get_string(std::string_view key) const { return text(key, {}); }

int32_t values::get_int32(std::string_view key) const {
    int32_t v = 0;
    (void)to_int32(text(key, {type::int32}), v);
    return v;
}

int64_t values::get_int64(std::string_view key) const {
    int64_t v = 0;
    (void)to_int64(text(key, {type::int64, type::int32}), v);
    return v;
}

bool values::get_bool(std::string_view key) const { return text(key, {type::boolean}) == "true"; }

double values::get_double(std::string_view key) const {
    double v = 0;
    (void)to_double(text(key, {type::dbl, type::int32, type::int64}), v);
    return v;
}

std::vector<std::string> values::get_list(std::string_view key) const {
    return split_list(text(key, {type::list}));
}

bool values::has(std::string_view key) const { return lookup(key, {}).value.has_value(); }

std::string values::source(std::string_view key) const { return lookup(key, {}).source; }

std::map<std::string, std::string> values::all() const {
    std::map<std::string, std::string> out;
    for (const auto* m : {&_entries, &_prefixed}) {
        for (const auto& [name, e] : *m) {
            if (e.value) {
                out.emplace(name, shown(e.t, *e.value));
            }
        }
    }
    return out;
}

std::map<std::string, std::string> values::with_prefix(std::string_view prefix) const {
    std::map<std::string, std::string> out;
    for (auto it = _prefixed.lower_bound(prefix); it != _prefixed.end() && it->first.starts_with(prefix); ++it) {
        if (it->second.value) {
            out.emplace(it->first, *it->second.value);
        }
    }
    return out;
}

// --- loading ---------------------------------------------------------------------------

class loader {
public:
    loader(const schema& s, const load_options& opts) : _schema(s), _opts(opts) {
        _values._env_prefix = opts.env_prefix;
        for (const auto& k : s.keys()) {
            values::entry e;
            e.t = k.t;
            if (k.default_value) {
                e.value = k.default_value;
                e.source = "default";
            }
            _values._entries.emplace(k.name, std::move(e));
            _values._names.emplace(k.name, k.name);
            for (const auto& alias : k.aliases) {
                _values._names.emplace(alias, k.name);
            }
        }
    }

    values run() && {
        // Every layer is read first: config.providers* may be declared in any of them and
        // holds for the references in all of them, as Kafka resolves its merged originals.
        std::vector<layer> layers;
        for (const auto& path : _opts.files) {
            layers.push_back(read_file(path));
        }
        layers.push_back(read_env());
        layer overrides{.where = "--override", .unknown_fatal = true};
        for (const auto& [key, value] : _opts.overrides) {
            overrides.items.push_back({key, key, value, "override", "--override"});
        }
        layers.push_back(std::move(overrides));

        std::map<std::string, env_references::setting, std::less<>> providers;
        for (auto& l : layers) {
            std::erase_if(l.items, [&](assignment& a) {
                if (!is_provider_key(a.key)) {
                    return false;
                }
                providers.insert_or_assign(a.key, env_references::setting{std::move(a.value), a.origin});
                return true;
            });
        }
        env_references refs(providers, environment());
        for (const auto& l : layers) {
            apply_layer(l, refs);
        }
        return std::move(_values);
    }

private:
    struct assignment {
        std::string key;      // the configuration key it sets (maybe an alias)
        std::string written;  // the name as the user wrote it: the key, or the variable
        std::string value;
        std::string source;   // for values::source()
        std::string origin;   // for error messages
    };
    // One source's settings, in the order written.
    struct layer {
        std::string where;  // for error messages: a file, "the environment", "--override"
        bool unknown_fatal = true;
        std::vector<assignment> items{};
    };

    const char* const* environment() const { return _opts.environ ? _opts.environ : ::environ; }

    layer read_file(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw config_error("cannot read configuration file " + path.string() + ": " +
                               std::strerror(errno));
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (in.bad()) {
            throw config_error("cannot read configuration file " + path.string());
        }
        auto ext = lower(path.extension().string());
        auto pairs = ext == ".yaml" || ext == ".yml" ? parse_yaml(text, path.string())
                                                     : parse_properties(text, path.string());
        layer out{.where = path.string(), .unknown_fatal = true};
        for (auto& [key, value] : pairs) {
            out.items.push_back({key, key, std::move(value), "file " + path.string(), path.string()});
        }
        return out;
    }

    layer read_env() {
        const bool kafka = _opts.env_prefix == "KAFKA_";
        layer out{.where = "the environment", .unknown_fatal = false};
        for (const char* const* env = environment(); env && *env; ++env) {
            std::string_view var(*env);
            auto eq = var.find('=');
            if (eq == std::string_view::npos) {
                continue;
            }
            std::string name(var.substr(0, eq));
            std::string value(var.substr(eq + 1));
            std::optional<std::string> key;
            if (kafka && (name == "CLUSTER_ID" || name == "KAFKA_KRAFT_CLUSTER_ID")) {
                // apache/kafka and cp-kafka format storage with CLUSTER_ID; Bitnami uses
                // KAFKA_KRAFT_CLUSTER_ID. Both mean cluster.id when the program has one.
                if (!_schema.find("cluster.id")) {
                    continue;
                }
                key = "cluster.id";
            } else {
                key = key_for_env(name, _opts.env_prefix);
            }
            if (!key || matches_any(_opts.ignored_unknown, name) ||
                (kafka && is_non_config_env(name))) {
                continue;
            }
            if (!_schema.find(*key) && !_schema.prefix_of(*key) && !is_provider_key(*key) &&
                !matches_any(_opts.ignored_unknown, *key)) {
                auto hint = _schema.suggest(*key);
                TLOG_WARN("ignoring environment variable {}: no configuration key '{}'{}", name, *key,
                          hint ? " (did you mean " + env_for_key(*hint, _opts.env_prefix) + "?)" : "");
                continue;
            }
            out.items.push_back({*key, name, std::move(value), "env " + name, "env " + name});
        }
        return out;
    }

    // One source's settings: each is checked; within the source, a key set under two names
    // (node.id and broker.id) must have one value; the source's values replace earlier ones.
    // `${env:NAME}` references are replaced before the check.
    void apply_layer(const layer& l, const env_references& refs) {
        struct chosen {
            const assignment* a;
            std::string normalized;
        };
        const std::string& where = l.where;
        std::map<std::string, std::vector<chosen>> by_key;  // canonical -> one per name written
        for (const auto& a : l.items) {
            const key_spec* spec = _schema.find(a.key);
            if (!spec) {
                if (const auto* family = _schema.prefix_of(a.key)) {
                    auto& e = _values._prefixed[a.key];
                    e.t = family->second ? type::password : type::string;
                    e.value = refs.expand(a.value, a.key, a.origin);
                    e.source = a.source;
                    continue;
                }
                if (matches_any(_opts.ignored_unknown, a.key)) {
                    TLOG_DEBUG("ignoring configuration key '{}' in {}", a.key, where);
                    continue;
                }
                if (!l.unknown_fatal) {
                    continue;
                }
                auto hint = _schema.suggest(a.key);
                throw config_error("unknown configuration key '" + a.key + "' in " + where +
                                   (hint ? " (did you mean '" + *hint + "'?)" : ""));
            }
            std::string value = refs.expand(a.value, a.key, a.origin);
            std::string normalized;
            if (auto reason = check(*spec, value, normalized)) {
                throw config_error("invalid value '" + shown(spec->t, value) + "' for " + a.key +
                                   " (from " + a.origin + "): " + *reason);
            }
            auto& seen = by_key[spec->name];
            auto same = std::find_if(seen.begin(), seen.end(),
                                     [&](const chosen& c) { return c.a->written == a.written; });
            if (same != seen.end()) {
                *same = {&a, std::move(normalized)};  // set twice under one name: last wins
            } else {
                seen.push_back({&a, std::move(normalized)});
            }
        }
        for (auto& [name, seen] : by_key) {
            for (const auto& other : seen) {
                if (other.normalized != seen.front().normalized) {
                    const auto& first = *seen.front().a;
                    auto t = _schema.find(name)->t;
                    throw config_error("conflicting values for " + name + " in " + where +
                                       ": " + first.written + "=" + shown(t, first.value) + " but " +
                                       other.a->written + "=" + shown(t, other.a->value));
                }
            }
            auto& e = _values._entries.find(name)->second;
            e.value = std::move(seen.back().normalized);
            e.source = seen.back().a->source;
        }
    }

    const schema& _schema;
    const load_options& _opts;
    values _values;
};

values load(const schema& s, const load_options& opts) { return loader(s, opts).run(); }

// --- environment names -----------------------------------------------------------------

std::optional<std::string> key_for_env(std::string_view env_name, std::string_view prefix) {
    if (!env_name.starts_with(prefix)) {
        return std::nullopt;
    }
    env_name.remove_prefix(prefix.size());
    if (prefix == "KAFKA_" && env_name.starts_with("CFG_")) {
        env_name.remove_prefix(4);  // Bitnami's images: KAFKA_CFG_ADVERTISED_LISTENERS
    }
    if (env_name.empty()) {
        return std::nullopt;
    }
    // The order of Confluent's env_to_props: '_' -> '.', then '...' -> '-', then '..' -> '_'.
    auto key = replace_all(lower(env_name), "_", ".");
    key = replace_all(std::move(key), "...", "-");
    return replace_all(std::move(key), "..", "_");
}

std::string env_for_key(std::string_view key, std::string_view prefix) {
    std::string out(prefix);
    for (char c : key) {
        if (c == '.') {
            out += '_';
        } else if (c == '_') {
            out += "__";
        } else if (c == '-') {
            out += "___";
        } else {
            out += ascii_upper(c);
        }
    }
    return out;
}

bool is_non_config_env(std::string_view env_name) {
    // Read by kafka-run-class.sh, kafka-server-start.sh or the images' own scripts.
    static constexpr std::string_view exact[] = {
        "KAFKA_HEAP_OPTS", "KAFKA_HEAP_OPT", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_GC_LOG_OPTS", "KAFKA_DEBUG", "KAFKA_VERSION", "KAFKA_HOME",
        "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_ENABLE_KRAFT", "KAFKA_CONF_FILE",
        "KAFKA_MOUNTED_CONF_DIR", "KAFKA_CLIENT_USERS", "KAFKA_CLIENT_PASSWORDS",
        "KAFKA_INTER_BROKER_USER", "KAFKA_INTER_BROKER_PASSWORD", "KAFKA_CONTROLLER_USER",
        "KAFKA_CONTROLLER_PASSWORD", "KAFKA_CERTIFICATE_PASSWORD", "KAFKA_TLS_TYPE",
        "KAFKA_SKIP_KRAFT_STORAGE_INIT", "KAFKA_JAVA_OPTS",
    };
    static constexpr std::string_view prefixes[] = {"KAFKA_JMX_", "KAFKA_LOG4J_"};
    return std::find(std::begin(exact), std::end(exact), env_name) != std::end(exact) ||
           std::any_of(std::begin(prefixes), std::end(prefixes),
                       [&](std::string_view p) { return env_name.starts_with(p); });
}

std::pair<std::string, std::string> parse_override(std::string_view arg) {
    auto eq = arg.find('=');
    auto key = trim(arg.substr(0, eq));
    if (eq == std::string_view::npos || key.empty()) {
        throw config_error("invalid --override '" + std::string(arg) + "': expected key=value");
    }
    return {key, std::string(arg.substr(eq + 1))};
}

// --- file formats ----------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> parse_properties(std::string_view text,
                                                                  std::string_view origin) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t pos = 0;
    size_t line_no = 0;
    // The next natural line, without its terminator (\n, \r or \r\n).
    auto next_line = [&]() {
        auto end = text.find_first_of("\r\n", pos);
        auto line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        if (end != std::string_view::npos && text[end] == '\r' && pos < text.size() && text[pos] == '\n') {
            ++pos;
        }
        ++line_no;
        return line;
    };
    auto skip_space = [](std::string_view s) {
        while (!s.empty() && is_prop_space(s.front())) {
            s.remove_prefix(1);
        }
        return s;
    };
    while (pos < text.size()) {
        auto line = skip_space(next_line());
        if (line.empty() || line.front() == '#' || line.front() == '!') {
            continue;  // a comment never continues onto the next line
        }
        size_t first_line = line_no;
        std::string logical;
        while (true) {
            size_t backslashes = 0;
            while (backslashes < line.size() && line[line.size() - 1 - backslashes] == '\\') {
                ++backslashes;
            }
            if (backslashes % 2 == 0) {
                logical.append(line);
                break;
            }
            logical.append(line.substr(0, line.size() - 1));
            if (pos >= text.size()) {
                break;
            }
            line = skip_space(next_line());  // continuation: leading whitespace dropped
        }
        // The key ends at the first unescaped '=', ':' or whitespace; then whitespace and at
        // most one '=' or ':' separate it from the value.
        size_t key_end = 0;
        size_t value_start = logical.size();
        bool separator = false;
        bool escaped = false;
        for (; key_end < logical.size(); ++key_end) {
            char c = logical[key_end];
            if (!escaped && (c == '=' || c == ':')) {
                value_start = key_end + 1;
                separator = true;
                break;
            }
            if (!escaped && is_prop_space(c)) {
                value_start = key_end + 1;
                break;
            }
            escaped = c == '\\' && !escaped;
        }
        while (value_start < logical.size()) {
            char c = logical[value_start];
            if (!is_prop_space(c)) {
                if (separator || (c != '=' && c != ':')) {
                    break;
                }
                separator = true;
            }
            ++value_start;
        }
        std::string_view view(logical);
        out.emplace_back(unescape(view.substr(0, key_end), origin, first_line),
                         unescape(view.substr(value_start), origin, first_line));
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_yaml(std::string_view text, std::string_view origin) {
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        throw config_error("invalid YAML in " + std::string(origin) + ": " + e.what());
    }
    std::vector<std::pair<std::string, std::string>> out;
    if (root.IsNull()) {
        return out;
    }
    if (!root.IsMap()) {
        throw config_error("invalid configuration in " + std::string(origin) +
                           ": the YAML document must be a mapping of keys to values");
    }
    flatten(root, "", origin, out);
    return out;
}

// --- validators ------------------------------------------------------------------------

namespace detail {

validator at_least_int(int64_t n) {
    return [n](const std::string& s) -> std::optional<std::string> {
        auto c = compare_number(s, n);
        if (!c || *c < 0) {
            return "must be at least " + std::to_string(n);
        }
        return std::nullopt;
    };
}

validator at_least_double(double n) {
    return [n](const std::string& s) -> std::optional<std::string> {
        double d = 0;
        if (to_double(s, d) || d < n) {
            return "must be at least " + number_text(n);
        }
        return std::nullopt;
    };
}

validator between_int(int64_t lo, int64_t hi) {
    return [lo, hi](const std::string& s) -> std::optional<std::string> {
        auto below = compare_number(s, lo);
        auto above = compare_number(s, hi);
        if (!below || *below < 0 || *above > 0) {
            return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
        }
        return std::nullopt;
    };
}

validator between_double(double lo, double hi) {
    return [lo, hi](const std::string& s) -> std::optional<std::string> {
        double d = 0;
        if (to_double(s, d) || d < lo || d > hi) {
            return "must be between " + number_text(lo) + " and " + number_text(hi);
        }
        return std::nullopt;
    };
}

} // namespace detail

validator one_of(std::vector<std::string> allowed, bool case_sensitive) {
    return [allowed = std::move(allowed), case_sensitive](const std::string& s) -> std::optional<std::string> {
        for (const auto& a : allowed) {
            if (case_sensitive ? a == s : iequals(a, s)) {
                return std::nullopt;
            }
        }
        return "must be one of: " + join(allowed, ", ");
    };
}

validator each(validator v) {
    return [v = std::move(v)](const std::string& s) -> std::optional<std::string> {
        for (const auto& item : split_list(s)) {
            if (auto reason = v(item)) {
                return "item '" + item + "' " + *reason;
            }
        }
        return std::nullopt;
    };
}

const char* const version = TRIB_VERSION;

std::variant<load_options, int> parse_command_line(int argc, const char* const* argv, const schema& s,
                                                   std::string_view program) {
    auto usage = [&] {
        std::cerr << "usage: " << program << " [config.properties|config.yaml]... [--override key=value]...\n"
                  << "       " << program << " --help-config | --version\n"
                  << "Files apply in order, a later file's keys replacing an earlier one's; environment\n"
                  << "variables, then --override, replace what the files set. A value may refer to an\n"
                  << "environment variable as ${env:NAME}.\n";
    };
    load_options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        if (a == "--help-config") {
            std::cout << s.help();
            return 0;
        }
        if (a == "--version") {
            std::cout << program << " " << version << "\n";
            return 0;
        }
        try {
            if (a == "--override" && i + 1 < argc) {
                opts.overrides.push_back(parse_override(argv[++i]));
            } else if (a.starts_with("--override=")) {
                opts.overrides.push_back(parse_override(a.substr(11)));
            } else if (!a.starts_with("-")) {
                opts.files.emplace_back(a);
            } else {
                usage();
                return 2;
            }
        } catch (const std::exception& e) {
            std::cerr << program << ": " << e.what() << "\n";
            return 2;
        }
    }
    return opts;
}

} // namespace trib::config
