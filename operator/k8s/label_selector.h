#pragma once
// Kubernetes label selectors in their string form ("app=x,tier in (a,b),!legacy"), parsed
// once and matched against objects' labels: the watch cache answers list() with the same
// selector syntax the API server takes.
#include <cpprest/json.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace trib::op::k8s {

class label_selector {
public:
    // Throws std::invalid_argument naming the offending part. "" selects everything.
    explicit label_selector(const std::string& text = "");

    bool matches(const std::map<std::string, std::string>& labels) const;
    // metadata.labels of a Kubernetes object (none: no labels).
    bool matches(const web::json::value& object) const;
    bool empty() const { return _requirements.empty(); }

private:
    struct requirement {
        enum class op { eq, ne, in, notin, exists, not_exists } o;
        std::string key;
        std::vector<std::string> values;
    };
    std::vector<requirement> _requirements;
};

} // namespace trib::op::k8s
