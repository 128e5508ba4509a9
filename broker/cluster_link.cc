#include "broker/cluster_link.h"

#include "broker/metadata_changes.h"
#include "common/listeners.h"
#include "common/log.h"
#include "coordinator/service.h"
#include "coordinator/single_voter_log.h"

#include <boost/asio/co_spawn.hpp>
#include <fmt/ranges.h>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <sys/file.h>
#include <unistd.h>

namespace trib::broker {

using protocol::error_code;

cluster_link::cluster_link(const broker_config& cfg, io_pool& pool, metadata_cache& cache,
                           partition_manager& partitions, fetcher_manager& fetchers, replication_quotas& quotas)
  : _cfg(cfg), _pool(pool), _cache(cache), _partitions(partitions), _fetchers(fetchers), _quotas(quotas) {
    _partitions.set_lease(&_lease);
}

cluster_link::~cluster_link() { stop(); }

namespace {

std::filesystem::path pid_file(const broker_config& cfg) { return cfg.data_dir / "producer-id-block"; }

// Writes `text` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
void write_durably(const std::filesystem::path& path, const std::string& text) {
    auto tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    if (fd >= 0) {
        ::close(fd);
    }
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error("cannot write " + path.string() + ": " + strerror(errno));
    }
    int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

// Takes an exclusive lock on the data directory for the life of the process: two brokers
// on one directory would corrupt each other's logs.
int lock_data_dir(const std::filesystem::path& dir) {
    auto path = dir / ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        throw std::runtime_error("log.dirs " + dir.string() + " is in use by another process (" +
                                 path.string() + " is locked)");
    }
    return fd;
}

// The broker's identity on disk (meta.properties, as Kafka keeps one in each log directory):
// the node id and cluster it was created with and an incarnation id. A restart of the same
// broker on the same data keeps the incarnation, so the coordinator takes it back at once
// instead of waiting out the old lease; another process claiming the node id gets a different
// one and is refused. A directory of another node or cluster refuses start-up (its logs are
// not this broker's); one without the file (new, or added to log.dirs) gets it.
protocol::uuid load_identity(const broker_config& cfg) {
    std::optional<protocol::uuid> incarnation;
    std::vector<std::filesystem::path> missing;
    for (const auto& dir : cfg.log_dirs) {
        auto path = dir / "meta.properties";
        std::map<std::string, std::string> props;
        std::ifstream in(path);
        if (!in) {
            missing.push_back(path);
            continue;
        }
        std::string line;
        while (std::getline(in, line)) {
            if (auto eq = line.find('='); eq != std::string::npos && !line.starts_with("#")) {
                props[line.substr(0, eq)] = line.substr(eq + 1);
            }
        }
        if (props.contains("node.id") && props["node.id"] != std::to_string(cfg.node_id)) {
            throw std::runtime_error("node.id is " + std::to_string(cfg.node_id) + " but " + path.string() +
                                     " belongs to node " + props["node.id"]);
        }
        if (props.contains("cluster.id") && props["cluster.id"] != cfg.cluster_id) {
            throw std::runtime_error("cluster.id is " + cfg.cluster_id + " but " + path.string() +
                                     " belongs to cluster " + props["cluster.id"]);
        }
        if (!incarnation && props.contains("incarnation.id")) {
            incarnation = protocol::uuid::from_string(props["incarnation.id"]);
        }
    }
    if (!incarnation) {
        protocol::uuid u;
        std::random_device rd;
        for (auto& b : u.b) {
            b = uint8_t(rd());
        }
        incarnation = u;
    }
    for (const auto& path : missing) {
        write_durably(path, "# Written by tributary-broker: this directory's broker identity.\nnode.id=" +
                                std::to_string(cfg.node_id) + "\ncluster.id=" + cfg.cluster_id +
                                "\nincarnation.id=" + incarnation->to_string() + "\n");
    }
    return *incarnation;
}

} // namespace

