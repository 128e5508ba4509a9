#include "protocol/compression.h"

#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/wait.h>

namespace trib::protocol {
namespace {

namespace fs = std::filesystem;

constexpr compression_codec all_codecs[] = {compression_codec::gzip, compression_codec::snappy,
                                             compression_codec::lz4, compression_codec::zstd};
constexpr size_t unlimited = size_t(1) << 30;

bytes text_bytes(size_t n) {
    bytes out;
    out.reserve(n);
    const std::string_view words[] = {"tributary ", "kafka ", "record ", "batch ", "offset ",
                                      "partition ", "leader ", "epoch "};
    std::mt19937 rng(7);
    while (out.size() < n) {
        auto w = words[rng() % std::size(words)];
        out.insert(out.end(), w.begin(), w.end());
    }
    out.resize(n);
    return out;
}

bytes random_bytes(size_t n, uint32_t seed = 11) {
    std::mt19937 rng(seed);
    bytes out(n);
    for (auto& b : out) {
        b = uint8_t(rng());
    }
    return out;
}

std::string name_of(compression_codec c) { return std::string(codec_name(c)); }

// ---- round trips ---------------------------------------------------------------------------

class codec_test : public ::testing::TestWithParam<compression_codec> {};

TEST_P(codec_test, round_trips_empty_small_large_incompressible) {
    const compression_codec c = GetParam();
    std::vector<bytes> inputs = {bytes{}, bytes{'x'}, text_bytes(100), text_bytes(100000),
                                 text_bytes(3 << 20), random_bytes(300000), bytes(1 << 20, 0)};
    for (const auto& in : inputs) {
        SCOPED_TRACE(in.size());
        auto z = compress(c, in);
        ASSERT_TRUE(z) << z.error().message();
        auto back = decompress(c, *z, unlimited);
        ASSERT_TRUE(back) << back.error().message();
        EXPECT_EQ(*back, in);
    }
}

TEST_P(codec_test, appends_after_existing_bytes) {
    const compression_codec c = GetParam();
    bytes in = text_bytes(5000);
    bytes z = {1, 2, 3};
    ASSERT_TRUE(compress_append(c, in, z));
    EXPECT_EQ(z[0], 1);
    bytes out = {9};
    ASSERT_TRUE(decompress_append(c, bytes_view(z).subspan(3), unlimited, out));
    ASSERT_EQ(out.size(), in.size() + 1);
    EXPECT_EQ(out[0], 9);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), out.begin() + 1));
}

TEST_P(codec_test, honours_levels) {
    const compression_codec c = GetParam();
    bytes in = text_bytes(50000);
    for (int level : {1, 9}) {
        auto z = compress(c, in, level);
        ASSERT_TRUE(z);
        auto back = decompress(c, *z, unlimited);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, in);
    }
}

TEST_P(codec_test, output_limit_is_exact) {
    const compression_codec c = GetParam();
    bytes in = text_bytes(70000);
    auto z = compress(c, in);
    ASSERT_TRUE(z);
    EXPECT_TRUE(decompress(c, *z, in.size()));
    bytes out = {5};
    auto r = decompress_append(c, *z, in.size() - 1, out);
    EXPECT_EQ(r.error(), compression_errc::too_large);
    EXPECT_EQ(out, bytes{5}) << "output restored on error";
}

// A compression bomb: 64 MiB of zeros squeezed into a few KiB (snappy: ~3 MiB) must stop at
// the limit, quickly, without allocating the whole expansion.
TEST_P(codec_test, bomb_stops_at_limit) {
    const compression_codec c = GetParam();
    bytes zeros(size_t(64) << 20, 0);
    auto z = compress(c, zeros, c == compression_codec::gzip ? 1 : default_compression_level);
    ASSERT_TRUE(z);
    zeros = bytes();
    EXPECT_LT(z->size(), size_t(16) << 20);
    auto r = decompress(c, *z, size_t(1) << 20);
    EXPECT_EQ(r.error(), compression_errc::too_large);
}

TEST_P(codec_test, every_truncation_fails_cleanly) {
    const compression_codec c = GetParam();
    bytes in = text_bytes(3000);
    auto z = compress(c, in);
    ASSERT_TRUE(z);
    for (size_t n = 0; n < z->size(); ++n) {
        auto r = decompress(c, bytes_view(*z).first(n), unlimited);
        if (r) {
            // snappy's xerial framing can end at a block boundary; lz4/zstd can't stop early
            // silently. Whatever decodes must be a prefix of the input.
            ASSERT_LE(r->size(), in.size()) << n;
            ASSERT_TRUE(std::equal(r->begin(), r->end(), in.begin())) << n;
            ASSERT_NE(r->size(), in.size()) << "cut at " << n << " still gave everything";
        }
    }
}

