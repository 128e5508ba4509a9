#include "net/connection.h"

#include "net/dispatcher.h"
#include "net/tls.h"
#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace trib::net {

using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

connection::connection(asio::ip::tcp::socket sock, std::string listener,
                       request_dispatcher& dispatcher, connection_limits limits,
                       std::shared_ptr<asio::ssl::context> tls)
  : _socket(std::move(sock))
  , _tls_context(std::move(tls))
  , _listener(std::move(listener))
  , _dispatcher(dispatcher)
  , _limits(limits)
  , _state(dispatcher.open_connection(_listener))
  , _writer_wake(_socket.get_executor())
  , _reader_wake(_socket.get_executor())
  , _idle(_socket.get_executor()) {
    error_code ec;
    auto ep = _socket.remote_endpoint(ec);
    _peer = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    _socket.set_option(asio::ip::tcp::no_delay(true), ec);
    if (_tls_context) {
        _tls = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(_socket, *_tls_context);
    }
}


void connection::start() {
    _last_activity = std::chrono::steady_clock::now();
    if (_tls) {
        asio::co_spawn(_socket.get_executor(), [self = shared_from_this()]() { return self->handshake(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "TLS handshake"); });
        return;
    }
    start_loops();
}

asio::awaitable<void> connection::handshake() {
    auto self = shared_from_this();
    // The deadline closes the socket, which ends the handshake with operation_aborted.
    // Shared with the timer's handler, which may already be queued when the handshake ends.
    struct deadline_state {
        bool done = false;
        bool timed_out = false;
    };
    auto state = std::make_shared<deadline_state>();
    _idle.expires_after(_limits.tls_handshake_timeout);
    _idle.async_wait([this, self, state](error_code ec) {
        if (!ec && !state->done && !_closed) {
            state->timed_out = true;
            error_code ignored;
            _socket.close(ignored);
        }
    });
    error_code ec;
    co_await _tls->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec));
    state->done = true;
    _idle.cancel();
    if (state->timed_out) {
        close(fmt::format("TLS handshake not done within {} ms", _limits.tls_handshake_timeout.count()));
        co_return;
    }
    if (ec) {
        // OpenSSL's reason: "peer did not return a certificate", "certificate verify failed",
        // "wrong version number" (a plaintext client on an SSL listener), ...
        std::string reason = ec.message();
        if (ec.category() == asio::error::get_ssl_category()) {
            char buf[256];
            ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
            reason = buf;
            // Why a client certificate was refused: expired, unknown issuer, ...
            long verify = SSL_get_verify_result(_tls->native_handle());
            if (verify != X509_V_OK) {
                reason += std::string(" (client certificate: ") + X509_verify_cert_error_string(verify) + ")";
            }
        }
        if (ec == asio::error::eof || ec == asio::error::connection_reset) {
            reason = "the client closed the connection (" + ec.message() + "); it may not trust this broker's certificate";
        }
        TLOG_WARN("TLS handshake with {} on {} failed: {}", _peer, _listener, reason);
        close("");
        co_return;
    }
    if (_closed) {
        co_return;
    }
    if (_state) {
        _state->tls_established(peer_subject(_tls->native_handle()));
    }
    _last_activity = std::chrono::steady_clock::now();
    start_loops();
}

void connection::start_loops() {
    auto self = shared_from_this();
    auto ex = _socket.get_executor();
    asio::co_spawn(ex, [self]() { return self->read_loop(); },
                   [](std::exception_ptr e) { log_failed_coroutine(e, "connection reader"); });
    asio::co_spawn(ex, [self]() { return self->write_loop(); },
                   [](std::exception_ptr e) { log_failed_coroutine(e, "connection writer"); });
    asio::co_spawn(ex, [self]() { return self->idle_watch(); },
                   [](std::exception_ptr e) { log_failed_coroutine(e, "connection idle watch"); });
}

void connection::close(std::string_view reason) {
    if (_closed) {
        return;
    }
    _closed = true;
    if (!reason.empty()) {
        TLOG_WARN("closing connection from {} on {}: {}", _peer, _listener, reason);
    }
    error_code ec;
    _socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    _socket.close(ec);
    _writer_wake.cancel();
    _reader_wake.cancel();
    _idle.cancel();
}

