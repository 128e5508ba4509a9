#include "coordinator/raft/net_transport.h"

#include "common/log.h"
#include "net/kafka_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <deque>
#include <utility>

namespace trib::coordinator::raft {

namespace {

// A refusal repeated word for word is logged again after this long, not per envelope.
constexpr std::chrono::seconds refusal_log_interval{10};

} // namespace

// One peer: its connection, its queue and the coroutine sending the queue. Owned by the
// transport's map and by its sender, which holds it until it has seen stop().
class net_transport::peer : public std::enable_shared_from_this<peer> {
public:
    peer(asio::any_io_executor ex, voter address, node_id self, std::string_view cluster_id,
         const net_transport_options& options, std::shared_ptr<counters> counts)
        : _address(std::move(address)),
          _self(self),
          _cluster_id(cluster_id),
          _batch_bytes(options.batch_bytes),
          _queue_limit(options.peer_queue_bytes),
          _call_timeout(options.call_timeout),
          _counters(std::move(counts)),
          _client(ex, config::host_port{_address.host, _address.port}, client_options(options)),
          _wake(ex) {}

    const voter& address() const noexcept { return _address; }

    // The sender runs until stop(); its completion logs an exception, should one escape.
    void start() {
        auto self = shared_from_this();
        asio::co_spawn(_wake.get_executor(), [self]() { return self->run(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "raft transport sender"); });
    }

    // Queues one encoded message, dropping the oldest to stay within the limit (the newest
    // is kept even when it alone is over it: at least one message goes out).
    void push(encoded_rpc item) {
        const size_t size = item.body.size();
        uint64_t dropped = 0;
        while (!_queue.empty() && _queued_bytes + size > _queue_limit) {
            _queued_bytes -= _queue.front().body.size();
            _queue.pop_front();
            ++dropped;
        }
        if (dropped > 0) {
            _counters->dropped_queue_full += dropped;
            if (!_overflow_logged) {
                _overflow_logged = true;  // again only after an envelope went through
                TLOG_WARN("raft messages to node {} at {}:{}: queue over {} bytes, oldest messages dropped",
                          _address.id.value(), _address.host, _address.port, _queue_limit);
            }
        }
        _queued_bytes += size;
        _queue.push_back(std::move(item));
        _wake.cancel();
    }

    // Moves what `other` (the same node at its old address) still had queued in front of
    // anything queued here.
    void adopt(peer& other) {
        while (!other._queue.empty()) {
            auto item = std::move(other._queue.back());
            other._queue.pop_back();
            other._queued_bytes -= item.body.size();
            _queued_bytes += item.body.size();
            _queue.push_front(std::move(item));
        }
    }

    // Ends the sender and the connection; returns how many queued messages were dropped.
    uint64_t stop() {
        _stopped = true;
        _client.close();
        _wake.cancel();
        const uint64_t dropped = _queue.size();
        _queue.clear();
        _queued_bytes = 0;
        return dropped;
    }

private:
    static net::kafka_client_options client_options(const net_transport_options& o) {
        net::kafka_client_options c;
        c.client_id = o.client_id;
        c.connect_timeout = o.call_timeout;
        c.reconnect_backoff = o.reconnect_backoff;
        c.reconnect_backoff_max = o.reconnect_backoff_max;
        c.ask_api_versions = false;  // nothing but SASL (below) needs the coordinator's versions
        o.security.apply(c);
        return c;
    }

