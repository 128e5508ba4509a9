#include "broker/jwks_https.h"

#include "common/config.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

namespace trib::broker {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A JWKS with one EC P-256 key (the curve's generator point: a valid public key) named `kid`.
std::string jwks_with(const std::string& kid) {
    return R"({"keys":[{"kty":"EC","kid":")" + kid +
           R"(","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",)"
           R"("y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}]})";
}

// An HTTP server on a loopback port answering each request with the next of the answers the
// test queued (status, body); with none queued it closes the connection unanswered.
class http_server {
public:
    http_server() : _acceptor(_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        _thread = std::thread([this] { serve(); });
    }
    ~http_server() {
        error_code ignored;
        _stop = true;
        // wake the accept with a connection of our own
        tcp::socket s(_io);
        s.connect(_acceptor.local_endpoint(), ignored);
        _thread.join();
    }
    uint16_t port() const { return _acceptor.local_endpoint().port(); }
    void answer(int status, std::string body) {
        std::lock_guard lock(_mu);
        _answers.emplace_back(status, std::move(body));
    }
    int requests() {
        std::lock_guard lock(_mu);
        return _requests;
    }
    std::string last_request() {
        std::lock_guard lock(_mu);
        return _last;
    }

private:
    using error_code = boost::system::error_code;
    void serve() {
        for (;;) {
            tcp::socket s(_io);
            error_code ec;
            _acceptor.accept(s, ec);
            if (_stop || ec) {
                return;
            }
            asio::streambuf in;
            asio::read_until(s, in, "\r\n\r\n", ec);
            std::optional<std::pair<int, std::string>> a;
            {
                std::lock_guard lock(_mu);
                _last = std::string(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
                ++_requests;
                if (!_answers.empty()) {
                    a = std::move(_answers.front());
                    _answers.pop_front();
                }
            }
            if (a) {
                const std::string reply = "HTTP/1.1 " + std::to_string(a->first) + " X\r\nContent-Length: " +
                                          std::to_string(a->second.size()) + "\r\nConnection: close\r\n\r\n" +
                                          a->second;
                asio::write(s, asio::buffer(reply), ec);
            }
        }
    }

    asio::io_context _io;
    tcp::acceptor _acceptor;
    std::atomic<bool> _stop{false};
    std::mutex _mu;
    std::deque<std::pair<int, std::string>> _answers;
    int _requests = 0;
    std::string _last;
    std::thread _thread;
};

jwks_https::options http_options(uint16_t port) {
    jwks_https::options o;
    o.url = "http://127.0.0.1:" + std::to_string(port) + "/keys?v=1";
    o.retry_backoff = std::chrono::milliseconds(1);
    o.retry_backoff_max = std::chrono::milliseconds(0);  // one attempt per round
    o.unknown_kid_backoff = std::chrono::milliseconds(0);
    o.request_timeout = std::chrono::seconds(10);
    return o;
}

TEST(http_url, parses_what_a_jwks_endpoint_looks_like) {
    auto u = parse_http_url("https://idp.example/realms/kafka/protocol/openid-connect/certs");
    ASSERT_TRUE(u) << u.error();
    EXPECT_TRUE(u.value().tls);
    EXPECT_EQ(u.value().host, "idp.example");
    EXPECT_EQ(u.value().port, 443);
    EXPECT_EQ(u.value().target, "/realms/kafka/protocol/openid-connect/certs");
    EXPECT_EQ(u.value().host_header(), "idp.example");

    u = parse_http_url("HTTP://127.0.0.1:8080?x=1#frag");
    ASSERT_TRUE(u) << u.error();
    EXPECT_FALSE(u.value().tls);
    EXPECT_EQ(u.value().port, 8080);
    EXPECT_EQ(u.value().target, "/?x=1");
    EXPECT_EQ(u.value().host_header(), "127.0.0.1:8080");

    u = parse_http_url("https://[::1]:8443/jwks");
    ASSERT_TRUE(u) << u.error();
    EXPECT_EQ(u.value().host, "::1");
    EXPECT_EQ(u.value().port, 8443);
    EXPECT_EQ(u.value().host_header(), "[::1]:8443");
}

TEST(http_url, refuses_what_it_cannot_fetch) {
    auto why = [](std::string_view url) {
        auto u = parse_http_url(url);
        return u ? std::string("accepted") : u.error();
    };
    EXPECT_NE(why("ftp://idp/jwks").find("not http or https"), std::string::npos);
    EXPECT_NE(why("idp/jwks").find("not an http: or https: URL"), std::string::npos);
    EXPECT_NE(why("https:///jwks").find("no host"), std::string::npos);
    EXPECT_NE(why("https://u:p@idp/jwks").find("user information"), std::string::npos);
    EXPECT_NE(why("https://idp:0/").find("out of range"), std::string::npos);
    EXPECT_NE(why("https://idp:65536/").find("out of range"), std::string::npos);
    EXPECT_NE(why("https://idp:x/").find("not a number"), std::string::npos);
    EXPECT_NE(why("https://idp:/").find("empty port"), std::string::npos);
    EXPECT_NE(why("https://[::1/").find("closing ']'"), std::string::npos);
    EXPECT_NE(why("https://idp/a b").find("space or control"), std::string::npos);
    EXPECT_NE(why("https://idp/a\r\nX: y").find("space or control"), std::string::npos);
}

TEST(jwks_https, fetches_at_start_and_again_for_an_unknown_kid) {
    http_server idp;
    idp.answer(200, jwks_with("k1"));
    jwks_https keys(http_options(idp.port()), "key");
    ASSERT_NE(keys.current(), nullptr);
    EXPECT_NE(keys.current()->find("k1"), nullptr);
    const auto request = idp.last_request();
    EXPECT_TRUE(request.starts_with("GET /keys?v=1 HTTP/1.1\r\n")) << request;
    EXPECT_NE(request.find("Host: 127.0.0.1:" + std::to_string(idp.port())), std::string::npos) << request;

    // The issuer rotated its key: a token's unknown kid starts a fetch without waiting for it.
    idp.answer(200, jwks_with("k2"));
    (void)keys.reload_for_unknown_kid();
    ASSERT_TRUE(keys.wait_rounds(2, std::chrono::seconds(20)));
    EXPECT_EQ(idp.requests(), 2);
    EXPECT_NE(keys.current()->find("k2"), nullptr);
    EXPECT_EQ(keys.current()->find("k1"), nullptr);
}

TEST(jwks_https, a_failed_fetch_keeps_the_keys_and_says_why) {
    http_server idp;
    idp.answer(200, jwks_with("k1"));
    jwks_https keys(http_options(idp.port()), "key");
    ASSERT_NE(keys.current(), nullptr);
    for (auto [status, body] : {std::pair<int, std::string>{503, "down"}, {200, "{not json"}, {200, R"({"keys":[]})"}}) {
        idp.answer(status, body);
        const auto before = keys.rounds();
        (void)keys.reload_for_unknown_kid();
        ASSERT_TRUE(keys.wait_rounds(before + 1, std::chrono::seconds(20)));
        EXPECT_NE(keys.current()->find("k1"), nullptr) << status << " " << body;
    }
}

TEST(jwks_https, without_keys_logins_get_the_reason) {
    http_server idp;
    idp.answer(404, "no");
    jwks_https keys(http_options(idp.port()), "key");
    EXPECT_EQ(keys.current(), nullptr);
    EXPECT_NE(keys.no_keys_reason().find("HTTP 404"), std::string::npos) << keys.no_keys_reason();
    EXPECT_NE(keys.no_keys_reason().find("could not be fetched yet"), std::string::npos);
}

TEST(jwks_https, an_https_url_needs_a_tls_context) {
    auto o = http_options(1);
    o.url = "https://127.0.0.1:1/jwks";
    EXPECT_THROW(jwks_https(o, "key"), config::config_error);
    o.url = "https://127.0.0.1:99999/jwks";
    EXPECT_THROW(jwks_https(o, "key"), config::config_error);
}

} // namespace
} // namespace trib::broker
