#include "coordinator/service.h"

#include "common/log.h"
#include "coordinator/authorization.h"
#include "coordinator/raft/codec.h"
#include "coordinator/raft/envelope.h"
#include "net/sasl_connection.h"
#include "protocol/api.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"
#include "protocol/records.h"
#include "security/plain.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>

#include <algorithm>
#include <stdexcept>

namespace trib::coordinator {

using protocol::error_code;

namespace {

// Awaits a callback-style operation: `start(done)` is called with a completion `done(R)`
// that may run at once or later; the coroutine resumes on its own executor.
template<typename R, typename Start>
asio::awaitable<R> await_completion(Start start) {
    auto starter = std::make_shared<Start>(std::move(start));
    return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, R)>(
        [starter](auto handler) mutable {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            (*starter)([h](R r) mutable {
                auto ex = asio::get_associated_executor(*h);
                asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(nullptr, std::move(r)); });
            });
        },
        asio::use_awaitable);
}

template<typename Resp>
bytes encode_response(int32_t correlation_id, int16_t api_key, const Resp& r, int16_t version = 0) {
    protocol::writer w;
    protocol::encode_response_header(w, correlation_id, protocol::response_header_version(api_key, version));
    r.encode(w, version);
    return w.take();
}

// The private RPCs are version 0; AlterPartition is Kafka's, at the versions we claim.
bool supported_version(const protocol::request_header& h) {
    using ap = protocol::alter_partition_request;
    if (h.api_key == ap::api_key) {
        return h.api_version >= ap::min_version && h.api_version <= ap::max_version;
    }
    return h.api_version == 0;
}

// What ApiVersions names: the private RPCs (v0), AlterPartition, and what a client needs to
// log in on a SASL listener (SaslHandshake v1 is what clients send; v0 is answered with
// UNSUPPORTED_VERSION as the broker does).
std::vector<protocol::api_versions_response::api_version> served_api_versions() {
    std::vector<protocol::api_versions_response::api_version> out;
    auto add = [&](int16_t key, int16_t min, int16_t max) {
        auto& k = out.emplace_back();
        k.api_key = key;
        k.min_version = min;
        k.max_version = max;
    };
    add(protocol::sasl_handshake_request::api_key, 0, 1);
    add(protocol::api_versions_request::api_key, protocol::api_versions_request::min_version,
        protocol::api_versions_request::max_version);
    add(protocol::sasl_authenticate_request::api_key, protocol::sasl_authenticate_request::min_version,
        protocol::sasl_authenticate_request::max_version);
    add(protocol::alter_partition_request::api_key, protocol::alter_partition_request::min_version,
        protocol::alter_partition_request::max_version);
    for (int16_t key : {10000, 10001, 10002, 10003, 10010, 10011, 10012, 10013, 10014}) {
        add(key, 0, 0);
    }
    return out;
}

// A framed response (size prefix, header, body) at `version`; ApiVersions' header is v0.
template<typename Resp>
net::outgoing_frame framed(const protocol::request_header& h, const Resp& r, int16_t version) {
    bytes body = encode_response(h.correlation_id, h.api_key, r, version);
    net::outgoing_frame out;
    out.data.resize(4 + body.size());
    store_be32(out.data.data(), uint32_t(body.size()));
    std::copy(body.begin(), body.end(), out.data.begin() + 4);
    return out;
}


int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A NOT_CONTROLLER answer names the active controller when this node knows it (and it is
// another node), so the client goes there instead of trying the voters in turn.
template<typename Resp>
void add_controller_hint(Resp& resp, const leadership& l, node_id self) {
    if (resp.error_code != int16_t(error_code::not_controller) || !l.leader || l.leader->id == self ||
        l.leader->port == 0) {
        return;
    }
    resp.controller_id = l.leader->id.value();
    resp.controller_host = l.leader->host;
    resp.controller_port = l.leader->port;
}

} // namespace

