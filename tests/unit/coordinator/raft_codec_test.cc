#include "common/batch_header.h"
#include "coordinator/client/records.h"
#include "coordinator/raft/codec.h"
#include "coordinator/raft/quorum_state.h"
#include "coordinator/raft/store_errc.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

namespace trib::coordinator::raft {
namespace {

constexpr std::string_view cluster = "cluster-A";

voter_set voters3() { return {{node_id(1), "c1", 9093}, {node_id(2), "c2", 9094}, {node_id(5), "c5", 9095}}; }

entry data_entry(int64_t at, int64_t term, int n) {
    std::vector<metadata_record> records;
    for (int i = 0; i < n; ++i) {
        topic_record t;
        t.name = fmt::format("t{}", at + i);
        records.push_back(t);
    }
    entry e;
    e.at = offset(at);
    e.count = n;
    e.term = term_id(term);
    e.payload = make_batch(records, 42);
    return e;
}

std::vector<message> every_message() {
    append_request append;
    append.term = term_id(7);
    append.prev_end = offset(10);
    append.prev_term = term_id(6);
    append.commit = offset(9);
    append.lease_tick = 17;
    append.entries.push_back(entry{offset(10), 1, term_id(7), entry_kind::data, {}});  // no-op
    append.entries.push_back(data_entry(11, 7, 3));
    append.entries.push_back(entry{offset(14), 1, term_id(7), entry_kind::voters, encode_voters(voters3())});
    append_request heartbeat;
    heartbeat.term = term_id(7);
    heartbeat.prev_end = offset(15);
    heartbeat.prev_term = term_id(7);
    heartbeat.commit = offset(15);
    snapshot_request snap;
    snap.term = term_id(8);
    snap.meta = snapshot_meta{offset(1000), term_id(6), voters3()};
    snap.chunk_at = 65536;
    snap.data = bytes{1, 2, 3, 4};
    snap.last = true;
    return {
        message{node_id(1), node_id(2), vote_request{term_id(3), offset(100), term_id(2), true, false}},
        message{node_id(1), node_id(2), vote_request{term_id(4), offset(0), term_id(0), false, true}},
        message{node_id(2), node_id(1), vote_response{term_id(3), true, true}},
        message{node_id(1), node_id(3), append},
        message{node_id(1), node_id(3), heartbeat},
        message{node_id(3), node_id(1), append_response{term_id(7), false, offset(12), term_id(5), 0}},
        message{node_id(3), node_id(1), append_response{term_id(7), true, offset(15), term_id(0), 17}},
        message{node_id(1), node_id(5), snap},
        message{node_id(5), node_id(1), snapshot_response{term_id(8), offset(1000), 65540, true}},
        message{node_id(1), node_id(2), timeout_now{term_id(9)}},
    };
}

bool is_request(const message& m) {
    return std::holds_alternative<vote_request>(m.body) || std::holds_alternative<append_request>(m.body) ||
           std::holds_alternative<snapshot_request>(m.body) || std::holds_alternative<timeout_now>(m.body);
}

TEST(raft_codec, every_message_round_trips) {
    for (const auto& m : every_message()) {
        auto enc = encode(m, cluster);
        ASSERT_TRUE(enc) << m.body.index();
        EXPECT_EQ(enc->request, is_request(m));
        EXPECT_GE(enc->api_key, api_vote);
        EXPECT_LE(enc->api_key, api_timeout_now);
        if (enc->request) {
            auto back = decode_request(enc->api_key, enc->body, cluster);
            ASSERT_TRUE(back) << back.error().message();
            EXPECT_EQ(*back, m);
        } else {
            auto back = decode_response(enc->api_key, enc->body);
            ASSERT_TRUE(back) << back.error().message();
            ASSERT_TRUE(*back);
            EXPECT_EQ(**back, m);
            EXPECT_EQ(response_error(enc->api_key, enc->body), protocol::error_code::none);
        }
    }
}

TEST(raft_codec, timeout_now_is_acknowledged_without_a_message) {
    auto ack = encode_error_response(api_timeout_now, protocol::error_code::none, "", node_id(2), node_id(1));
    ASSERT_TRUE(ack);
    auto back = decode_response(api_timeout_now, *ack);
    ASSERT_TRUE(back);
    EXPECT_FALSE(*back);
}

TEST(raft_codec, another_clusters_request_is_refused_with_a_reason) {
    auto enc = encode(message{node_id(1), node_id(2), vote_request{term_id(3), offset(1), term_id(1), false, false}},
                  "other");
    ASSERT_TRUE(enc);
    auto back = decode_request(enc->api_key, enc->body, cluster);
    EXPECT_EQ(back.error(), make_error_code(store_errc::wrong_cluster));
    auto refusal = encode_error_response(enc->api_key, protocol::error_code::inconsistent_cluster_id,
                                         "cluster-A, not other", node_id(2), node_id(1));
    ASSERT_TRUE(refusal);
    EXPECT_EQ(response_error(enc->api_key, *refusal), protocol::error_code::inconsistent_cluster_id);
    EXPECT_EQ(decode_response(enc->api_key, *refusal).error(), make_error_code(store_errc::peer_error));
}

TEST(raft_codec, every_truncation_and_unknown_keys_are_errors) {
    for (const auto& m : every_message()) {
        auto enc = encode(m, cluster);
        ASSERT_TRUE(enc);
        for (size_t n = 0; n < enc->body.size(); ++n) {
            bytes_view cut(enc->body.data(), n);
            if (enc->request) {
                EXPECT_FALSE(decode_request(enc->api_key, cut, cluster)) << enc->api_key << " cut at " << n;
            } else {
                EXPECT_FALSE(decode_response(enc->api_key, cut)) << enc->api_key << " cut at " << n;
            }
        }
        bytes longer = enc->body;
        longer.push_back(0);
        if (enc->request) {
            EXPECT_FALSE(decode_request(enc->api_key, longer, cluster));
        } else {
            EXPECT_FALSE(decode_response(enc->api_key, longer));
        }
        EXPECT_FALSE(decode_request(10099, enc->body, cluster));
        EXPECT_FALSE(decode_response(10099, enc->body));
    }
}

// The append request of every_message(), encoded, with `edit` applied to its entries first.
result<message> reencoded_append(const std::function<void(append_request&)>& edit) {
    auto m = every_message()[3];
    edit(std::get<append_request>(m.body));
    auto enc = encode(m, cluster);
    if (!enc) {
        return enc.error();
    }
    return decode_request(enc->api_key, enc->body, cluster);
}

TEST(raft_codec, append_entries_must_follow_prev_end_and_the_leaders_term) {
    EXPECT_TRUE(reencoded_append([](append_request&) {}));
    EXPECT_EQ(reencoded_append([](append_request& a) { a.prev_end = offset(9); }).error(),
              make_error_code(store_errc::bad_message));
    EXPECT_EQ(reencoded_append([](append_request& a) { a.entries[2].at = offset(15); }).error(),
              make_error_code(store_errc::bad_message));
    EXPECT_EQ(reencoded_append([](append_request& a) { a.entries[1].term = term_id(8); }).error(),
              make_error_code(store_errc::bad_message));
    EXPECT_EQ(reencoded_append([](append_request& a) { a.entries[1].term = term_id(5); }).error(),
              make_error_code(store_errc::bad_message));
}

TEST(raft_codec, an_entry_whose_crc_fails_is_refused) {
    auto m = every_message()[3];
    auto enc = encode(m, cluster);
    ASSERT_TRUE(enc);
    // Flip one byte inside the data batch's records (the last bytes of the second batch).
    auto first = entry_to_batch(std::get<append_request>(m.body).entries[0], 0);
    auto second = entry_to_batch(std::get<append_request>(m.body).entries[1], 0);
    ASSERT_TRUE(first && second);
    auto pos = std::search(enc->body.begin(), enc->body.end(), second->begin() + 21, second->end());
    ASSERT_NE(pos, enc->body.end());
    pos[int(second->size()) - 21 - 2] ^= 0x40;
    EXPECT_EQ(decode_request(enc->api_key, enc->body, cluster).error(), make_error_code(store_errc::bad_entry));
}

TEST(raft_codec, entries_as_batches) {
    auto e = data_entry(100, 3, 2);
    auto b = entry_to_batch(e, 0);
    ASSERT_TRUE(b);
    auto h = read_and_verify_batch(*b);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->base_offset, 100);
    EXPECT_EQ(h->partition_leader_epoch, 3);
    EXPECT_EQ(h->last_offset_delta, 1);
    EXPECT_FALSE(h->control());
    auto back = batch_to_entry(*b);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, e);

