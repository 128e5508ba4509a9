#pragma once

// A scripted Kafka broker on a loopback socket, and helpers to encode its answers, for unit
// tests of Kafka clients (the operator's kafka_reader).
#include "common/bytes.h"
#include "protocol/api.h"
#include "protocol/messages/api_versions.h"
#include "protocol/wire.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace trib::fakes {

// A response (header and body) to request `correlation_id`, `msg` encoded at `version`.
template<typename Msg>
bytes encode_response(const Msg& msg, int16_t version, int32_t correlation_id) {
    protocol::writer w;
    protocol::encode_response_header(w, correlation_id, protocol::response_header_version(Msg::api_key, version));
    msg.encode(w, version);
    return w.take();
}

// `body` behind its size prefix.
inline bytes framed(const bytes& body) {
    bytes out(4 + body.size());
    store_be32(out.data(), uint32_t(body.size()));
    std::copy(body.begin(), body.end(), out.begin() + 4);
    return out;
}

// An ApiVersions v0 answer offering ListOffsets 0-7 and Metadata 0-12.
inline bytes api_versions_answer(int32_t correlation_id) {
    protocol::api_versions_response av;
    av.api_keys = {{2, 0, 7, {}}, {3, 0, 12, {}}};
    return framed(encode_response(av, 0, correlation_id));
}

// Serves `connections` connections on a loopback port, one after the other, answering each
// request with what `answer(api_key, correlation_id)` returns (a whole frame), or closing
// the connection when it returns nullopt. The destructor waits for the last connection.
class kafka_fake_broker {
public:
    using answer_fn = std::function<std::optional<bytes>(int16_t key, int32_t correlation_id)>;

    // With `tls` (a server context), each connection is TLS; a connection whose handshake
    // fails counts in failed_handshakes() and takes its turn.
    explicit kafka_fake_broker(answer_fn answer, int connections = 1,
                               std::shared_ptr<boost::asio::ssl::context> tls = nullptr)
      : _tls(std::move(tls)), _acceptor(_ctx, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
        _thread = std::thread([this, answer = std::move(answer), connections] {
            for (int i = 0; i < connections; ++i) {
                serve(answer);
            }
        });
    }
    kafka_fake_broker(const kafka_fake_broker&) = delete;
    kafka_fake_broker& operator=(const kafka_fake_broker&) = delete;
    ~kafka_fake_broker() { _thread.join(); }

    std::string address() const { return "127.0.0.1:" + std::to_string(_acceptor.local_endpoint().port()); }
    int failed_handshakes() const { return _failed_handshakes.load(); }
    // Waits up to `limit` for at least `n` failed handshakes and returns the count then: a
    // client sees its handshake fail before this thread has counted it.
    int wait_failed_handshakes(int n, std::chrono::milliseconds limit) {
        std::unique_lock lk(_mu);
        _cv.wait_for(lk, limit, [&] { return _failed_handshakes.load() >= n; });
        return _failed_handshakes.load();
    }

private:
    void serve(const answer_fn& answer) {
        namespace asio = boost::asio;
        boost::system::error_code ec;
        asio::ip::tcp::socket s(_ctx);
        _acceptor.accept(s, ec);
        if (ec || !_tls) {
            exchange(s, answer, ec);
            return;
        }
        asio::ssl::stream<asio::ip::tcp::socket&> tls(s, *_tls);
        tls.handshake(asio::ssl::stream_base::server, ec);
        if (ec) {
            std::lock_guard g(_mu);
            ++_failed_handshakes;
            _cv.notify_all();
            return;
        }
        exchange(tls, answer, ec);
    }

    template<typename Stream>
    void exchange(Stream& s, const answer_fn& answer, boost::system::error_code& ec) {
        namespace asio = boost::asio;
        while (!ec) {
            uint8_t size_buf[4];
            asio::read(s, asio::buffer(size_buf), ec);
            if (ec) break;
            bytes req(load_be32(size_buf));
            asio::read(s, asio::buffer(req), ec);
            if (ec) break;
            protocol::reader r(req);
            protocol::request_header h;
            protocol::decode_request_header(r, h);
            auto reply = answer(h.api_key, h.correlation_id);
            if (!reply) break;
            asio::write(s, asio::buffer(*reply), ec);
        }
    }

    std::shared_ptr<boost::asio::ssl::context> _tls;
    std::atomic<int> _failed_handshakes{0};
    std::mutex _mu;
    std::condition_variable _cv;
    boost::asio::io_context _ctx;
    boost::asio::ip::tcp::acceptor _acceptor;
    std::thread _thread;
};

// A loopback address nothing listens on (a port bound, then released).
inline std::string dead_address() {
    boost::asio::io_context ctx;
    boost::asio::ip::tcp::acceptor a(ctx, {boost::asio::ip::make_address("127.0.0.1"), 0});
    auto port = a.local_endpoint().port();
    a.close();
    return "127.0.0.1:" + std::to_string(port);
}

} // namespace trib::fakes