// Forwards the log's applies to the controller and tells the service a commit happened.
class service::notifier final : public state_machine {
public:
    explicit notifier(service& s) : _s(s) {}
    void apply(offset at, const metadata_record& r) override {
        _s._controller->apply(at, r);
        if (!_pending) {
            _pending = true;
            asio::post(_s._ctx, [this] {
                _pending = false;
                _s.committed();
            });
        }
    }
    void restore(const metadata_image& image) override { _s._controller->restore(image); }

private:
    service& _s;
    bool _pending = false;
};

service::service(service_config cfg, clock& clk) : _cfg(std::move(cfg)), _clock(clk) {}

service::~service() { stop(); }

std::vector<uint16_t> service::start() {
    _notifier = std::make_unique<notifier>(*this);
    _controller = std::make_unique<controller>(_cfg.controller, _clock);
    if (!_cfg.open_log) {
        throw std::logic_error("coordinator service: no metadata log to open (service_config::open_log)");
    }
    _log = _cfg.open_log(*_notifier, _ctx);
    // Readiness follows each leadership change at once: on the tick alone, /readyz could say
    // 503 for up to a tick after this coordinator began to serve as the active controller.
    _controller->set_log(*_log, [this] { observe_leadership(); });
    observe_leadership();
    net::connection_limits limits;
    limits.max_request_bytes = _cfg.max_request_bytes;
    _server = std::make_unique<net::server>(std::vector<asio::io_context*>{&_ctx}, *this, limits);
    auto ports = _server->start(_cfg.listeners, _cfg.tls);
    for (size_t i = 0; i < ports.size() && i < _cfg.listeners.size(); ++i) {
        _cfg.listeners[i].port = ports[i];  // as bound (0 asks for any free port): DescribeQuorum names it
    }
    asio::co_spawn(_ctx, tick_loop(), [](std::exception_ptr e) { log_failed_coroutine(e, "lease ticker"); });
    _running = true;
    _thread = std::thread([this] {
        for (;;) {
            try {
                _ctx.run();
                return;
            } catch (const std::exception& e) {
                // A broken invariant in the controller: nothing safe to continue with.
                TLOG_ERROR("coordinator: {}", e.what());
                std::abort();
            }
        }
    });
    return ports;
}

void service::observe_leadership() {
    const auto l = _log->leader();
    _active = l.is_leader;
    const bool ready = l.is_leader || l.leader.has_value();
    // /readyz follows this: say why it changes (a probe sees only 200 or 503).
    if (_ready.exchange(ready) != ready) {
        if (ready) {
            TLOG_INFO("ready: {} at term {}",
                      l.is_leader ? std::string("the active controller")
                                  : fmt::format("coordinator {} is the active controller", l.leader->id.value()),
                      l.term.value());
        } else {
            TLOG_INFO("not ready: no active controller known at term {}", l.term.value());
        }
    }
}

std::optional<node_id> service::hand_over_leadership() {
    if (!_running) {
        return std::nullopt;
    }
    return on_thread([this] { return _log->hand_over_leadership(); });
}

void service::stop() {
    if (!_running) {
        return;
    }
    _running = false;
    _ready = false;
    asio::post(_ctx, [this] {
        _server->stop();
        _ticker.cancel();
        for (auto* w : _waiters) {
            w->cancel();
        }
    });
    // Let the closes run, then stop.
    asio::post(_ctx, [this] { _ctx.stop(); });
    _thread.join();
    _server.reset();
    _log->close();
}

void service::committed() {
    for (auto* w : _waiters) {
        w->cancel();
    }
    if (_log->bytes_since_snapshot() >= _cfg.snapshot_bytes) {
        if (auto r = _log->snapshot(_controller->image()); !r) {
            TLOG_ERROR("metadata snapshot failed: {}", r.error().message());
        }
    }
}

asio::awaitable<void> service::tick_loop() {
    while (_running || !_ctx.stopped()) {
        boost::system::error_code ec;
        _ticker.expires_after(_cfg.tick);
        co_await _ticker.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !_running) {
            co_return;
        }
        observe_leadership();
        _controller->tick();
    }
}