    entry v{offset(7), 1, term_id(2), entry_kind::voters, encode_voters(voters3())};
    auto vb = entry_to_batch(v, 0);
    ASSERT_TRUE(vb);
    EXPECT_TRUE(read_batch_header(*vb)->control());
    EXPECT_EQ(*batch_to_entry(*vb), v);
    // Control batches carry no metadata record: a broker's feed reader skips them.
    bytes feed = *vb;
    feed.insert(feed.end(), b->begin(), b->end());
    int records = 0;
    ASSERT_TRUE(for_each_record(feed, [&](offset, const metadata_record&) { ++records; }));
    EXPECT_EQ(records, 2);

    // Refusals.
    auto bad = e;
    bad.count = 3;
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bad = e;
    bad.term = term_id(int64_t(INT32_MAX) + 1);
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bad = e;
    bad.payload.push_back(0);  // bytes after the batch
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bad = v;
    bad.count = 2;
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bad = v;
    bad.payload = encode_voters({{node_id(2), "c2", 1}, {node_id(1), "c1", 1}});  // not sorted
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bad = entry{offset(1), 2, term_id(1), entry_kind::data, {}};  // an empty entry spans one offset
    EXPECT_FALSE(entry_to_batch(bad, 0));
    bytes trailing = *b;
    trailing.push_back(0);
    EXPECT_FALSE(batch_to_entry(trailing));
    EXPECT_FALSE(batches_to_entries(trailing));
    EXPECT_FALSE(batch_to_entry(bytes_view(*b).first(b->size() - 1)));
}

