#pragma once
// Where the API server is and how to authenticate to it, from a kubeconfig file or from the
// service-account files Kubernetes mounts into a pod. The client (client.h) takes the result.
//
// Errors are kubeconfig_error exceptions: they happen at start-up, and the operator's answer
// is to log the message (which names the file and the field) and exit.
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace trib::op::k8s {

class kubeconfig_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A bearer token, fixed or read from a file. A file token is re-read when the file changes
// (inode, size or modification time: the kubelet rotates projected service-account tokens by
// swapping a symlink), when the last read is older than max_age, and after invalidate() (the
// client calls it on a 401, in case the file changed without its metadata showing it).
class token_source {
public:
    explicit token_source(std::string token);
    // max_age: in-cluster and kubeconfig tokenFile use default_max_age.
    token_source(std::filesystem::path file, std::chrono::steady_clock::duration max_age);
    static constexpr std::chrono::steady_clock::duration default_max_age = std::chrono::minutes(1);

    // The current token. A file that can't be re-read keeps the last good token (rotation
    // may replace the file while we look); the first read failing throws kubeconfig_error.
    std::string get();
    void invalidate();
    const std::filesystem::path& file() const { return _file; }

private:
    void read_locked();

    std::mutex _mu;
    std::string _token;
    std::filesystem::path _file;  // empty: a fixed token
    std::chrono::steady_clock::duration _max_age{};
    std::chrono::steady_clock::time_point _read_at;
    struct file_id {
        unsigned long long inode = 0, size = 0;
        long long mtime_ns = 0;
        bool operator==(const file_id&) const = default;
    } _id;
    bool _stale = true;
};

// Everything needed to talk to one API server. PEM texts are the contents, not paths.
struct connection_config {
    std::string server;                  // "https://127.0.0.1:6443"
    std::string ca_pem;                  // empty: the system's trusted CAs
    bool insecure_skip_tls_verify = false;
    std::string client_cert_pem;         // client certificate authentication (both or neither)
    std::string client_key_pem;
    std::shared_ptr<token_source> token;  // bearer token authentication; may be null
    std::string default_namespace = "default";  // the context's, or the pod's namespace
    std::string pod_namespace;           // in-cluster: the pod's (its service account's); else empty
    std::string origin;                  // "kubeconfig /x/y (context c)" or "in-cluster", for logs
};

// From a kubeconfig file: `context` ("" = current-context) → its cluster and user. Relative
// file paths in it are resolved against the kubeconfig's folder, as kubectl does. Supports
// certificate-authority(-data), insecure-skip-tls-verify, client-certificate(-data),
// client-key(-data), token and tokenFile; exec and auth-provider plugins are refused.
connection_config load_kubeconfig(const std::filesystem::path& file, const std::string& context = "");

// In a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the token, ca.crt
// and namespace files in `dir` (tests point it at a folder of their own).
inline const char* const service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
connection_config in_cluster_config(const std::filesystem::path& dir = service_account_dir);

// The operator's rule for its `kubeconfig` setting: a path → that file; "" → in-cluster when
// KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG (its first entry), else ~/.kube/config.
connection_config load_connection_config(const std::string& kubeconfig_setting);

} // namespace trib::op::k8s