admin_reply service::describe_quorum(int16_t version, bytes_view body) const {
    auto l = _log->leader();
    if (!l.is_leader) {
        // The envelope's NOT_CONTROLLER names the leader: the broker asks there.
        return admin_reply{error_code::not_controller, "this coordinator is not the active controller", {}, offset(0)};
    }
    int64_t now = wall_ms();
    quorum_status st;
    st.is_leader = true;
    st.leader = _cfg.controller.id;
    st.leader_epoch = int32_t(l.term.value());
    st.high_watermark = _log->committed().value();
    const net::listen_endpoint* own = _cfg.listeners.empty() ? nullptr : &_cfg.listeners.front();
    std::string listener = own ? own->name : "CONTROLLER";
    for (auto v : _log->voters()) {
        auto& at = v.endpoint;
        if (at.id.value() < 0) {
            at.id = _cfg.controller.id;  // a single voter that was not told its address
        }
        bool self = at.id == _cfg.controller.id;
        if (self && at.port == 0 && own) {
            at.host = own->host;
            at.port = own->port;
        }
        st.voters.push_back({at.id, v.log_end_offset, self ? -1 : v.last_fetch_ms,
                             self ? now : (v.log_end_offset >= st.high_watermark ? v.last_fetch_ms : -1),
                             at.directory_id});
        if (at.port != 0) {
            st.endpoints.push_back({at.id, listener, at.host, at.port});
        }
    }
    st.observers = _observers.list(now);
    // Coordinators outside the voter set (KRaft's observer controllers), beside the brokers:
    // their endpoints go to Nodes too, unless their id is a voter's (a wiped voter's seat),
    // so that AddRaftVoter can be built from this answer alone.
    for (const auto& o : _log->observers()) {
        const auto& at = o.endpoint;
        st.observers.push_back({at.id, o.log_end_offset, o.last_fetch_ms, o.last_caught_up_ms, at.directory_id});
        const bool listed = std::any_of(st.endpoints.begin(), st.endpoints.end(),
                                        [&](const voter_endpoint& e) { return e.id == at.id; });
        if (at.port != 0 && !at.host.empty() && !listed) {
            st.endpoints.push_back({at.id, listener, at.host, at.port});
        }
    }
    auto a = coordinator::describe_quorum(body, version, st);
    return admin_reply{a.error, a.message, std::move(a.body), _log->committed()};
}

asio::awaitable<admin_reply> service::change_voters(int16_t api_key, int16_t version, const bytes& body) {
    const std::string listener = _cfg.listeners.empty() ? "CONTROLLER" : _cfg.listeners.front().name;
    auto req = decode_voter_change(api_key, version, body, _cfg.controller.cluster_id, listener);
    if (req.refusal && !req.in_body) {
        co_return admin_reply{req.refusal->error, req.refusal->message, {}, _log->committed()};
    }
    if (req.refusal) {
        co_return admin_reply{error_code::none, {},
                              encode_voter_change_response(api_key, version, req.refusal->error, req.refusal->message),
                              _log->committed()};
    }
    if (!_log->leader().is_leader) {
        // The envelope's NOT_CONTROLLER names the leader: the broker asks there.
        co_return admin_reply{error_code::not_controller, "this coordinator is not the active controller", {}, offset(0)};
    }
    // (the lambda captures by reference only, and the result is not destructured: g++ 12
    // destroys non-trivial temporaries of a co_await expression twice)
    using outcome = std::pair<error_code, std::string>;
    outcome result = co_await await_completion<outcome>([this, &req](std::function<void(outcome)> done) {
        _log->change_voters(req.change, [done = std::move(done)](error_code e, std::string m) {
            done(outcome{e, std::move(m)});
        });
    });
    if (result.first == error_code::none) {
        TLOG_INFO("voter {} {} the metadata log's voters", req.change.voter.id.value(),
                  req.change.add ? "joined" : "left");
    }
    co_return admin_reply{error_code::none, {},
                          encode_voter_change_response(api_key, version, result.first, result.second),
                          _log->committed()};
}

