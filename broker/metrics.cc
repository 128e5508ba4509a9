#include "broker/metrics.h"

#include "broker/handlers/dispatch.h"
#include "protocol/api.h"

namespace trib::broker {

broker_metrics::broker_metrics()
  : _registry(std::make_shared<prometheus::Registry>())
  , _requests(prometheus::BuildCounter()
                  .Name("tributary_requests_total")
                  .Help("Kafka requests handled, per API")
                  .Register(*_registry))
  , _latency(prometheus::BuildHistogram()
                 .Name("tributary_request_latency_seconds")
                 .Help("Time from a decoded request to its encoded response, per API")
                 .Register(*_registry))
  , _bytes_in(prometheus::BuildCounter()
                  .Name("tributary_topic_bytes_in_total")
                  .Help("Record batch bytes appended, per topic")
                  .Register(*_registry))
  , _bytes_out(prometheus::BuildCounter()
                   .Name("tributary_topic_bytes_out_total")
                   .Help("Record batch bytes sent to consumers, per topic")
                   .Register(*_registry))
  , _log_size(prometheus::BuildGauge()
                  .Name("tributary_log_size_bytes")
                  .Help("Size of each partition log hosted here")
                  .Register(*_registry))
  , _replication(*_registry) {
    auto& purgatory = prometheus::BuildGauge()
                        .Name("kafka_server_delayedoperationpurgatory_purgatorysize")
                        .Help("Requests waiting: Fetch for bytes, Produce (acks=all) for the ISR")
                        .Register(*_registry);
    _waiting_fetch = &purgatory.Add({{"delayedOperation", "Fetch"}});
    _waiting_produce = &purgatory.Add({{"delayedOperation", "Produce"}});
    static const prometheus::Histogram::BucketBoundaries buckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    for (const auto& api : served_apis()) {
        const auto* info = protocol::find_api(api.key);
        std::string name = info ? std::string(info->name) : std::to_string(api.key);
        const size_t slot = *protocol::api_slot(api.key);  // every served API has one (dispatch.cc)
        _request_counters[slot] = &_requests.Add({{"api", name}});
        _latency_histograms[slot] = &_latency.Add({{"api", name}}, buckets);
    }
    static constexpr std::pair<const char*, const char*> sasl_families[] = {
        {"tributary_successful_authentication_total", "SASL authentications that succeeded, per listener"},
        {"tributary_failed_authentication_total", "SASL authentications that failed, per listener"},
        {"tributary_successful_reauthentication_total",
         "SASL re-authentications (KIP-368) that succeeded, per listener"},
        {"tributary_failed_reauthentication_total",
         "SASL re-authentications (KIP-368) that failed and closed their connection, per listener"},
        {"tributary_successful_authentication_no_reauth_total",
         "SASL authentications of clients that cannot re-authenticate (SaslAuthenticate v0), per listener"},
        {"tributary_expired_connections_killed_total",
         "Connections closed because their SASL session ended without re-authentication, per listener"},
    };
    static_assert(std::size(sasl_families) == std::tuple_size_v<decltype(_sasl)>);
    for (size_t i = 0; i < _sasl.size(); ++i) {
        _sasl[i] = &prometheus::BuildCounter()
                        .Name(sasl_families[i].first)
                        .Help(sasl_families[i].second)
                        .Register(*_registry);
    }
}

void broker_metrics::sasl(const std::string& listener, sasl_event e) {
    _sasl[size_t(e)]->Add({{"listener", listener}}).Increment();
}

void broker_metrics::request_done(int16_t api_key, double seconds) {
    const auto slot = protocol::api_slot(api_key);
    if (!slot || !_request_counters[*slot]) {
        return;
    }
    _request_counters[*slot]->Increment();
    _latency_histograms[*slot]->Observe(seconds);
}

prometheus::Counter& broker_metrics::topic_counters::of(const std::string& topic) {
    std::lock_guard lock(mu);
    auto it = by_topic.find(topic);
    if (it == by_topic.end()) {
        it = by_topic.emplace(topic, &family->Add({{"topic", topic}})).first;
    }
    return *it->second;
}

void broker_metrics::bytes_in(const std::string& topic, size_t n) {
    _bytes_in.of(topic).Increment(double(n));
}

void broker_metrics::bytes_out(const std::string& topic, size_t n) {
    _bytes_out.of(topic).Increment(double(n));
}

void broker_metrics::log_size(const std::string& topic, int32_t partition, uint64_t bytes) {
    _log_size.Add({{"topic", topic}, {"partition", std::to_string(partition)}}).Set(double(bytes));
}

void broker_metrics::forget_partition(const std::string& topic, int32_t partition) {
    auto& g = _log_size.Add({{"topic", topic}, {"partition", std::to_string(partition)}});
    _log_size.Remove(&g);
}

} // namespace trib::broker
