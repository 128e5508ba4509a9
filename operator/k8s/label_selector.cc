#include "operator/k8s/label_selector.h"

#include <algorithm>
#include <cctype>

namespace trib::op::k8s {

namespace {

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) {
        return "";
    }
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Label keys and values: [prefix/]name with letters, digits, '-', '_', '.' (values may be empty).
bool valid_token(const std::string& s, bool is_key) {
    if (s.empty()) {
        return !is_key;
    }
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               (is_key && c == '/');
    });
}

// Splits at commas outside parentheses: "a in (x,y),b" → "a in (x,y)", "b".
std::vector<std::string> split_requirements(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    for (char c : text) {
        if (c == '(') {
            ++depth;
        } else if (c == ')') {
            --depth;
        }
        if (c == ',' && depth == 0) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

} // namespace

label_selector::label_selector(const std::string& text) {
    if (trim(text).empty()) {
        return;
    }
    for (const auto& raw : split_requirements(text)) {
        auto part = trim(raw);
        auto bad = [&](const std::string& why) {
            return std::invalid_argument("label selector '" + text + "': '" + part + "': " + why);
        };
        requirement r;
        if (part.empty()) {
            throw bad("empty requirement");
        }
        if (auto paren = part.find('('); paren != std::string::npos) {
            // key in (v1, v2) / key notin (v1, v2)
            if (part.back() != ')') {
                throw bad("a set must end with ')'");
            }
            auto head = trim(part.substr(0, paren));
            auto space = head.find_last_of(" \t");
            if (space == std::string::npos) {
                throw bad("expected 'key in (...)' or 'key notin (...)'");
            }
            auto word = head.substr(space + 1);
            r.key = trim(head.substr(0, space));
            if (word == "in") {
                r.o = requirement::op::in;
            } else if (word == "notin") {
                r.o = requirement::op::notin;
            } else {
                throw bad("unknown set operator '" + word + "'");
            }
            auto inside = part.substr(paren + 1, part.size() - paren - 2);
            size_t start = 0;
            while (true) {
                auto comma = inside.find(',', start);
                auto v = trim(inside.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
                if (!valid_token(v, false)) {
                    throw bad("invalid value '" + v + "'");
                }
                r.values.push_back(v);
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
        } else if (auto ne = part.find("!="); ne != std::string::npos) {
            r.o = requirement::op::ne;
            r.key = trim(part.substr(0, ne));
            r.values = {trim(part.substr(ne + 2))};
        } else if (auto eq = part.find('='); eq != std::string::npos) {
            r.o = requirement::op::eq;
            r.key = trim(part.substr(0, eq));
            auto rest = part.substr(eq + 1);
            r.values = {trim(rest.rfind('=', 0) == 0 ? rest.substr(1) : rest)};  // '==' as '='
        } else if (part[0] == '!') {
            r.o = requirement::op::not_exists;
            r.key = trim(part.substr(1));
        } else {
            r.o = requirement::op::exists;
            r.key = part;
        }
        if (!valid_token(r.key, true)) {
            throw bad("invalid key '" + r.key + "'");
        }
        for (const auto& v : r.values) {
            if (!valid_token(v, false)) {
                throw bad("invalid value '" + v + "'");
            }
        }
        _requirements.push_back(std::move(r));
    }
}

bool label_selector::matches(const std::map<std::string, std::string>& labels) const {
    for (const auto& r : _requirements) {
        auto it = labels.find(r.key);
        bool has = it != labels.end();
        bool in_values = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
        bool ok = false;
        switch (r.o) {
        case requirement::op::eq:
        case requirement::op::in:
            ok = in_values;
            break;
        case requirement::op::ne:
        case requirement::op::notin:
            ok = !in_values;  // as the API server: a missing label matches != and notin
            break;
        case requirement::op::exists:
            ok = has;
            break;
        case requirement::op::not_exists:
            ok = !has;
            break;
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool label_selector::matches(const web::json::value& object) const {
    if (_requirements.empty()) {
        return true;
    }
    std::map<std::string, std::string> labels;
    if (object.has_object_field("metadata") && object.at("metadata").has_object_field("labels")) {
        for (const auto& [k, v] : object.at("metadata").at("labels").as_object()) {
            if (v.is_string()) {
                labels[k] = v.as_string();
            }
        }
    }
    return matches(labels);
}

} // namespace trib::op::k8s
