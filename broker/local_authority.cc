#include "broker/local_authority.h"

#include "common/log.h"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace trib::broker {

using protocol::error_code;

std::optional<std::string> invalid_topic_name(std::string_view name) {
    if (name.empty()) {
        return "topic name is empty";
    }
    if (name == "." || name == "..") {
        return "topic name cannot be '.' or '..'";
    }
    if (name.size() > 249) {
        return "topic name is longer than 249 characters";
    }
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
            return "topic name may contain only ASCII letters, digits, '.', '_' and '-'";
        }
    }
    return std::nullopt;
}

local_authority::local_authority(const broker_config& cfg, metadata_cache& cache, partition_manager& partitions)
  : _cfg(cfg), _cache(cache), _partitions(partitions), _ctx(1) {}

local_authority::~local_authority() { stop(); }

namespace {
std::filesystem::path state_file(const broker_config& cfg) { return cfg.data_dir / "cluster-metadata.yaml"; }

protocol::uuid random_uuid() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    protocol::uuid u;
    for (size_t i = 0; i < 16; i += 8) {
        uint64_t v = rng();
        std::memcpy(u.b.data() + i, &v, 8);
    }
    u.b[6] = uint8_t((u.b[6] & 0x0f) | 0x40);  // version 4
    u.b[8] = uint8_t((u.b[8] & 0x3f) | 0x80);
    return u;
}

std::string uuid_hex(const protocol::uuid& u) {
    std::string s;
    for (auto b : u.b) {
        s += fmt::format("{:02x}", b);
    }
    return s;
}

protocol::uuid uuid_from_hex(const std::string& s) {
    protocol::uuid u;
    for (size_t i = 0; i < 16 && 2 * i + 1 < s.size(); ++i) {
        u.b[i] = uint8_t(std::stoi(s.substr(2 * i, 2), nullptr, 16));
    }
    return u;
}

partition_info single_replica(int32_t index, int32_t self) {
    partition_info p;
    p.id = partition_id(index);
    p.leader = node_id(self);
    p.replicas = {self};
    p.isr = {self};
    return p;
}
} // namespace

void local_authority::load() {
    auto s = std::make_shared<cluster_snapshot>();
    s->cluster_id = _cfg.cluster_id;
    s->controller = node_id(_cfg.node_id);
    broker_info self;
    self.id = node_id(_cfg.node_id);
    self.rack = _cfg.rack;
    for (const auto& a : _cfg.advertised) {
        self.endpoints.push_back({a.name, a.host, a.port});
    }
    s->brokers.emplace(_cfg.node_id, self);

    auto path = state_file(_cfg);
    if (std::filesystem::exists(path)) {
        auto root = YAML::LoadFile(path.string());
        for (const auto& t : root["topics"]) {
            topic_info ti;
            ti.name = t["name"].as<std::string>();
            ti.id = uuid_from_hex(t["id"].as<std::string>());
            int32_t n = t["partitions"].as<int32_t>();
            for (int32_t i = 0; i < n; ++i) {
                ti.partitions.push_back(single_replica(i, _cfg.node_id));
            }
            if (t["configs"]) {
                for (const auto& kv : t["configs"]) {
                    ti.configs[kv.first.as<std::string>()] = kv.second.as<std::string>();
                }
            }
            s->topics.emplace(ti.name, std::move(ti));
        }
        s->version = root["version"].as<int64_t>(0);
        _producer_id_block_end = root["producer_id_block_end"].as<int64_t>(0);
        _next_producer_id = _producer_id_block_end;
    }
    commit(s);
}

