#include "broker/jwks_https.h"

#include "common/config.h"
#include "common/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <openssl/err.h>

#include <algorithm>

namespace trib::broker {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// A JWKS of a few keys is a few KiB; anything past this is not one.
constexpr size_t max_body = 1 << 20;

template<typename T>
security::outcome<T> fail(std::string why) {
    return security::outcome<T>::failure(std::move(why));
}

} // namespace

jwks_https::jwks_https(options o, const std::string& key) : _o(std::move(o)) {
    // A back-off ago, so the first unknown kid fetches at once (the steady clock's epoch, the
    // machine's boot, may be less than a back-off away).
    _last_expedite = clock::now() - _o.unknown_kid_backoff;
    auto u = parse_http_url(_o.url);
    if (!u) {
        throw config::config_error(key + ": '" + _o.url + "': " + u.error());
    }
    _target = std::move(u.value());
    if (_target.tls && !_o.tls) {
        throw config::config_error(key + ": an https: URL needs a TLS context");
    }
    asio::co_spawn(_io, run(), [url = _o.url](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                TLOG_ERROR("OAUTHBEARER: the JWKS fetcher of {} stopped: {}", url, x.what());
            }
        }
    });
    _thread = std::thread([this] { _io.run(); });
    // The first round is bounded (retry_backoff_max plus one request); the bound here only
    // guards against a fault in the fetcher keeping the broker from starting.
    wait_rounds(1, _o.retry_backoff_max + 2 * _o.request_timeout + std::chrono::seconds(5));
}

uint64_t jwks_https::rounds() {
    std::lock_guard lock(_mu);
    return _rounds;
}

bool jwks_https::wait_rounds(uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(_mu);
    return _round_done.wait_for(lock, timeout, [&] { return _rounds >= n; });
}

jwks_https::~jwks_https() {
    _stopping = true;
    _io.stop();
    if (_thread.joinable()) {
        _thread.join();
    }
}

std::shared_ptr<const security::jwks> jwks_https::current() {
    std::lock_guard lock(_mu);
    return _keys;
}

std::shared_ptr<const security::jwks> jwks_https::reload_for_unknown_kid() {
    std::lock_guard lock(_mu);
    const auto now = clock::now();
    if (now - _last_expedite >= _o.unknown_kid_backoff) {
        _last_expedite = now;
        _expedite = true;
        asio::post(_io, [this] { _next_round.cancel(); });
    }
    return _keys;
}

std::string jwks_https::no_keys_reason() {
    std::lock_guard lock(_mu);
    return "the JWKS at " + _o.url + " could not be fetched yet" +
           (_last_failure.empty() ? std::string() : " (" + _last_failure + ")");
}

asio::awaitable<void> jwks_https::run() {
    const char* why = "start-up";
    for (;;) {
        {
            std::lock_guard lock(_mu);
            _expedite = false;
        }
        const bool ok = co_await round(why);
        bool again = false, have_keys = false;
        {
            std::lock_guard lock(_mu);
            ++_rounds;
            again = _expedite;
            have_keys = _keys != nullptr;
        }
        _round_done.notify_all();
        if (_stopping) {
            co_return;
        }
        if (!again) {
            // Without keys, logins are refused until a round succeeds: try again sooner than a
            // refresh interval (an hour by default), but not in a tight loop.
            const auto retry = std::max<std::chrono::milliseconds>(_o.retry_backoff_max, std::chrono::seconds(1));
            _next_round.expires_after(have_keys ? _o.refresh : retry);
            error_code ec;
            co_await _next_round.async_wait(redirect_error(use_awaitable, ec));
            if (_stopping) {
                co_return;
            }
            std::lock_guard lock(_mu);
            again = _expedite;
        }
        why = again ? "a token's kid is not among the keys" : ok || have_keys ? "refresh interval" : "retry";
    }
}

asio::awaitable<bool> jwks_https::round(const char* why) {
    const auto end = clock::now() + _o.retry_backoff_max;
    auto backoff = _o.retry_backoff;
    asio::steady_timer pause(_io);
    for (int attempt = 1;; ++attempt) {
        auto body = co_await fetch();
        std::string failure;
        if (body) {
            auto keys = security::parse_jwks(body.value());
            if (!keys) {
                failure = "not a valid JWKS: " + keys.error();
            } else if (keys.value().keys.empty()) {
                failure = "the JWKS has no RSA or EC signature key";
            } else {
                std::lock_guard lock(_mu);
                _last_failure.clear();
                if (body.value() != _body || !_keys) {
                    _body = std::move(body.value());
                    _keys = std::make_shared<const security::jwks>(std::move(keys.value()));
                    TLOG_INFO("OAUTHBEARER: read {} keys from the JWKS at {} ({})", _keys->keys.size(), _o.url, why);
                }
                co_return true;
            }
        } else {
            failure = body.error();
        }
        size_t in_use = 0;
        {
            std::lock_guard lock(_mu);
            _last_failure = failure;
            in_use = _keys ? _keys->keys.size() : 0;
        }
        const auto now = clock::now();
        const bool last = _stopping || now >= end;
        if (last) {
            if (in_use > 0) {
                TLOG_WARN("OAUTHBEARER: can't fetch the JWKS at {} ({}, attempt {}): {}; keeping the {} keys in use",
                          _o.url, why, attempt, failure, in_use);
            } else {
                TLOG_WARN("OAUTHBEARER: can't fetch the JWKS at {} ({}, attempt {}): {}; OAUTHBEARER logins are "
                          "refused until it can be fetched",
                          _o.url, why, attempt, failure);
            }
            co_return false;
        }
        TLOG_INFO("OAUTHBEARER: can't fetch the JWKS at {} ({}, attempt {}): {}; trying again", _o.url, why, attempt,
                  failure);
        pause.expires_after(std::min<clock::duration>(backoff, end - now));
        error_code ec;
        co_await pause.async_wait(redirect_error(use_awaitable, ec));
        backoff = std::max<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(1));
    }
}