void cluster_link::start() {
    for (const auto& dir : _cfg.log_dirs) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            throw std::runtime_error("log.dirs: cannot create " + dir.string() + ": " + ec.message());
        }
        _lock_fds.push_back(lock_data_dir(dir));
    }
    coordinator::client_config cc;
    cc.incarnation = load_identity(_cfg);
    _partitions.open_dirs();  // finds the partitions in every directory; refuses a partition in two
    cc.cluster_id = _cfg.cluster_id;
    cc.id = node_id(_cfg.node_id);
    cc.rack = _cfg.rack;
    for (const auto& a : _cfg.advertised) {
        cc.listeners.push_back({a.name, a.host, a.port});
    }
    if (_cfg.raw.has("controller.quorum.voters")) {
        for (const auto& v : config::parse_voters(_cfg.raw.get_string("controller.quorum.voters"))) {
            cc.coordinators.push_back({v.host, v.port});
            cc.coordinator_ids.insert(v.id.value());
        }
        cc.security = _cfg.controller;
    } else {
        coordinator::service_config sc;
        sc.controller.cluster_id = _cfg.cluster_id;
        sc.controller.id = node_id(_cfg.node_id);
        sc.controller.num_partitions = _cfg.num_partitions;
        sc.controller.default_replication_factor = _cfg.default_replication_factor;
        sc.controller.unclean_leader_election_enable = _cfg.raw.get_bool("unclean.leader.election.enable");
        sc.controller.auto_leader_rebalance_enable = _cfg.raw.get_bool("auto.leader.rebalance.enable");
        sc.controller.leader_imbalance_check_interval_ms =
            _cfg.raw.get_int64("leader.imbalance.check.interval.seconds") * 1000;
        sc.controller.leader_imbalance_per_broker_percentage =
            _cfg.raw.get_int32("leader.imbalance.per.broker.percentage");
        sc.controller.drain_max_moves = _cfg.raw.get_int32("tributary.drain.max.moves");
        sc.listeners.push_back({"CONTROLLER", "127.0.0.1", 0});
        sc.metadata_dir = _cfg.data_dir / "__cluster_metadata-0";
        sc.open_log = coordinator::single_voter_log::factory(sc.metadata_dir, {});
        _embedded = std::make_unique<coordinator::service>(sc, _clock);
        auto ports = _embedded->start();
        cc.coordinators.push_back({"127.0.0.1", ports.at(0)});
        TLOG_INFO("no controller.quorum.voters: running the coordinator in this process");
    }

    // Producer id blocks continue after the last one reserved.
    if (std::ifstream in(pid_file(_cfg)); in) {
        in >> _pid_block_end;
    }
    _next_pid = _pid_block_end;

    _apply_guard.emplace(_apply_ctx.get_executor());
    _apply_thread = std::thread([this] { _apply_ctx.run(); });

    _client = std::make_shared<coordinator::coordinator_client>(_pool.executor(0), cc);
    _client->on_change([this](std::shared_ptr<const cluster_snapshot> s, const coordinator::metadata_delta& d) {
        // Opening logs waits for every core, core 0 included: do it off the io threads.
        // Whether the client had caught up when it published `s` (not when apply runs: by then
        // it may have, while `s` is still a partial replay).
        bool caught_up = _client->caught_up();
        asio::post(_apply_ctx, [this, s = std::move(s), d, caught_up]() mutable { apply(std::move(s), d, caught_up); });
    });
    _client->on_shutdown_granted([this] { _shutdown_granted = true; });
    _client->on_lease([this](const coordinator::lease& l) { _lease.set(l); });
    _client->start();
    _isr_loop_done = std::promise<void>();
    asio::co_spawn(_pool.executor(0), isr_loop(), [this](std::exception_ptr e) {
        if (e) {  // the loop sets it itself when it ends normally
            log_failed_coroutine(e, "ISR changes");
            _isr_loop_done.set_value();
        }
    });
}

void cluster_link::begin_controlled_shutdown() {
    if (_client) {
        TLOG_INFO("controlled shutdown: asking the coordinator to move this broker's leaderships");
        _client->request_shutdown();
    } else {
        _shutdown_granted = true;
    }
}

