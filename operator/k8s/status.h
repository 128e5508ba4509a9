#pragma once
// Writing an object's status through the status subresource, and its conditions.
//
// update_status reads the object (GET), lets `mutate` change a copy's "status", and writes it
// with replace_status carrying the resourceVersion read; on a Conflict (someone wrote the
// object in between: a spec change, kubectl scale, another writer) it reads again and re-runs
// `mutate` on the fresh object, at most `attempts` times. When the mutation leaves the status
// as it was, nothing is written: no new resourceVersion, so no watch event that would make the
// controller reconcile again for nothing. `mutate` may run several times, so it must only
// compute from the object it is given. Changes it makes outside "status" are not written.
#include "operator/k8s/api.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace trib::op::k8s {

// The object as stored after the write (or as read, when nothing needed writing); nullopt if
// it does not exist (deleted meanwhile). Throws api_error: the Conflict after the last attempt,
// or any other error at once.
std::optional<web::json::value> update_status(api& kube, const resource& r, const std::string& ns,
                                              const std::string& name,
                                              const std::function<void(web::json::value& obj)>& mutate,
                                              int attempts = 5);

// Sets the condition of `type` in status.conditions (metav1.Condition shape: type, status,
// reason, message, observedGeneration, lastTransitionTime), adding it if missing.
// lastTransitionTime becomes `now` only when the condition's status changes, so it says when
// the cluster became (not) Ready rather than when it was last looked at. True if anything
// changed.
bool set_condition(web::json::value& status, const std::string& type, const std::string& condition_status,
                   const std::string& reason, const std::string& message, int64_t observed_generation,
                   std::chrono::system_clock::time_point now);

// The condition of `type` in status.conditions, if there is one.
std::optional<web::json::value> find_condition(const web::json::value& status, const std::string& type);

} // namespace trib::op::k8s