TEST(raft_codec, snapshot_header) {
    snapshot_meta meta{offset(1234), term_id(9), voters3()};
    auto b = snapshot_header_batch(meta, 0);
    ASSERT_TRUE(b);
    auto back = read_snapshot_header(*b);
    ASSERT_TRUE(back);
    ASSERT_TRUE(*back);
    EXPECT_EQ(**back, meta);
    // Any other batch is not a header.
    auto data = entry_to_batch(data_entry(0, 1, 1), 0);
    ASSERT_TRUE(data);
    auto none = read_snapshot_header(*data);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    auto voters = entry_to_batch(entry{offset(7), 1, term_id(2), entry_kind::voters, encode_voters(voters3())}, 0);
    ASSERT_TRUE(voters);
    EXPECT_FALSE(*read_snapshot_header(*voters));
}

protocol::uuid dir_id(uint8_t seed) {
    protocol::uuid u;
    for (size_t i = 0; i < u.b.size(); ++i) {
        u.b[i] = uint8_t(seed + i);
    }
    return u;
}

// Voters added by AddRaftVoter carry their directory id (KIP-853), static ones none: both
// kinds in one set survive each place a voter set is written.
TEST(raft_codec, directory_ids_round_trip_wherever_voters_go) {
    voter_set vs{{node_id(1), "c1", 9093}, {node_id(2), "c2", 9094, dir_id(7)}, {node_id(5), "c5", 9095, dir_id(40)}};
    EXPECT_EQ(decode_voters(encode_voters(vs)), vs);
    auto header = snapshot_header_batch({offset(99), term_id(4), vs}, 0);
    ASSERT_TRUE(header);
    auto meta = read_snapshot_header(*header);
    ASSERT_TRUE(meta && *meta);
    EXPECT_EQ((**meta).voters, vs);
    snapshot_request snap;
    snap.term = term_id(8);
    snap.meta = snapshot_meta{offset(1000), term_id(6), vs};
    message m{node_id(1), node_id(5), snap};
    auto enc = encode(m, cluster);
    ASSERT_TRUE(enc);
    auto back = decode_request(enc->api_key, enc->body, cluster);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, m);
    // A zero directory id is not written at all: a set without any is the bytes it was
    // before directory ids existed.
    EXPECT_LT(encode_voters(voters3()).size(), encode_voters(vs).size());
}