TEST_P(codec_test, corruption_fails_cleanly_or_decodes_bounded) {
    const compression_codec c = GetParam();
    bytes in = text_bytes(20000);
    auto z = compress(c, in);
    ASSERT_TRUE(z);
    std::mt19937 rng(99);
    int errors = 0;
    for (int i = 0; i < 2000; ++i) {
        bytes bad = *z;
        const int flips = 1 + int(rng() % 4);
        for (int f = 0; f < flips; ++f) {
            bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
        }
        auto r = decompress(c, bad, 40000);
        if (!r) {
            ++errors;
        } else {
            EXPECT_LE(r->size(), 40000u);
        }
    }
    EXPECT_GT(errors, 0);
}

TEST_P(codec_test, garbage_fails_cleanly) {
    const compression_codec c = GetParam();
    for (uint32_t seed = 0; seed < 300; ++seed) {
        bytes junk = random_bytes(1 + seed * 7, seed);
        auto r = decompress(c, junk, 1 << 16);
        if (r) {
            EXPECT_LE(r->size(), size_t(1 << 16));
        }
    }
    EXPECT_FALSE(decompress(c, bytes{}, 100)) << "empty input is not a stream";
}

INSTANTIATE_TEST_SUITE_P(all, codec_test, ::testing::ValuesIn(all_codecs),
                         [](const auto& info) { return name_of(info.param); });

TEST(compression, none_copies_and_bounds) {
    bytes in = text_bytes(100);
    auto z = compress(compression_codec::none, in);
    ASSERT_TRUE(z);
    EXPECT_EQ(*z, in);
    EXPECT_EQ(decompress(compression_codec::none, in, 99).error(), compression_errc::too_large);
}

TEST(compression, unknown_codec) {
    EXPECT_EQ(decompress(compression_codec(6), bytes{1, 2}, 100).error(),
              compression_errc::unsupported_codec);
    EXPECT_EQ(compress(compression_codec(5), bytes{1}).error(),
              compression_errc::unsupported_codec);
}

TEST(compression, codec_names) {
    for (auto c : {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                   compression_codec::lz4, compression_codec::zstd}) {
        auto back = codec_from_name(codec_name(c));
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, c);
    }
    EXPECT_FALSE(codec_from_name("brotli"));
}

TEST(compression, snappy_writes_xerial_framing) {
    bytes in = text_bytes(100000); // 4 blocks of 32 KiB
    auto z = compress(compression_codec::snappy, in);
    ASSERT_TRUE(z);
    const uint8_t magic[] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    ASSERT_GE(z->size(), sizeof magic);
    EXPECT_TRUE(std::equal(std::begin(magic), std::end(magic), z->begin()));
    // Walk the blocks: [int32 BE length][raw snappy], 4 of them.
    size_t pos = 16;
    int blocks = 0;
    while (pos < z->size()) {
        pos += 4 + load_be32(z->data() + pos);
        ++blocks;
    }
    EXPECT_EQ(pos, z->size());
    EXPECT_EQ(blocks, 4);
}

TEST(compression, snappy_reads_raw_blocks_like_librdkafka_writes) {
    bytes in = text_bytes(50000);
    auto framed = compress(compression_codec::snappy, in);
    ASSERT_TRUE(framed);
    // A single raw snappy block: re-frame the input as one block without the xerial header.
    bytes one = text_bytes(20000);
    auto z = compress(compression_codec::snappy, one);
    ASSERT_TRUE(z);
    bytes raw(z->begin() + 20, z->end()); // skip header (16) and the block length (4)
    auto back = decompress(compression_codec::snappy, raw, unlimited);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, one);
}

// Found by fuzz_record_batch: an empty raw snappy block decoded differently depending on
// whether the output buffer had been allocated before.
TEST(compression, empty_snappy_block_same_into_any_buffer) {
    const bytes empty_raw = {0x00};
    bytes fresh;
    EXPECT_TRUE(decompress_append(compression_codec::snappy, empty_raw, 100, fresh));
    bytes used = {1, 2, 3};
    used.clear();
    EXPECT_TRUE(decompress_append(compression_codec::snappy, empty_raw, 100, used));
    EXPECT_TRUE(used.empty());
    const bytes bad_empty = {0x00, 0x00}; // a literal tag after a zero length
    EXPECT_FALSE(decompress(compression_codec::snappy, bad_empty, 100));
}

