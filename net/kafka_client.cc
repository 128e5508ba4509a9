#include "net/kafka_client.h"
#include "net/tls.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"
#include "security/sasl.h"

#include "common/config.h"
#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>

namespace trib::net {

using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// One call waiting for its answer. The reader fills it and cancels `wake`, the waiting
// call's own timer (whose expiry is the call's deadline); nullptr once the call has gone.
struct kafka_client::pending_call {
    int32_t correlation_id = 0;
    bool done = false;
    std::error_code error;
    bytes response;
    asio::steady_timer* wake = nullptr;
};

// One TCP connection. Its reader and writer coroutines own it through a shared_ptr and never
// touch the client, so a connection that fails after the client is gone harms nothing.
struct kafka_client::link : std::enable_shared_from_this<kafka_client::link> {
    link(asio::any_io_executor ex, std::string peer_name, int32_t max_response)
      : socket(ex), writer_wake(ex), peer(std::move(peer_name)), max_response_bytes(max_response) {}

    tcp::socket socket;
    std::shared_ptr<asio::ssl::context> tls_context;        // what `tls` was made from, kept alive with it
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;  // over `socket`; null: plaintext
    asio::steady_timer writer_wake;                   // cancelled when `out` gets a frame
    std::deque<bytes> out;                            // frames not yet written
    std::deque<std::shared_ptr<pending_call>> in_flight;  // oldest first: answers come in this order
    std::string peer;
    int32_t max_response_bytes;
    bool ready = false;  // ApiVersions answered: calls may use it
    bool dead = false;
    clock::time_point dead_at{};
    // The broker's SASL session ends (KIP-368's session lifetime); this client does not
    // re-authenticate in band, it replaces the connection once `renew_at` has passed.
    std::optional<clock::time_point> renew_at;
    bool retired = false;  // ended for a new session, not failed: no back-off

    // Ends the connection: every outstanding call fails with `e`. `reason` is logged unless
    // empty (close() from the owner).
    void fail(std::error_code e, std::string_view reason) {
        if (dead) {
            return;
        }
        dead = true;
        dead_at = clock::now();
        if (!reason.empty()) {
            TLOG_WARN("connection to broker {}: {}", peer, reason);
        }
        error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        writer_wake.cancel();
        out.clear();
        for (auto& p : in_flight) {
            p->done = true;
            p->error = e;
            if (p->wake) {
                p->wake->cancel();
            }
        }
        in_flight.clear();
    }

