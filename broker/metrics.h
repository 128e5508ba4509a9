#pragma once

// The broker's Prometheus metrics (served by common/status_server at /metrics):
//   tributary_requests_total{api}                    requests handled
//   tributary_request_latency_seconds{api}           time from decoded request to encoded response
//   tributary_topic_bytes_in_total{topic}            record bytes produced
//   tributary_topic_bytes_out_total{topic}           record bytes fetched
//   tributary_log_size_bytes{topic,partition}        size of each hosted partition log
//   kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation}  requests waiting now
//                                                    (Fetch: for bytes; Produce: acks=all for the
//                                                    ISR), Kafka's PurgatorySize as Strimzi names it
// SASL, per listener, with Kafka's socket-server metric names:
//   tributary_successful_authentication_total{listener}          first authentications that succeeded
//   tributary_failed_authentication_total{listener}              ... that failed
//   tributary_successful_reauthentication_total{listener}        re-authentications (KIP-368) that succeeded
//   tributary_failed_reauthentication_total{listener}            ... that failed (the connection closed)
//   tributary_successful_authentication_no_reauth_total{listener}  authentications of clients that cannot
//                                                                re-authenticate (SaslAuthenticate v0)
//   tributary_expired_connections_killed_total{listener}         connections closed because their session ended
// and the replication metrics of broker/replication_metrics.h.
#include "broker/replication_metrics.h"
#include "protocol/api.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace trib::broker {

class broker_metrics {
public:
    broker_metrics();

    std::shared_ptr<prometheus::Registry> registry() const noexcept { return _registry; }

    void request_done(int16_t api_key, double seconds);
    void bytes_in(const std::string& topic, size_t n);
    void bytes_out(const std::string& topic, size_t n);
    void log_size(const std::string& topic, int32_t partition, uint64_t bytes);
    void forget_partition(const std::string& topic, int32_t partition);
    replication_metrics& replication() noexcept { return _replication; }

    // Counts a request as waiting while it lives (broker/delayed.h).
    class waiting {
    public:
        explicit waiting(prometheus::Gauge& g) : _g(&g) { _g->Increment(); }
        ~waiting() { _g->Decrement(); }
        waiting(const waiting&) = delete;
        waiting& operator=(const waiting&) = delete;

    private:
        prometheus::Gauge* _g;
    };
    waiting fetch_waiting() { return waiting(*_waiting_fetch); }
    waiting produce_waiting() { return waiting(*_waiting_produce); }

    enum class sasl_event {
        authenticated,
        authentication_failed,
        reauthenticated,
        reauthentication_failed,
        authenticated_no_reauth,
        expired_connection_killed,
    };
    void sasl(const std::string& listener, sasl_event e);

private:
    std::shared_ptr<prometheus::Registry> _registry;
    prometheus::Family<prometheus::Counter>& _requests;
    prometheus::Family<prometheus::Histogram>& _latency;
    // A topic's counter of a per-topic family, found by the topic's name without building the
    // label map Family::Add takes (each produce and fetch counts its bytes). Counters are
    // never removed from these families, so the pointers stay valid.
    struct topic_counters {
        explicit topic_counters(prometheus::Family<prometheus::Counter>& f) : family(&f) {}
        prometheus::Family<prometheus::Counter>* family;
        std::mutex mu;
        std::unordered_map<std::string, prometheus::Counter*> by_topic;
        prometheus::Counter& of(const std::string& topic);
    };
    topic_counters _bytes_in;
    topic_counters _bytes_out;
    prometheus::Family<prometheus::Gauge>& _log_size;
    prometheus::Gauge* _waiting_fetch;
    prometheus::Gauge* _waiting_produce;
    replication_metrics _replication;
    std::array<prometheus::Family<prometheus::Counter>*, 6> _sasl{};
    // Per API key, resolved once: request handling only touches atomics.
    std::array<prometheus::Counter*, protocol::api_slots> _request_counters{};
    std::array<prometheus::Histogram*, protocol::api_slots> _latency_histograms{};
};

} // namespace trib::broker
