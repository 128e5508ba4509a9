// Decodes requests that stock clients really sent, captured by tests/integration/capture_test.py
// through tests/integration/capture_proxy.py into <build>/captured_requests/<client>/ as
// <client>-<seq>-<api_key>-v<version>.bin (one frame each, without its size prefix).
//
// Each frame must decode (header, then body with the generated type of that API and version)
// to its last byte, and encode back to the same bytes. Produce frames' record batches must
// validate as producer batches and carry the codec the client was asked for: capture_test.py
// produces only to topics named cap-<client>-<codec>.
//
// Without captures (this binary run on its own, before the integration tests) the tests skip.
// ctest's `captured_requests_decode` runs them after the capture with TRIB_REQUIRE_CAPTURES=1,
// and then a missing capture is a failure. The capture swaps a complete folder in with two
// renames; a run that reads in between (only possible without TRIB_REQUIRE_CAPTURES) skips.

#include "protocol/api.h"
#include "protocol/api_dispatch.h"
#include "protocol/compression.h"
#include "protocol/messages.h"
#include "protocol/records.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace trib::protocol {
namespace {

namespace fs = std::filesystem;

constexpr int16_t produce_key = 0, fetch_key = 1, list_offsets_key = 2, metadata_key = 3;

struct captured_frame {
    std::string client;
    std::string name; // file name, for messages
    bytes data;
};

fs::path capture_root() {
    return fs::path(TRIB_BINARY_DIR) / "captured_requests";
}

bool captures_required() {
    const char* v = std::getenv("TRIB_REQUIRE_CAPTURES");
    return v != nullptr && std::string(v) == "1";
}

// Every frame of every client, by client then file name (= capture order). Throws
// fs::filesystem_error when the folder goes away while being read.
std::vector<captured_frame> read_frames() {
    std::vector<captured_frame> out;
    std::vector<fs::path> files;
    for (const auto& client : fs::directory_iterator(capture_root())) {
        if (!client.is_directory()) {
            continue;
        }
        for (const auto& f : fs::directory_iterator(client.path())) {
            if (f.path().extension() == ".bin") {
                files.push_back(f.path());
            }
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw fs::filesystem_error("cannot read", path, std::make_error_code(std::errc::io_error));
        }
        captured_frame f;
        f.client = path.parent_path().filename().string();
        f.name = path.filename().string();
        f.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        out.push_back(std::move(f));
    }
    return out;
}

// The captured frames, or nullopt when there are none to read.
std::optional<std::vector<captured_frame>> load_frames() {
    if (!fs::is_directory(capture_root())) {
        return std::nullopt;
    }
    try {
        return read_frames();
    } catch (const fs::filesystem_error&) {
        return std::nullopt; // swapped by a capture running right now
    }
}

// Loads the frames into `frames`; skips (run alone) or fails (TRIB_REQUIRE_CAPTURES=1) when
// there are none.
#define TRIB_LOAD_CAPTURES(frames)                                                           \
    auto frames##_loaded = load_frames();                                                    \
    if (!frames##_loaded) {                                                                  \
        if (captures_required()) {                                                           \
            FAIL() << "no captured requests in " << capture_root()                           \
                   << ": run tests/integration/capture_test.py first";                       \
        }                                                                                    \
        GTEST_SKIP() << "no captured requests in " << capture_root()                         \
                     << " (ctest -L integration captures them)";                             \
    }                                                                                        \
    const std::vector<captured_frame>& frames = *frames##_loaded

// The decoded frame: header and, through `visit`, the body as its generated type.
struct decoded {
    request_header header;
    bool body_ok = false;
    size_t left_over = 0;
    bytes reencoded;
};

template<typename Visit>
decoded decode_frame(const bytes& frame, Visit&& visit) {
    decoded d;
    reader r(frame);
    if (!decode_request_header(r, d.header)) {
        return d;
    }
    const int16_t version = d.header.api_version;
    with_api(d.header.api_key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
        if (version < Req::min_version || version > Req::max_version) {
            return;
        }
        Req req;
        req.decode(r, version);
        d.body_ok = r.ok();
        if (!d.body_ok) {
            return;
        }
        d.left_over = r.remaining();
        writer w;
        encode_request_header(w, d.header);
        req.encode(w, version);
        d.reencoded = flatten(w.buffer(), w.splices());
        visit(req);
    });
    return d;
}

TEST(captured_requests, every_client_was_captured) {
    TRIB_LOAD_CAPTURES(frames);
    std::map<std::string, std::set<int16_t>> keys;
    for (const auto& f : frames) {
        reader r(f.data);
        request_header h;
        ASSERT_TRUE(decode_request_header(r, h)) << f.name;
        keys[f.client].insert(h.api_key);
    }
    for (const char* client : {"kcat", "confluent-kafka", "kafka-python", "kafkajs"}) {
        SCOPED_TRACE(client);
        ASSERT_TRUE(keys.count(client)) << "no frames captured from " << client;
        for (int16_t k : {api_versions_key, metadata_key, produce_key}) {
            EXPECT_TRUE(keys[client].count(k)) << "no request of API key " << k;
        }
        if (std::string(client) != "kafkajs") { // kafkajs fetches only in a consumer group
            EXPECT_TRUE(keys[client].count(fetch_key)) << "no Fetch";
            EXPECT_TRUE(keys[client].count(list_offsets_key)) << "no ListOffsets";
        }
    }
}