asio::awaitable<void> service::fetch_metadata(const protocol::coordinator_fetch_metadata_request& req,
                                              protocol::coordinator_fetch_metadata_response& resp) {
    // Every answer names the voters, so that a broker configured with some of them (a quorum
    // grown by AddRaftVoter) can still find the quorum when those are gone.
    for (const auto& v : _log->voters()) {
        if (v.endpoint.port != 0) {
            auto& out = resp.voters.emplace_back();
            out.id = v.endpoint.id.value();
            out.host = v.endpoint.host;
            out.port = v.endpoint.port;
        }
    }
    offset from(req.from_offset);
    if (from > _log->committed() && !_log->leader().is_leader) {
        // This coordinator is behind the reader (who read further elsewhere): not a reason for
        // the reader to start over, as an offset out of range would make it.
        resp.error_code = int16_t(error_code::not_controller);
        resp.error_message = fmt::format("offset {} is beyond this coordinator's metadata log ({}), which does "
                                         "not lead",
                                         req.from_offset, _log->committed().value());
        resp.committed_offset = _log->committed().value();
        co_return;
    }
    if (from < offset(0) || from > _log->committed()) {
        resp.error_code = int16_t(error_code::offset_out_of_range);
        resp.error_message = fmt::format("offset {} is outside the metadata log [0, {}]", req.from_offset,
                                         _log->committed().value());
        resp.committed_offset = _log->committed().value();
        co_return;
    }
    if (from < _log->log_start()) {
        auto snap = _log->latest_snapshot();
        if (!snap) {
            resp.error_code = int16_t(error_code::snapshot_not_found);
            co_return;
        }
        resp.snapshot_offset = snap->at.value();
        resp.snapshot = protocol::record_set{*snap->batches, {}};
        from = snap->at;
    }
    if (from == _log->committed() && !resp.snapshot && req.max_wait_ms > 0 && _running) {
        asio::steady_timer timer(_ctx);
        timer.expires_after(std::chrono::milliseconds(std::min(req.max_wait_ms, 60000)));
        auto it = _waiters.insert(_waiters.end(), &timer);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        _waiters.erase(it);
    }
    resp.next_offset = from.value();
    if (from < _log->committed()) {
        auto data = _log->read(from, size_t(std::max(req.max_bytes, 1)));
        if (!data) {
            resp.error_code = int16_t(error_code::unknown_server_error);
            resp.error_message = data.error().message();
            co_return;
        }
        protocol::record_set_iterator it(*data);
        while (true) {
            auto b = it.next();
            if (!b || !*b) {
                break;
            }
            resp.next_offset = (*b)->header.last_offset() + 1;
        }
        resp.records = protocol::record_set{std::move(*data), {}};
    }
    resp.committed_offset = _log->committed().value();
}

std::unique_ptr<net::connection_state> service::open_connection(const std::string& listener) {
    auto it = _cfg.sasl.find(listener);
    return std::make_unique<net::sasl_connection>(it == _cfg.sasl.end() ? nullptr : &it->second);
}

