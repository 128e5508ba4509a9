#pragma once

// The coordinator client: what a broker (or any other program) links to follow and change
// cluster metadata.
//
//   auto c = std::make_shared<coordinator_client>(executor, cfg);
//   c->on_update([](std::shared_ptr<const cluster_snapshot> s) { cache.publish(s); });
//   c->start();
//   ...
//   auto reply = co_await c->admin(create_topics_request::api_key, 7, body);  // on `executor`
//
// Two loops run on the executor given at construction:
//   - registration: registers the broker (node id, incarnation, listeners, rack) and
//     heartbeats every heartbeat interval with the metadata offset it has applied; fenced()
//     tells what the coordinator answered. A STALE_BROKER_EPOCH answer re-registers; a
//     DUPLICATE_BROKER_REGISTRATION is logged and retried until the old lease runs out.
//   - metadata: long-polls CoordinatorFetchMetadata from image().next_offset(), applies the
//     batches (or a snapshot first, when the coordinator has truncated its log) to a local
//     metadata_image, and publishes a new cluster_snapshot after every change.
// admin() sends a Kafka admin request in a CoordinatorAdmin envelope and returns the Kafka
// response once the local image has reached the offset that commits the change, so a
// broker answering its client afterwards already shows the change in Metadata.
// Leadership lease: a broker may act as a partition leader only while the coordinator
// cannot have fenced it. A heartbeat the coordinator answered unfenced, sent at time t,
// holds until t + its lease (the coordinator's own deadline, counted from when it received
// the heartbeat, is no earlier). When the lease ran out before the next answer came (cut off,
// paused, a coordinator too slow to answer), the coordinator may have fenced this broker and
// moved its leaderships meanwhile: the new lease then also needs this broker's metadata to
// have reached what the coordinator had committed when it answered (lease::from_offset), so
// that any such move is known here before it leads again. on_lease() reports each change.
// alter_partition() sends a partition leader's AlterPartition (v3) on the control channel,
// taking turns with the heartbeats. request_shutdown() starts a controlled shutdown: the
// heartbeats ask for it until the coordinator answers ShouldShutDown (shutdown_granted(),
// wait_for_shutdown(), on_shutdown_granted()).
//
// Everything except start()/stop() must be called on the client's executor.
#include "common/listeners.h"
#include "common/runtime.h"
#include "coordinator/client/cluster_snapshot.h"
#include "coordinator/client/metadata_delta.h"
#include "coordinator/client/metadata_image.h"
#include "coordinator/client/rpc.h"
#include "net/client_security.h"
#include "protocol/error_code.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trib::coordinator {

struct client_config {
    std::vector<config::host_port> coordinators;  // controller.quorum.voters
    // Their ids: the quorum's own address for one of these is not used, the configured one
    // is (it may be a name or a proxy the coordinators don't know of). Others the quorum
    // names (voters added since) are learned (learn_voters).
    std::set<int32_t> coordinator_ids;
    std::string cluster_id;
    node_id id{-1};
    protocol::uuid incarnation;                    // zero: a random one
    std::vector<endpoint> listeners;               // advertised
    std::optional<std::string> rack;
    bool register_broker = true;                   // false: follow metadata only
    std::chrono::milliseconds request_timeout{10000};
    std::chrono::milliseconds retry_backoff{200};
    std::chrono::milliseconds fetch_max_wait{5000};
    // TLS and SASL to the coordinators' controller listener (net/client_security.h, from
    // controller.listener.names and its keys); plaintext by default.
    net::client_security security;
};

// See "Leadership lease" above. until_ms is on std::chrono::steady_clock, in milliseconds
// since its epoch; 0: no lease (not registered, fenced, or never answered).
struct lease {
    int64_t until_ms = 0;
    int64_t from_offset = 0;  // the metadata offset to have applied first
    bool operator==(const lease&) const = default;
};

struct admin_result {
    protocol::error_code error = protocol::error_code::none;  // of the envelope
    std::string message;
    bytes body;           // the Kafka response body for (api key, version)
    offset commit{0};
};

class coordinator_client : public std::enable_shared_from_this<coordinator_client> {
public:
    using update_fn = std::function<void(std::shared_ptr<const cluster_snapshot>)>;

    coordinator_client(asio::any_io_executor ex, client_config cfg);
    coordinator_client(const coordinator_client&) = delete;
    coordinator_client& operator=(const coordinator_client&) = delete;

    // Called on the executor after every change of the local image.
    void on_update(update_fn f) { _on_update = std::move(f); }
    // Same, with what changed since the previous call (the first call's delta says
    // `everything`), for those who act on changes rather than on whole snapshots.
    using change_fn = std::function<void(std::shared_ptr<const cluster_snapshot>, const metadata_delta&)>;
    void on_change(change_fn f) { _on_change = std::move(f); }
    // Called on the executor whenever the leadership lease changes.
    void on_lease(std::function<void(const lease&)> f) { _on_lease = std::move(f); }
    const lease& current_lease() const noexcept { return _lease; }
    void start();
    // Ends the loops (from any thread); returns at once.
    void stop();

