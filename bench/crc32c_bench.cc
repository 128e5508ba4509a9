// CRC-32C throughput: the portable slice-by-8 against the SSE4.2 three-way version.
// Issue target: hardware >= 8 GB/s on 16 KiB and larger buffers.
#include "common/crc32c.h"

#include <benchmark/benchmark.h>

#include <vector>

namespace {

template<uint32_t (*fn)(uint32_t, const uint8_t*, size_t) noexcept>
void bm_crc32c(benchmark::State& state) {
    const auto n = size_t(state.range(0));
    std::vector<uint8_t> data(n);
    for (size_t i = 0; i < n; ++i) {
        data[i] = uint8_t(i * 131 + 7);
    }
    uint32_t c = 0;
    for (auto _ : state) {
        c = fn(c, data.data(), n);
        benchmark::DoNotOptimize(c);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

void sizes(benchmark::internal::Benchmark* b) {
    for (int64_t n : {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576}) {
        b->Arg(n);
    }
}

} // namespace

BENCHMARK(bm_crc32c<trib::crc32c::extend_portable>)->Name("crc32c_portable")->Apply(sizes);
BENCHMARK(bm_crc32c<trib::crc32c::extend_hardware>)->Name("crc32c_hardware")->Apply(sizes);

BENCHMARK_MAIN();
