#include "common/status_server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib {
namespace {

using tcp = asio::ip::tcp;

// Connects from `from` (any loopback address) to the server on 127.0.0.1.
void connect_from(tcp::socket& sock, const std::string& from, uint16_t port) {
    sock.open(tcp::v4());
    sock.bind({asio::ip::make_address(from), 0});
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
}

std::string get(uint16_t port, const std::string& target, const std::string& from = "127.0.0.1") {
    asio::io_context io;
    tcp::socket sock(io);
    connect_from(sock, from, port);
    asio::write(sock, asio::buffer("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string response;
    boost::system::error_code ec;
    asio::read(sock, asio::dynamic_buffer(response), ec);  // the server closes after one answer
    return response;
}

struct read_to_close {
    bool closed;  // by the server within 30 s
    boost::system::error_code ec;
    std::string rest;  // what came before the close
};

// Reads `sock` until the server closes it, for at most 30 s (then shuts it down itself, so
// the test ends and reports).
read_to_close read_until_closed(tcp::socket& sock) {
    auto read = std::async(std::launch::async, [&] {
        std::string rest;
        boost::system::error_code ec;
        asio::read(sock, asio::dynamic_buffer(rest), ec);
        return std::pair{ec, rest};
    });
    bool closed = read.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    if (!closed) {
        sock.shutdown(tcp::socket::shutdown_both);
    }
    auto [ec, rest] = read.get();
    return {closed, ec, rest};
}

TEST(status_server, answers_health_and_readiness) {
    asio::io_context ctx;
    std::atomic<bool> ready{false};
    status_server status(ctx, std::make_shared<prometheus::Registry>(), [&] { return ready.load(); });
    auto port = status.start("127.0.0.1", 0);
    std::thread runner([&] { ctx.run(); });
    EXPECT_TRUE(get(port, "/healthz").starts_with("HTTP/1.1 200 OK"));
    EXPECT_TRUE(get(port, "/readyz").starts_with("HTTP/1.1 503"));
    ready = true;
    EXPECT_TRUE(get(port, "/readyz").starts_with("HTTP/1.1 200 OK"));
    EXPECT_TRUE(get(port, "/nothing").starts_with("HTTP/1.1 404"));
    status.stop();
    runner.join();
}

// A process stops once its main io_context runs out of work: a client that connected and
// sent nothing must not keep it running after stop().
TEST(status_server, stop_closes_connections_that_sent_nothing) {
    asio::io_context ctx;
    status_server status(ctx, std::make_shared<prometheus::Registry>(), [] { return true; });
    auto port = status.start("127.0.0.1", 0);
    auto ran = std::async(std::launch::async, [&] { ctx.run(); });

    asio::io_context io;
    tcp::socket silent(io);
    silent.connect({asio::ip::make_address("127.0.0.1"), port});
    // Connections are accepted in order: once a later one is answered, the silent one is
    // accepted and waiting for its request line.
    ASSERT_TRUE(get(port, "/healthz").starts_with("HTTP/1.1 200 OK"));

    status.stop();
    bool stopped = ran.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    if (!stopped) {
        ctx.stop();  // so the test ends and reports instead of hanging
    }
    ran.wait();
    EXPECT_TRUE(stopped) << "the io_context still had work after stop()";
    std::string rest;
    boost::system::error_code ec;
    asio::read(silent, asio::dynamic_buffer(rest), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();  // closed by the server, with no answer
    EXPECT_TRUE(rest.empty());
}

// A client that connects and sends nothing is cut off at the deadline, while the server
// runs on and answers others.
TEST(status_server, closes_a_connection_that_sends_nothing_by_its_deadline) {
    asio::io_context ctx;
    status_server status(ctx, std::make_shared<prometheus::Registry>(), [] { return true; },
                         std::chrono::milliseconds(200));
    auto port = status.start("127.0.0.1", 0);
    std::thread runner([&] { ctx.run(); });

    asio::io_context io;
    tcp::socket silent(io);
    silent.connect({asio::ip::make_address("127.0.0.1"), port});
    auto [cut, ec, rest] = read_until_closed(silent);
    EXPECT_TRUE(cut) << "the silent connection was still open after 30 s";
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    EXPECT_TRUE(rest.empty());
    EXPECT_TRUE(get(port, "/healthz").starts_with("HTTP/1.1 200 OK"));  // the server runs on
    status.stop();
    runner.join();
}

// Beyond its cap the server closes a new connection at once and keeps the ones it serves;
// once one of those ends, it serves again.
TEST(status_server, closes_connections_beyond_its_cap_and_serves_once_one_ends) {
    asio::io_context ctx;
    status_server status(ctx, std::make_shared<prometheus::Registry>(), [] { return true; },
                         std::chrono::seconds(60), 2);
    auto port = status.start("127.0.0.1", 0);
    std::thread runner([&] { ctx.run(); });

    asio::io_context io;
    const tcp::endpoint at{asio::ip::make_address("127.0.0.1"), port};
    tcp::socket first(io), second(io), third(io);
    first.connect(at);
    second.connect(at);
    // Accepted in order, each served before the next accept completes: the third is one too many.
    third.connect(at);
    auto [cut, ec, rest] = read_until_closed(third);
    EXPECT_TRUE(cut) << "the connection beyond the cap was still open after 30 s";
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    EXPECT_TRUE(rest.empty());

    // The two served ones are still open: a read finds nothing yet rather than the end.
    for (tcp::socket* served : {&first, &second}) {
        served->non_blocking(true);
        char byte;
        boost::system::error_code read_ec;
        served->read_some(asio::buffer(&byte, 1), read_ec);
        EXPECT_EQ(read_ec, asio::error::would_block) << read_ec.message();
    }

    // One of them ends; the server, which hears of it in its own time, then answers again.
    first.close();
    std::string answer;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!answer.starts_with("HTTP/1.1 200 OK") && std::chrono::steady_clock::now() < deadline) {
        answer = get(port, "/healthz");  // empty while the server still counts the closed one
    }
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK")) << "nothing served after a connection ended";
    status.stop();
    runner.join();
}

TEST(status_server, a_flood_from_one_address_leaves_room_for_the_others) {
    asio::io_context ctx;
    status_server status(ctx, std::make_shared<prometheus::Registry>(), [] { return true; },
                         std::chrono::seconds(60), 8, 2);
    auto port = status.start("127.0.0.1", 0);
    std::thread runner([&] { ctx.run(); });

    asio::io_context io;
    tcp::socket first(io), second(io), third(io);
    connect_from(first, "127.0.0.1", port);
    connect_from(second, "127.0.0.1", port);
    // Accepted in order, each served before the next accept completes: the third from the
    // same address is one too many, though the server as a whole has room.
    connect_from(third, "127.0.0.1", port);
    auto [cut, ec, rest] = read_until_closed(third);
    EXPECT_TRUE(cut) << "the third connection from one address was still open after 30 s";
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    EXPECT_TRUE(rest.empty());

    // Another address (the kubelet's, say) is answered meanwhile, and so are several of its
    // connections one after another.
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(get(port, "/healthz", "127.0.0.2").starts_with("HTTP/1.1 200 OK"));
    }
    status.stop();
    runner.join();
}

// The default logger's lines, captured for as long as this lives.
class captured_log {
public:
    captured_log() : _previous(spdlog::default_logger()), _sink(std::make_shared<sink>()) {
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", _sink));
    }
    ~captured_log() { spdlog::set_default_logger(_previous); }
    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    // The lines so far that contain `part`.
    std::vector<std::string> lines_with(const std::string& part) { return _sink->lines_with(part); }

private:
    class sink : public spdlog::sinks::base_sink<std::mutex> {
    public:
        std::vector<std::string> lines_with(const std::string& part) {
            std::lock_guard lock(mutex_);
            std::vector<std::string> out;
            for (const auto& l : _lines) {
                if (l.find(part) != std::string::npos) {
                    out.push_back(l);
                }
            }
            return out;
        }

    protected:
        void sink_it_(const spdlog::details::log_msg& msg) override {
            _lines.emplace_back(msg.payload.begin(), msg.payload.end());
        }
        void flush_() override {}

    private:
        std::vector<std::string> _lines;
    };
    std::shared_ptr<spdlog::logger> _previous;
    std::shared_ptr<sink> _sink;
};

// One connection from 127.0.0.1 beyond its cap of one, closed by the server.
void refused_once(uint16_t port) {
    asio::io_context io;
    tcp::socket extra(io);
    connect_from(extra, "127.0.0.1", port);
    auto [cut, ec, rest] = read_until_closed(extra);
    EXPECT_TRUE(cut) << "a connection beyond the cap was still open after 30 s";
}

// A server that serves one connection per source address, logging refusals at most every
// `refusal_log_interval`, with 127.0.0.1's one place taken by `held` until stop().
struct one_per_address {
    explicit one_per_address(std::chrono::milliseconds refusal_log_interval)
      : status(ctx, std::make_shared<prometheus::Registry>(), [] { return true; }, std::chrono::seconds(60), 8, 1,
               refusal_log_interval),
        port(status.start("127.0.0.1", 0)), runner([this] { ctx.run(); }) {
        connect_from(held, "127.0.0.1", port);
    }
    ~one_per_address() { stop(); }
    void stop() {
        if (runner.joinable()) {
            status.stop();
            runner.join();
        }
    }

    asio::io_context ctx;
    status_server status;
    uint16_t port;
    std::thread runner;
    asio::io_context io;
    tcp::socket held{io};
};

TEST(status_server, a_flood_at_its_cap_is_logged_once_per_interval_not_once_per_refusal) {
    captured_log log;
    one_per_address server(std::chrono::minutes(10));
    // Refusals with a connection from another address served between each two: before, each
    // served connection made the next refusal log again.
    for (int i = 0; i < 5; ++i) {
        refused_once(server.port);
        EXPECT_TRUE(get(server.port, "/healthz", "127.0.0.2").starts_with("HTTP/1.1 200 OK"));
    }
    server.stop();
    auto lines = log.lines_with("closing new ones");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("1 of them from 127.0.0.1: the most it serves at once from one address"),
              std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("(1 refused since"), std::string::npos) << lines[0];
}

TEST(status_server, a_refusal_line_after_the_interval_counts_the_refusals_since_the_last) {
    captured_log log;
    one_per_address server(std::chrono::milliseconds(200));
    // Refused until a second line is logged: it counts every refusal after the first line.
    int refusals = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (log.lines_with("closing new ones").size() < 2 && std::chrono::steady_clock::now() < deadline) {
        refused_once(server.port);
        ++refusals;
    }
    server.stop();
    auto lines = log.lines_with("closing new ones");
    ASSERT_EQ(lines.size(), 2u) << refusals << " refusals in 30 s";
    EXPECT_NE(lines[0].find("(1 refused since"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("(" + std::to_string(refusals - 1) + " refused since"), std::string::npos)
        << refusals << " refusals: " << lines[1];
}

} // namespace
} // namespace trib