    asio::awaitable<void> run() {
        while (!_stopped) {
            if (_queue.empty()) {
                _wake.expires_at(asio::steady_timer::clock_type::time_point::max());
                boost::system::error_code ec;
                co_await _wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;  // woken by push() or stop(), or spuriously: look again
            }
            envelope_request req = take_batch();
            const uint64_t count = req.messages.size();
            auto resp = co_await _client.call<envelope_response>(req, rpc_version, _call_timeout);
            if (_stopped) {
                break;  // closed or replaced: what this call carried is nobody's business now
            }
            if (!resp) {
                _counters->dropped_failed += count;
                failed(fmt::format("{}:{}", resp.error().category().name(), resp.error().value()),
                       _client.last_error().empty() ? resp.error().message()
                                                    : fmt::format("{} ({})", resp.error().message(),
                                                                  _client.last_error()),
                       count, false);
            } else if (resp->error_code != 0) {
                _counters->dropped_failed += count;
                const auto code = protocol::error_code(resp->error_code);
                failed(fmt::format("peer:{}", resp->error_code),
                       fmt::format("refused with {}: {}", protocol::error_code_name(code),
                                   resp->error_message.value_or("")),
                       count, code == protocol::error_code::inconsistent_cluster_id);
            } else {
                _counters->sent += count;
                ++_counters->envelopes_sent;
                _overflow_logged = false;
                if (!_state.empty()) {
                    TLOG_INFO("raft messages to node {} at {}:{} go through again ({} dropped meanwhile)",
                              _address.id.value(), _address.host, _address.port, _dropped_while_failing);
                    _state.clear();
                    _dropped_while_failing = 0;
                }
            }
        }
    }

    // Everything queued up to the batch limit, at least one message.
    envelope_request take_batch() {
        std::vector<encoded_rpc> items;
        size_t bytes_taken = 0;
        while (!_queue.empty() && (items.empty() || bytes_taken + _queue.front().body.size() <= _batch_bytes)) {
            bytes_taken += _queue.front().body.size();
            _queued_bytes -= _queue.front().body.size();
            items.push_back(std::move(_queue.front()));
            _queue.pop_front();
        }
        return make_envelope(_cluster_id, _self, _address.id, std::move(items));
    }

    // An envelope not taken: logged when the failure differs from the last one (`state`
    // names its kind), counted otherwise.
    void failed(std::string state, const std::string& reason, uint64_t count, bool wrong_cluster) {
        _dropped_while_failing += count;
        if (state == _state) {
            return;
        }
        _state = std::move(state);
        if (wrong_cluster) {
            TLOG_ERROR("raft messages to node {} at {}:{} refused: it belongs to another cluster ({}); check that "
                       "the voters' addresses and cluster ids are right",
                       _address.id.value(), _address.host, _address.port, reason);
        } else {
            TLOG_WARN("raft messages to node {} at {}:{} dropped: {} (logged again when this changes)",
                      _address.id.value(), _address.host, _address.port, reason);
        }
    }