namespace {
// A plaintext connection reads into a buffer of its own with an asynchronous read: Asio tries
// the read at once and, after a read that drained the socket, waits for epoll's next event
// without another read or an epoll_ctl. (A synchronous read into a per-core buffer followed by
// async_wait cost a failed recvfrom and an EPOLL_CTL_MOD on every wake-up: Asio re-arms the
// descriptor for each wait.) The buffer starts small, so an idle connection holds little, and
// grows to read_chunk when reads fill it. Complete requests are copied out of it; a partial
// request's bytes stay with the connection (_pending).
constexpr size_t first_read_buffer = 16 * 1024;
constexpr size_t read_chunk = 64 * 1024;
// A TLS connection reads at most a record's plaintext at a time (OpenSSL returns one record per
// read), so its own buffer needs no more.
constexpr size_t tls_record_max = 16 * 1024;
} // namespace

asio::awaitable<void> connection::read_loop() {
    auto self = shared_from_this();
    error_code ec;
    if (!_tls) {
        _socket.non_blocking(true, ec);  // send()'s sendfile must not block the core
    }
    while (!_closed) {
        while (_next_seq - _next_to_send >= _limits.max_in_flight && !_closed) {
            _reader_wake.expires_at(std::chrono::steady_clock::time_point::max());
            co_await _reader_wake.async_wait(redirect_error(use_awaitable, ec));
        }
        if (_closed) {
            break;
        }
        // A whole request already buffered: start it.
        if (_pending.size() - _pending_pos >= 4) {
            const uint8_t* at = _pending.data() + _pending_pos;
            auto size = int32_t(load_be32(at));
            if (size < 0 || size > _limits.max_request_bytes) {
                // Checked before allocating: a hostile prefix must not make us reserve 2 GiB.
                close(fmt::format("request size {} outside 0..{} (socket.request.max.bytes)", size,
                                  _limits.max_request_bytes));
                break;
            }
            size_t have = _pending.size() - _pending_pos - 4;
            if (have >= size_t(size)) {
                bytes frame(at + 4, at + 4 + size);
                _pending_pos += 4 + size_t(size);
                if (_pending_pos == _pending.size()) {
                    release_pending();
                }
                start_request(std::move(frame));
                continue;
            }
            if (size_t(size) - have > read_chunk) {
                // A big request: the rest goes straight into its own buffer.
                bytes frame(static_cast<size_t>(size));
                std::copy(at + 4, at + 4 + have, frame.begin());
                release_pending();
                if (_tls) {
                    co_await asio::async_read(*_tls, asio::buffer(frame.data() + have, frame.size() - have),
                                              redirect_error(use_awaitable, ec));
                } else {
                    co_await asio::async_read(_socket, asio::buffer(frame.data() + have, frame.size() - have),
                                              redirect_error(use_awaitable, ec));
                }
                if (ec) {
                    close(ec == asio::error::eof ? "connection closed in the middle of a request" : ec.message());
                    break;
                }
                start_request(std::move(frame));
                continue;
            }
        }
        size_t n = 0;
        const uint8_t* in = nullptr;
        if (_tls) {
            // Through OpenSSL, which returns at most one record's plaintext per read.
            if (_tls_in.empty()) {
                _tls_in.resize(tls_record_max);
            }
            n = co_await _tls->async_read_some(asio::buffer(_tls_in), redirect_error(use_awaitable, ec));
            in = _tls_in.data();
        } else {
            if (_in.empty()) {
                _in.resize(first_read_buffer);
            }
            n = co_await _socket.async_read_some(asio::buffer(_in), redirect_error(use_awaitable, ec));
            in = _in.data();
        }
        if (ec) {
            // EOF between requests is the client hanging up; anything else is worth a line.
            if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
                close(_pending_pos == _pending.size() ? "" : "connection closed in the middle of a request");
            } else {
                close(ec == asio::error::operation_aborted ? "" : ec.message());
            }
            break;
        }
        if (_pending_pos > 0) {  // keep only the unconsumed tail
            _pending.erase(_pending.begin(), _pending.begin() + ptrdiff_t(_pending_pos));
            _pending_pos = 0;
        }
        _pending.insert(_pending.end(), in, in + n);
        if (!_tls && n == _in.size() && _in.size() < read_chunk) {
            _in.resize(std::min(read_chunk, _in.size() * 2));  // reads fill it: more is waiting
        }
    }
}

