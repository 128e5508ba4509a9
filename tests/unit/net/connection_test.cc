// net/ on real loopback sockets with a fake dispatcher: responses leave in request
// order even when later requests finish first, and bad framing closes only that connection.
#include "net/dispatcher.h"
#include "net/server.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/tcp.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace trib::net {
namespace {

// Each request is 4 bytes: how long (ms) to take before answering. The answer echoes them.
// A request of 8 bytes or more is answered at once with the sum of its bytes.
class delaying_dispatcher final : public request_dispatcher {
public:
    asio::awaitable<dispatch_result> dispatch(bytes frame, const connection_info&) override {
        if (frame.size() == 6) {
            co_return respond{spliced(frame[0] != 0)};
        }
        if (frame.size() >= 8) {
            outgoing_frame out;
            out.data.resize(8);
            store_be32(out.data.data(), 4);
            store_be32(out.data.data() + 4, byte_sum(frame));
            co_return respond{std::move(out)};
        }
        if (frame.size() != 4) {
            co_return close_connection{"bad test frame"};
        }
        ++in_flight;
        max_in_flight = std::max(max_in_flight.load(), in_flight.load());
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(load_be32(frame.data())));
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        --in_flight;
        outgoing_frame out;
        out.data.resize(8);
        store_be32(out.data.data(), 4);
        std::copy(frame.begin(), frame.end(), out.data.begin() + 4);
        co_return respond{std::move(out)};
    }
    // A response of three short byte runs with file slices between them, as a Fetch response
    // is: two short slices (sent as one buffer), or a short and a long one (sendfile).
    outgoing_frame spliced(bool long_slice) const {
        std::vector<protocol::file_slice> slices{{file_fd, 10, 1000, nullptr},
                                                 {file_fd, 5000, long_slice ? 150000u : 3000u, nullptr}};
        outgoing_frame out;
        out.data = {0, 0, 0, 0, 'A', 'B', 'C', 'D', 'E', 'F'};
        out.splices = {{6, slices[0]}, {8, slices[1]}};
        store_be32(out.data.data(), uint32_t(out.data.size() + out.splice_bytes() - 4));
        return out;
    }
    // What spliced() puts on the wire.
    bytes spliced_bytes(bool long_slice) const {
        auto f = spliced(long_slice);
        bytes out(f.data.begin(), f.data.begin() + 6);
        for (size_t i = 0; i < f.splices.size(); ++i) {
            const auto& sl = f.splices[i].slice;
            out.insert(out.end(), file_data.begin() + sl.pos, file_data.begin() + sl.pos + sl.len);
            size_t next = i + 1 < f.splices.size() ? f.splices[i + 1].at : f.data.size();
            out.insert(out.end(), f.data.begin() + ptrdiff_t(f.splices[i].at), f.data.begin() + ptrdiff_t(next));
        }
        return out;
    }
    int file_fd = -1;
    bytes file_data;

    static uint32_t byte_sum(const bytes& b) {
        uint32_t sum = 0;
        for (uint8_t c : b) {
            sum += c;
        }
        return sum;
    }
    std::atomic<int> in_flight{0};
    std::atomic<int> max_in_flight{0};
};