TEST(compression, snappy_reads_concatenated_xerial_streams) {
    bytes a = text_bytes(1000);
    bytes b = random_bytes(500);
    auto za = compress(compression_codec::snappy, a);
    auto zb = compress(compression_codec::snappy, b);
    ASSERT_TRUE(za && zb);
    bytes both = *za;
    both.insert(both.end(), zb->begin(), zb->end());
    auto back = decompress(compression_codec::snappy, both, unlimited);
    ASSERT_TRUE(back);
    bytes expect = a;
    expect.insert(expect.end(), b.begin(), b.end());
    EXPECT_EQ(*back, expect);
}

TEST(compression, concatenated_gzip_members_and_zstd_frames) {
    for (auto c : {compression_codec::gzip, compression_codec::zstd, compression_codec::lz4}) {
        bytes a = text_bytes(1000);
        bytes b = random_bytes(700);
        auto za = compress(c, a);
        auto zb = compress(c, b);
        ASSERT_TRUE(za && zb);
        bytes both = *za;
        both.insert(both.end(), zb->begin(), zb->end());
        auto back = decompress(c, both, unlimited);
        ASSERT_TRUE(back) << name_of(c);
        bytes expect = a;
        expect.insert(expect.end(), b.begin(), b.end());
        EXPECT_EQ(*back, expect) << name_of(c);
        both.push_back(0x42); // then trailing junk
        EXPECT_FALSE(decompress(c, both, unlimited)) << name_of(c);
    }
}

// ---- data produced by the stock command-line tools --------------------------------------

using tool_dir = fakes::temp_dir;

void write_file(const fs::path& p, bytes_view data) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

bytes read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(f), {});
}

