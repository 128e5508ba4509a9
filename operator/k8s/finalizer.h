#pragma once
// Adding and removing a finalizer on an object without ever dropping another controller's
// entry: a JSON patch whose first op tests the finalizers as they were read (the whole list
// when adding, the entry at our index when removing), the shape of kube-rs's
// runtime/src/finalizer.rs. If the list changed since the read the API server rejects the
// patch (422 Invalid, the failed test); the caller re-reads and tries again (requeue).
// stale_finalizers(e) tells that case, and a Conflict, from real errors.
#include "operator/k8s/api.h"

#include <string>

namespace trib::op::k8s {

bool has_finalizer(const web::json::value& obj, const std::string& finalizer);

// `obj` as last read. Returns the object as patched, or obj unchanged when the finalizer is
// already there or the object is being deleted (the API server refuses new finalizers then).
web::json::value add_finalizer(api& kube, const resource& r, const web::json::value& obj,
                               const std::string& finalizer);

// Returns the object as patched, or obj unchanged when the finalizer is not there. When it
// was the last finalizer of an object being deleted, the object goes away.
web::json::value remove_finalizer(api& kube, const resource& r, const web::json::value& obj,
                                  const std::string& finalizer);

// True when the patch failed because the object changed since it was read.
bool stale_finalizers(const api_error& e);

} // namespace trib::op::k8s
