#pragma once
// The Kubernetes API client: api (api.h) over cpprestsdk's HTTP client, against one API
// server named by a connection_config (kubeconfig.h).
//
// TLS: the CA and the client certificate and key go into the ssl context from their PEM
// texts; the server's name is checked against its certificate (cpprestsdk's RFC 2818 check,
// which handles IP addresses too). A bearer token, when there is one, is sent on every
// request and re-read from its file on a 401 (the request is then retried once).
//
// Calls block the calling thread until the answer is in or the timeout passes; they must not
// run on cpprestsdk's own thread pool (from a continuation), which they would wait on.
#include "operator/k8s/api.h"
#include "operator/k8s/kubeconfig.h"

#include <cpprest/http_client.h>

#include <chrono>
#include <memory>
#include <string>

namespace trib::op::k8s {

class client : public api {
public:
    // The longest watch (timeoutSeconds) open_stream serves: its requests time out a minute
    // after that, so it is the API server that ends a healthy watch, never the client.
    static constexpr std::chrono::seconds max_watch{600};

    // `timeout`: for each request except watches (their own timeout is the watch's length
    // plus a margin, see open_stream).
    client(connection_config config, std::string field_manager,
           std::chrono::milliseconds timeout = std::chrono::seconds(30));

    std::optional<web::json::value> get(const resource& r, const std::string& ns, const std::string& name) override;
    std::vector<web::json::value> list(const resource& r, const std::string& ns,
                                       const std::string& label_selector = "") override;
    web::json::value apply(const resource& r, const web::json::value& obj) override;
    web::json::value create(const resource& r, const web::json::value& obj) override;
    web::json::value replace(const resource& r, const web::json::value& obj) override;
    web::json::value replace_status(const resource& r, const web::json::value& obj) override;
    web::json::value patch(const resource& r, const std::string& ns, const std::string& name,
                           const web::json::value& body, patch_type type) override;
    bool remove(const resource& r, const std::string& ns, const std::string& name,
                const std::string& propagation = "Background") override;

    // A LIST that also returns the list's metadata.resourceVersion (where a watch starts).
    struct list_result {
        std::vector<web::json::value> items;  // with apiVersion and kind set
        std::string resource_version;
    };
    // `cancel` ends it early (informer::stop()).
    list_result list_with_version(const resource& r, const std::string& ns, const std::string& label_selector,
                                  pplx::cancellation_token cancel = pplx::cancellation_token::none());

    // A GET whose body is read by the caller as it arrives (watches). Returns once the status
    // line and headers are in; an error status throws api_error (with the body's Status).
    // `cancel` ends the request, also while its body is being read.
    web::http::http_response open_stream(const std::string& path_and_query, pplx::cancellation_token cancel);

    // /api/v1/namespaces/ns/configmaps[/name[/sub]] ("" ns: all namespaces, or cluster-scoped).
    static std::string path(const resource& r, const std::string& ns, const std::string& name = "",
                            const std::string& subresource = "");

    const connection_config& config() const { return _config; }
    const std::string& field_manager() const { return _field_manager; }

private:
    struct reply {
        int status = 0;
        web::json::value body;  // null when the body was empty or not JSON
        std::string text;       // the body when it was not JSON
    };
    reply send(const web::http::method& method, const std::string& path_and_query, const std::string* body,
               const std::string& content_type, pplx::cancellation_token cancel = pplx::cancellation_token::none());
    bool retry_unauthorized(int status, int attempt);
    web::http::http_request make_request(const web::http::method& method, const std::string& path_and_query) const;
    web::json::value write(const web::http::method& method, const std::string& path_and_query,
                           const web::json::value& body, const std::string& content_type);

    connection_config _config;
    std::string _field_manager;
    std::unique_ptr<web::http::client::http_client> _http;    // requests with `timeout`
    std::unique_ptr<web::http::client::http_client> _stream;  // watches
};

// api_error from an HTTP status and its body (a Status object, or anything else).
api_error error_from_reply(const std::string& what, int status, const web::json::value& body, const std::string& text);

} // namespace trib::op::k8s
