#include "operator/k8s/client.h"

#include "common/log.h"

#include <boost/asio/ssl/context.hpp>

namespace trib::op::k8s {

namespace http = web::http;
using web::json::value;

namespace {

std::string field(const value& obj, const char* a, const char* b) {
    if (obj.has_object_field(a) && obj.at(a).has_string_field(b)) {
        return obj.at(a).at(b).as_string();
    }
    return "";
}

std::string encode(const std::string& s) {
    return web::uri::encode_data_string(s);
}

// The object with apiVersion and kind filled in from `r` when it lacks them (items of a LIST
// come without them).
value with_type(value obj, const resource& r) {
    if (obj.is_object()) {
        if (!obj.has_string_field("apiVersion")) {
            obj["apiVersion"] = value::string(r.api_version());
        }
        if (!obj.has_string_field("kind")) {
            obj["kind"] = value::string(r.kind);
        }
    }
    return obj;
}

http::client::http_client_config tls_config(const connection_config& c, std::chrono::milliseconds timeout) {
    http::client::http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!c.insecure_skip_tls_verify);
    auto ca = c.ca_pem;
    auto cert = c.client_cert_pem;
    auto key = c.client_key_pem;
    // Runs for each new connection; a PEM the ssl context refuses fails that connection with
    // the reason, which the request's error carries.
    cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
        if (!ca.empty()) {
            ctx.add_certificate_authority(boost::asio::buffer(ca));
        }
        if (!cert.empty()) {
            ctx.use_certificate_chain(boost::asio::buffer(cert));
            ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
        }
    });
    return cfg;
}

// Checks the PEM texts once up front, so a bad certificate is a clear start-up error rather
// than a failure of every request.
void check_pem(const connection_config& c) {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    auto try_load = [&](const char* what, auto&& load) {
        try {
            load();
        } catch (const std::exception& e) {
            throw kubeconfig_error(c.origin + ": " + what + " is not usable PEM: " + e.what());
        }
    };
    if (!c.ca_pem.empty()) {
        try_load("the CA certificate", [&] { ctx.add_certificate_authority(boost::asio::buffer(c.ca_pem)); });
    }
    if (!c.client_cert_pem.empty()) {
        try_load("the client certificate", [&] { ctx.use_certificate_chain(boost::asio::buffer(c.client_cert_pem)); });
        try_load("the client key", [&] {
            ctx.use_private_key(boost::asio::buffer(c.client_key_pem), boost::asio::ssl::context::pem);
        });
    }
}

} // namespace

api_error error_from_reply(const std::string& what, int status, const value& body, const std::string& text) {
    std::string reason, message;
    if (body.is_object() && body.has_string_field("kind") && body.at("kind").as_string() == "Status") {
        if (body.has_string_field("reason")) {
            reason = body.at("reason").as_string();
        }
        if (body.has_string_field("message")) {
            message = body.at("message").as_string();
        }
    }
    if (reason.empty()) {
        reason = status == 404 ? "NotFound" : status == 409 ? "Conflict" : status == 410 ? "Gone"
               : status == 401 ? "Unauthorized" : status == 403 ? "Forbidden" : "HTTP" + std::to_string(status);
    }
    if (message.empty()) {
        message = text.empty() ? "HTTP " + std::to_string(status) : text.substr(0, 500);
    }
    return api_error(status, reason, what + ": " + std::to_string(status) + " " + reason + ": " + message);
}

client::client(connection_config config, std::string field_manager, std::chrono::milliseconds timeout)
  : _config(std::move(config)), _field_manager(std::move(field_manager)) {
    if (_config.server.rfind("https://", 0) != 0 && _config.server.rfind("http://", 0) != 0) {
        throw kubeconfig_error(_config.origin + ": server '" + _config.server + "' is not an http(s) URL");
    }
    check_pem(_config);
    web::uri base;
    try {
        base = web::uri(_config.server);
    } catch (const web::uri_exception& e) {
        throw kubeconfig_error(_config.origin + ": server '" + _config.server + "': " + e.what());
    }
    _http = std::make_unique<http::client::http_client>(base, tls_config(_config, timeout));
    _stream = std::make_unique<http::client::http_client>(
        base, tls_config(_config, std::chrono::duration_cast<std::chrono::milliseconds>(max_watch) +
                                      std::chrono::minutes(1)));
}

