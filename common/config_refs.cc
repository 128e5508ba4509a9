#include "common/config_refs.h"

#include "common/config.h"

namespace trib::config {

namespace {

constexpr std::string_view providers_key = "config.providers";

bool is_env_provider_class(std::string_view cls) {
    return cls == "org.apache.kafka.common.config.provider.EnvVarConfigProvider" ||
           cls == "io.strimzi.kafka.EnvVarConfigProvider";
}

} // namespace

bool is_provider_key(std::string_view key) noexcept {
    return key.starts_with(providers_key) &&
           (key.size() == providers_key.size() || key[providers_key.size()] == '.');
}

env_references::env_references(const std::map<std::string, setting, std::less<>>& providers,
                               const char* const* environ) {
    for (; environ && *environ; ++environ) {
        std::string_view var(*environ);
        auto eq = var.find('=');
        if (eq != std::string_view::npos) {
            _env.emplace(var.substr(0, eq), var.substr(eq + 1));  // the first one, as getenv
        }
    }
    _providers.emplace("env", provider{});
    auto declared = providers.find(providers_key);
    if (declared == providers.end()) {
        return;
    }
    // As Kafka: only listed names count, and a listed name without a class is not set up.
    for (const auto& name : split_list(declared->second.value)) {
        std::string prefix = std::string(providers_key) + "." + name + ".";
        auto cls = providers.find(prefix + "class");
        if (cls == providers.end() || trim_view(cls->second.value).empty()) {
            continue;
        }
        provider p;
        p.cls = std::string(trim_view(cls->second.value));
        p.env = is_env_provider_class(p.cls);
        p.allow_key = prefix + "param.allowlist.pattern";
        if (auto allow = providers.find(p.allow_key); allow != providers.end()) {
            try {
                p.allow.emplace(allow->second.value);
            } catch (const std::regex_error& e) {
                throw config_error("invalid value '" + allow->second.value + "' for " + p.allow_key + " (from " +
                                   allow->second.origin + "): not a regular expression: " + e.what());
            }
        }
        _providers.insert_or_assign(name, std::move(p));
    }
}

std::string env_references::expand(std::string_view value, std::string_view key, std::string_view origin) const {
    std::string out;
    size_t copied = 0;  // value[0, copied) is in `out`
    size_t pos = 0;
    while (true) {
        auto start = value.find("${", pos);
        if (start == std::string_view::npos) {
            break;
        }
        auto close = value.find('}', start + 2);
        if (close == std::string_view::npos) {
            break;
        }
        auto inner = value.substr(start + 2, close - start - 2);
        auto colon = inner.find(':');
        if (colon == std::string_view::npos) {
            pos = start + 1;  // no `provider:` here; a reference may still start further on
            continue;
        }
        pos = close + 1;
        auto found = _providers.find(inner.substr(0, colon));
        if (found == _providers.end()) {
            continue;  // a provider nobody declared: left as written
        }
        const provider& p = found->second;
        auto rest = inner.substr(colon + 1);
        auto second = rest.find(':');
        auto path = second == std::string_view::npos ? std::string_view() : rest.substr(0, second);
        auto name = second == std::string_view::npos ? rest : rest.substr(second + 1);

        auto fail = [&](const std::string& why) {
            return config_error("cannot resolve " + std::string(value.substr(start, close + 1 - start)) + " in " +
                                std::string(key) + " (from " + std::string(origin) + "): " + why);
        };
        if (!p.env) {
            throw fail("config provider '" + found->first + "' is " + p.cls +
                       "; Tributary resolves only EnvVarConfigProvider references");
        }
        if (!path.empty()) {
            throw fail("EnvVarConfigProvider takes no path ('" + std::string(path) + "')");
        }
        if (p.allow && !std::regex_search(name.begin(), name.end(), *p.allow)) {
            throw fail("environment variable " + std::string(name) + " is not allowed by " + p.allow_key);
        }
        auto var = _env.find(name);
        if (var == _env.end()) {
            throw fail("environment variable " + std::string(name) + " is not set");
        }
        out.append(value.substr(copied, start - copied)).append(var->second);
        copied = close + 1;
    }
    if (copied == 0) {
        return std::string(value);
    }
    out.append(value.substr(copied));
    return out;
}

} // namespace trib::config
