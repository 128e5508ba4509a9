// tributary-client-probe: net::kafka_client against a running broker, for kafka_client_test.py.
//
//   tributary-client-probe <host:port> <topic> <partition>
//
// Connects (ApiVersions), asks Metadata for the topic and Fetches the partition from offset 0
// at the highest versions both sides serve, with the Metadata and Fetch requests pipelined on
// one connection. Every batch fetched is checked (header, CRC, records) and offsets must run
// on without gaps. Prints one JSON object on success; exit 1 with the reason on stderr otherwise.
#include "net/kafka_client.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/metadata.h"
#include "protocol/records.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace {

using namespace trib;
using namespace std::chrono_literals;

struct probe_args {
    config::host_port target;
    std::string topic;
    int32_t partition = 0;
};

int fail(const std::string& why) {
    std::fprintf(stderr, "tributary-client-probe: %s\n", why.c_str());
    return 1;
}

asio::awaitable<int> probe(const asio::any_io_executor& ex, const probe_args& args) {
    net::kafka_client_options options;
    options.client_id = "tributary-client-probe";
    net::kafka_client c(ex, args.target, options);
    if (auto ok = co_await c.connect(10s); !ok) {
        co_return fail(fmt::format("connect: {} ({})", ok.error().message(), c.last_error()));
    }
    auto md_version = c.version_for(protocol::metadata_request::api_key, protocol::metadata_request::max_version);
    auto fetch_version = c.version_for(protocol::fetch_request::api_key, protocol::fetch_request::max_version);
    if (!md_version || !fetch_version) {
        co_return fail("no common version of Metadata or Fetch");
    }
    protocol::metadata_request md;
    md.topics->emplace_back().name = args.topic;
    md.allow_auto_topic_creation = false;

    protocol::fetch_request fetch;
    fetch.max_wait_ms = 500;
    fetch.min_bytes = 1;
    fetch.max_bytes = 8 << 20;
    auto& part = fetch.topics.emplace_back();
    part.topic = args.topic;
    auto& p = part.partitions.emplace_back();
    p.partition = args.partition;
    p.fetch_offset = 0;
    p.partition_max_bytes = 8 << 20;

    // Both requests go out before either answer is read: the Fetch rides behind the Metadata.
    result<protocol::fetch_response> fetched = net::client_errc::not_connected;
    bool fetch_done = false;
    asio::steady_timer fetch_wait(ex, std::chrono::steady_clock::time_point::max());
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
            fetched = co_await c.call<protocol::fetch_response>(fetch, *fetch_version, 10s);
            fetch_done = true;
            fetch_wait.cancel();
        },
        [](std::exception_ptr e) { log_failed_coroutine(e, "probe fetch"); });
    auto meta = co_await c.call<protocol::metadata_response>(md, *md_version, 10s);
    boost::system::error_code ec;
    while (!fetch_done) {
        co_await fetch_wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!meta) {
        co_return fail("Metadata: " + meta.error().message());
    }
    if (!fetched) {
        co_return fail("Fetch: " + fetched.error().message());
    }
    int32_t leader = -1;
    for (const auto& t : meta->topics) {
        for (const auto& mp : t.partitions) {
            if (t.name == args.topic && mp.partition_index == args.partition) {
                leader = mp.leader_id;
            }
        }
    }
    if (fetched->responses.size() != 1 || fetched->responses[0].partitions.size() != 1) {
        co_return fail("Fetch: not one topic with one partition in the answer");
    }
    const auto& fp = fetched->responses[0].partitions[0];
    int64_t next_offset = 0;
    int64_t records = 0;
    size_t batches = 0;
    size_t record_bytes = 0;
    if (fp.records) {
        record_bytes = fp.records->data.size();
        protocol::record_set_iterator it(fp.records->data);
        for (;;) {
            auto b = it.next();
            if (!b) {
                co_return fail("Fetch: a batch header does not decode: " + b.error().message());
            }
            if (!*b) {
                break;
            }
            if (auto v = protocol::validate_batch((*b)->data); !v) {
                co_return fail("Fetch: a batch does not validate: " + v.error().message());
            }
            if ((*b)->header.base_offset != next_offset) {
                co_return fail(fmt::format("Fetch: batch at {} where {} was next", (*b)->header.base_offset,
                                           next_offset));
            }
            next_offset = (*b)->header.last_offset() + 1;
            records += (*b)->header.record_count;
            ++batches;
        }
    }
    std::printf("{\"metadata_version\": %d, \"fetch_version\": %d, \"leader\": %d, \"error_code\": %d, "
                "\"high_watermark\": %lld, \"batches\": %zu, \"records\": %lld, \"next_offset\": %lld, "
                "\"record_bytes\": %zu}\n",
                *md_version, *fetch_version, leader, fp.error_code, (long long)fp.high_watermark, batches,
                (long long)records, (long long)next_offset, record_bytes);
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: tributary-client-probe <host:port> <topic> <partition>\n");
        return 2;
    }
    probe_args args;
    try {
        args.target = config::parse_host_port(argv[1]);
        args.topic = argv[2];
        args.partition = std::stoi(argv[3]);
    } catch (const std::exception& e) {
        return fail(std::string("bad arguments: ") + e.what());
    }
    asio::io_context ctx;
    const asio::any_io_executor ex = ctx.get_executor();
    int rc = 1;
    asio::co_spawn(ctx, probe(ex, args), [&rc](std::exception_ptr e, int r) {
        if (e) {
            log_failed_coroutine(e, "probe");
        } else {
            rc = r;
        }
    });
    ctx.run();
    return rc;
}