class connection_test : public ::testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/connection_test.XXXXXX";
        dispatcher.file_fd = ::mkstemp(name);
        ASSERT_GE(dispatcher.file_fd, 0);
        ::unlink(name);
        dispatcher.file_data.resize(200 * 1024);
        for (size_t i = 0; i < dispatcher.file_data.size(); ++i) {
            dispatcher.file_data[i] = uint8_t(i * 7 + i / 251);
        }
        ASSERT_EQ(::pwrite(dispatcher.file_fd, dispatcher.file_data.data(), dispatcher.file_data.size(), 0),
                  ssize_t(dispatcher.file_data.size()));
        pool.start();
        port = srv.start({listen_endpoint{"PLAINTEXT", "127.0.0.1", 0}}).at(0);
    }
    void TearDown() override {
        srv.stop();
        pool.stop();
        ::close(dispatcher.file_fd);
    }
    int connect_client() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        return fd;
    }
    static void send_u32s(int fd, std::initializer_list<uint32_t> words) {
        for (auto w : words) {
            uint8_t b[4];
            store_be32(b, w);
            ASSERT_EQ(::send(fd, b, 4, MSG_NOSIGNAL), 4);
        }
    }
    // Reads n bytes; fewer when the peer closes.
    static bytes recv_n(int fd, size_t n) {
        bytes out(n);
        size_t got = 0;
        while (got < n) {
            ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
            if (r <= 0) {
                break;
            }
            got += size_t(r);
        }
        out.resize(got);
        return out;
    }

    delaying_dispatcher dispatcher;
    io_pool pool{2};
    static void send_all(int fd, const bytes& b) {
        size_t sent = 0;
        while (sent < b.size()) {
            ssize_t n = ::send(fd, b.data() + sent, b.size() - sent, MSG_NOSIGNAL);
            ASSERT_GT(n, 0);
            sent += size_t(n);
        }
    }

    connection_limits limits{.max_request_bytes = 1 << 20, .idle_timeout = std::chrono::milliseconds(60000),
                             .max_in_flight = 8};
    server srv{pool, dispatcher, limits};
    uint16_t port = 0;
};

TEST_F(connection_test, responses_leave_in_request_order_when_later_ones_finish_first) {
    int fd = connect_client();
    constexpr uint32_t n = 20;
    for (uint32_t i = 0; i < n; ++i) {
        send_u32s(fd, {4, (n - i) * 5});  // the first waits longest
    }
    for (uint32_t i = 0; i < n; ++i) {
        auto r = recv_n(fd, 8);
        ASSERT_EQ(r.size(), 8u) << "response " << i;
        EXPECT_EQ(load_be32(r.data() + 4), (n - i) * 5) << "response " << i << " out of order";
    }
    // Requests were handled concurrently, but never more than max_in_flight at once.
    EXPECT_GT(dispatcher.max_in_flight.load(), 1);
    EXPECT_LE(dispatcher.max_in_flight.load(), 8);
    ::close(fd);
}

// Responses carrying file slices arrive byte for byte, whether they go out as one buffer
// (short slices) or with sendfile (long ones), in request order.
TEST_F(connection_test, responses_with_file_slices_arrive_whole) {
    int fd = connect_client();
    for (bool long_slice : {false, true, false}) {
        send_u32s(fd, {6});
        uint8_t body[6] = {uint8_t(long_slice), 0, 0, 0, 0, 0};
        ASSERT_EQ(::send(fd, body, 6, MSG_NOSIGNAL), 6);
    }
    for (bool long_slice : {false, true, false}) {
        auto want = dispatcher.spliced_bytes(long_slice);
        auto got = recv_n(fd, want.size());
        ASSERT_EQ(got.size(), want.size()) << "long slice " << long_slice;
        EXPECT_TRUE(got == want) << "long slice " << long_slice;
    }
    ::close(fd);
}

// Responses that wait behind a slow one leave together once it is answered (one write for
// those sent from one buffer, sendfile alone for a long slice): each arrives whole, in order.
TEST_F(connection_test, responses_held_back_by_a_slow_one_arrive_whole_and_in_order) {
    int fd = connect_client();
    send_u32s(fd, {4, 300});  // answered after 300 ms; everything below is ready long before
    const bool kinds[] = {false, true, false};
    for (bool long_slice : kinds) {
        send_u32s(fd, {6});
        uint8_t body[6] = {uint8_t(long_slice), 0, 0, 0, 0, 0};
        ASSERT_EQ(::send(fd, body, 6, MSG_NOSIGNAL), 6);
    }
    send_u32s(fd, {8, 0x01020304, 0x05060708});  // answered at once with the sum of its bytes
    send_u32s(fd, {4, 0});

    auto slow = recv_n(fd, 8);
    ASSERT_EQ(slow.size(), 8u);
    EXPECT_EQ(load_be32(slow.data() + 4), 300u);
    for (bool long_slice : kinds) {
        auto want = dispatcher.spliced_bytes(long_slice);
        auto got = recv_n(fd, want.size());
        ASSERT_EQ(got.size(), want.size()) << "long slice " << long_slice;
        EXPECT_TRUE(got == want) << "long slice " << long_slice;
    }
    auto sum = recv_n(fd, 8);
    ASSERT_EQ(sum.size(), 8u);
    EXPECT_EQ(load_be32(sum.data() + 4), 1u + 2 + 3 + 4 + 5 + 6 + 7 + 8);
    auto last = recv_n(fd, 8);
    ASSERT_EQ(last.size(), 8u);
    EXPECT_EQ(load_be32(last.data() + 4), 0u);
    ::close(fd);
}