TEST(captured_requests, decode_to_the_end_and_reencode_identically) {
    TRIB_LOAD_CAPTURES(frames);
    ASSERT_FALSE(frames.empty());
    std::map<std::string, int> per_api;
    for (const auto& f : frames) {
        SCOPED_TRACE(f.name);
        auto d = decode_frame(f.data, [](const auto&) {});
        const api_info* api = find_api(d.header.api_key);
        ASSERT_NE(api, nullptr) << "API key " << d.header.api_key << " has no definition";
        if (d.header.api_key == api_versions_request::api_key && d.header.api_version > api->max_version) {
            // The Java client's first ApiVersions is its newest: answered UNSUPPORTED_VERSION
            // with our ranges (v0 layout, KIP-511), then asked again at a version we claim.
            ++per_api["ApiVersions probe v" + std::to_string(d.header.api_version)];
            continue;
        }
        ASSERT_TRUE(api->supports(d.header.api_version))
            << api->name << " v" << d.header.api_version << " is outside the claimed "
            << api->min_version << ".." << api->max_version;
        ASSERT_TRUE(d.body_ok) << api->name << " v" << d.header.api_version << " does not decode";
        EXPECT_EQ(d.left_over, 0u) << api->name << " v" << d.header.api_version
                                   << " leaves bytes after the body";
        // Tags are written in ascending order and only when set; stock clients do the same,
        // so byte equality holds (and is what a pass-through proxy would need).
        EXPECT_EQ(d.reencoded, f.data) << api->name << " v" << d.header.api_version
                                       << " encodes back differently";
        ++per_api[std::string(api->name) + " v" + std::to_string(d.header.api_version)];
    }
    std::string seen;
    for (const auto& [name, n] : per_api) {
        seen += name + " x" + std::to_string(n) + ", ";
    }
    std::cout << "decoded " << frames.size() << " captured frames: " << seen << "\n";
}

// librdkafka 2.0 (kcat, confluent-kafka) enables a codec only when ApiVersions lists certain
// exact versions (its issue #4956): Produce from v0 for gzip and snappy (advertised, as Apache
// Kafka 4.0 does, KAFKA-18659) and FindCoordinator v0 for lz4 (served; no groups yet). Without
// them it sends such batches uncompressed, which this test would catch.
TEST(captured_requests, produce_batches_are_valid_and_use_the_requested_codec) {
    TRIB_LOAD_CAPTURES(frames);
    std::map<std::string, std::set<std::string>> codecs_seen; // client -> codec names
    int batches = 0;
    for (const auto& f : frames) {
        if (f.data.size() < 2 || (f.data[0] << 8 | f.data[1]) != produce_key) {
            continue;
        }
        SCOPED_TRACE(f.name);
        auto d = decode_frame(f.data, [&](const auto& req) {
            if constexpr (std::is_same_v<std::decay_t<decltype(req)>, produce_request>) {
                for (const auto& topic : req.topic_data) {
                    // cap-<client>-<codec>
                    const auto dash = topic.name.rfind('-');
                    ASSERT_EQ(topic.name.rfind("cap-", 0), 0u) << topic.name;
                    ASSERT_NE(dash, std::string::npos) << topic.name;
                    auto want = codec_from_name(topic.name.substr(dash + 1));
                    ASSERT_TRUE(want) << "topic " << topic.name << " does not name a codec";
                    for (const auto& part : topic.partition_data) {
                        ASSERT_TRUE(part.records.has_value());
                        record_set_iterator it(part.records->data);
                        int in_partition = 0;
                        while (true) {
                            auto batch = it.next();
                            ASSERT_TRUE(batch) << batch.error().message();
                            if (!*batch) {
                                break;
                            }
                            record_limits limits;
                            limits.from_producer = true;
                            auto summary = validate_batch((*batch)->data, limits);
                            ASSERT_TRUE(summary) << topic.name << ": " << summary.error().message();
                            EXPECT_GT(summary->record_count, 0);
                            EXPECT_EQ((*batch)->header.codec(), want.value())
                                << topic.name << " batch uses " << codec_name((*batch)->header.codec());
                            ++in_partition;
                            ++batches;
                        }
                        EXPECT_FALSE(it.partial_tail()) << "a producer sends whole batches";
                        EXPECT_GT(in_partition, 0) << topic.name << "[" << part.index << "]";
                        codecs_seen[f.client].insert(std::string(codec_name(want.value())));
                    }
                }
            }
        });
        ASSERT_TRUE(d.body_ok);
    }
    EXPECT_GT(batches, 0);
    const std::set<std::string> all{"none", "gzip", "snappy", "lz4", "zstd"};
    EXPECT_EQ(codecs_seen["kcat"], all);
    EXPECT_EQ(codecs_seen["confluent-kafka"], all);
    EXPECT_EQ(codecs_seen["kafka-python"], all);
    EXPECT_EQ(codecs_seen["kafkajs"], all);
}

} // namespace
} // namespace trib::protocol