bool have_tool(const std::string& tool) {
    return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

int run(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct tool_case {
    const char* tool;
    compression_codec codec;
    const char* command; // {in} and {out} replaced
};

std::string expand(std::string cmd, const fs::path& in, const fs::path& out) {
    auto replace = [&](const std::string& key, const std::string& v) {
        for (size_t p; (p = cmd.find(key)) != std::string::npos;) {
            cmd.replace(p, key.size(), v);
        }
    };
    replace("{in}", in.string());
    replace("{out}", out.string());
    return cmd;
}

TEST(compression, decompresses_what_the_stock_tools_write) {
    const tool_case cases[] = {
        {"gzip", compression_codec::gzip, "gzip -c {in} > {out}"},
        {"gzip", compression_codec::gzip, "gzip -9 -n -c < {in} > {out}"},
        {"gzip", compression_codec::gzip, "(gzip -c {in}; gzip -1 -c {in}) > {out}"}, // 2 members
        {"zstd", compression_codec::zstd, "zstd -q -c {in} > {out}"},
        // Piped: the frame has no content size, as a streaming producer writes it.
        {"zstd", compression_codec::zstd, "cat {in} | zstd -q -19 -c > {out}"},
        {"zstd", compression_codec::zstd, "zstd -q --no-check -c {in} > {out}"},
        {"zstd", compression_codec::zstd, "(zstd -q -c {in}; cat {in} | zstd -q -c) > {out}"},
        {"lz4", compression_codec::lz4, "lz4 -q -c {in} > {out}"},
        // HC, linked blocks; then content size and block checksums.
        {"lz4", compression_codec::lz4, "lz4 -q -9 -BD -B4 -c {in} > {out}"},
        {"lz4", compression_codec::lz4, "lz4 -q --content-size -BX -c {in} > {out}"},
        {"lz4", compression_codec::lz4, "cat {in} | lz4 -q -c > {out}"},
    };
    tool_dir dir("trib-codec");
    const std::pair<const char*, bytes> inputs[] = {
        {"text", text_bytes(300000)}, {"random", random_bytes(100000)}, {"empty", bytes{}}};
    int ran = 0;
    for (const auto& tc : cases) {
        if (!have_tool(tc.tool)) {
            continue;
        }
        for (const auto& [label, data] : inputs) {
            SCOPED_TRACE(std::string(tc.command) + " on " + label);
            auto in = dir / (std::string(label) + ".in");
            auto out = dir / (std::string(label) + ".out");
            write_file(in, data);
            ASSERT_EQ(run(expand(tc.command, in, out)), 0);
            bytes z = read_file(out);
            auto back = decompress(tc.codec, z, unlimited);
            ASSERT_TRUE(back) << back.error().message();
            bytes expect = data;
            if (std::string(tc.command).find("; ") != std::string::npos) {
                expect.insert(expect.end(), data.begin(), data.end());
            }
            EXPECT_EQ(*back, expect);
            ++ran;
        }
    }
    if (ran == 0) {
        GTEST_SKIP() << "gzip, zstd and lz4 tools not installed";
    }
}

TEST(compression, the_stock_tools_read_what_we_write) {
    const std::pair<compression_codec, const char*> cases[] = {
        {compression_codec::gzip, "gzip -d -c {in} > {out}"},
        {compression_codec::zstd, "zstd -q -d -c {in} > {out}"},
        {compression_codec::lz4, "lz4 -q -d -c {in} > {out}"},
    };
    tool_dir dir("trib-codec");
    bytes data = text_bytes(200000);
    int ran = 0;
    for (const auto& [codec, cmd] : cases) {
        const auto tool = name_of(codec);
        if (!have_tool(tool)) {
            continue;
        }
        auto z = compress(codec, data);
        ASSERT_TRUE(z);
        auto in = dir / (tool + ".z");
        auto out = dir / (tool + ".plain");
        write_file(in, *z);
        ASSERT_EQ(run(expand(cmd, in, out)), 0) << tool;
        EXPECT_EQ(read_file(out), data) << tool;
        ++ran;
    }
    if (ran == 0) {
        GTEST_SKIP() << "gzip, zstd and lz4 tools not installed";
    }
}

TEST(compression, tool_made_bombs_stop_at_limit) {
    tool_dir dir("trib-codec");
    int ran = 0;
    for (auto [tool, codec] : {std::pair{"gzip", compression_codec::gzip},
                               std::pair{"zstd", compression_codec::zstd},
                               std::pair{"lz4", compression_codec::lz4}}) {
        if (!have_tool(tool)) {
            continue;
        }
        auto out = dir / (std::string(tool) + ".bomb");
        // 128 MiB of zeros through a pipe: no content size in the header to give it away.
        ASSERT_EQ(run("head -c 134217728 /dev/zero | " + std::string(tool) + " -q -1 -c > " +
                      out.string()),
                  0);
        bytes z = read_file(out);
        auto r = decompress(codec, z, size_t(8) << 20);
        EXPECT_EQ(r.error(), compression_errc::too_large) << tool;
        ++ran;
    }
    if (ran == 0) {
        GTEST_SKIP() << "gzip, zstd and lz4 tools not installed";
    }
}

// ---- kafka-python's codecs (kafka.codec) -----------------------------------------------

const std::string kafka_python_script =
    std::string(TRIB_SOURCE_DIR) + "/tests/integration/capture_codecs/kafka_python_codec.py";

TEST(compression, kafka_python_codecs_both_ways) {
    if (!fs::exists("/usr/bin/python3")) {
        GTEST_SKIP() << "/usr/bin/python3 missing";
    }
    tool_dir dir("trib-codec");
    bytes data = text_bytes(150000); // several xerial blocks
    int ran = 0;
    std::string skipped;
    for (auto codec : all_codecs) {
        const auto name = name_of(codec);
        SCOPED_TRACE(name);
        auto plain = dir / (name + ".plain");
        auto theirs = dir / (name + ".theirs");
        write_file(plain, data);
        int rc = run("/usr/bin/python3 " + kafka_python_script + " encode " + name + " " +
                     plain.string() + " " + theirs.string());
        if (rc == 77) {
            skipped += name + " ";
            continue;
        }
        ASSERT_EQ(rc, 0);
        bytes z = read_file(theirs);
        if (codec == compression_codec::snappy) {
            ASSERT_GE(z.size(), 8u);
            EXPECT_EQ(z[0], 0x82) << "kafka-python writes xerial framing";
        }
        auto back = decompress(codec, z, unlimited);
        ASSERT_TRUE(back) << back.error().message();
        EXPECT_EQ(*back, data);

        auto ours = dir / (name + ".ours");
        auto decoded = dir / (name + ".decoded");
        auto mine = compress(codec, data);
        ASSERT_TRUE(mine);
        write_file(ours, *mine);
        ASSERT_EQ(run("/usr/bin/python3 " + kafka_python_script + " decode " + name + " " +
                      ours.string() + " " + decoded.string()),
                  0);
        EXPECT_EQ(read_file(decoded), data);
        ++ran;
    }
    if (ran == 0) {
        GTEST_SKIP() << "kafka-python unavailable";
    }
    if (!skipped.empty()) {
        std::printf("kafka-python lacks codec modules for: %s\n", skipped.c_str());
    }
}

} // namespace
} // namespace trib::protocol