void local_authority::save(const cluster_snapshot& s) {
    YAML::Emitter out;
    out << YAML::BeginMap << YAML::Key << "version" << YAML::Value << s.version;
    out << YAML::Key << "producer_id_block_end" << YAML::Value << _producer_id_block_end;
    out << YAML::Key << "topics" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, t] : s.topics) {
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name;
        out << YAML::Key << "id" << YAML::Value << uuid_hex(t.id);
        out << YAML::Key << "partitions" << YAML::Value << t.partitions.size();
        out << YAML::Key << "configs" << YAML::Value << YAML::BeginMap;
        for (const auto& [k, v] : t.configs) {
            out << YAML::Key << k << YAML::Value << v;
        }
        out << YAML::EndMap << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;

    auto path = state_file(_cfg);
    auto tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        throw std::runtime_error("cannot write " + tmp.string() + ": " + strerror(errno));
    }
    std::string_view text(out.c_str(), out.size());
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error("cannot write " + path.string() + ": " + strerror(errno));
    }
    int dfd = ::open(_cfg.data_dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void local_authority::commit(std::shared_ptr<cluster_snapshot> next) {
    _partitions.apply(*next, _cfg.node_id,
                      [this](const topic_info& t) { return topic_log_config(_cfg, t.configs); });
    _cache.publish(std::move(next));
}

void local_authority::start() {
    std::filesystem::create_directories(_cfg.data_dir);
    load();
    _guard.emplace(_ctx.get_executor());
    _thread = std::thread([this] { _ctx.run(); });
}

void local_authority::stop() {
    _guard.reset();
    if (_thread.joinable()) {
        _thread.join();
    }
}

template<typename F>
asio::awaitable<admin_outcome> local_authority::run(F f) {
    // Not a coroutine itself: g++ 12 miscopies by-value coroutine parameters holding short
    // strings, so the function object goes straight into run_on's handler.
    return run_on(_ctx.get_executor(), [f = std::move(f)]() mutable -> admin_outcome {
        try {
            return f();
        } catch (const std::exception& e) {
            TLOG_ERROR("metadata change failed: {}", e.what());
            return admin_outcome{error_code::unknown_server_error, e.what()};
        }
    });
}

admin_outcome local_authority::do_create(const new_topic& t, bool validate_only) {
    auto cur = _cache.get();
    if (auto why = invalid_topic_name(t.name)) {
        return {error_code::invalid_topic_exception, *why};
    }
    if (cur->topic(t.name)) {
        return {error_code::topic_already_exists, "Topic '" + t.name + "' already exists."};
    }
    int32_t n = t.partitions == -1 ? _cfg.num_partitions : t.partitions;
    if (n <= 0) {
        return {error_code::invalid_partitions, "Number of partitions must be larger than 0."};
    }
    int16_t rf = t.replication_factor == -1 ? _cfg.default_replication_factor : t.replication_factor;
    if (rf <= 0) {
        return {error_code::invalid_replication_factor, "Replication factor must be larger than 0."};
    }
    if (size_t(rf) > cur->brokers.size()) {
        return {error_code::invalid_replication_factor,
                fmt::format("Replication factor: {} larger than available brokers: {}.", rf, cur->brokers.size())};
    }
    for (const auto& [k, v] : t.configs) {
        if (auto why = validate_topic_config(k, v)) {
            return {error_code::invalid_config, *why};
        }
    }
    if (validate_only) {
        return {};
    }
    auto next = std::make_shared<cluster_snapshot>(*cur);
    topic_info ti;
    ti.name = t.name;
    ti.id = random_uuid();
    ti.configs = t.configs;
    for (int32_t i = 0; i < n; ++i) {
        ti.partitions.push_back(single_replica(i, _cfg.node_id));
    }
    next->topics.emplace(t.name, std::move(ti));
    ++next->version;
    save(*next);
    commit(next);
    TLOG_INFO("created topic {} with {} partitions", t.name, n);
    return {};
}

asio::awaitable<admin_outcome> local_authority::create_topic(const new_topic& t, bool validate_only) {
    return run([this, t, validate_only] { return do_create(t, validate_only); });
}

asio::awaitable<admin_outcome> local_authority::alter_topic_configs(const std::string& name,
                                                                    const config_changes& changes,
                                                                    bool replace_all, bool validate_only) {
    return run([this, name, changes, replace_all, validate_only]() -> admin_outcome {
        auto cur = _cache.get();
        const auto* t = cur->topic(name);
        if (!t) {
            return {error_code::unknown_topic_or_partition, "Topic '" + name + "' does not exist."};
        }
        auto configs = replace_all ? std::map<std::string, std::string>{} : t->configs;
        for (const auto& [k, v] : changes) {
            if (!v) {
                if (!topic_config_keys().contains(k)) {
                    return {error_code::invalid_config, "unknown topic config " + k};
                }
                configs.erase(k);
                continue;
            }
            if (auto why = validate_topic_config(k, *v)) {
                return {error_code::invalid_config, *why};
            }
            configs[k] = *v;
        }
        if (validate_only) {
            return {};
        }
        auto next = std::make_shared<cluster_snapshot>(*cur);
        next->topics.at(name).configs = std::move(configs);
        ++next->version;
        save(*next);
        commit(next);
        TLOG_INFO("changed configs of topic {}", name);
        return {};
    });
}

asio::awaitable<int64_t> local_authority::allocate_producer_id() {
    return run_on(_ctx.get_executor(), [this]() -> int64_t {
        constexpr int64_t block = 1000;
        if (_next_producer_id >= _producer_id_block_end) {
            _producer_id_block_end = _next_producer_id + block;
            save(*_cache.get());
        }
        return _next_producer_id++;
    });
}

asio::awaitable<admin_outcome> local_authority::delete_topic(const std::string& name) {
    return run([this, name]() -> admin_outcome {
        auto cur = _cache.get();
        if (!cur->topic(name)) {
            return {error_code::unknown_topic_or_partition, "This server does not host this topic."};
        }
        auto next = std::make_shared<cluster_snapshot>(*cur);
        next->topics.erase(name);
        ++next->version;
        save(*next);
        commit(next);
        TLOG_INFO("deleted topic {}", name);
        return {};
    });
}

asio::awaitable<admin_outcome> local_authority::create_partitions(const std::string& name, int32_t count,
                                                                  bool validate_only) {
    return run([this, name, count, validate_only]() -> admin_outcome {
        auto cur = _cache.get();
        const auto* t = cur->topic(name);
        if (!t) {
            return {error_code::unknown_topic_or_partition, "This server does not host this topic."};
        }
        if (count <= int32_t(t->partitions.size())) {
            return {error_code::invalid_partitions,
                    fmt::format("Topic currently has {} partitions, which is higher than the requested {}.",
                                t->partitions.size(), count)};
        }
        if (validate_only) {
            return {};
        }
        auto next = std::make_shared<cluster_snapshot>(*cur);
        auto& nt = next->topics.at(name);
        for (auto i = int32_t(nt.partitions.size()); i < count; ++i) {
            nt.partitions.push_back(single_replica(i, _cfg.node_id));
        }
        ++next->version;
        save(*next);
        commit(next);
        return {};
    });
}

} // namespace trib::broker
