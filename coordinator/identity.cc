#include "coordinator/identity.h"

#include "common/config.h"
#include "storage/file.h"

#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>

namespace trib::coordinator {

protocol::uuid load_directory_id(const std::filesystem::path& dir, int32_t node_id, const std::string& cluster_id) {
    auto path = dir / "meta.properties";
    std::map<std::string, std::string> props;
    if (std::ifstream in(path); in) {
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (auto& [k, v] : config::parse_properties(text, path.string())) {
            props[k] = v;
        }
    }
    if (props.contains("node.id") && props["node.id"] != std::to_string(node_id)) {
        throw std::runtime_error("node.id is " + std::to_string(node_id) + " but " + path.string() +
                                 " belongs to node " + props["node.id"]);
    }
    if (props.contains("cluster.id") && props["cluster.id"] != cluster_id) {
        throw std::runtime_error("cluster.id is " + cluster_id + " but " + path.string() + " belongs to cluster " +
                                 props["cluster.id"]);
    }
    if (props.contains("directory.id")) {
        if (auto u = protocol::uuid::from_string(props["directory.id"]); u && !u->is_zero()) {
            return *u;
        }
        throw std::runtime_error(path.string() + ": directory.id " + props["directory.id"] + " is not a Kafka uuid");
    }
    protocol::uuid u;
    std::random_device rd;
    // Not zero (unknown), and, as Kafka's Uuid.randomUuid, not starting with '-': Kafka's
    // tools would take `--controller-directory-id -...` for an option.
    while (u.is_zero() || u.to_string().starts_with('-')) {
        for (auto& b : u.b) {
            b = uint8_t(rd());
        }
    }
    std::string text = "# Written by tributary-coordinator: this metadata directory's identity (Kafka's layout).\n"
                       "version=1\nnode.id=" +
                       std::to_string(node_id) + "\ncluster.id=" + cluster_id + "\ndirectory.id=" + u.to_string() + "\n";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (auto r = storage::replace_file(dir, "meta.properties", bytes_view(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
        !r) {
        throw std::runtime_error("cannot write " + path.string() + ": " + r.error().message());
    }
    return u;
}

} // namespace trib::coordinator
