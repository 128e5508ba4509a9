#include "admin/args.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace trib::admin {

parsed_args parsed_args::parse(const std::vector<std::string>& words, const option_spec& spec) {
    parsed_args out;
    for (size_t i = 0; i < words.size(); ++i) {
        const auto& w = words[i];
        if (w.rfind("--", 0) != 0) {
            throw std::invalid_argument(fmt::format("unexpected argument '{}'", w));
        }
        std::string name = w.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (spec.flags.count(name)) {
            if (inline_value) {
                throw std::invalid_argument(fmt::format("--{} takes no value", name));
            }
            out._flags.insert(name);
        } else if (spec.with_value.count(name)) {
            if (!inline_value) {
                if (i + 1 >= words.size()) {
                    throw std::invalid_argument(fmt::format("--{} needs a value", name));
                }
                inline_value = words[++i];
            }
            out._values[name] = *inline_value;
        } else {
            throw std::invalid_argument(fmt::format("unknown option --{}", name));
        }
    }
    return out;
}

std::optional<std::string> parsed_args::value(const std::string& name) const {
    auto it = _values.find(name);
    return it == _values.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::string parsed_args::required(const std::string& name) const {
    auto v = value(name);
    if (!v) {
        throw std::invalid_argument(fmt::format("--{} is required", name));
    }
    return *v;
}

int64_t parse_integer(const std::string& s, const std::string& what) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
        throw std::invalid_argument(fmt::format("{}: '{}' is not a whole number", what, s));
    }
    return v;
}

double parse_decimal(const std::string& s, const std::string& what) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(s, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != s.size() || v < 0) {
        throw std::invalid_argument(fmt::format("{}: '{}' is not a number >= 0", what, s));
    }
    return v;
}

std::vector<std::string> parse_name_list(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) {
            out.push_back(item);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what) {
    std::vector<int32_t> out;
    for (const auto& item : parse_name_list(s)) {
        auto v = parse_integer(item, what);
        if (v < 0 || v > INT32_MAX) {
            throw std::invalid_argument(fmt::format("{}: '{}' is not a broker id", what, item));
        }
        out.push_back(int32_t(v));
    }
    return out;
}

} // namespace trib::admin
