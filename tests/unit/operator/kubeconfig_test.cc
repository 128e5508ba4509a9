// Connection settings: kubeconfig files as kubectl writes them, the in-cluster service-account
// files, and the bearer token re-read when its file is rotated.
#include "operator/k8s/kubeconfig.h"

#include "tests/fakes/temp_dir.h"

#include <cpprest/asyncrt_utils.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

using namespace trib::op::k8s;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

std::string b64(const std::string& s) {
    return utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end()));
}

// Sets (or unsets, for nullptr) an environment variable for one test.
class scoped_env {
public:
    scoped_env(const char* name, const char* value) : _name(name) {
        if (const char* old = std::getenv(name)) {
            _old = old;
        }
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ~scoped_env() { _old ? ::setenv(_name, _old->c_str(), 1) : ::unsetenv(_name); }

private:
    const char* _name;
    std::optional<std::string> _old;
};

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kubeconfig_error& e) {
        return e.what();
    }
    return "(no error)";
}

const char* two_contexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.1.2.3:6443/
    certificate-authority: pki/ca.crt
- name: c2
  cluster:
    server: https://example.test
    insecure-skip-tls-verify: true
users:
- name: cert-user
  user:
    client-certificate: pki/user.crt
    client-key: /ABS/user.key
- name: token-user
  user:
    tokenFile: tok
contexts:
- name: dev
  context: {cluster: c1, user: cert-user, namespace: team-a}
- name: other
  context: {cluster: c2, user: token-user}
)";

} // namespace

TEST(kubeconfig, current_context_with_relative_and_absolute_paths) {
    trib::fakes::temp_dir dir;
    write(dir / "pki/ca.crt", "CA PEM");
    write(dir / "pki/user.crt", "CERT PEM");
    write(dir / "abs/user.key", "KEY PEM");
    std::string text = two_contexts;
    text.replace(text.find("/ABS"), 4, (dir / "abs").string());
    write(dir / "config", text);

    auto c = load_kubeconfig(dir / "config");
    EXPECT_EQ(c.server, "https://10.1.2.3:6443");  // trailing slash dropped: paths are appended
    EXPECT_EQ(c.ca_pem, "CA PEM");                // relative to the kubeconfig's folder
    EXPECT_EQ(c.client_cert_pem, "CERT PEM");
    EXPECT_EQ(c.client_key_pem, "KEY PEM");
    EXPECT_FALSE(c.insecure_skip_tls_verify);
    EXPECT_EQ(c.token, nullptr);
    EXPECT_EQ(c.default_namespace, "team-a");
    EXPECT_NE(c.origin.find("context dev"), std::string::npos);
}

TEST(kubeconfig, named_context_token_file_and_insecure) {
    trib::fakes::temp_dir dir;
    write(dir / "tok", "  secret-token\n");
    write(dir / "config", two_contexts);
    auto c = load_kubeconfig(dir / "config", "other");
    EXPECT_EQ(c.server, "https://example.test");
    EXPECT_TRUE(c.insecure_skip_tls_verify);
    EXPECT_TRUE(c.ca_pem.empty());
    ASSERT_NE(c.token, nullptr);
    EXPECT_EQ(c.token->get(), "secret-token");
    EXPECT_EQ(c.default_namespace, "default");
}

TEST(kubeconfig, inline_data_fields_are_base64) {
    trib::fakes::temp_dir dir;
    write(dir / "config", "current-context: x\n"
                          "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority-data: " +
                              b64("CA") + "}}]\n"
                              "users: [{name: u, user: {client-certificate-data: " +
                              b64("CRT") + ", client-key-data: " + b64("KEY") +
                              "}}]\n"
                              "contexts: [{name: x, context: {cluster: c, user: u}}]\n");
    auto c = load_kubeconfig(dir / "config");
    EXPECT_EQ(c.ca_pem, "CA");
    EXPECT_EQ(c.client_cert_pem, "CRT");
    EXPECT_EQ(c.client_key_pem, "KEY");
}