    const metadata_image& image() const noexcept { return _image; }
    std::shared_ptr<const cluster_snapshot> snapshot() const { return _snapshot; }
    bool registered() const noexcept { return _broker_epoch >= 0; }
    bool fenced() const noexcept { return _fenced; }
    // This process's image has reached the coordinator's committed end at least once. Until
    // then a snapshot may be a partial replay (published per fetched chunk): it can show this
    // broker unfenced from before a restart, and lack topics created since.
    bool caught_up() const noexcept { return _caught_up; }
    int64_t broker_epoch() const noexcept { return _broker_epoch; }
    const protocol::uuid& incarnation() const noexcept { return _cfg.incarnation; }
    // The last registration error (DUPLICATE_BROKER_REGISTRATION, ...), none once registered.
    protocol::error_code registration_error() const noexcept { return _registration_error; }

    asio::awaitable<admin_result> admin(int16_t api_key, int16_t api_version, const bytes& body);

    // AlterPartition v3 for partitions this broker leads; broker id and epoch are this
    // client's registration (whatever `req` holds there is replaced; unregistered, the
    // coordinator answers STALE_BROKER_EPOCH). The coordinator's answer
    // (top-level and per-partition errors inside it), or the transport error
    // (errc::not_connected, rpc_failed, timed_out; the caller retries).
    asio::awaitable<result<protocol::alter_partition_response>> alter_partition(
        const protocol::alter_partition_request& req);

    // Starts a controlled shutdown (from any thread; returns at once): the following
    // heartbeats carry WantShutDown, and the coordinator moves this broker's leaderships
    // away. Granted at once when the broker is not registered.
    void request_shutdown();
    bool shutdown_requested() const noexcept { return _shutdown_requested; }
    // Whether the coordinator answered ShouldShutDown: the broker may stop.
    bool shutdown_granted() const noexcept { return _shutdown_granted; }
    // Until shutdown_granted(), the timeout or stop(); returns shutdown_granted().
    asio::awaitable<bool> wait_for_shutdown(std::chrono::milliseconds timeout);
    // Called on the executor once, when the shutdown is granted.
    void on_shutdown_granted(std::function<void()> f) { _on_shutdown_granted = std::move(f); }
    // Until the local image has every record below `o`; false on timeout or stop.
    asio::awaitable<bool> wait_for_offset(offset o, std::chrono::milliseconds timeout);

private:
    asio::awaitable<void> registration_loop();
    asio::awaitable<void> metadata_loop();
    // Waits on a timer listed in `list` (so others can cancel it) until `deadline`.
    asio::awaitable<void> park(std::list<asio::steady_timer*>& list, asio::steady_timer::time_point deadline);
    asio::awaitable<void> sleep(std::chrono::milliseconds d);
    // Until done(), the timeout or stop(), woken through _waiters; returns done().
    asio::awaitable<bool> wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
    void apply_fetch(protocol::coordinator_fetch_metadata_response& resp);
    // The voter set a fetch answer named: every channel may go there too (rpc_channel::set_learned).
    void learn_voters(const std::vector<protocol::coordinator_fetch_metadata_response::voter>& voters);
    void publish();
    // The control channel carries one request at a time: registration, heartbeats and
    // AlterPartition take turns (in no particular order).
    asio::awaitable<void> lock_control();
    void unlock_control();
    void grant_shutdown();
    // A heartbeat sent at `sent_ms` (steady) got `resp` (no error): renews or grants the lease.
    void heartbeat_answered(int64_t sent_ms, const protocol::coordinator_broker_heartbeat_response& resp);
    void set_lease(lease l);

    asio::any_io_executor _ex;
    client_config _cfg;
    rpc_channel _control;   // register + heartbeat
    rpc_channel _metadata;  // long polls
    rpc_channel _admin;     // admin envelopes, one at a time
    std::vector<config::host_port> _learned;  // the quorum's voters, as last learned
    bool _admin_busy = false;
    metadata_image _image;
    std::shared_ptr<const cluster_snapshot> _snapshot = std::make_shared<cluster_snapshot>();
    update_fn _on_update;
    change_fn _on_change;
    metadata_delta _delta = metadata_delta::all();  // since the last publish()
    std::list<asio::steady_timer*> _waiters;  // wait_for_offset and admin queue, woken on change
    std::list<asio::steady_timer*> _sleepers;
    int64_t _broker_epoch = -1;
    bool _fenced = true;
    bool _caught_up = false;
    protocol::error_code _registration_error = protocol::error_code::none;
    // The last heartbeat and metadata fetch errors: one that persists (a coordinator whose
    // authorizer refuses this broker's principal) is logged when it starts, not per retry.
    protocol::error_code _heartbeat_error = protocol::error_code::none;
    protocol::error_code _fetch_error = protocol::error_code::none;
    bool _stopped = false;
    bool _control_busy = false;
    std::list<asio::steady_timer*> _control_queue;  // waiting for the control channel
    bool _shutdown_requested = false;
    bool _shutdown_granted = false;
    std::function<void()> _on_shutdown_granted;
    lease _lease;
    std::function<void(const lease&)> _on_lease;
};

} // namespace trib::coordinator