TEST_F(connection_test, an_oversized_or_negative_size_closes_only_that_connection) {
    int good = connect_client();
    for (uint32_t size : {(1u << 20) + 1, 0x80000000u, 0x7fffffffu}) {
        int bad = connect_client();
        send_u32s(bad, {size});
        EXPECT_TRUE(recv_n(bad, 1).empty()) << "size " << size << " should close the connection";
        ::close(bad);
    }
    send_u32s(good, {4, 1});
    auto r = recv_n(good, 8);
    ASSERT_EQ(r.size(), 8u);
    EXPECT_EQ(load_be32(r.data() + 4), 1u);
    ::close(good);
}

TEST_F(connection_test, a_dispatcher_refusal_closes_the_connection) {
    int fd = connect_client();
    send_u32s(fd, {2});
    uint8_t junk[2] = {1, 2};
    ASSERT_EQ(::send(fd, junk, 2, MSG_NOSIGNAL), 2);
    EXPECT_TRUE(recv_n(fd, 1).empty());
    ::close(fd);
}

// The reader buffers what the socket gives it: a request cut anywhere, even inside its size
// prefix, is put back together; several requests in one read are all served, in order.
TEST_F(connection_test, requests_cut_anywhere_or_sent_together_are_served_whole) {
    int fd = connect_client();
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bytes stream;
    for (uint32_t i = 0; i < 6; ++i) {
        uint8_t w[8];
        store_be32(w, 4);
        store_be32(w + 4, i);
        stream.insert(stream.end(), w, w + 8);
    }
    // One byte at a time for the first request and a half, then the rest in one send.
    for (size_t i = 0; i < 12; ++i) {
        send_all(fd, bytes(stream.begin() + ptrdiff_t(i), stream.begin() + ptrdiff_t(i) + 1));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    send_all(fd, bytes(stream.begin() + 12, stream.end()));
    for (uint32_t i = 0; i < 6; ++i) {
        auto r = recv_n(fd, 8);
        ASSERT_EQ(r.size(), 8u) << "response " << i;
        EXPECT_EQ(load_be32(r.data() + 4), i) << "response " << i;
    }
    ::close(fd);
}

// A request bigger than a read's buffer arrives whole, sent in uneven pieces, and the small
// request pipelined right behind it in the same send is answered after it.
TEST_F(connection_test, a_request_bigger_than_one_read_arrives_whole) {
    int fd = connect_client();
    bytes big(300 * 1024 + 7);
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = uint8_t(i * 31 + 7);
    }
    bytes stream(4);
    store_be32(stream.data(), uint32_t(big.size()));
    stream.insert(stream.end(), big.begin(), big.end());
    uint8_t small[8];
    store_be32(small, 4);
    store_be32(small + 4, 3);
    stream.insert(stream.end(), small, small + 8);
    size_t at = 0;
    for (size_t piece : {size_t(3), size_t(1000), size_t(70000), size_t(65536), size_t(1)}) {
        send_all(fd, bytes(stream.begin() + ptrdiff_t(at), stream.begin() + ptrdiff_t(at + piece)));
        at += piece;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    send_all(fd, bytes(stream.begin() + ptrdiff_t(at), stream.end()));
    auto r = recv_n(fd, 8);
    ASSERT_EQ(r.size(), 8u);
    EXPECT_EQ(load_be32(r.data() + 4), delaying_dispatcher::byte_sum(big));
    r = recv_n(fd, 8);
    ASSERT_EQ(r.size(), 8u);
    EXPECT_EQ(load_be32(r.data() + 4), 3u);
    ::close(fd);
}

} // namespace
} // namespace trib::net