    const voter _address;
    const node_id _self;
    const std::string _cluster_id;
    const size_t _batch_bytes;
    const size_t _queue_limit;
    const std::chrono::milliseconds _call_timeout;
    const std::shared_ptr<counters> _counters;
    net::kafka_client _client;
    asio::steady_timer _wake;  // the idle sender waits on it; push() and stop() cancel it
    std::deque<encoded_rpc> _queue;
    size_t _queued_bytes = 0;
    bool _stopped = false;
    bool _overflow_logged = false;
    std::string _state;  // the kind of the last failure, "" while envelopes go through
    uint64_t _dropped_while_failing = 0;
};

net_transport::net_transport(asio::any_io_executor ex, node_id self, std::string cluster_id,
                             net_transport_options options)
    : _ex(std::move(ex)),
      _self(self),
      _cluster_id(std::move(cluster_id)),
      _options(std::move(options)),
      _counters(std::make_shared<counters>()) {}

net_transport::~net_transport() { close(); }

void net_transport::start(deliver_fn deliver) { _deliver = std::move(deliver); }

net_transport::peer* net_transport::route(node_id from, node_id to, const char* what) {
    auto it = _closed ? _peers.end() : _peers.find(to);
    if (it == _peers.end()) {
        ++_counters->dropped_no_peer;
        return nullptr;
    }
    if (from != _self) {
        // The receiver would refuse the whole envelope it travels in.
        TLOG_ERROR("{} from node {} handed to node {}'s transport: dropped", what, from.value(), _self.value());
        ++_counters->dropped_failed;
        return nullptr;
    }
    return it->second.get();
}

void net_transport::send(std::vector<message> msgs) {
    for (auto& m : msgs) {
        auto* p = route(m.from, m.to, "raft message");
        if (!p) {
            continue;
        }
        auto item = encode(m, _cluster_id);
        if (!item) {
            TLOG_ERROR("raft message to node {} can't be encoded ({}): dropped", m.to.value(), item.error().message());
            ++_counters->dropped_failed;
            continue;
        }
        p->push(std::move(*item));
    }
}

void net_transport::send_report(observer_report r) {
    if (auto* p = route(r.from, r.to, "observer report")) {
        p->push(encode_report(r, _cluster_id));
    }
}

void net_transport::set_peers(const voter_set& peers) {
    if (_closed) {
        return;
    }
    std::map<node_id, std::shared_ptr<peer>> next;
    for (const auto& v : peers) {
        if (v.id == _self || next.contains(v.id)) {
            continue;
        }
        if (v.host.empty() || v.port == 0) {
            TLOG_WARN("raft peer node {} has no address ({}:{}): messages to it are dropped", v.id.value(), v.host,
                      v.port);
            continue;
        }
        auto old = _peers.find(v.id);
        if (old != _peers.end() && old->second->address() == v) {
            next.emplace(v.id, std::move(old->second));
            _peers.erase(old);
            continue;
        }
        auto p = std::make_shared<peer>(_ex, v, _self, _cluster_id, _options, _counters);
        if (old != _peers.end()) {
            TLOG_INFO("raft peer node {} moved from {}:{} to {}:{}", v.id.value(), old->second->address().host,
                      old->second->address().port, v.host, v.port);
            p->adopt(*old->second);
            old->second->stop();
            _peers.erase(old);
        } else {
            TLOG_INFO("raft peer node {} at {}:{}", v.id.value(), v.host, v.port);
        }
        p->start();
        next.emplace(v.id, std::move(p));
    }
    for (auto& [id, p] : _peers) {
        TLOG_INFO("raft peer node {} at {}:{} removed", id.value(), p->address().host, p->address().port);
        _counters->dropped_no_peer += p->stop();
    }
    _peers = std::move(next);
}

std::optional<bytes> net_transport::handle(int16_t api_key, int16_t api_version, bytes_view body) {
    if (api_key != api_messages) {
        return std::nullopt;
    }
    if (api_version != rpc_version) {
        ++_counters->refused;
        std::string why = fmt::format("CoordinatorRaftMessages version {} (this node serves {})", api_version,
                                      rpc_version);
        log_refusal(why);
        return encode_envelope_response(protocol::error_code::unsupported_version, why);
    }
    if (_closed || !_deliver) {
        // Shutting down, or not started yet: the sender drops the batch, Raft sends again.
        return encode_envelope_response(protocol::error_code::broker_not_available,
                                        fmt::format("node {} takes no raft messages now", _self.value()));
    }
    std::string why;
    auto env = decode_envelope(body, _cluster_id, _self, &why);
    if (!env) {
        ++_counters->refused;
        log_refusal(why);
        return encode_envelope_response(envelope_error_code(env.error()), why);
    }
    for (auto& m : env->messages) {
        if (_closed) {
            break;  // the callback closed the transport
        }
        ++_counters->received;
        _deliver(std::move(m));
    }
    for (auto& r : env->reports) {
        if (_closed) {
            break;
        }
        ++_counters->received;
        if (_reports) {
            _reports(std::move(r));
        }
    }
    return encode_envelope_response(protocol::error_code::none, "");
}

void net_transport::close() {
    if (_closed) {
        return;
    }
    _closed = true;
    for (auto& [id, p] : _peers) {
        _counters->dropped_no_peer += p->stop();
    }
    _peers.clear();
}

net_transport_stats net_transport::stats() const {
    net_transport_stats s;
    s.sent = _counters->sent;
    s.envelopes_sent = _counters->envelopes_sent;
    s.dropped_queue_full = _counters->dropped_queue_full;
    s.dropped_failed = _counters->dropped_failed;
    s.dropped_no_peer = _counters->dropped_no_peer;
    s.received = _counters->received;
    s.refused = _counters->refused;
    return s;
}

void net_transport::log_refusal(const std::string& reason) {
    const auto now = std::chrono::steady_clock::now();
    if (reason == _last_refusal && now - _last_refusal_at < refusal_log_interval) {
        return;
    }
    _last_refusal = reason;
    _last_refusal_at = now;
    TLOG_WARN("node {} refused raft messages: {}", _self.value(), reason);
}

} // namespace trib::coordinator::raft
