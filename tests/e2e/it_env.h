#pragma once
// What the *_it.cc GoogleTest binaries get from the pytest file that runs them
// (tests/e2e/gtest_it.py): KUBECONFIG (the control plane's admin) and TRIB_IT_NAMESPACE (a
// fresh namespace), plus per-binary extras.
#include "operator/k8s/client.h"
#include "operator/k8s/kubeconfig.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace trib::op::it {

// The variable's value; throws when it is unset or empty (the binary was run by hand).
inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        throw std::runtime_error(std::string(name) + " is not set (run this through its pytest file in tests/e2e)");
    }
    return v;
}

inline std::string test_namespace() { return env("TRIB_IT_NAMESPACE"); }

// A client as the cluster admin, with the operator's field manager.
inline k8s::client admin() { return k8s::client(k8s::load_kubeconfig(env("KUBECONFIG")), "tributary-operator"); }

} // namespace trib::op::it