std::optional<net::dispatch_result> service::serve_session(const bytes& frame, const net::connection_info& conn) {
    protocol::reader r(frame);
    protocol::request_header h;
    if (!protocol::decode_request_header(r, h)) {
        return net::close_connection{"undecodable request header"};
    }
    // On a SASL listener only ApiVersions, SaslHandshake and SaslAuthenticate may come before
    // authentication, only SaslAuthenticate during a re-authentication, and nothing but the
    // SaslHandshake of a re-authentication once the session has ended (net/sasl_session.h).
    auto* s = static_cast<net::sasl_connection*>(conn.state);
    if (s) {
        const auto admission = s->admit(h.api_key, net::sasl_session::clock::now());
        if (admission != net::sasl_session::admission::serve) {
            auto why = s->refusal(admission, h.api_key, h.correlation_id, conn.listener);
            TLOG_WARN("coordinator: {} from {}", why, conn.peer);
            return net::close_connection{std::move(why)};
        }
    }
    switch (h.api_key) {
    case protocol::api_versions_request::api_key: {
        protocol::api_versions_response resp;
        resp.api_keys = served_api_versions();
        if (h.api_version < protocol::api_versions_request::min_version ||
            h.api_version > protocol::api_versions_request::max_version) {
            // Answered in the v0 layout with our range, so the client asks again at one we serve.
            resp.error_code = int16_t(error_code::unsupported_version);
            return net::respond{framed(h, resp, 0)};
        }
        protocol::api_versions_request req;
        req.decode(r, h.api_version);
        if (!r.ok()) {
            return net::close_connection{"malformed ApiVersions request"};
        }
        return net::respond{framed(h, resp, h.api_version)};
    }
    case protocol::sasl_handshake_request::api_key:
    case protocol::sasl_authenticate_request::api_key: {
        if (!s) {
            return net::close_connection{"SASL request on a connection without a session"};
        }
        if (h.api_key == protocol::sasl_handshake_request::api_key) {
            protocol::sasl_handshake_request req;
            protocol::sasl_handshake_response resp;
            if (h.api_version < 0 || h.api_version > 1 || (req.decode(r, h.api_version), !r.ok())) {
                return net::close_connection{"malformed or unsupported SaslHandshake request"};
            }
            auto a = s->answer_handshake(h.api_version, req.mechanism, conn.listener, net::sasl_session::clock::now());
            resp.error_code = a.error_code;
            resp.mechanisms = std::move(a.mechanisms);
            if (a.outcome == net::sasl_session::handshake_outcome::start) {
                // The coordinator serves PLAIN alone (coordinator_config refuses the others).
                s->server = security::make_plain_server(s->sasl->plain_users);
            }
            auto out = framed(h, resp, h.api_version);
            if (a.close) {
                TLOG_WARN("coordinator: {} from {}", *a.close, conn.peer);
                return net::respond_then_close{std::move(out), std::move(*a.close)};
            }
            return net::respond{std::move(out)};
        }
        protocol::sasl_authenticate_request req;
        protocol::sasl_authenticate_response resp;
        if (h.api_version < protocol::sasl_authenticate_request::min_version ||
            h.api_version > protocol::sasl_authenticate_request::max_version ||
            (req.decode(r, h.api_version), !r.ok())) {
            return net::close_connection{"malformed or unsupported SaslAuthenticate request"};
        }
        auto a = s->answer_authenticate(as_string_view(req.auth_bytes), h.api_version,
                                        net::sasl_session::clock::now(), wall_ms());
        resp.error_code = a.error_code;
        resp.error_message = a.error_message;
        resp.auth_bytes.assign(a.auth_bytes.begin(), a.auth_bytes.end());
        resp.session_lifetime_ms = a.lifetime_ms;
        if (a.k == net::sasl_session::step::failed) {
            TLOG_WARN("SASL/{} {} of {} on listener {} failed: {}", s->mechanism,
                      a.reauthentication ? "re-authentication" : "authentication", conn.peer, conn.listener,
                      *a.error_message);
        } else if (a.k == net::sasl_session::step::authenticated && !a.reauthentication) {
            TLOG_INFO("{} authenticated as {} with SASL/{} on listener {}{}", conn.peer, s->principal, s->mechanism,
                      conn.listener, s->expires_at ? fmt::format("; session lifetime {} ms", a.lifetime_ms) : "");
        }
        auto out = framed(h, resp, h.api_version);
        if (a.close) {
            return net::respond_then_close{std::move(out), std::move(*a.close)};
        }
        return net::respond{std::move(out)};
    }
    default:
        return std::nullopt;
    }
}

