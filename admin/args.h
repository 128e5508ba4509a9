#pragma once

// Command-line options of the subcommands: `--name value` or `--name=value` for options with
// a value, `--name` for flags. Anything else is an error naming it.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::admin {

struct option_spec {
    std::set<std::string> with_value;  // names without the leading "--"
    std::set<std::string> flags;
};

class parsed_args {
public:
    // Throws std::invalid_argument with a sentence naming the offending word.
    static parsed_args parse(const std::vector<std::string>& words, const option_spec& spec);

    std::optional<std::string> value(const std::string& name) const;
    // The value, or std::invalid_argument saying it is required.
    std::string required(const std::string& name) const;
    bool flag(const std::string& name) const { return _flags.count(name) != 0; }

private:
    std::map<std::string, std::string> _values;
    std::set<std::string> _flags;
};

// "3,4" -> {3, 4}; throws std::invalid_argument naming `what` on anything else.
std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what);
// "a,b" -> {"a", "b"} (empty items dropped).
std::vector<std::string> parse_name_list(const std::string& s);
// A whole number or decimal; throws std::invalid_argument naming `what`.
int64_t parse_integer(const std::string& s, const std::string& what);
double parse_decimal(const std::string& s, const std::string& what);

} // namespace trib::admin