    asio::awaitable<void> write_loop();
    asio::awaitable<void> read_loop();
    void start() {
        auto self = shared_from_this();
        auto ex = socket.get_executor();
        asio::co_spawn(ex, [self]() { return self->write_loop(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "kafka client writer"); });
        asio::co_spawn(ex, [self]() { return self->read_loop(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "kafka client reader"); });
    }
};

// Writes whatever is queued in one gathered write, so pipelined calls made together leave
// together.
asio::awaitable<void> kafka_client::link::write_loop() {
    auto self = shared_from_this();
    std::vector<bytes> batch;
    std::vector<asio::const_buffer> buffers;
    while (!self->dead) {
        if (self->out.empty()) {
            error_code ec;
            self->writer_wake.expires_at(clock::time_point::max());
            co_await self->writer_wake.async_wait(redirect_error(use_awaitable, ec));
            continue;
        }
        batch.clear();
        buffers.clear();
        while (!self->out.empty()) {
            batch.push_back(std::move(self->out.front()));
            self->out.pop_front();
        }
        for (const auto& f : batch) {
            buffers.emplace_back(f.data(), f.size());
        }
        error_code ec;
        if (self->tls) {
            co_await asio::async_write(*self->tls, buffers, redirect_error(use_awaitable, ec));
        } else {
            co_await asio::async_write(self->socket, buffers, redirect_error(use_awaitable, ec));
        }
        if (ec) {
            self->fail(make_error_code(client_errc::connection_lost),
                       ec == asio::error::operation_aborted ? "" : "write failed: " + ec.message());
        }
    }
}

namespace {
// Responses are read into the connection's own buffer with read_some: a response that has
// arrived whole costs one read, and the read after it (which finds the socket drained) is the
// one Asio tries before it waits for epoll. (Reading the size prefix and then the body took
// three reads per response.) The buffer starts small and grows to read_chunk when reads fill
// it; complete frames are copied out of it. A response whose rest is bigger than read_chunk is
// read straight into its own frame, which starts at read_chunk and at most doubles per read,
// so a size prefix that promises more than the broker sends costs only what was really sent.
constexpr size_t first_read_buffer = 16 * 1024;
constexpr size_t read_chunk = 64 * 1024;

// OpenSSL's reason for a failed handshake (the verify result says why a certificate was
// refused: "certificate verify failed" alone does not).
std::string read_failure(const error_code& ec, bool mid_frame) {
    if (ec == asio::error::eof) {
        return mid_frame ? "closed by the broker in the middle of a response" : "closed by the broker";
    }
    return ec.message();
}
} // namespace

asio::awaitable<void> kafka_client::link::read_loop() {
    auto self = shared_from_this();
    bytes in(first_read_buffer);  // what read_some fills
    bytes pending;                // bytes read and not yet a whole frame, from pending_pos
    size_t pending_pos = 0;
    while (!self->dead) {
        error_code ec;
        std::optional<bytes> frame;
        if (pending.size() - pending_pos >= 4) {
            const uint8_t* at = pending.data() + pending_pos;
            auto size = int32_t(load_be32(at));
            if (size < 4 || size > self->max_response_bytes) {
                // Checked before allocating: a hostile or corrupt prefix must not reserve 2 GiB.
                self->fail(make_error_code(client_errc::bad_response),
                           fmt::format("response size {} outside 4..{}", size, self->max_response_bytes));
                break;
            }
            if (self->in_flight.empty()) {
                self->fail(make_error_code(client_errc::bad_response), "a response to no request");
                break;
            }
            size_t have = pending.size() - pending_pos - 4;
            if (have >= size_t(size)) {
                frame.emplace(at + 4, at + 4 + size);
                pending_pos += 4 + size_t(size);
                if (pending_pos == pending.size()) {
                    pending.clear();
                    pending_pos = 0;
                }
            } else if (size_t(size) - have > read_chunk) {
                // A big response: the rest goes straight into its own frame.
                frame.emplace(at + 4, at + 4 + have);
                pending.clear();
                pending_pos = 0;
                while (!ec && frame->size() < size_t(size)) {
                    size_t got = frame->size();
                    frame->resize(std::min(size_t(size), std::max(read_chunk, got * 2)));
                    auto into = asio::buffer(frame->data() + got, frame->size() - got);
                    if (self->tls) {
                        co_await asio::async_read(*self->tls, into, redirect_error(use_awaitable, ec));
                    } else {
                        co_await asio::async_read(self->socket, into, redirect_error(use_awaitable, ec));
                    }
                }
                if (self->dead) {
                    break;
                }
                if (ec) {
                    self->fail(make_error_code(client_errc::connection_lost), read_failure(ec, true));
                    break;
                }
            }
        }
        if (!frame) {
            size_t n = 0;
            if (self->tls) {
                n = co_await self->tls->async_read_some(asio::buffer(in), redirect_error(use_awaitable, ec));
            } else {
                n = co_await self->socket.async_read_some(asio::buffer(in), redirect_error(use_awaitable, ec));
            }
            if (self->dead) {
                break;
            }
            if (ec) {
                self->fail(make_error_code(client_errc::connection_lost),
                           read_failure(ec, pending.size() > pending_pos));
                break;
            }
            if (pending_pos > 0) {  // keep only the unconsumed tail
                pending.erase(pending.begin(), pending.begin() + ptrdiff_t(pending_pos));
                pending_pos = 0;
            }
            pending.insert(pending.end(), in.data(), in.data() + n);
            if (n == in.size() && in.size() < read_chunk) {
                in.resize(std::min(read_chunk, in.size() * 2));  // reads fill it: more is waiting
            }
            continue;
        }
        auto call = self->in_flight.front();
        int32_t correlation_id = int32_t(load_be32(frame->data()));
        if (correlation_id != call->correlation_id) {
            // Kafka answers in order: an answer to anything else means the stream is lost.
            self->fail(make_error_code(client_errc::bad_response),
                       fmt::format("response with correlation id {} where {} was due", correlation_id,
                                   call->correlation_id));
            break;
        }
        self->in_flight.pop_front();
        call->done = true;
        call->response = std::move(*frame);
        if (call->wake) {
            call->wake->cancel();
        }
    }
}

kafka_client::kafka_client(asio::any_io_executor ex, config::host_port target, kafka_client_options options)
  : _ex(ex)
  , _target(std::move(target))
  , _peer(config::format_host_port(_target.host, _target.port))
  , _options(std::move(options))
  , _resolver(ex)
  , _backoff_timer(ex)
  , _backoff(_options.reconnect_backoff) {}

kafka_client::~kafka_client() { close(); }

void kafka_client::close() {
    _closed = true;
    _resolver.cancel();
    _backoff_timer.cancel();
    if (_link) {
        _link->fail(make_error_code(client_errc::closed), "");
    }
    wake_connect_waiters();
}

bool kafka_client::connected() const noexcept { return _link && _link->ready && !_link->dead; }

bool kafka_client::peer_closed() const noexcept {
    if (!connected() || !_link->in_flight.empty()) {
        return false;
    }
    uint8_t b;
    ssize_t n = ::recv(_link->socket.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

kafka_client::clock::time_point kafka_client::reconnect_at() const noexcept {
    auto at = _reconnect_at;
    if (_link && _link->dead && _link->ready && !_link->retired) {
        at = std::max(at, _link->dead_at + _options.reconnect_backoff);
    }
    return at;
}

int32_t kafka_client::next_correlation_id() noexcept {
    _next_correlation = _next_correlation == INT32_MAX ? 0 : _next_correlation + 1;
    return _next_correlation;
}

result<int16_t> kafka_client::version_for(int16_t api_key, int16_t wanted_max) const {
    if (_versions.empty()) {
        return client_errc::not_connected;
    }
    return _versions.version_for(api_key, wanted_max);
}

result<void> kafka_client::check_version(int16_t api_key, int16_t version, int16_t ours_min, int16_t ours_max) const {
    if (version < ours_min || version > ours_max) {
        return client_errc::unsupported_version;
    }
    if (!_options.ask_api_versions) {
        return success();
    }
    if (!protocol::find_api(api_key)) {
        // A private API (the coordinator's RPCs, outside protocol::find_api's Kafka table):
        // the peer's range alone says, our own was checked above.
        const auto& ranges = _versions.ranges();
        auto it = std::find_if(ranges.begin(), ranges.end(), [&](const auto& r) { return r.key == api_key; });
        if (it == ranges.end() || version < it->min_version || version > it->max_version) {
            return client_errc::unsupported_version;
        }
        return success();
    }
    auto best = _versions.version_for(api_key, version);
    if (!best || *best != version) {
        return client_errc::unsupported_version;
    }
    return success();
}

void kafka_client::wake_connect_waiters() {
    for (auto* t : _connect_waiters) {
        t->cancel();
    }
}

asio::awaitable<result<void>> kafka_client::connect(std::chrono::milliseconds timeout) {
    co_return co_await ensure_link(clock::now() + timeout);
}

// One connection attempt at a time: the first call without a connection makes it, and the
// calls that come meanwhile wait for its outcome (each until its own deadline).
asio::awaitable<result<void>> kafka_client::ensure_link(clock::time_point deadline) {
    if (_closed) {
        co_return client_errc::closed;
    }
    if (connected() && _link->renew_at && clock::now() >= *_link->renew_at && _link->in_flight.empty()) {
        // Its SASL session nears its end and nothing waits on it: a new connection
        // authenticates afresh before the broker would close this one (KIP-368).
        TLOG_DEBUG("connection to broker {}: SASL session near its end, reconnecting", _peer);
        _link->retired = true;
        _link->fail(make_error_code(client_errc::connection_lost), "");
    }
    if (connected()) {
        co_return success();
    }
    if (!_connecting) {
        _connecting = true;
        auto r = co_await open_link(deadline);
        _connecting = false;
        ++_connect_attempts;
        wake_connect_waiters();
        co_return r;
    }
    const uint64_t attempt = _connect_attempts;
    asio::steady_timer wait(_ex);
    wait.expires_at(deadline);
    _connect_waiters.push_back(&wait);
    while (!_closed && _connect_attempts == attempt && clock::now() < deadline) {
        error_code ec;
        co_await wait.async_wait(redirect_error(use_awaitable, ec));
    }
    _connect_waiters.erase(std::find(_connect_waiters.begin(), _connect_waiters.end(), &wait));
    if (_closed) {
        co_return client_errc::closed;
    }
    if (connected()) {
        co_return success();
    }
    co_return _connect_attempts == attempt ? client_errc::timed_out : client_errc::not_connected;
}

void kafka_client::connect_failed(std::string reason) {
    if (_closed) {
        return;
    }
    _reconnect_at = clock::now() + _backoff;
    if (_backoff == _options.reconnect_backoff && _options.log_connect_failures) {  // the first in a row
        TLOG_WARN("cannot connect to broker {}: {}", _peer, reason);
    } else {
        TLOG_DEBUG("cannot connect to broker {}: {}", _peer, reason);
    }
    _backoff = std::min(_backoff * 2, _options.reconnect_backoff_max);
    _last_error = std::move(reason);
}

asio::awaitable<result<void>> kafka_client::open_link(clock::time_point deadline) {
    // The back-off first: a caller retrying at once waits here, within its deadline.
    if (auto at = reconnect_at(); clock::now() < at) {
        _backoff_timer.expires_at(std::min(at, deadline));
        error_code ec;
        co_await _backoff_timer.async_wait(redirect_error(use_awaitable, ec));
        if (_closed) {
            co_return client_errc::closed;
        }
        if (clock::now() < at) {
            co_return client_errc::timed_out;
        }
    }
    const auto attempt_deadline = std::min(deadline, clock::now() + _options.connect_timeout);
    auto l = std::make_shared<link>(_ex, _peer, _options.max_response_bytes);
    _link = l;

    // Resolving and connecting are cut short by closing (or cancelling) when the deadline
    // passes; `expired` tells that apart from a refusal.
    bool expired = false;
    asio::steady_timer guard(_ex);
    guard.expires_at(attempt_deadline);
    guard.async_wait([&expired, this, l](error_code e) {
        if (!e) {
            expired = true;
            _resolver.cancel();
            error_code ignored;
            l->socket.close(ignored);
        }
    });
    // Named, not temporaries in the co_await: see the g++ 12 note in broker/README.md.
    const std::string host = _target.host;
    const std::string service = std::to_string(_target.port);
    error_code ec;
    auto endpoints = co_await _resolver.async_resolve(host, service, redirect_error(use_awaitable, ec));
    if (!ec && !_closed) {
        co_await asio::async_connect(l->socket, endpoints, redirect_error(use_awaitable, ec));
    }
    std::string failed_step = "connect";
    if (!ec && !_closed && !expired && _options.tls) {
        failed_step = "TLS handshake";
        l->socket.set_option(tcp::no_delay(true), ec);
        l->tls_context = _options.tls->fresh(clock::now());
        l->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(l->socket, *l->tls_context);
        error_code not_an_address;
        asio::ip::make_address(host, not_an_address);
        if (not_an_address) {
            SSL_set_tlsext_host_name(l->tls->native_handle(), host.c_str());  // SNI takes names only
        }
        if (_options.tls_verify_host) {
            l->tls->set_verify_callback(asio::ssl::host_name_verification(host));
        }
        ERR_clear_error();
        co_await l->tls->async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
    }
    guard.cancel();
    if (_closed) {
        co_return client_errc::closed;
    }
    if (ec || expired) {
        l->fail(make_error_code(client_errc::not_connected), "");
        std::string reason = expired                    ? failed_step + " timed out"
                             : failed_step == "connect" ? ec.message()
                                                        : failed_step + ": " + tls_failure_reason(ec, l->tls->native_handle());
        connect_failed(std::move(reason));
        co_return client_errc::not_connected;
    }
    l->socket.set_option(tcp::no_delay(true), ec);
    l->start();
    result<void> agreed;
    if (_options.ask_api_versions) {
        agreed = co_await negotiate(l, attempt_deadline);
    }
    if (agreed && !_options.sasl_mechanism.empty()) {
        agreed = co_await authenticate(l, attempt_deadline);
    }
    if (!agreed) {
        if (_closed) {
            co_return client_errc::closed;
        }
        l->fail(make_error_code(client_errc::not_connected), "");
        connect_failed(_last_error);
        co_return client_errc::not_connected;
    }
    l->ready = true;
    _backoff = _options.reconnect_backoff;
    _reconnect_at = {};
    co_return success();
}

// ApiVersions at the newest version we speak; a broker that does not serve it answers in the
// v0 layout with UNSUPPORTED_VERSION and its own range, and we ask again at the highest
// version both serve (Kafka's clients do the same). Sets _last_error on failure.
asio::awaitable<result<void>> kafka_client::negotiate(const std::shared_ptr<link>& l, clock::time_point deadline) {
    int16_t version = protocol::api_versions_request::max_version;
    for (int attempt = 0; attempt < 2; ++attempt) {
        protocol::api_versions_request req;
        req.client_software_name = "tributary";
        req.client_software_version = config::version;
        const int32_t correlation_id = next_correlation_id();
        bytes frame = encode_request_frame(req, version, correlation_id, _options.client_id);
        auto answer = co_await exchange(l, frame, correlation_id, deadline);
        if (!answer) {
            _last_error = fmt::format("ApiVersions v{}: {}", version, answer.error().message());
            co_return answer.error();
        }
        auto resp = decode_api_versions(*answer, version, correlation_id);
        if (!resp) {
            _last_error = fmt::format("ApiVersions v{}: the answer ({} bytes) does not decode", version,
                                      answer->size());
            co_return resp.error();
        }
        if (resp->error_code == 0) {
            _versions = api_version_table(*resp);
            co_return success();
        }
        int16_t retry = api_versions_retry_version(*resp, version);
        if (retry < 0) {
            _last_error = fmt::format("ApiVersions v{}: {}", version,
                                      protocol::error_code_name(protocol::error_code(resp->error_code)));
            co_return client_errc::not_connected;
        }
        version = retry;
    }
    _last_error = "ApiVersions: refused at every version tried";
    co_return client_errc::not_connected;
}

// SaslHandshake v1 (v0 would carry the tokens outside Kafka framing), then SaslAuthenticate
// with each token of the exchange until it ends. Sets _last_error on failure.
asio::awaitable<result<void>> kafka_client::authenticate(const std::shared_ptr<link>& l, clock::time_point deadline) {
    const std::string& mechanism = _options.sasl_mechanism;
    auto client = security::make_sasl_client(mechanism, _options.sasl_username, _options.sasl_password);
    auto handshake_version = version_for(protocol::sasl_handshake_request::api_key, 1);
    if (!client || !handshake_version || *handshake_version < 1) {
        _last_error = !client ? fmt::format("SASL mechanism {} is not one this client speaks", mechanism)
                              : "the broker does not serve SaslHandshake v1";
        co_return client_errc::not_connected;
    }
    {
        protocol::sasl_handshake_request req;
        req.mechanism = mechanism;
        const int32_t correlation_id = next_correlation_id();
        bytes frame = encode_request_frame(req, *handshake_version, correlation_id, _options.client_id);
        auto answer = co_await exchange(l, frame, correlation_id, deadline);
        if (!answer) {
            _last_error = fmt::format("SaslHandshake: {}", answer.error().message());
            co_return answer.error();
        }
        auto resp = decode_response<protocol::sasl_handshake_response>(*answer, *handshake_version, correlation_id);
        if (!resp) {
            _last_error = "SaslHandshake: the answer does not decode";
            co_return resp.error();
        }
        if (resp->error_code != 0) {
            _last_error = fmt::format("SaslHandshake {}: {} (the broker enables: {})", mechanism,
                                      protocol::error_code_name(protocol::error_code(resp->error_code)),
                                      fmt::join(resp->mechanisms, ", "));
            co_return client_errc::not_connected;
        }
    }
    auto auth_version = version_for(protocol::sasl_authenticate_request::api_key,
                                    protocol::sasl_authenticate_request::max_version);
    if (!auth_version) {
        _last_error = "the broker does not serve SaslAuthenticate";
        co_return client_errc::not_connected;
    }
    std::string token = client->first();
    for (;;) {
        protocol::sasl_authenticate_request req;
        req.auth_bytes.assign(token.begin(), token.end());
        const int32_t correlation_id = next_correlation_id();
        bytes frame = encode_request_frame(req, *auth_version, correlation_id, _options.client_id);
        auto answer = co_await exchange(l, frame, correlation_id, deadline);
        if (!answer) {
            _last_error = fmt::format("SaslAuthenticate: {}", answer.error().message());
            co_return answer.error();
        }
        auto resp = decode_response<protocol::sasl_authenticate_response>(*answer, *auth_version, correlation_id);
        if (!resp) {
            _last_error = "SaslAuthenticate: the answer does not decode";
            co_return resp.error();
        }
        if (resp->error_code != 0) {
            _last_error = fmt::format(
                "SASL {} authentication as {} failed: {}", mechanism, _options.sasl_username,
                resp->error_message ? *resp->error_message
                                   : std::string(protocol::error_code_name(protocol::error_code(resp->error_code))));
            co_return client_errc::not_connected;
        }
        const int64_t lifetime_ms = resp->session_lifetime_ms;
        auto next = client->next(as_string_view(resp->auth_bytes));
        if (!next) {
            _last_error = fmt::format("SASL {} authentication as {}: {}", mechanism, _options.sasl_username,
                                      next.error());
            co_return client_errc::not_connected;
        }
        if (!next.value()) {
            if (lifetime_ms > 0) {
                // Renewed at 85% of the lifetime, as Kafka's clients re-authenticate at 85-95%.
                l->renew_at = clock::now() + std::chrono::milliseconds(lifetime_ms - lifetime_ms * 15 / 100);
            }
            co_return success();
        }
        token = std::move(*next.value());
    }
}

asio::awaitable<result<bytes>> kafka_client::exchange(const std::shared_ptr<link>& l, bytes& frame,
                                                      int32_t correlation_id, clock::time_point deadline) {
    if (l->dead) {
        co_return client_errc::connection_lost;
    }
    auto call = std::make_shared<pending_call>();
    call->correlation_id = correlation_id;
    asio::steady_timer wake(_ex);
    wake.expires_at(deadline);
    call->wake = &wake;
    l->in_flight.push_back(call);
    l->out.push_back(std::move(frame));
    l->writer_wake.cancel();
    while (!call->done) {
        error_code ec;
        co_await wake.async_wait(redirect_error(use_awaitable, ec));
        if (!call->done && clock::now() >= deadline) {
            call->wake = nullptr;
            l->fail(make_error_code(client_errc::connection_lost),
                    fmt::format("no answer to correlation id {} by its deadline; closing, as every later "
                                "answer waits behind it",
                                correlation_id));
            co_return client_errc::timed_out;
        }
    }
    call->wake = nullptr;
    if (call->error) {
        co_return call->error;
    }
    co_return std::move(call->response);
}

} // namespace trib::net