// Logs and snapshots written before voters had directory ids still read back, as voters of
// unknown directory: the fuzz corpus holds a voter set and a snapshot header of that time.
TEST(raft_codec, voter_sets_written_without_directory_ids_still_decode) {
    auto corpus = std::filesystem::path(TRIB_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_raft_codec";
    auto read = [&](const char* name) {
        std::ifstream in(corpus / name, std::ios::binary);
        bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_FALSE(b.empty()) << name;
        return b.empty() ? b : bytes(b.begin() + 1, b.end());  // without the fuzzer's selector byte
    };
    auto vs = decode_voters(read("voters"));
    ASSERT_TRUE(vs);
    EXPECT_EQ(*vs, voters3());
    for (const auto& v : *vs) {
        EXPECT_TRUE(v.directory_id.is_zero());
    }
    // Today's encoding of a set without directory ids is byte for byte the old one.
    EXPECT_EQ(encode_voters(*vs), read("voters"));
    auto header = read("snapshot_header");
    auto meta = read_snapshot_header(header);
    ASSERT_TRUE(meta && *meta);
    EXPECT_EQ((**meta).voters, voters3());
}

// Seeds for tests/fuzz/fuzz_raft_codec.cc (its input: a selector byte, then the decoder's
// input), each checked to decode as the fuzzer will; written to TRIB_FUZZ_SEEDS_DIR when set
// (tests/fuzz/corpus/fuzz_raft_codec/ holds a copy).
TEST(raft_codec, fuzz_seeds_decode) {
    const char* env = std::getenv("TRIB_FUZZ_SEEDS_DIR");
    auto dir = env ? std::filesystem::path(env)
                   : std::filesystem::temp_directory_path() / ("trib-raft-seeds-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::vector<std::pair<std::string, bytes>> seeds;
    auto add = [&](std::string name, uint8_t which, bytes_view in) {
        bytes b{which};
        b.insert(b.end(), in.begin(), in.end());
        seeds.emplace_back(std::move(name), std::move(b));
    };
    int i = 0;
    for (const auto& m : every_message()) {
        auto enc = encode(m, "fuzz-cluster");
        ASSERT_TRUE(enc);
        uint8_t which = uint8_t(enc->api_key - api_vote + (enc->request ? 0 : 4));
        add(fmt::format("message_{}", i++), which, enc->body);
        if (enc->request) {
            EXPECT_TRUE(decode_request(enc->api_key, enc->body, "fuzz-cluster"));
        } else {
            EXPECT_TRUE(decode_response(enc->api_key, enc->body));
        }
    }
    const auto append = std::get<append_request>(every_message()[3].body);
    bytes all;
    for (const auto& e : append.entries) {
        auto b = entry_to_batch(e, 0);
        ASSERT_TRUE(b);
        EXPECT_TRUE(batch_to_entry(*b));
        add(fmt::format("entry_{}_{}", int(e.kind), e.at.value()), 8, *b);
        all.insert(all.end(), b->begin(), b->end());
    }
    EXPECT_TRUE(batches_to_entries(all));
    add("entries", 9, all);
    add("voters", 10, encode_voters(voters3()));
    add("hard_state", 11, encode_hard_state({term_id(12), node_id(3)}));
    auto header = snapshot_header_batch({offset(99), term_id(4), voters3()}, 0);
    ASSERT_TRUE(header);
    EXPECT_TRUE(read_snapshot_header(*header));
    add("snapshot_header", 12, *header);
    for (const auto& [name, b] : seeds) {
        std::ofstream f(dir / name, std::ios::binary);
        f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        ASSERT_TRUE(f.good()) << name;
    }
    if (!env) {
        std::filesystem::remove_all(dir);
    }
}

} // namespace
} // namespace trib::coordinator::raft
