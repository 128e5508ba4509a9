// The machine's own limits, measured in the same run as the other benchmarks so each figure
// can be read against them (bench/run.sh puts them side by side): memcpy bandwidth for a
// cache-resident buffer (16 KiB, a record batch) and a DRAM-sized one (64 MiB), and a plain
// sequential read (sum of 64-bit words) as the floor cost of touching every byte once.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

void bm_memcpy(benchmark::State& state) {
    const auto n = size_t(state.range(0));
    std::vector<uint8_t> src(n, 1);
    std::vector<uint8_t> dst(n, 0);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), n);
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

void bm_read_sum(benchmark::State& state) {
    const auto n = size_t(state.range(0));
    std::vector<uint64_t> src(n / 8, 3);
    for (auto _ : state) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i + 4 <= src.size(); i += 4) {
            s0 += src[i];
            s1 += src[i + 1];
            s2 += src[i + 2];
            s3 += src[i + 3];
        }
        benchmark::DoNotOptimize(s0 + s1 + s2 + s3);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

} // namespace

BENCHMARK(bm_memcpy)->Name("limits_memcpy")->Arg(16 << 10)->Arg(64 << 20);
BENCHMARK(bm_read_sum)->Name("limits_read")->Arg(16 << 10)->Arg(64 << 20);

BENCHMARK_MAIN();
