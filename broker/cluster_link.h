#pragma once

// The broker's tie to the metadata authority. With `controller.quorum.voters` set it follows
// the coordinators listed there; without, it runs a coordinator inside this process (like
// Kafka's combined mode), so a lone broker works with no other program.
//
// A coordinator client on core 0 registers and heartbeats this broker and long-polls the
// metadata log; every change is applied on the link's own thread: the partitions it touches
// change state on their owner cores (logs opened, leaders and followers made, logs closed
// and deleted), and each core then installs the new snapshot, so a handler never sees a
// partition whose log isn't open. Admin requests are forwarded whole to the
// coordinator and answered once this broker's copy shows the change.
#include "broker/broker_config.h"
#include "broker/cluster_metadata.h"
#include "broker/leader_lease.h"
#include "broker/partition_manager.h"
#include "broker/replication/fetcher_manager.h"
#include "broker/replication/quota.h"
#include "coordinator/client/client.h"
#include "coordinator/clock.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

namespace trib::coordinator {
class service;
}

namespace trib::broker {

class cluster_link {
public:
    cluster_link(const broker_config& cfg, io_pool& pool, metadata_cache& cache, partition_manager& partitions,
                 fetcher_manager& fetchers, replication_quotas& quotas);
    cluster_link(const cluster_link&) = delete;
    cluster_link& operator=(const cluster_link&) = delete;
    ~cluster_link();

    // Starts the embedded coordinator (if any) and the client; returns at once. Throws on a
    // start-up error (the embedded coordinator can't open its log or listen).
    void start();
    void stop();

    // Registered, not fenced, and holding metadata: ready to serve.
    bool ready() const noexcept { return _ready.load(); }

    // SIGTERM: asks the coordinator to move this broker's leaderships to other ISR members
    // (Kafka's controlled shutdown); controlled_shutdown_done() once it has (or there was
    // nothing it could move). From any thread.
    void begin_controlled_shutdown();
    bool controlled_shutdown_done() const noexcept { return _shutdown_granted.load(); }

    // Sends an encoded Kafka admin request (CreateTopics, DeleteTopics, CreatePartitions,
    // AlterConfigs, IncrementalAlterConfigs) to the coordinator from any core.
    asio::awaitable<coordinator::admin_result> admin(int16_t api_key, int16_t api_version, const bytes& body);

    // A producer id unique in the cluster: this node's id in the high bits, a counter in the
    // low 40, reserved in saved blocks so a restart never reuses one.
    int64_t allocate_producer_id();

private:
    // On the apply thread: brings the hosted partitions and every core's metadata copy to `s`.
    // `caught_up`: the coordinator client had reached the coordinator's end when it published `s`.
    void apply(std::shared_ptr<const cluster_snapshot> s, const coordinator::metadata_delta& delta, bool caught_up);
    // On core 0: sends the ISR changes leaders want (AlterPartition).
    asio::awaitable<void> isr_loop();

    const broker_config& _cfg;
    io_pool& _pool;
    metadata_cache& _cache;
    partition_manager& _partitions;
    fetcher_manager& _fetchers;
    replication_quotas& _quotas;  // their bounds follow the dynamic broker configs
    coordinator::steady_clock _clock;
    std::unique_ptr<coordinator::service> _embedded;
    std::shared_ptr<coordinator::coordinator_client> _client;
    asio::io_context _apply_ctx{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> _apply_guard;
    std::thread _apply_thread;
    std::atomic<bool> _ready{false};
    std::atomic<bool> _stopping{false};
    std::atomic<bool> _shutdown_granted{false};
    asio::steady_timer* _isr_timer = nullptr;  // core 0 only
    std::promise<void> _isr_loop_done;
    bool _strays_removed = false;  // apply thread only
    std::shared_ptr<const cluster_snapshot> _applied;  // apply thread only
    leader_lease _lease;  // the partitions check it on every leader request

    std::vector<int> _lock_fds;  // one flock per log directory, for the life of the process
    std::mutex _pid_mu;
    int64_t _next_pid = 0;
    int64_t _pid_block_end = 0;
};

} // namespace trib::broker
