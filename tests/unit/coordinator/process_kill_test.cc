// SIGKILL the real tributary-coordinator after acknowledged changes: every one of them is
// there after a restart on the same directory.
#include "coordinator/client/client.h"
#include "tests/fakes/run_until.h"
#include "tests/fakes/temp_dir.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

namespace trib::coordinator {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path binary = std::filesystem::path(TRIB_BINARY_DIR) / "coordinator" / "tributary-coordinator";

uint16_t free_port() {
    asio::io_context ctx;
    asio::ip::tcp::acceptor a(ctx, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

pid_t spawn(const std::filesystem::path& dir, uint16_t port) {
    std::vector<std::string> args = {binary.string(),
                                     "--override", "listeners=CONTROLLER://127.0.0.1:" + std::to_string(port),
                                     "--override", "log.dirs=" + dir.string(),
                                     "--override", "cluster.id=killtest",
                                     "--override", "log.level=warn"};
    pid_t pid = fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

using fakes::run_until;

std::shared_ptr<coordinator_client> make_client(asio::io_context& ctx, uint16_t port, bool broker) {
    client_config c;
    c.coordinators.push_back({"127.0.0.1", port});
    c.cluster_id = "killtest";
    c.id = node_id(broker ? 1 : -1);
    c.register_broker = broker;
    c.listeners.push_back({"PLAINTEXT", "127.0.0.1", 9092});
    c.fetch_max_wait = 200ms;
    c.retry_backoff = 50ms;
    return std::make_shared<coordinator_client>(ctx.get_executor(), c);
}

// A coordinator process on a fresh directory and a free port.
class process : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(binary)) {
            GTEST_SKIP() << binary << " is not built";
        }
        pid = spawn(dir.path(), port);
        ASSERT_GT(pid, 0);
    }
    fakes::temp_dir dir{"trib-coordinator-kill"};
    uint16_t port = free_port();
    pid_t pid = -1;
};

TEST_F(process, sigkill_keeps_every_acknowledged_change) {
    std::vector<std::string> acknowledged;
    {
        asio::io_context ctx;
        auto b = make_client(ctx, port, true);
        b->start();
        ASSERT_TRUE(run_until(ctx, [&] { return b->registered() && !b->fenced(); }));
        bool done = false;
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 20; ++i) {
                    protocol::create_topics_request req;
                    req.topics.push_back({"kill-" + std::to_string(i), 1, 1, {}, {}, {}});
                    protocol::writer w;
                    req.encode(w, 7);
                    bytes body = w.take();
                    auto r = co_await b->admin(19, 7, body);
                    if (r.error == protocol::error_code::none) {
                        acknowledged.push_back("kill-" + std::to_string(i));
                    }
                }
                done = true;
            },
            asio::detached);
        ASSERT_TRUE(run_until(ctx, [&] { return done; }, 30s));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        b->stop();
        ctx.run_for(20ms);
    }
    ASSERT_EQ(acknowledged.size(), 20u);

    pid = spawn(dir.path(), port);
    asio::io_context ctx;
    auto follower = make_client(ctx, port, false);
    follower->start();
    bool all = run_until(ctx, [&] {
        auto s = follower->snapshot();
        return std::all_of(acknowledged.begin(), acknowledged.end(), [&](const auto& n) { return s->topic(n); });
    });
    follower->stop();
    ctx.run_for(20ms);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(all) << "every acknowledged topic survives SIGKILL";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM is a clean exit";
}

// SIGKILL while creations stream in from several clients at once (so appends are in flight
// and share fsyncs): every creation a client was told succeeded exists after a restart.
TEST_F(process, sigkill_during_a_stream_of_creations_keeps_every_acknowledged_one) {
    std::vector<std::string> acknowledged;
    size_t killed_at = 0;
    {
        asio::io_context ctx;
        auto b = make_client(ctx, port, true);
        b->start();
        ASSERT_TRUE(run_until(ctx, [&] { return b->registered() && !b->fenced(); }));
        constexpr int writers = 4;
        std::vector<std::shared_ptr<coordinator_client>> clients;
        bool stop = false;
        int running = writers;
        for (int k = 0; k < writers; ++k) {
            auto c = make_client(ctx, port, false);
            c->start();
            clients.push_back(c);
            asio::co_spawn(
                ctx,
                [&, c, k]() -> asio::awaitable<void> {
                    for (int i = 0; !stop; ++i) {
                        const std::string name = "stream-" + std::to_string(k) + "-" + std::to_string(i);
                        protocol::create_topics_request req;
                        req.topics.push_back({name, 1, 1, {}, {}, {}});
                        protocol::writer w;
                        req.encode(w, 7);
                        bytes body = w.take();
                        auto r = co_await c->admin(19, 7, body);
                        protocol::create_topics_response resp;
                        protocol::reader rd(r.body);
                        resp.decode(rd, 7);
                        if (r.error == protocol::error_code::none && rd.ok() && resp.topics.size() == 1 &&
                            resp.topics[0].error_code == 0) {
                            acknowledged.push_back(name);
                        }
                    }
                    --running;
                },
                asio::detached);
        }
        ASSERT_TRUE(run_until(ctx, [&] { return acknowledged.size() >= 40; }, 60s));
        ::kill(pid, SIGKILL);  // creations of every writer are in flight
        killed_at = acknowledged.size();
        int status = 0;
        ::waitpid(pid, &status, 0);
        stop = true;
        // Calls in flight fail now that nobody answers; the writers stop.
        EXPECT_TRUE(run_until(ctx, [&] { return running == 0; }, 30s));
        for (auto& c : clients) {
            c->stop();
        }
        b->stop();
        ctx.run_for(20ms);
    }
    ASSERT_GE(killed_at, 40u);

    pid = spawn(dir.path(), port);
    asio::io_context ctx;
    auto reader = make_client(ctx, port, false);
    reader->start();
    std::vector<std::string> missing;
    bool all = run_until(ctx, [&] {
        auto s = reader->snapshot();
        if (!reader->caught_up()) {
            return false;
        }
        missing.clear();
        for (const auto& n : acknowledged) {
            if (!s->topic(n)) {
                missing.push_back(n);
            }
        }
        return missing.empty();
    });
    reader->stop();
    ctx.run_for(20ms);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(all) << missing.size() << " of " << acknowledged.size()
                     << " acknowledged creations lost, the first: " << (missing.empty() ? "" : missing.front());
}

} // namespace
} // namespace trib::coordinator