asio::awaitable<net::dispatch_result> service::dispatch(bytes frame, const net::connection_info& conn) {
    if (auto answered = serve_session(frame, conn)) {
        co_return std::move(*answered);
    }
    auto body = co_await handle(frame, conn);
    if (!body) {
        co_return net::close_connection{"undecodable or unsupported coordinator request"};
    }
    net::outgoing_frame out;
    out.data.resize(4 + body->size());
    store_be32(out.data.data(), uint32_t(body->size()));
    std::copy(body->begin(), body->end(), out.data.begin() + 4);
    co_return net::respond{std::move(out)};
}

std::optional<std::string> service::refused(const net::connection_info& conn, int16_t api_key, int16_t inner_api_key) {
    if (!_cfg.authorizer.enabled) {
        return std::nullopt;
    }
    const auto* s = static_cast<const net::sasl_connection*>(conn.state);
    const std::string_view principal = s ? std::string_view(s->principal) : net::anonymous_principal;
    // The committed image's index: built once per ACL change, on this thread, then shared.
    const auto acls = _controller->image().acl_index();
    auto why = refusal(_cfg.authorizer, acls.get(), {principal, conn.host()}, api_key, inner_api_key);
    if (why) {
        TLOG_WARN("coordinator: refused {} (CLUSTER_AUTHORIZATION_FAILED) on listener {}: {}", conn.peer,
                  conn.listener, *why);
    }
    return why;
}