asio::awaitable<security::outcome<std::string>> jwks_https::fetch() {
    using R = std::string;
    auto ex = co_await asio::this_coro::executor;
    // One deadline for the whole exchange: it cancels the lookup and closes the socket, which
    // ends whatever is pending with operation_aborted. The timer's handler may run after this
    // frame is gone (it fired as the exchange ended), so what it touches is shared with it.
    struct exchange {
        tcp::resolver resolver;
        tcp::socket socket;
        bool expired = false, over = false;
    };
    auto x = std::make_shared<exchange>(exchange{tcp::resolver(ex), tcp::socket(ex)});
    asio::steady_timer guard(ex);
    guard.expires_after(_o.request_timeout);
    guard.async_wait([x](const error_code& ec) {
        if (!ec && !x->over) {
            x->expired = true;
            x->resolver.cancel();
            error_code ignored;
            x->socket.close(ignored);
        }
    });
    struct end_guard {
        exchange& x;
        asio::steady_timer& t;
        ~end_guard() {
            x.over = true;
            t.cancel();
        }
    } end{*x, guard};
    auto& resolver = x->resolver;
    auto& socket = x->socket;
    const bool& expired = x->expired;
    std::shared_ptr<asio::ssl::context> tls_context;  // outlives `tls`
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
    auto failed = [&](const std::string& step, const error_code& ec) {
        std::string reason = expired ? step + " timed out after " + std::to_string(_o.request_timeout.count()) + " ms"
                             : tls && step == "TLS handshake" ? step + ": " + net::tls_failure_reason(ec, tls->native_handle())
                                                              : step + ": " + ec.message();
        return fail<R>(std::move(reason));
    };

    error_code ec;
    auto endpoints = co_await resolver.async_resolve(_target.host, std::to_string(_target.port),
                                                     redirect_error(use_awaitable, ec));
    if (ec || expired) {
        co_return failed("resolving " + _target.host, ec);
    }
    co_await asio::async_connect(socket, endpoints, redirect_error(use_awaitable, ec));
    if (ec || expired) {
        co_return failed("connecting to " + _target.host_header(), ec);
    }
    http::request<http::empty_body> req{http::verb::get, _target.target, 11};
    req.set(http::field::host, _target.host_header());
    req.set(http::field::user_agent, "tributary-broker");
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    if (_target.tls) {
        tls_context = _o.tls->fresh(clock::now());
        tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket, *tls_context);
        error_code not_an_address;
        asio::ip::make_address(_target.host, not_an_address);
        if (not_an_address) {
            SSL_set_tlsext_host_name(tls->native_handle(), _target.host.c_str());  // SNI takes names only
        }
        if (_o.verify_host) {
            tls->set_verify_callback(asio::ssl::host_name_verification(_target.host));
        }
        ERR_clear_error();
        co_await tls->async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
        if (ec || expired) {
            co_return failed("TLS handshake", ec);
        }
        co_await http::async_write(*tls, req, redirect_error(use_awaitable, ec));
        if (!ec && !expired) {
            co_await http::async_read(*tls, buffer, parser, redirect_error(use_awaitable, ec));
        }
    } else {
        co_await http::async_write(socket, req, redirect_error(use_awaitable, ec));
        if (!ec && !expired) {
            co_await http::async_read(socket, buffer, parser, redirect_error(use_awaitable, ec));
        }
    }
    if (ec == http::error::body_limit) {
        co_return fail<R>("the answer is larger than " + std::to_string(max_body) + " bytes");
    }
    if (ec || expired) {
        co_return failed("the HTTP exchange", ec);
    }
    auto& res = parser.get();
    if (res.result() != http::status::ok) {
        std::string why = "HTTP " + std::to_string(res.result_int()) + " " + std::string(res.reason());
        if (auto loc = res.find(http::field::location); loc != res.end()) {
            why += " (to " + std::string(loc->value()) + "; redirects are not followed)";
        }
        co_return fail<R>(std::move(why));
    }
    co_return std::move(res.body());
}

} // namespace trib::broker
