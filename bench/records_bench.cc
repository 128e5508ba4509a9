// Record batch throughput: validate_batch (header, CRC, every record, decompression) on
// 16 KiB batches as producers send them, uncompressed and with each codec; and building.
// Issue target: parse + validate of a 16 KiB uncompressed batch >= 3 GB/s.
// Bytes processed are the batch's bytes on the wire (compressed size for codecs), and a
// second counter, uncompressed_bytes_per_second, the record payload after decompression.
#include "protocol/compression.h"
#include "protocol/records.h"

#include <benchmark/benchmark.h>

#include <random>
#include <string>

using namespace trib;
using namespace trib::protocol;

namespace {

// A producer-like batch of about `target` uncompressed bytes: records with a short key and a
// `value_size` value of text-like bytes (compressible, like JSON events), one header on some.
bytes make_batch(compression_codec codec, size_t target, size_t value_size) {
    batch_options o;
    o.codec = codec;
    o.producer_id = 1000;
    o.producer_epoch = 0;
    o.base_sequence = 0;
    batch_builder b(o);
    std::mt19937 rng(42);
    const std::string words[] = {"\"user\":", "\"event\":", "\"click\",", "\"view\",", "1234,",
                                 "\"ts\":", "true,", "null,", "{", "}"};
    std::vector<record_header> one_header = {{"trace-id", bytes{'a', 'b', 'c', 'd'}}};
    int i = 0;
    while (b.records_size() + value_size + 40 <= target - batch_header::size) {
        std::string value;
        while (value.size() < value_size) {
            value += words[rng() % std::size(words)];
        }
        value.resize(value_size);
        std::string key = "user-" + std::to_string(rng() % 10000);
        auto headers = i % 4 == 0 ? std::span<const record_header>(one_header)
                                  : std::span<const record_header>();
        b.add(as_bytes(key), as_bytes(value), 1700000000000 + i, headers);
        ++i;
    }
    auto out = b.build();
    return out ? std::move(*out) : bytes{};
}

void bm_validate(benchmark::State& state, compression_codec codec, size_t value_size) {
    const bytes batch = make_batch(codec, 16 * 1024, value_size);
    record_limits limits;
    limits.from_producer = true;
    auto check = validate_batch(batch, limits);
    if (!check) {
        state.SkipWithError(check.error().message().c_str());
        return;
    }
    for (auto _ : state) {
        auto s = validate_batch(batch, limits);
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(batch.size()));
    state.counters["uncompressed_bytes_per_second"] = benchmark::Counter(
        double(check->uncompressed_bytes) * double(state.iterations()), benchmark::Counter::kIsRate,
        benchmark::Counter::kIs1024);
    state.counters["batch_bytes"] = double(batch.size());
    state.counters["records"] = double(check->record_count);
}

void bm_iterate(benchmark::State& state, size_t value_size) {
    const bytes batch = make_batch(compression_codec::none, 16 * 1024, value_size);
    for (auto _ : state) {
        auto r = batch_reader::open(batch);
        size_t sum = 0;
        for (;;) {
            auto rec = r->next();
            if (!rec || !*rec) {
                break;
            }
            sum += (*rec)->value ? (*rec)->value->size() : 0;
        }
        benchmark::DoNotOptimize(sum);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(batch.size()));
}

void bm_build(benchmark::State& state, compression_codec codec) {
    const size_t value_size = 100;
    std::string value(value_size, 'x');
    for (size_t i = 0; i < value.size(); ++i) {
        value[i] = char('a' + (i * 7) % 26);
    }
    size_t total = 0;
    for (auto _ : state) {
        batch_options o;
        o.codec = codec;
        batch_builder b(o);
        for (int i = 0; i < 128; ++i) {
            b.add(as_bytes("key"), as_bytes(value), 1700000000000 + i);
        }
        auto out = b.build();
        total += b.records_size();
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(int64_t(total));
}

} // namespace

BENCHMARK_CAPTURE(bm_validate, none_100B_values, compression_codec::none, 100);
BENCHMARK_CAPTURE(bm_validate, none_1KiB_values, compression_codec::none, 1024);
BENCHMARK_CAPTURE(bm_validate, none_20B_values, compression_codec::none, 20);
BENCHMARK_CAPTURE(bm_validate, gzip_100B_values, compression_codec::gzip, 100);
BENCHMARK_CAPTURE(bm_validate, snappy_100B_values, compression_codec::snappy, 100);
BENCHMARK_CAPTURE(bm_validate, lz4_100B_values, compression_codec::lz4, 100);
BENCHMARK_CAPTURE(bm_validate, zstd_100B_values, compression_codec::zstd, 100);
BENCHMARK_CAPTURE(bm_iterate, none_100B_values, 100);
BENCHMARK_CAPTURE(bm_build, none, compression_codec::none);
BENCHMARK_CAPTURE(bm_build, lz4, compression_codec::lz4);
BENCHMARK_CAPTURE(bm_build, zstd, compression_codec::zstd);

BENCHMARK_MAIN();