asio::awaitable<std::optional<bytes>> service::handle(const bytes& frame, const net::connection_info& conn) {
    const std::string& peer = conn.peer;
    protocol::reader r(frame);
    protocol::request_header h;
    if (!protocol::decode_request_header(r, h) || !supported_version(h)) {
        TLOG_WARN("undecodable or unsupported coordinator request from {} (key {}, version {})", peer, h.api_key,
                  h.api_version);
        co_return std::nullopt;
    }
    // A refused request is answered with CLUSTER_AUTHORIZATION_FAILED in its own response
    // (each private response has a top-level error code and message; AlterPartition's a code).
    const auto refuse = [&h](auto& resp, std::string why, int16_t version = 0) {
        resp.error_code = int16_t(error_code::cluster_authorization_failed);
        if constexpr (requires { resp.error_message; }) {
            resp.error_message = std::move(why);
        }
        return encode_response(h.correlation_id, h.api_key, resp, version);
    };
    switch (h.api_key) {
    case protocol::coordinator_register_broker_request::api_key: {
        protocol::coordinator_register_broker_request req;
        req.decode(r, 0);
        if (!r.ok()) {
            co_return std::nullopt;
        }
        if (auto why = refused(conn, h.api_key)) {
            protocol::coordinator_register_broker_response resp;
            co_return refuse(resp, std::move(*why));
        }
        auto resp = co_await await_completion<controller::register_response>(
            [this, &req](std::function<void(controller::register_response)> done) {
                _controller->register_broker(req, std::move(done));
            });
        add_controller_hint(resp, _log->leader(), _cfg.controller.id);
        co_return encode_response(h.correlation_id, h.api_key, resp);
    }
    case protocol::coordinator_broker_heartbeat_request::api_key: {
        protocol::coordinator_broker_heartbeat_request req;
        req.decode(r, 0);
        if (!r.ok()) {
            co_return std::nullopt;
        }
        if (auto why = refused(conn, h.api_key)) {
            protocol::coordinator_broker_heartbeat_response resp;
            co_return refuse(resp, std::move(*why));
        }
        auto resp = co_await await_completion<controller::heartbeat_response>(
            [this, &req](std::function<void(controller::heartbeat_response)> done) {
                _controller->heartbeat(req, std::move(done));
            });
        if (resp.error_code == 0) {
            // AppliedOffset is the last record applied: its log end is one past it.
            _observers.heard(node_id(req.broker_id), req.applied_offset + 1, _log->committed().value(), wall_ms());
        }
        add_controller_hint(resp, _log->leader(), _cfg.controller.id);
        co_return encode_response(h.correlation_id, h.api_key, resp);
    }
    case protocol::coordinator_fetch_metadata_request::api_key: {
        protocol::coordinator_fetch_metadata_request req;
        req.decode(r, 0);
        if (!r.ok()) {
            co_return std::nullopt;
        }
        protocol::coordinator_fetch_metadata_response resp;
        if (auto why = refused(conn, h.api_key)) {
            co_return refuse(resp, std::move(*why));
        }
        co_await fetch_metadata(req, resp);
        add_controller_hint(resp, _log->leader(), _cfg.controller.id);
        co_return encode_response(h.correlation_id, h.api_key, resp);
    }
    case protocol::coordinator_admin_request::api_key: {
        protocol::coordinator_admin_request req;
        req.decode(r, 0);
        if (!r.ok()) {
            co_return std::nullopt;
        }
        if (auto why = refused(conn, h.api_key, req.request_api_key)) {
            protocol::coordinator_admin_response resp;
            co_return refuse(resp, std::move(*why));
        }
        // (not a ?: around co_await: g++ 12 destroys such temporaries twice)
        admin_reply reply;
        if (req.request_api_key == protocol::describe_quorum_request::api_key) {
            reply = describe_quorum(req.request_api_version, req.body);
        } else if (req.request_api_key == protocol::add_raft_voter_request::api_key ||
                   req.request_api_key == protocol::remove_raft_voter_request::api_key) {
            reply = co_await change_voters(req.request_api_key, req.request_api_version, req.body);
        } else {
            reply = co_await await_completion<admin_reply>([this, &req](std::function<void(admin_reply)> done) {
                _controller->admin(req.request_api_key, req.request_api_version, req.body, std::move(done));
            });
        }
        protocol::coordinator_admin_response resp;
        resp.error_code = int16_t(reply.error);
        if (!reply.message.empty()) {
            resp.error_message = reply.message;
        }
        resp.body = std::move(reply.body);
        resp.commit_offset = reply.commit.value();
        add_controller_hint(resp, _log->leader(), _cfg.controller.id);
        co_return encode_response(h.correlation_id, h.api_key, resp);
    }
    case protocol::alter_partition_request::api_key: {
        protocol::alter_partition_request req;
        req.decode(r, h.api_version);
        if (!r.ok()) {
            co_return std::nullopt;
        }
        const int16_t version = h.api_version;
        if (auto why = refused(conn, h.api_key)) {
            controller::alter_partition_response resp;
            co_return refuse(resp, std::move(*why), version);
        }
        auto resp = co_await await_completion<controller::alter_partition_response>(
            [this, &req, version](std::function<void(controller::alter_partition_response)> done) {
                _controller->alter_partition(req, version, std::move(done));
            });
        co_return encode_response(h.correlation_id, h.api_key, resp, version);
    }
    default: {
        // The Raft log's own traffic between coordinators, when it has any. A refused voter
        // reads why in the envelope's answer (net_transport logs it); an unknown key closes.
        if (auto why = refused(conn, h.api_key)) {
            if (h.api_key != raft::api_messages) {
                co_return std::nullopt;
            }
            protocol::writer w;
            protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, 0));
            auto out = w.take();
            auto body = raft::encode_envelope_response(error_code::cluster_authorization_failed, *why);
            out.insert(out.end(), body.begin(), body.end());
            co_return out;
        }
        bytes_view rest(frame.data() + r.offset(), r.remaining());
        if (auto body = _log->peer_request(h.api_key, h.api_version, rest)) {
            protocol::writer w;
            protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, 0));
            auto out = w.take();
            out.insert(out.end(), body->begin(), body->end());
            co_return out;
        }
        TLOG_WARN("unknown coordinator API key {} from {}", h.api_key, peer);
        co_return std::nullopt;
    }
    }
}

} // namespace trib::coordinator
