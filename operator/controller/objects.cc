#include "operator/controller/objects.h"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace trib::op::controller {

std::string build_context::image() const {
    const auto& s = cluster.spec;
    if (s.image) {
        return *s.image;
    }
    if (!s.version) {
        return settings.broker_image;
    }
    // The repository is broker.image without its tag or digest: a ':' after the last '/'
    // starts the tag (a ':' before it is a registry port).
    std::string repo = settings.broker_image;
    if (auto at = repo.find('@'); at != std::string::npos) {
        repo.resize(at);
    }
    auto slash = repo.rfind('/');
    auto colon = repo.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        repo.resize(colon);
    }
    return repo + ":" + *s.version;
}

std::string to_string(component c) { return c == component::broker ? "broker" : "coordinator"; }

std::string stateful_set_name(const std::string& cluster, component c) { return cluster + "-" + to_string(c); }
std::string headless_service_name(const std::string& cluster, component c) { return stateful_set_name(cluster, c); }
std::string config_map_name(const std::string& cluster, component c) {
    return stateful_set_name(cluster, c) + "-config";
}
std::string bootstrap_service_name(const std::string& cluster) { return cluster + "-bootstrap"; }
std::string pod_name(const std::string& cluster, component c, int32_t ordinal) {
    return stateful_set_name(cluster, c) + "-" + std::to_string(ordinal);
}
std::string per_broker_service_name(const std::string& cluster, int32_t id, const std::string& listener) {
    return cluster + "-broker-" + std::to_string(id) + "-" + listener;
}
std::string pod_file_key(const std::string& cluster, component c, int32_t ordinal) {
    return pod_name(cluster, c, ordinal) + ".properties";
}
std::string pod_dns_name(const build_context& ctx, component c, int32_t ordinal) {
    return pod_name(ctx.name(), c, ordinal) + "." + headless_service_name(ctx.name(), c) + "." + ctx.ns() + ".svc." +
           ctx.settings.cluster_domain;
}

int32_t broker_id(int32_t ordinal) { return ordinal; }
int32_t coordinator_id(int32_t ordinal) { return coordinator_id_base + ordinal; }

json selector_labels(const build_context& ctx, component c) {
    return obj({{"app.kubernetes.io/name", str("tributary")},
                {"app.kubernetes.io/instance", str(ctx.name())},
                {"app.kubernetes.io/component", str(to_string(c))}});
}

std::string selector_string(const build_context& ctx, component c) {
    return "app.kubernetes.io/name=tributary,app.kubernetes.io/instance=" + ctx.name() +
           ",app.kubernetes.io/component=" + to_string(c);
}

json labels(const build_context& ctx, component c) {
    json l = selector_labels(ctx, c);
    l["app.kubernetes.io/managed-by"] = str("tributary-operator");
    return l;
}

json owner_reference(const api::kafka_cluster& cluster) {
    return obj({{"apiVersion", str("tributary.io/v1alpha1")},
                {"kind", str("KafkaCluster")},
                {"name", str(cluster.name)},
                {"uid", str(cluster.uid)},
                {"controller", json::boolean(true)},
                {"blockOwnerDeletion", json::boolean(true)}});
}

json object_meta(const build_context& ctx, component c, const std::string& name) {
    return obj({{"name", str(name)},
                {"namespace", str(ctx.ns())},
                {"labels", labels(ctx, c)},
                {"ownerReferences", arr({owner_reference(ctx.cluster)})}});
}

namespace {

std::array<unsigned char, 32> sha256(const std::string& text) {
    std::array<unsigned char, 32> out{};
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
    return out;
}

} // namespace

std::string cluster_id(const std::string& ns, const std::string& name) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto d = sha256("tributary.io/KafkaCluster/" + ns + "/" + name);
    // 16 bytes (a UUID's worth) as unpadded base64url: 22 characters.
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 16; ++i) {
        acc = (acc << 8) | d[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out += alphabet[(acc << (6 - bits)) & 63];
    }
    return out;
}

std::string data_hash(const json& data) {
    std::string text;
    if (data.is_object()) {
        for (const auto& [k, v] : data.as_object()) {  // sorted: objects are built without keep_order
            text += k + "\n" + (v.is_string() ? v.as_string() : v.serialize()) + "\n";
        }
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : sha256(text)) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

json obj(std::initializer_list<std::pair<std::string, json>> fields) {
    json o = json::object();
    for (const auto& [k, v] : fields) {
        o[k] = v;
    }
    return o;
}

json arr(std::vector<json> items) { return json::array(std::move(items)); }
json str(const std::string& s) { return json::string(s); }
json num(int64_t n) { return json::number(n); }

const json* field_at(const json& o, std::initializer_list<const char*> path) {
    const json* cur = &o;
    for (const char* k : path) {
        if (!cur->is_object() || !cur->has_field(k)) {
            return nullptr;
        }
        cur = &cur->at(k);
    }
    return cur;
}

std::string string_at(const json& o, std::initializer_list<const char*> path, const std::string& fallback) {
    const json* v = field_at(o, path);
    return v != nullptr && v->is_string() ? v->as_string() : fallback;
}

int64_t int_at(const json& o, std::initializer_list<const char*> path, int64_t fallback) {
    const json* v = field_at(o, path);
    return v != nullptr && v->is_integer() ? v->as_number().to_int64() : fallback;
}

} // namespace trib::op::controller