TEST(kubeconfig, static_token) {
    trib::fakes::temp_dir dir;
    write(dir / "config", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                          "users: [{name: u, user: {token: abc}}]\n"
                          "contexts: [{name: x, context: {cluster: c, user: u}}]\n");
    auto c = load_kubeconfig(dir / "config");
    ASSERT_NE(c.token, nullptr);
    EXPECT_EQ(c.token->get(), "abc");
}

TEST(kubeconfig, clear_errors) {
    trib::fakes::temp_dir dir;
    auto with = [&](const std::string& text) {
        write(dir / "config", text);
        return error_of([&] { load_kubeconfig(dir / "config"); });
    };
    const std::string ok_cluster = "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n";
    const std::string ok_ctx = "contexts: [{name: x, context: {cluster: c, user: u}}]\n";

    EXPECT_NE(error_of([&] { load_kubeconfig(dir / "missing"); }).find("cannot read"), std::string::npos);
    EXPECT_NE(with("a: [b").find("not valid YAML"), std::string::npos);
    EXPECT_NE(with("- a list\n").find("not a kubeconfig"), std::string::npos);
    EXPECT_NE(with(ok_cluster + ok_ctx).find("no current-context"), std::string::npos);
    EXPECT_NE(with("current-context: y\n" + ok_cluster + ok_ctx).find("no contexts entry named 'y'"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\n" + ok_ctx + "users: [{name: u, user: {}}]\n")
                  .find("no clusters entry named 'c'"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\nclusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n" +
                   ok_ctx + "users: [{name: u, user: {}}]\n")
                  .find("has no server"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\n" + ok_cluster + ok_ctx +
                   "users: [{name: u, user: {exec: {command: aws}}}]\n")
                  .find("exec or auth-provider"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\n" + ok_cluster + ok_ctx +
                   "users: [{name: u, user: {client-certificate-data: '" + b64("x") + "'}}]\n")
                  .find("without a key"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\n" + ok_cluster + ok_ctx +
                   "users: [{name: u, user: {client-certificate: nothere.crt, client-key: k}}]\n")
                  .find("nothere.crt"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\n" + ok_cluster + ok_ctx + "users: [{name: u, user: {tokenFile: absent}}]\n")
                  .find("token file " + (dir / "absent").string() + ": No such file"),
              std::string::npos);
    EXPECT_NE(with("current-context: x\nclusters: [{name: c, cluster: {server: 'https://h:1', "
                   "insecure-skip-tls-verify: maybe}}]\n" + ok_ctx + "users: [{name: u, user: {}}]\n")
                  .find("unexpected field type"),
              std::string::npos);
}

TEST(in_cluster, service_account_files_and_environment) {
    trib::fakes::temp_dir dir;
    write(dir / "token", "tok-1\n");
    write(dir / "ca.crt", "CA PEM");
    write(dir / "namespace", "operators\n");
    {
        scoped_env host("KUBERNETES_SERVICE_HOST", "10.0.0.1"), port("KUBERNETES_SERVICE_PORT", "443");
        auto c = in_cluster_config(dir.path());
        EXPECT_EQ(c.server, "https://10.0.0.1:443");
        EXPECT_EQ(c.ca_pem, "CA PEM");
        EXPECT_EQ(c.token->get(), "tok-1");
        EXPECT_EQ(c.default_namespace, "operators");
        EXPECT_TRUE(c.client_cert_pem.empty());
    }
    {
        scoped_env host("KUBERNETES_SERVICE_HOST", "fd00::1"), port("KUBERNETES_SERVICE_PORT", "6443");
        EXPECT_EQ(in_cluster_config(dir.path()).server, "https://[fd00::1]:6443");
    }
    {
        scoped_env host("KUBERNETES_SERVICE_HOST", nullptr);
        EXPECT_NE(error_of([&] { in_cluster_config(dir.path()); }).find("KUBERNETES_SERVICE_HOST"),
                  std::string::npos);
    }
    scoped_env host("KUBERNETES_SERVICE_HOST", "10.0.0.1"), port("KUBERNETES_SERVICE_PORT", "443");
    fs::remove(dir / "token");
    EXPECT_NE(error_of([&] { in_cluster_config(dir.path()); }).find((dir / "token").string()), std::string::npos);
    write(dir / "token", "\n");
    EXPECT_NE(error_of([&] { in_cluster_config(dir.path()); }).find("is empty"), std::string::npos);
    write(dir / "token", "t");
    fs::remove(dir / "ca.crt");
    EXPECT_NE(error_of([&] { in_cluster_config(dir.path()); }).find("ca.crt"), std::string::npos);
}

TEST(load_connection_config, precedence) {
    trib::fakes::temp_dir dir;
    write(dir / "a", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a:1'}}]\n"
                     "contexts: [{name: x, context: {cluster: c}}]\n");
    write(dir / "b", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://b:1'}}]\n"
                     "contexts: [{name: x, context: {cluster: c}}]\n");
    scoped_env host("KUBERNETES_SERVICE_HOST", nullptr);
    scoped_env kc("KUBECONFIG", ((dir / "b").string() + ":" + (dir / "a").string()).c_str());
    EXPECT_EQ(load_connection_config((dir / "a").string()).server, "https://a:1");  // the setting wins
    EXPECT_EQ(load_connection_config("").server, "https://b:1");                     // KUBECONFIG's first file
    {
        scoped_env home("HOME", dir.path().c_str()), none("KUBECONFIG", nullptr);
        write(dir / ".kube/config", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                                    "contexts: [{name: x, context: {cluster: c}}]\n");
        EXPECT_EQ(load_connection_config("").server, "https://h:1");
    }
    // In a pod (KUBERNETES_SERVICE_HOST set), the service-account files are used, not KUBECONFIG.
    scoped_env in_pod("KUBERNETES_SERVICE_HOST", "10.0.0.1"), port("KUBERNETES_SERVICE_PORT", "443");
    if (!fs::exists(service_account_dir)) {
        EXPECT_NE(error_of([&] { load_connection_config(""); }).find(service_account_dir), std::string::npos);
    }
}

TEST(token_source, rereads_a_rotated_file) {
    trib::fakes::temp_dir dir;
    write(dir / "token", "first");
    token_source t(dir / "token", std::chrono::hours(1));
    EXPECT_EQ(t.get(), "first");
    // Rotation as the kubelet does it: a new file renamed over the old one.
    write(dir / "token.new", "second-token");
    fs::rename(dir / "token.new", dir / "token");
    EXPECT_EQ(t.get(), "second-token");
    // A missing file during rotation: the last good token stays.
    fs::remove(dir / "token");
    EXPECT_EQ(t.get(), "second-token");
    write(dir / "token", "third");
    EXPECT_EQ(t.get(), "third");
}

TEST(token_source, rereads_after_invalidate_and_max_age) {
    trib::fakes::temp_dir dir;
    write(dir / "token", "aaaa");
    token_source t(dir / "token", std::chrono::hours(1));
    EXPECT_EQ(t.get(), "aaaa");
    // Same size, and the modification time put back: the metadata shows no change...
    auto mtime = fs::last_write_time(dir / "token");
    {
        std::fstream f(dir / "token", std::ios::in | std::ios::out);
        f << "bbbb";
    }
    fs::last_write_time(dir / "token", mtime);
    EXPECT_EQ(t.get(), "aaaa");
    // ...until a 401 makes the client invalidate it.
    t.invalidate();
    EXPECT_EQ(t.get(), "bbbb");

    token_source always(dir / "token", std::chrono::steady_clock::duration::zero());
    {
        std::fstream f(dir / "token", std::ios::in | std::ios::out);
        f << "cccc";
    }
    fs::last_write_time(dir / "token", mtime);
    EXPECT_EQ(always.get(), "cccc");  // max_age 0: every get() reads
}