void connection::release_pending() {
    _pending_pos = 0;
    _pending.clear();
    if (_pending.capacity() > 16 * 1024) {
        _pending.shrink_to_fit();  // an idle connection keeps no big buffer
    }
}

void connection::start_request(bytes frame) {
    if (_close_after) {
        return;  // closing after an earlier response: nothing read after it is served
    }
    _last_activity = std::chrono::steady_clock::now();
    uint64_t seq = _next_seq++;
    asio::co_spawn(_socket.get_executor(),
                   [self = shared_from_this(), seq, f = std::move(frame)]() mutable {
                       return self->handle(seq, std::move(f));
                   },
                   [](std::exception_ptr e) { log_failed_coroutine(e, "request handler"); });
}

asio::awaitable<void> connection::handle(uint64_t seq, bytes frame) {
    auto self = shared_from_this();
    connection_info info{_listener, _peer, _state.get()};
    dispatch_result r;
    try {
        r = co_await _dispatcher.dispatch(std::move(frame), info);
    } catch (const std::exception& e) {
        r = close_connection{std::string("internal error: ") + e.what()};
    }
    if (auto* c = std::get_if<close_connection>(&r)) {
        close(c->reason);
        co_return;
    }
    if (auto* last = std::get_if<respond_then_close>(&r)) {
        if (!_close_after) {
            _close_after.emplace(seq, std::move(last->reason));
        }
        complete(seq, std::move(last->frame));
    } else if (auto* resp = std::get_if<respond>(&r)) {
        complete(seq, std::move(resp->frame));
    } else {
        complete(seq, std::nullopt);
    }
}

void connection::complete(uint64_t seq, std::optional<outgoing_frame> response) {
    _ready.emplace(seq, std::move(response));
    if (seq == _next_to_send) {
        _writer_wake.cancel();
    }
}

namespace {
// How many bytes of several responses a write gathers into one buffer.
constexpr size_t batch_bytes_max = 256 * 1024;
} // namespace

asio::awaitable<void> connection::write_loop() {
    auto self = shared_from_this();
    while (!_closed) {
        if (!_ready.contains(_next_to_send)) {
            error_code ec;
            _writer_wake.expires_at(std::chrono::steady_clock::time_point::max());
            co_await _writer_wake.async_wait(redirect_error(use_awaitable, ec));
            continue;
        }
        // Every response already waiting in order goes out in one write (a producer with
        // requests to several partitions in flight gets their answers together): one send and
        // one wake-up of the client instead of one each. A response read from big file slices
        // goes on its own, with sendfile; more than one response go together up to batch_bytes_max.
        std::vector<outgoing_frame> batch;
        size_t batch_bytes = 0;
        bool closing = false;
        for (auto it = _ready.find(_next_to_send); it != _ready.end(); it = _ready.find(_next_to_send)) {
            const auto& next = it->second;
            if (next && !batch.empty() &&
                (!inlined(*next) || !inlined(batch.back()) ||
                 batch_bytes + next->data.size() + next->splice_bytes() > batch_bytes_max)) {
                break;
            }
            if (next) {
                batch_bytes += next->data.size() + next->splice_bytes();
                batch.push_back(std::move(*it->second));
            }
            _ready.erase(it);
            const uint64_t sent = _next_to_send++;
            if (_close_after && _close_after->first == sent) {
                closing = true;
                break;
            }
        }
        _reader_wake.cancel();
        bool ok = true;  // two statements: GCC 12 miscompiled co_await on a ?: of the two (a crash)
        if (batch.size() == 1) {
            ok = co_await send(batch.front());
        } else if (batch.size() > 1) {
            ok = co_await send_inlined(batch);
        }
        if (!ok) {
            close("write failed");
            break;
        }
        if (closing) {
            close(_close_after->second);
            break;
        }
        _last_activity = std::chrono::steady_clock::now();
    }
}