std::string client::path(const resource& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
    std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
    if (r.namespaced && !ns.empty()) {
        p += "/namespaces/" + encode(ns);
    }
    p += "/" + r.plural;
    if (!name.empty()) {
        p += "/" + encode(name);
        if (!subresource.empty()) {
            p += "/" + subresource;
        }
    }
    return p;
}

http::http_request client::make_request(const http::method& method, const std::string& path_and_query) const {
    http::http_request req(method);
    req.set_request_uri(path_and_query);
    req.headers().add("Accept", "application/json");
    if (_config.token) {
        req.headers().add("Authorization", "Bearer " + _config.token->get());
    }
    return req;
}

bool client::retry_unauthorized(int status, int attempt) {
    // A token file rotated without its metadata showing it: read it again and retry once.
    if (status == 401 && attempt == 0 && _config.token && !_config.token->file().empty()) {
        _config.token->invalidate();
        return true;
    }
    return false;
}

client::reply client::send(const http::method& method, const std::string& path_and_query, const std::string* body,
                           const std::string& content_type, pplx::cancellation_token cancel) {
    for (int attempt = 0;; ++attempt) {
        auto req = make_request(method, path_and_query);
        if (body != nullptr) {
            req.set_body(*body, content_type);
        }
        reply r;
        try {
            auto resp = _http->request(req, cancel).get();
            r.status = resp.status_code();
            r.text = resp.extract_utf8string(true).get();
        } catch (const std::exception& e) {
            throw std::runtime_error(method + " " + _config.server + path_and_query + ": " + e.what());
        }
        if (retry_unauthorized(r.status, attempt)) {
            continue;
        }
        if (!r.text.empty()) {
            try {
                r.body = value::parse(r.text);
                r.text.clear();
            } catch (const web::json::json_exception&) {
                r.body = value::null();  // not JSON: keep the text for the error message
            }
        }
        return r;
    }
}

value client::write(const http::method& method, const std::string& path_and_query, const value& body,
                    const std::string& content_type) {
    auto text = body.serialize();
    auto r = send(method, path_and_query, &text, content_type);
    if (r.status >= 300) {
        throw error_from_reply(method + " " + path_and_query, r.status, r.body, r.text);
    }
    return r.body;
}

std::optional<value> client::get(const resource& r, const std::string& ns, const std::string& name) {
    auto p = path(r, ns, name);
    auto rep = send(http::methods::GET, p, nullptr, "");
    if (rep.status == 404) {
        return std::nullopt;
    }
    if (rep.status >= 300) {
        throw error_from_reply("GET " + p, rep.status, rep.body, rep.text);
    }
    return with_type(std::move(rep.body), r);
}

client::list_result client::list_with_version(const resource& r, const std::string& ns,
                                              const std::string& label_selector, pplx::cancellation_token cancel) {
    list_result out;
    std::string cont;
    do {
        // Pages of 500, as kubectl and client-go ask: a big list never is one huge answer.
        auto pq = path(r, ns) + "?limit=500";
        if (!label_selector.empty()) {
            pq += "&labelSelector=" + encode(label_selector);
        }
        if (!cont.empty()) {
            pq += "&continue=" + encode(cont);
        }
        auto rep = send(http::methods::GET, pq, nullptr, "", cancel);
        if (rep.status >= 300) {
            throw error_from_reply("GET " + pq, rep.status, rep.body, rep.text);
        }
        if (rep.body.has_array_field("items")) {
            for (const auto& item : rep.body.at("items").as_array()) {
                out.items.push_back(with_type(item, r));
            }
        }
        out.resource_version = field(rep.body, "metadata", "resourceVersion");
        cont = field(rep.body, "metadata", "continue");
    } while (!cont.empty());
    return out;
}