// Leaders' ISR changes go to the coordinator as AlterPartition, a few times a second: a
// follower that caught up joins promptly, one that lagged for replica.lag.time.max.ms leaves.
// What the coordinator commits reaches the partitions as metadata; what it refuses (a stale
// partition or leader epoch: the metadata has moved on) is forgotten and judged again.
asio::awaitable<void> cluster_link::isr_loop() {
    auto client = _client;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    _isr_timer = &timer;
    const auto period = std::chrono::milliseconds(250);
    std::string last_failure;
    while (!_stopping) {
        boost::system::error_code ec;
        timer.expires_after(period);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (_stopping) {
            break;
        }
        if (!_ready) {
            continue;  // fenced: the coordinator takes no ISR change from this broker
        }
        auto changes = co_await _partitions.collect_isr_changes(_cfg.replication.lag_time_max_ms);
        if (changes.empty()) {
            continue;
        }
        protocol::alter_partition_request req;
        std::map<protocol::uuid, size_t> topic_at;
        for (const auto& c : changes) {
            auto [it, fresh] = topic_at.emplace(c.topic_id, req.topics.size());
            if (fresh) {
                req.topics.emplace_back().topic_id = c.topic_id;
            }
            auto& pd = req.topics[it->second].partitions.emplace_back();
            pd.partition_index = c.tp.partition;
            pd.leader_epoch = c.epoch.value();
            pd.partition_epoch = c.partition_epoch;
            for (int32_t b : c.isr) {
                auto& m = pd.new_isr_with_epochs.emplace_back();
                m.broker_id = b;
            }
            TLOG_INFO("{}-{}: asking for ISR {}", c.tp.topic, c.tp.partition, fmt::join(c.isr, ","));
        }
        auto r = co_await client->alter_partition(req);
        std::vector<isr_change> refused;
        if (!r || r->error_code != 0) {
            auto why = !r ? r.error().message() : std::string(protocol::error_code_name(error_code(r->error_code)));
            if (why != last_failure) {
                TLOG_WARN("ISR changes not taken by the coordinator: {}", why);
                last_failure = why;
            }
            refused = std::move(changes);
        } else {
            last_failure.clear();
            for (const auto& t : r->topics) {
                for (const auto& p : t.partitions) {
                    for (const auto& c : changes) {
                        if (c.topic_id != t.topic_id || c.tp.partition != p.partition_index) {
                            continue;
                        }
                        if (p.error_code != 0) {
                            TLOG_INFO("{}-{}: ISR change refused: {}", c.tp.topic, c.tp.partition,
                                      protocol::error_code_name(error_code(p.error_code)));
                            refused.push_back(c);
                        } else if (p.partition_epoch <= c.partition_epoch) {
                            // Taken, but nothing was written (the ISR was already so): no
                            // metadata will come to end the change in flight.
                            refused.push_back(c);
                        }
                    }
                }
            }
        }
        if (!refused.empty()) {
            co_await _partitions.forget_isr_changes(refused);
        }
    }
    _isr_timer = nullptr;
    _isr_loop_done.set_value();
}

