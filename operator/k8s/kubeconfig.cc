#include "operator/k8s/kubeconfig.h"

#include "common/log.h"

#include <cpprest/asyncrt_utils.h>
#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace trib::op::k8s {

namespace fs = std::filesystem;

namespace {

// The whole file, or kubeconfig_error naming what it is for.
std::string read_file(const fs::path& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw kubeconfig_error(what + " " + path.string() + ": cannot read (" + std::strerror(errno) + ")");
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string trim(std::string s) {
    auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return "";
    }
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string base64(const std::string& text, const std::string& where) {
    try {
        auto bytes = utility::conversions::from_base64(text);
        return {bytes.begin(), bytes.end()};
    } catch (const std::exception& e) {
        throw kubeconfig_error(where + ": not valid base64 (" + e.what() + ")");
    }
}

// The `body` of the entry named `name` in a kubeconfig list such as clusters:
// [{name: x, cluster: {...}}].
YAML::Node named_entry(const YAML::Node& root, const char* list, const char* body, const std::string& name,
                       const std::string& where) {
    const auto& items = root[list];
    if (items && items.IsSequence()) {
        for (const auto& item : items) {
            if (item["name"] && item["name"].as<std::string>() == name) {
                if (!item[body] || !item[body].IsMap()) {
                    throw kubeconfig_error(where + ": " + list + " entry '" + name + "' has no " + body);
                }
                return item[body];
            }
        }
    }
    throw kubeconfig_error(where + ": no " + list + " entry named '" + name + "'");
}

std::string string_field(const YAML::Node& node, const char* key) {
    return node[key] ? node[key].as<std::string>() : std::string();
}

// PEM text from `<key>-data` (base64) or `<key>` (a path, relative to `base`); "" if neither.
std::string pem_field(const YAML::Node& node, const std::string& key, const fs::path& base, const std::string& where) {
    if (auto data = string_field(node, (key + "-data").c_str()); !data.empty()) {
        return base64(data, where + " " + key + "-data");
    }
    if (auto path = string_field(node, key.c_str()); !path.empty()) {
        return read_file(base / path, where + " " + key);
    }
    return "";
}

} // namespace

// --- token_source ---

token_source::token_source(std::string token) : _token(trim(std::move(token))), _stale(false) {}

token_source::token_source(fs::path file, std::chrono::steady_clock::duration max_age)
  : _file(std::move(file)), _max_age(max_age) {
    std::lock_guard lock(_mu);
    read_locked();
    if (_token.empty()) {
        throw kubeconfig_error("token file " + _file.string() + " is empty");
    }
}

std::string token_source::get() {
    std::lock_guard lock(_mu);
    if (_file.empty()) {
        return _token;
    }
    struct stat st{};
    file_id now;
    if (::stat(_file.c_str(), &st) == 0) {
        now = {static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
               static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    }
    if (_stale || now != _id || std::chrono::steady_clock::now() - _read_at >= _max_age) {
        try {
            read_locked();
        } catch (const kubeconfig_error& e) {
            TLOG_WARN("keeping the previous service-account token: {}", e.what());
        }
    }
    return _token;
}

void token_source::invalidate() {
    std::lock_guard lock(_mu);
    _stale = true;
}

void token_source::read_locked() {
    struct stat st{};
    if (::stat(_file.c_str(), &st) != 0) {
        throw kubeconfig_error("token file " + _file.string() + ": " + std::strerror(errno));
    }
    auto token = trim(read_file(_file, "token file"));
    if (token.empty()) {
        throw kubeconfig_error("token file " + _file.string() + " is empty");
    }
    if (!_token.empty() && token != _token) {
        TLOG_INFO("bearer token in {} changed; using the new one", _file.string());
    }
    _token = std::move(token);
    _id = {static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
           static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    _read_at = std::chrono::steady_clock::now();
    _stale = false;
}

// --- kubeconfig ---

connection_config load_kubeconfig(const fs::path& file, const std::string& context) {
    auto where = "kubeconfig " + file.string();
    YAML::Node root;
    try {
        root = YAML::Load(read_file(file, "kubeconfig"));
    } catch (const YAML::Exception& e) {
        throw kubeconfig_error(where + ": not valid YAML: " + e.what());
    }
    if (!root.IsMap()) {
        throw kubeconfig_error(where + ": not a kubeconfig (expected a mapping with clusters, users, contexts)");
    }
    auto base = file.parent_path();
    connection_config c;
    try {
        auto ctx_name = context.empty() ? string_field(root, "current-context") : context;
        if (ctx_name.empty()) {
            throw kubeconfig_error(where + ": no current-context, and no context was named");
        }
        where += " (context " + ctx_name + ")";
        auto ctx = named_entry(root, "contexts", "context", ctx_name, where);
        auto cluster_name = string_field(ctx, "cluster");
        auto user_name = string_field(ctx, "user");
        if (cluster_name.empty()) {
            throw kubeconfig_error(where + ": the context names no cluster");
        }
        if (auto ns = string_field(ctx, "namespace"); !ns.empty()) {
            c.default_namespace = ns;
        }

        auto cluster = named_entry(root, "clusters", "cluster", cluster_name, where);
        c.server = string_field(cluster, "server");
        if (c.server.empty()) {
            throw kubeconfig_error(where + ": cluster '" + cluster_name + "' has no server");
        }
        while (!c.server.empty() && c.server.back() == '/') {
            c.server.pop_back();
        }
        c.ca_pem = pem_field(cluster, "certificate-authority", base, where);
        c.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();

        if (!user_name.empty()) {
            auto user = named_entry(root, "users", "user", user_name, where);
            if (user["exec"] || user["auth-provider"]) {
                throw kubeconfig_error(where + ": user '" + user_name +
                                       "' uses an exec or auth-provider plugin, which this client does not run; "
                                       "use a client certificate or a token");
            }
            c.client_cert_pem = pem_field(user, "client-certificate", base, where);
            c.client_key_pem = pem_field(user, "client-key", base, where);
            if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
                throw kubeconfig_error(where + ": user '" + user_name +
                                       "' has a client certificate without a key or a key without a certificate");
            }
            if (auto token = string_field(user, "token"); !token.empty()) {
                c.token = std::make_shared<token_source>(token);
            } else if (auto token_file = string_field(user, "tokenFile"); !token_file.empty()) {
                c.token = std::make_shared<token_source>(base / token_file, token_source::default_max_age);
            }
        }
    } catch (const YAML::Exception& e) {
        throw kubeconfig_error(where + ": unexpected field type: " + e.what());
    }
    c.origin = where;
    return c;
}

connection_config in_cluster_config(const fs::path& dir) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
        throw kubeconfig_error("in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                               "must be set (they are in a pod)");
    }
    connection_config c;
    std::string h = host;
    c.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
    c.ca_pem = read_file(dir / "ca.crt", "in-cluster CA");
    c.token = std::make_shared<token_source>(dir / "token", token_source::default_max_age);
    std::error_code ec;
    if (fs::exists(dir / "namespace", ec)) {
        if (auto ns = trim(read_file(dir / "namespace", "in-cluster namespace")); !ns.empty()) {
            c.default_namespace = ns;
            c.pod_namespace = ns;
        }
    }
    c.origin = "in-cluster (" + c.server + ", " + dir.string() + ")";
    return c;
}

connection_config load_connection_config(const std::string& kubeconfig_setting) {
    if (!kubeconfig_setting.empty()) {
        return load_kubeconfig(kubeconfig_setting);
    }
    if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"); host != nullptr && *host != '\0') {
        return in_cluster_config();
    }
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
        std::string first = env;
        return load_kubeconfig(first.substr(0, first.find(':')));
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
        throw kubeconfig_error("no kubeconfig: not in a pod, KUBECONFIG unset and no HOME for ~/.kube/config");
    }
    return load_kubeconfig(fs::path(home) / ".kube" / "config");
}

} // namespace trib::op::k8s
