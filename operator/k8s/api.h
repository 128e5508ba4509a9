#pragma once
// What the reconcilers need from the Kubernetes API, as an interface: operator/k8s/client.*
// implements it over cpprestsdk against a real API server; unit tests of reconcile steps use
// a small in-memory fake (tests/unit/operator/). Objects are JSON (web::json::value), as the
// API server speaks them: reconcilers build and read the fields they own and pass the rest
// through untouched.
#include <cpprest/json.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trib::op::k8s {

// A kind of object and where its REST paths are.
struct resource {
    std::string group;    // "" for the core group
    std::string version;  // "v1"
    std::string plural;   // "statefulsets"
    std::string kind;     // "StatefulSet"
    bool namespaced = true;

    // "apps/v1", or "v1" for the core group.
    std::string api_version() const { return group.empty() ? version : group + "/" + version; }
};

// The kinds the operator reads or writes (defined in resources.cc).
namespace resources {
extern const resource config_maps, secrets, services, pods, persistent_volume_claims, events, nodes, stateful_sets,
    pod_disruption_budgets, network_policies, leases, kafka_clusters, kafka_users,
    certificates;  // cert-manager.io/v1 (spec.certificateAuthority.certManager)
} // namespace resources

// A failed API call: the HTTP status and the Kubernetes Status reason ("NotFound",
// "Conflict", "AlreadyExists", "Invalid", "Expired", "Gone", "Forbidden"...) and message.
struct api_error : std::runtime_error {
    api_error(int status, std::string reason, const std::string& message)
        : std::runtime_error(message), status(status), reason(std::move(reason)) {}
    int status;
    std::string reason;
    bool conflict() const { return status == 409 && reason == "Conflict"; }
    bool not_found() const { return status == 404; }
};

enum class patch_type { merge, json, strategic };

// Reads and writes. Calls block until the API server answers (or the client's timeout), and
// throw api_error for an error Status or std::runtime_error for transport failures.
// `ns` is ignored for cluster-scoped kinds.
class api {
public:
    virtual ~api() = default;

    // GET one object; nullopt when it does not exist.
    virtual std::optional<web::json::value> get(const resource& r, const std::string& ns,
                                                const std::string& name) = 0;
    // LIST in one namespace ("" = all namespaces) with a label selector ("" = all). Items carry
    // apiVersion and kind.
    virtual std::vector<web::json::value> list(const resource& r, const std::string& ns,
                                               const std::string& label_selector = "") = 0;
    // Server-side apply of `obj` (apiVersion, kind, metadata.name and .namespace set) with the
    // client's field manager and force=true: the operator owns the fields it sends. Returns
    // the object as stored.
    virtual web::json::value apply(const resource& r, const web::json::value& obj) = 0;
    // POST: create `obj`; api_error reason "AlreadyExists" if it exists.
    virtual web::json::value create(const resource& r, const web::json::value& obj) = 0;
    // PUT of the whole object. obj carries metadata.resourceVersion: a stale one throws
    // api_error with conflict() true.
    virtual web::json::value replace(const resource& r, const web::json::value& obj) = 0;
    // PUT of the status subresource. obj carries metadata.resourceVersion: a stale one throws
    // api_error with conflict() true (the caller re-reads and retries).
    virtual web::json::value replace_status(const resource& r, const web::json::value& obj) = 0;
    // PATCH of the object (not its status).
    virtual web::json::value patch(const resource& r, const std::string& ns, const std::string& name,
                                   const web::json::value& body, patch_type type) = 0;
    // DELETE with propagationPolicy ("Background", "Foreground", "Orphan"). False if it was
    // already gone.
    virtual bool remove(const resource& r, const std::string& ns, const std::string& name,
                        const std::string& propagation = "Background") = 0;
};

// Reads from a watch cache (one per kind): what reconcilers use to see the world without a
// request per look. Same shapes as api::get / api::list.
class reader {
public:
    virtual ~reader() = default;
    virtual std::optional<web::json::value> get(const resource& r, const std::string& ns,
                                                const std::string& name) const = 0;
    virtual std::vector<web::json::value> list(const resource& r, const std::string& ns,
                                               const std::string& label_selector = "") const = 0;
};

// Kubernetes Events about an object (core/v1 Event; repeated ones may be counted together).
class event_recorder {
public:
    virtual ~event_recorder() = default;
    // type: "Normal" or "Warning"; reason: CamelCase ("ScalingBlocked"); involved: the object.
    virtual void record(const web::json::value& involved, const std::string& type, const std::string& reason,
                        const std::string& message) = 0;
};

} // namespace trib::op::k8s