std::vector<value> client::list(const resource& r, const std::string& ns, const std::string& label_selector) {
    return list_with_version(r, ns, label_selector).items;
}

namespace {
// Namespace and name of an object to write; the namespace defaults to the connection's.
std::pair<std::string, std::string> target(const resource& r, const value& obj, const connection_config& c,
                                           const char* op) {
    auto name = field(obj, "metadata", "name");
    if (name.empty()) {
        throw std::invalid_argument(std::string(op) + " " + r.kind + ": the object has no metadata.name");
    }
    auto ns = r.namespaced ? field(obj, "metadata", "namespace") : "";
    if (r.namespaced && ns.empty()) {
        ns = c.default_namespace;
    }
    return {ns, name};
}
} // namespace

value client::apply(const resource& r, const value& obj) {
    auto [ns, name] = target(r, obj, _config, "apply");
    // JSON is YAML, so the object goes as it is; force=true takes over fields another manager
    // set, which is what "the operator owns the fields it sends" means.
    return write(http::methods::PATCH,
                 path(r, ns, name) + "?fieldManager=" + encode(_field_manager) + "&force=true",
                 with_type(obj, r), "application/apply-patch+yaml");
}

value client::create(const resource& r, const value& obj) {
    auto [ns, name] = target(r, obj, _config, "create");
    return write(http::methods::POST, path(r, ns) + "?fieldManager=" + encode(_field_manager), with_type(obj, r),
                 "application/json");
}

value client::replace(const resource& r, const value& obj) {
    auto [ns, name] = target(r, obj, _config, "replace");
    return write(http::methods::PUT, path(r, ns, name) + "?fieldManager=" + encode(_field_manager),
                 with_type(obj, r), "application/json");
}

value client::replace_status(const resource& r, const value& obj) {
    auto [ns, name] = target(r, obj, _config, "replace_status");
    return write(http::methods::PUT, path(r, ns, name, "status") + "?fieldManager=" + encode(_field_manager),
                 with_type(obj, r), "application/json");
}

value client::patch(const resource& r, const std::string& ns, const std::string& name, const value& body,
                    patch_type type) {
    const char* content_type = type == patch_type::merge  ? "application/merge-patch+json"
                             : type == patch_type::json   ? "application/json-patch+json"
                                                          : "application/strategic-merge-patch+json";
    return write(http::methods::PATCH, path(r, ns, name) + "?fieldManager=" + encode(_field_manager), body,
                 content_type);
}

bool client::remove(const resource& r, const std::string& ns, const std::string& name,
                    const std::string& propagation) {
    auto p = path(r, ns, name);
    value opts = value::object();
    opts["apiVersion"] = value::string("v1");
    opts["kind"] = value::string("DeleteOptions");
    opts["propagationPolicy"] = value::string(propagation);
    auto text = opts.serialize();
    auto rep = send(http::methods::DEL, p, &text, "application/json");
    if (rep.status == 404) {
        return false;
    }
    if (rep.status >= 300) {
        throw error_from_reply("DELETE " + p, rep.status, rep.body, rep.text);
    }
    return true;
}

http::http_response client::open_stream(const std::string& path_and_query, pplx::cancellation_token cancel) {
    for (int attempt = 0;; ++attempt) {
        auto req = make_request(http::methods::GET, path_and_query);
        http::http_response resp;
        try {
            resp = _stream->request(req, cancel).get();
        } catch (const std::exception& e) {
            throw std::runtime_error("GET " + _config.server + path_and_query + ": " + e.what());
        }
        if (retry_unauthorized(resp.status_code(), attempt)) {
            continue;
        }
        if (resp.status_code() >= 300) {
            std::string text;
            value body;
            try {
                text = resp.extract_utf8string(true).get();
                body = value::parse(text);
            } catch (const std::exception&) {
                // not JSON: the text is the message
            }
            throw error_from_reply("GET " + path_and_query, resp.status_code(), body, text);
        }
        return resp;
    }
}

} // namespace trib::op::k8s