namespace {
// A response whose file slices add up to no more than this is sent as one buffer, the
// slices read into it, rather than a send per part and a sendfile per slice: a consumer
// keeping up fetches a few KiB at a time, and for that one write costs less than zero copy.
constexpr size_t inline_slices_max = 64 * 1024;

// Appends the frame to `out`, its slices read in at their splice points. False (logged) when a
// file turned out shorter than its slice: the client was promised those bytes.
bool gather(const outgoing_frame& f, bytes& out, const std::string& peer) {
    const size_t at = out.size();
    out.resize(at + f.data.size() + f.splice_bytes());
    size_t from = 0;
    uint8_t* to = out.data() + at;
    for (const auto& sp : f.splices) {
        to = std::copy(f.data.begin() + ptrdiff_t(from), f.data.begin() + ptrdiff_t(sp.at), to);
        from = sp.at;
        size_t done = 0;
        while (done < sp.slice.len) {
            ssize_t n = ::pread(sp.slice.fd, to + done, sp.slice.len - done, off_t(sp.slice.pos) + off_t(done));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                TLOG_WARN("reading a response's data for {} failed: {}", peer,
                          n == 0 ? "unexpected end of file" : strerror(errno));
                return false;
            }
            done += size_t(n);
        }
        to += sp.slice.len;
    }
    std::copy(f.data.begin() + ptrdiff_t(from), f.data.end(), to);
    return true;
}
} // namespace

bool connection::inlined(const outgoing_frame& f) const noexcept {
    // Through TLS always: sendfile would bypass OpenSSL.
    return f.splices.empty() || _tls || f.splice_bytes() <= inline_slices_max;
}

asio::awaitable<bool> connection::write_all(asio::const_buffer b) {
    error_code ec;
    if (_tls) {
        co_await asio::async_write(*_tls, b, redirect_error(use_awaitable, ec));
    } else {
        co_await asio::async_write(_socket, b, redirect_error(use_awaitable, ec));
    }
    co_return !ec;
}

asio::awaitable<bool> connection::send_inlined(std::span<const outgoing_frame> frames) {
    bytes buf;
    for (const auto& f : frames) {
        if (!gather(f, buf, _peer)) {
            co_return false;
        }
    }
    co_return co_await write_all(asio::buffer(buf));
}

asio::awaitable<bool> connection::send(const outgoing_frame& f) {
    if (f.splices.empty()) {
        co_return co_await write_all(asio::buffer(f.data));
    }
    if (inlined(f)) {
        co_return co_await send_inlined({&f, 1});
    }
    error_code ec;
    size_t written = 0;
    for (const auto& sp : f.splices) {
        if (sp.at > written) {
            co_await asio::async_write(_socket, asio::buffer(f.data.data() + written, sp.at - written),
                                       redirect_error(use_awaitable, ec));
            if (ec) {
                co_return false;
            }
            written = sp.at;
        }
        // sendfile on the non-blocking socket; wait for writability when it would block.
        off_t pos = sp.slice.pos;
        size_t left = sp.slice.len;
        while (left > 0) {
            ssize_t n = ::sendfile(_socket.native_handle(), sp.slice.fd, &pos, left);
            if (n > 0) {
                left -= size_t(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                co_await _socket.async_wait(asio::ip::tcp::socket::wait_write,
                                            redirect_error(use_awaitable, ec));
                if (ec) {
                    co_return false;
                }
                continue;
            }
            // The file got shorter under us (truncation or retention): the client has been
            // promised `len` bytes, so the connection can't continue.
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                TLOG_DEBUG("{} closed the connection during a response", _peer);
            } else {
                TLOG_WARN("sendfile to {} failed: {}", _peer, n == 0 ? "unexpected end of file" : strerror(errno));
            }
            co_return false;
        }
    }
    if (written < f.data.size()) {
        co_await asio::async_write(_socket, asio::buffer(f.data.data() + written, f.data.size() - written),
                                   redirect_error(use_awaitable, ec));
    }
    co_return !ec;
}

asio::awaitable<void> connection::idle_watch() {
    auto self = shared_from_this();
    while (!_closed) {
        auto deadline = _last_activity + _limits.idle_timeout;
        if (std::chrono::steady_clock::now() >= deadline && _next_to_send == _next_seq) {
            close(fmt::format("idle for {} ms (connections.max.idle.ms)", _limits.idle_timeout.count()));
            break;
        }
        error_code ec;
        _idle.expires_at(std::max(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)));
        co_await _idle.async_wait(redirect_error(use_awaitable, ec));
    }
}

} // namespace trib::net
