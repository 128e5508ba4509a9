// tributary-quorum-client: the Tributary side of bench/coordinator_quorum_bench.py. Commits
// metadata changes of a fixed size through the coordinators' admin envelope, as a broker
// forwards an admin request: CoordinatorAdmin carrying IncrementalAlterConfigs, sent on
// rpc_channel, which follows NOT_CONTROLLER answers to the active controller. A write is done
// when the envelope's answer comes back, i.e. when the controller's record is committed.
//
//   tributary-quorum-client latency    --coordinators H:P,... --size 100 --writes 1000
//   tributary-quorum-client throughput --coordinators H:P,... --size 100 --clients 16 --seconds 10
//   tributary-quorum-client stream     --coordinators H:P,... --size 100 --seconds 15 --gap-ms 50 --attempt-ms 250
//
// The change: a broker-level dynamic config, `log.retention.ms` of broker resource <client
// index> (no broker has to exist, and no topic: brokers' configs are plain records), whose
// value is an integer zero-padded to --size bytes (leading zeros parse, in Kafka too) and one
// larger on every write, so every write changes the image and commits one record. Each
// concurrent client has its own connection and its own resource, as etcd's and ZooKeeper's
// clients in the same run put their own key.
//
// One JSON object per line on stdout. stream: sequential writes, each attempt with a deadline
// of --attempt-ms and retried at once on failure (a short deadline, so that an attempt stuck
// on a dead leader costs little beside the election itself); prints {"event":"leader","port":P,"at_ns":T} when
// a write was answered by another coordinator than the last one, and {"event":"gap",...} for
// every pause longer than --gap-ms between two committed writes, with both ends as wall-clock
// nanoseconds for the script to set against the time it killed the leader.
#include "common/listeners.h"
#include "common/runtime.h"
#include "coordinator/client/rpc.h"
#include "protocol/messages/coordinator_admin.h"
#include "protocol/messages/incremental_alter_configs.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace trib;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int16_t iac_version = 1;
constexpr int8_t broker_resource = 4;
constexpr int8_t op_set = 0;

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "tributary-quorum-client: %s\n"
                 "usage: tributary-quorum-client latency|throughput|stream --coordinators H:P[,H:P...]\n"
                 "       [--size BYTES (100)] [--writes N (1000)] [--warmup N (50)] [--clients K (16)]\n"
                 "       [--seconds S (10)] [--gap-ms MS (50)] [--attempt-ms MS (250)]\n",
                 why.c_str());
    std::exit(2);
}

struct options {
    std::string mode;
    std::vector<config::host_port> coordinators;
    size_t size = 100;
    long writes = 1000;
    long warmup = 50;
    long clients = 16;
    double seconds = 10;
    long gap_ms = 50;
    long attempt_ms = 250;
};

