#pragma once

// Reads every tracked cluster through the Kafka protocol every `period`, on a thread of its
// own, and publishes what it reads with cluster_metrics: a reconcile pass only says which
// clusters to read (track / forget) and never waits on a broker.
//
// A read that fails removes the cluster's kafka_* series (stale offsets would show an
// unreachable cluster as idle and healthy) and sets
// tributary_operator_cluster_reachable{namespace,kafkacluster} to 0; last_error() says why.
// A read that stands despite partial failures (a broker, a partition, a consumer group that
// could not be read: kafka_reader.h) logs each new one once, at warning level; and a change
// in the count of commits above their partition's end (lag shown as 0) is logged.
#include "operator/metrics/cluster_metrics.h"
#include "operator/metrics/kafka_reader.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace trib::op::metrics {

class cluster_poller {
public:
    cluster_poller(cluster_metrics& metrics, std::chrono::milliseconds period, read_options options = {});
    cluster_poller(const cluster_poller&) = delete;
    cluster_poller& operator=(const cluster_poller&) = delete;
    ~cluster_poller();

    // Reads ns/name through `bootstrap` ("host:port,...") from now on; a new cluster or a new
    // bootstrap list is read at once, not a period later. Cheap: call it every reconcile.
    // `tls`: the operator's TLS towards the cluster's internal listeners (kafka/security.h;
    // null: plaintext), used from the next read.
    void track(const std::string& ns, const std::string& name, const std::string& bootstrap,
               std::shared_ptr<net::tls_source> tls = nullptr);
    // Stops reading ns/name and removes its series (cluster deleted, or metrics disabled).
    void forget(const std::string& ns, const std::string& name);

    // forget() for every tracked cluster: a replica that stops leading publishes nothing stale.
    void forget_all();

    // Runs the polling thread until stop() (or destruction).
    void start();
    void stop();

    // Reads every tracked cluster now, on the calling thread (what the thread does each period).
    void poll_once();
    // Why the last read of ns/name failed; "" after a success, before the first read, or for
    // a cluster not tracked.
    std::string last_error(const std::string& ns, const std::string& name) const;

private:
    using key = std::pair<std::string, std::string>;
    struct tracked {
        std::string bootstrap;
        std::shared_ptr<net::tls_source> tls;
        std::string last_error;
        bool read = false;  // read at least once with this bootstrap
        std::vector<std::string> problems;  // of the last read, logged when new
        size_t inverted = 0;                // commits above the end in the last read
        timestamp_cache timestamps;         // the last read's, so the next fetches only new ones
    };
    void run();

    cluster_metrics& _metrics;
    const std::chrono::milliseconds _period;
    const read_options _options;
    mutable std::mutex _mutex;
    std::condition_variable _wake;
    std::map<key, tracked> _clusters;
    bool _stopping = false;
    bool _pending = false;  // a cluster waits for its first read
    std::thread _thread;
};

} // namespace trib::op::metrics