void cluster_link::apply(std::shared_ptr<const cluster_snapshot> s, const coordinator::metadata_delta& delta,
                         bool caught_up) {
    try {
        auto work = partition_changes(_applied.get(), *s, delta, node_id(_cfg.node_id),
                                      [&](const topic_info& t) {
                                          auto in_force = topic_configs_in_force(*s, _cfg.node_id, t);
                                          replica_config rc;
                                          rc.log = topic_log_config(_cfg, in_force);
                                          rc.min_insync_replicas = _cfg.min_insync_replicas;
                                          if (auto it = in_force.find("min.insync.replicas"); it != in_force.end()) {
                                              rc.min_insync_replicas = std::stoi(it->second);
                                          }
                                          // Validated by the coordinator; a bad one throttles nothing.
                                          auto list = [&in_force](const char* key) {
                                              auto it = in_force.find(key);
                                              auto parsed = it == in_force.end()
                                                                ? std::nullopt
                                                                : coordinator::parse_throttled_replicas(it->second);
                                              return parsed.value_or(coordinator::throttled_replicas{});
                                          };
                                          rc.leader_throttled = list("leader.replication.throttled.replicas");
                                          rc.follower_throttled = list("follower.replication.throttled.replicas");
                                          return rc;
                                      });
        _quotas.set_bounds(replication_throttle_rate(_cfg, *s, "leader.replication.throttled.rate"),
                           replication_throttle_rate(_cfg, *s, "follower.replication.throttled.rate"));
        _partitions.set_move_rate(log_dir_move_rate(_cfg, *s));
        _partitions.apply(work, [this, &s](size_t core) { _cache.install(core, s); });
        _fetchers.update(work, *s);
        _applied = s;
        _lease.applied(s->version);
    } catch (const std::exception& e) {
        TLOG_ERROR("applying metadata version {} failed: {}", s->version, e.what());
        _applied.reset();  // the next change is compared with nothing: everything is applied again
    }
    // Unfenced in a snapshot of a partial replay is not enough: that may be this broker's
    // record from before a restart (same incarnation), with topics created since still missing.
    auto self = s->brokers.find(_cfg.node_id);
    bool ready = self != s->brokers.end() && !self->second.fenced && caught_up;
    if (ready != _ready.load()) {
        TLOG_INFO("broker {} {}", _cfg.node_id, ready ? "is ready: registered and unfenced" : "is not ready (fenced)");
    }
    if (ready && !_strays_removed) {
        // Caught up with the coordinator's log (and unfenced), so the snapshot knows every
        // topic that existed while this broker was away.
        _partitions.remove_strays(*s);
        _strays_removed = true;
    }
    _ready = ready;
}

void cluster_link::stop() {
    if (_client) {
        _stopping = true;
        asio::post(_pool.executor(0), [this] {
            if (_isr_timer) {
                _isr_timer->cancel();
            }
        });
        // The loop ends at its next step; an AlterPartition in flight ends by its deadline.
        _isr_loop_done.get_future().wait_for(std::chrono::seconds(15));
        _client->stop();
        _client.reset();
    }
    _apply_guard.reset();
    if (_apply_thread.joinable()) {
        _apply_thread.join();
    }
    if (_embedded) {
        _embedded->stop();
        _embedded.reset();
    }
    for (int fd : _lock_fds) {
        ::close(fd);
    }
    _lock_fds.clear();
}

asio::awaitable<coordinator::admin_result> cluster_link::admin(int16_t api_key, int16_t api_version,
                                                             const bytes& body) {
    struct call {
        int16_t key;
        int16_t version;
        bytes body;
        coordinator::admin_result result;
    };
    auto c = std::make_shared<call>(call{api_key, api_version, body, {}});
    auto client = _client;
    // The client lives on core 0: run the call there. Named, not a temporary in the co_await
    // (see broker/README.md on g++ 12).
    auto on_core0 = [client, c]() -> asio::awaitable<void> {
        c->result = co_await client->admin(c->key, c->version, c->body);
    };
    co_await asio::co_spawn(_pool.executor(0), std::move(on_core0), asio::use_awaitable);
    // The client's image has the change; wait until the snapshot built from it is published
    // (the apply thread opens logs first), so the client's next request sees it here.
    if (c->result.error == protocol::error_code::none) {
        asio::steady_timer t(co_await asio::this_coro::executor);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (_cache.get()->version < c->result.commit.value() && std::chrono::steady_clock::now() < deadline) {
            boost::system::error_code ec;
            t.expires_after(std::chrono::milliseconds(1));
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    co_return std::move(c->result);
}

int64_t cluster_link::allocate_producer_id() {
    constexpr int64_t block = 1000;
    std::lock_guard lk(_pid_mu);
    if (_next_pid >= _pid_block_end) {
        _pid_block_end = _next_pid + block;
        write_durably(pid_file(_cfg), std::to_string(_pid_block_end) + "\n");
    }
    return (int64_t(_cfg.node_id) << 40) | _next_pid++;
}

} // namespace trib::broker
