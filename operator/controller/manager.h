#pragma once
// The running controller (controller-runtime's manager, for one kind): watch caches of the
// KafkaClusters and of what they own, a work queue keyed "namespace/name", and workers that
// run reconcile passes. Events on an owned object (Secrets too, watched for their metadata
// alone) queue the KafkaCluster named by its app.kubernetes.io/instance label; every resync
// period every KafkaCluster is queued again.
// A failed pass (an exception) is retried with the queue's per-key back-off; a pass that asks
// to look again later is queued after that delay.
//
// KafkaUsers (user_reconciler.h) have their own cache, queue and worker, so a user's pass never
// waits behind a cluster's (a roll, a rebalance) nor the other way round. Any event of a
// KafkaCluster queues the users labelled with it (they wait for its brokers and its clients
// CA); the resync queues every user too. The KafkaUser cache is not one synced() waits for (a
// cluster without the KafkaUser CRD runs KafkaClusters as before).
//
// Only the replica holding the leader lease runs a manager (main.cc).
#include "operator/controller/reconciler.h"
#include "operator/k8s/client.h"
#include "operator/k8s/informer.h"
#include "operator/k8s/work_queue.h"
#include "operator/metrics/cluster_poller.h"
#include "operator/metrics/kafka_reader.h"
#include "operator/metrics/operator_metrics.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace trib::op::controller {

struct manager_options {
    operator_settings settings;
    std::string watch_namespace;  // "" = all namespaces
    std::chrono::milliseconds resync_period{300000};
    int workers = 2;
    // Reads of the cluster through the Kafka protocol, for status (cluster id, registered
    // brokers); kept short so a pass never waits long on an unreachable cluster.
    metrics::read_options probe{.timeout = std::chrono::milliseconds(5000),
                                .connect_timeout = std::chrono::milliseconds(2000)};
};

class manager {
public:
    // The kinds the reconcile pass may read through its cache (e.cache): those the manager
    // keeps watch caches of. Anything else must be read with a GET (the cache throws).
    static std::vector<const k8s::resource*> cached_kinds();

    manager(k8s::client& kube, k8s::event_recorder& events, metrics::operator_metrics& om,
            metrics::cluster_poller& poller, manager_options options);
    ~manager();
    manager(const manager&) = delete;
    manager& operator=(const manager&) = delete;

    // Starts the caches and, once every cache has its first LIST, the workers. Returns at once.
    void start();
    // Stops the workers (after their current pass), then the caches.
    void stop();
    // True once every cache has synced (what /readyz waits for on the leader).
    bool synced() const;

private:
    void run_worker();
    void run_user_worker();
    void enqueue_users_of(const web::json::value& cluster);
    void run_resync();
    void enqueue_owner(const web::json::value& obj);
    void enqueue_all();
    void after_pass(const std::string& ns, const std::string& name, const std::string& bootstrap);

    k8s::client& _kube;
    k8s::event_recorder& _events;
    metrics::operator_metrics& _metrics;
    metrics::cluster_poller& _poller;
    // The operator's TLS towards each cluster's internal listeners, shared by the workers
    // (the reconcile passes record it) and the poller (kafka/security.h).
    kafka::tls_registry _tls;
    manager_options _opts;

    std::vector<std::unique_ptr<k8s::informer>> _informers;
    k8s::informer* _clusters = nullptr;
    k8s::informer* _users = nullptr;
    k8s::informer_reader _cache;
    k8s::work_queue _queue;
    k8s::work_queue _user_queue;  // KafkaUsers' "namespace/name"

    std::mutex _mu;  // for _stopping and the resync thread's wait
    std::condition_variable _cv;
    bool _stopping = false;
    std::thread _starter;  // waits for the caches, then starts workers and resync
    std::vector<std::thread> _workers;  // KafkaClusters' workers, then the KafkaUsers' one
    std::thread _resync;
};

} // namespace trib::op::controller