long parse_number(const std::string& flag, const std::string& v, long lo, long hi) {
    size_t used = 0;
    long n = 0;
    try {
        n = std::stol(v, &used);
    } catch (const std::exception&) {
        usage(flag + " wants a number, not '" + v + "'");
    }
    if (used != v.size() || n < lo || n > hi) {
        usage(flag + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return n;
}

options parse(int argc, char** argv) {
    if (argc < 2) {
        usage("no mode");
    }
    options o;
    o.mode = argv[1];
    if (o.mode != "latency" && o.mode != "throughput" && o.mode != "stream") {
        usage("unknown mode '" + o.mode + "'");
    }
    for (int i = 2; i < argc; i += 2) {
        std::string flag = argv[i];
        if (i + 1 >= argc) {
            usage(flag + " wants a value");
        }
        std::string v = argv[i + 1];
        if (flag == "--coordinators") {
            // "id@" prefixes (controller.quorum.voters as written) are accepted and ignored.
            size_t start = 0;
            while (start <= v.size()) {
                size_t end = v.find(',', start);
                std::string one = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
                if (auto at = one.find('@'); at != std::string::npos) {
                    one = one.substr(at + 1);
                }
                auto colon = one.rfind(':');
                if (colon == std::string::npos || colon == 0) {
                    usage("--coordinators: '" + one + "' is not host:port");
                }
                o.coordinators.push_back(
                    {one.substr(0, colon), uint16_t(parse_number("--coordinators port", one.substr(colon + 1), 1, 65535))});
                if (end == std::string::npos) {
                    break;
                }
                start = end + 1;
            }
        } else if (flag == "--size") {
            // Room for the number itself: 9 digits of base value and the write count.
            o.size = size_t(parse_number(flag, v, 16, 1 << 20));
        } else if (flag == "--writes") {
            o.writes = parse_number(flag, v, 1, 100'000'000);
        } else if (flag == "--warmup") {
            o.warmup = parse_number(flag, v, 0, 100'000'000);
        } else if (flag == "--clients") {
            o.clients = parse_number(flag, v, 1, 10'000);
        } else if (flag == "--seconds") {
            o.seconds = double(parse_number(flag, v, 1, 86'400));
        } else if (flag == "--gap-ms") {
            o.gap_ms = parse_number(flag, v, 1, 60'000);
        } else if (flag == "--attempt-ms") {
            o.attempt_ms = parse_number(flag, v, 1, 60'000);
        } else {
            usage("unknown flag " + flag);
        }
    }
    if (o.coordinators.empty()) {
        usage("--coordinators is required");
    }
    return o;
}

int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One client: its connection and its resource.
class writer {
public:
    writer(asio::any_io_executor ex, const options& o, long index)
      : _channel(ex, o.coordinators, "quorum-bench-" + std::to_string(index)), _size(o.size),
        _resource(std::to_string(index)) {}

    // Commits the next change; an empty string when it did, else why not.
    asio::awaitable<std::string> write(std::chrono::milliseconds timeout) {
        protocol::incremental_alter_configs_request req;
        auto& res = req.resources.emplace_back();
        res.resource_type = broker_resource;
        res.resource_name = _resource;
        auto& cfg = res.configs.emplace_back();
        cfg.name = "log.retention.ms";
        cfg.config_operation = op_set;
        std::string number = std::to_string(86'400'000 + _next++);
        cfg.value = std::string(_size - std::min(_size, number.size()), '0') + number;
        protocol::writer w;
        req.encode(w, iac_version);

        protocol::coordinator_admin_request envelope;
        envelope.request_api_key = protocol::incremental_alter_configs_request::api_key;
        envelope.request_api_version = iac_version;
        envelope.body = w.take();
        protocol::coordinator_admin_response answer;
        if (auto ec = co_await _channel.call(envelope, answer, timeout)) {
            co_return "coordinator: " + ec.message();
        }
        if (answer.error_code != 0) {
            co_return "envelope error " + std::to_string(answer.error_code) + " " + answer.error_message.value_or("");
        }
        protocol::reader r(answer.body);
        protocol::incremental_alter_configs_response resp;
        resp.decode(r, iac_version);
        if (!r.ok() || resp.responses.size() != 1) {
            co_return "an IncrementalAlterConfigs answer that does not decode";
        }
        if (resp.responses[0].error_code != 0) {
            co_return "IncrementalAlterConfigs error " + std::to_string(resp.responses[0].error_code) + " " +
                resp.responses[0].error_message.value_or("");
        }
        co_return std::string();
    }

    const std::optional<config::host_port>& connected_to() const { return _channel.connected_to(); }

private:
    coordinator::rpc_channel _channel;
    size_t _size;
    std::string _resource;
    long _next = 0;
};

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    size_t i = size_t(p * double(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

asio::awaitable<int> latency(const options& o) {
    writer w(co_await asio::this_coro::executor, o, 0);
    std::vector<double> samples;
    samples.reserve(size_t(o.writes));
    for (long i = 0; i < o.warmup + o.writes; ++i) {
        auto t0 = clock_type::now();
        auto why = co_await w.write(5s);
        auto t1 = clock_type::now();
        if (!why.empty()) {
            std::fprintf(stderr, "tributary-quorum-client: write %ld: %s\n", i, why.c_str());
            co_return 1;
        }
        if (i >= o.warmup) {
            samples.push_back(ms(t1 - t0));
        }
    }
    std::sort(samples.begin(), samples.end());
    double sum = 0;
    for (double s : samples) {
        sum += s;
    }
    std::printf("{\"mode\":\"latency\",\"size\":%zu,\"writes\":%zu,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
                o.size, samples.size(), sum / double(samples.size()), percentile(samples, 0.5),
                percentile(samples, 0.99), samples.back());
    co_return 0;
}

struct shared_counts {
    long done = 0;
    long errors = 0;
    long running = 0;
    std::string first_error;
    std::vector<double> samples;
};

asio::awaitable<void> throughput_client(const options& o, long index, clock_type::time_point start,
                                        clock_type::time_point end, std::shared_ptr<shared_counts> counts) {
    writer w(co_await asio::this_coro::executor, o, index);
    // The first write opens the connection and finds the active controller: not counted.
    (void)co_await w.write(5s);
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_at(start);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    while (clock_type::now() < end) {
        auto t0 = clock_type::now();
        auto why = co_await w.write(5s);
        auto t1 = clock_type::now();
        if (t1 > end) {
            break;  // finished after the window: not counted, as if cut off
        }
        if (why.empty()) {
            ++counts->done;
            counts->samples.push_back(ms(t1 - t0));
        } else {
            if (counts->errors++ == 0) {
                counts->first_error = why;
            }
        }
    }
    --counts->running;
}

asio::awaitable<int> throughput(const options& o, asio::io_context& io) {
    auto counts = std::make_shared<shared_counts>();
    // Every client connects (one write each) before the clock starts.
    auto start = clock_type::now() + 2s + std::chrono::milliseconds(20 * o.clients);
    auto end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.seconds));
    counts->running = o.clients;
    for (long i = 0; i < o.clients; ++i) {
        asio::co_spawn(io, throughput_client(o, i, start, end, counts), asio::detached);
    }
    asio::steady_timer t(io);
    while (counts->running > 0) {
        t.expires_after(20ms);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    auto& s = counts->samples;
    std::sort(s.begin(), s.end());
    std::printf("{\"mode\":\"throughput\",\"size\":%zu,\"clients\":%ld,\"seconds\":%.1f,\"writes\":%ld,"
                "\"writes_per_s\":%.1f,\"errors\":%ld,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
                o.size, o.clients, o.seconds, counts->done, double(counts->done) / o.seconds, counts->errors,
                percentile(s, 0.5), percentile(s, 0.99));
    if (counts->errors > 0) {
        std::fprintf(stderr, "tributary-quorum-client: %ld failed writes, the first: %s\n", counts->errors,
                     counts->first_error.c_str());
    }
    co_return counts->errors > 0 ? 1 : 0;
}

asio::awaitable<int> stream(const options& o) {
    writer w(co_await asio::this_coro::executor, o, 0);
    const auto end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(o.seconds));
    int64_t last_ok = 0;
    uint16_t leader_port = 0;
    long writes = 0, failures = 0;
    while (clock_type::now() < end) {
        auto why = co_await w.write(std::chrono::milliseconds(o.attempt_ms));
        int64_t now = wall_ns();
        if (!why.empty()) {
            ++failures;
            continue;
        }
        ++writes;
        if (w.connected_to() && w.connected_to()->port != leader_port) {
            leader_port = w.connected_to()->port;
            std::printf("{\"event\":\"leader\",\"port\":%u,\"at_ns\":%lld}\n", unsigned(leader_port),
                        static_cast<long long>(now));
        }
        if (last_ok != 0 && now - last_ok > o.gap_ms * 1'000'000) {
            std::printf("{\"event\":\"gap\",\"from_ns\":%lld,\"to_ns\":%lld}\n", static_cast<long long>(last_ok),
                        static_cast<long long>(now));
        }
        last_ok = now;
        std::fflush(stdout);
    }
    std::printf("{\"event\":\"end\",\"writes\":%ld,\"failed_attempts\":%ld,\"last_ns\":%lld}\n", writes,
                failures, static_cast<long long>(last_ok));
    co_return writes > 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    asio::io_context io;
    int rc = 1;
    auto run = [&]() -> asio::awaitable<void> {
        if (o.mode == "latency") {
            rc = co_await latency(o);
        } else if (o.mode == "throughput") {
            rc = co_await throughput(o, io);
        } else {
            rc = co_await stream(o);
        }
    };
    asio::co_spawn(io, run(), [&](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "tributary-quorum-client: %s\n", x.what());
                rc = 1;
            }
        }
        io.stop();
    });
    io.run();
    std::fflush(stdout);
    return rc;
}
