#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package
// does it, so two operator replicas run with one active:
// - a candidate takes the lease when it does not exist (create), when its holder is empty
//   (released), or when the record has not changed for leaseDurationSeconds as this process
//   observed it. Expiry is measured on the local monotonic clock from the moment the record
//   was last seen to change, not from renewTime, so clocks skewed between nodes do not matter
//   (this is why a fresh replica waits one lease duration before taking a lease it finds held);
// - every write is a replace carrying the resourceVersion read just before: of two candidates
//   only one wins, the other gets a Conflict and stays a candidate;
// - the leader renews every retry period; if it has not renewed for the renew deadline (less
//   than the lease duration, so it gives up before anyone else may take over), or it sees
//   another holder, it stops leading;
// - stop() releases a held lease (holder "", leaseDurationSeconds 1), so the other replica
//   takes over at its next retry instead of after a full lease duration.
// holderIdentity, acquireTime, renewTime (MicroTime) and leaseTransitions (+1 on each change
// of holder) are written as client-go writes them, so `kubectl get lease` reads the same.
//
// Callbacks run on the elector's thread (or the caller's, for step() and stop()). After
// stopped_leading the caller must stop writing at once; the operator exits and lets its
// Deployment restart it, as client-go programs do.
#include "operator/k8s/api.h"
#include "operator/k8s/clock.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace trib::op::k8s {

struct leader_election_settings {
    std::string ns{};       // the Lease's namespace
    std::string name{};     // the Lease's name
    std::string identity{}; // this replica (the pod name)
    std::chrono::milliseconds lease_duration{15000};
    std::chrono::milliseconds renew_deadline{10000};
    std::chrono::milliseconds retry_period{2000};
    std::function<void()> started_leading{};
    std::function<void()> stopped_leading{};
};

class leader_elector {
public:
    // Throws std::invalid_argument for settings that cannot work (empty names, or not
    // lease duration > renew deadline > retry period > 0).
    leader_elector(api& kube, leader_election_settings settings, const clock& c = system_clock());
    ~leader_elector();
    leader_elector(const leader_elector&) = delete;
    leader_elector& operator=(const leader_elector&) = delete;

    // Runs step() every retry period on a thread of its own.
    void start();
    // Stops that thread; if leading, releases the lease and calls stopped_leading.
    void stop();
    bool leading() const { return _leading.load(); }

    // One round: try to acquire or renew, then start or stop leading as the result says.
    // API errors count as a failed round (logged). Tests call it with a fake clock.
    void step();
    // Gives the lease up if this replica holds it; errors are logged.
    void release();

private:
    struct record {
        std::string holder;
        int64_t duration_s = 0;
        std::string acquire_time, renew_time;
        int64_t transitions = 0;
        bool operator==(const record&) const = default;
    };
    static record parse(const web::json::value& lease);
    web::json::value spec_of(const record& r) const;
    bool try_acquire_or_renew();
    void set_leading(bool leading);

    api& _kube;
    leader_election_settings _s;
    const clock& _clock;
    std::atomic<bool> _leading{false};

    // What the last round saw; touched only by the thread running step().
    record _observed;
    std::chrono::steady_clock::time_point _observed_at{};
    std::chrono::steady_clock::time_point _renewed_at{};

    std::mutex _mu;
    std::condition_variable _cv;
    bool _stopping = false;
    std::thread _thread;
};

} // namespace trib::op::k8s
