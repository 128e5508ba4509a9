// Storage benchmarks: buffered append, append with group commit, sequential read. Baselines
// measured in the same run (memcpy and raw pwrite of the same sizes) give the machine's limits
// beside the figures.
#include "storage/log.h"
#include "storage/syncer.h"
#include "tests/fakes/storage_batches.h"
#include "tests/fakes/temp_dir.h"

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <unistd.h>

namespace trib::storage {
namespace {

constexpr size_t batch_bytes = 16 * 1024;

bytes batch16k(uint32_t seed = 1) {
    return testing::make_batch({.records = 16, .payload = batch_bytes - batch_header::size, .seed = seed});
}

// Keeps the benchmark's disk footprint bounded.
log_config bench_config() {
    return {.segment_bytes = 256ull << 20, .retention_ms = -1, .retention_bytes = 512ll << 20};
}

// A log in `dir` holding `batches` 16 KiB batches, for the read benchmarks; nullptr (and the
// benchmark marked skipped) when it can't be made.
std::unique_ptr<log> log_with_batches(const fakes::temp_dir& dir, benchmark::State& state, int batches) {
    auto l = log::open(dir.path(), bench_config());
    if (!l) {
        state.SkipWithError("open failed");
        return nullptr;
    }
    for (int i = 0; i < batches; ++i) {
        bytes b = batch16k(uint32_t(i));
        if (!(*l)->append(b)) {
            state.SkipWithError("append failed");
            return nullptr;
        }
    }
    return std::move(*l);
}

// Baseline: copying 16 KiB in memory.
void BM_memcpy_16k(benchmark::State& state) {
    bytes src(batch_bytes, 1), dst(batch_bytes);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), batch_bytes);
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations() * batch_bytes));
}
BENCHMARK(BM_memcpy_16k);

// Baseline: pwrite of 16 KiB into the page cache, the only system call buffered append makes.
void BM_raw_pwrite_16k(benchmark::State& state) {
    fakes::temp_dir dir("trib-bench");
    int fd = ::open((dir.path() / "raw").c_str(), O_RDWR | O_CREAT, 0644);
    bytes src(batch_bytes, 1);
    uint64_t pos = 0;
    for (auto _ : state) {
        if (::pwrite(fd, src.data(), src.size(), off_t(pos)) != ssize_t(src.size())) {
            state.SkipWithError("pwrite failed");
            break;
        }
        pos += batch_bytes;
        if (pos >= (256ull << 20)) {
            state.PauseTiming();
            (void)::ftruncate(fd, 0);
            pos = 0;
            state.ResumeTiming();
        }
    }
    ::close(fd);
    state.SetBytesProcessed(int64_t(state.iterations() * batch_bytes));
}
BENCHMARK(BM_raw_pwrite_16k);

// Buffered append: validation (CRC), offset rewrite, one pwrite, in-memory index update.
void BM_append_buffered_16k(benchmark::State& state) {
    fakes::temp_dir dir("trib-bench");
    auto l = log::open(dir.path(), bench_config());
    if (!l) {
        state.SkipWithError("open failed");
        return;
    }
    bytes b = batch16k();
    uint64_t n = 0;
    for (auto _ : state) {
        auto r = (*l)->append(b);
        if (!r) {
            state.SkipWithError("append failed");
            break;
        }
        if (++n % 8192 == 0) {  // every 128 MiB
            state.PauseTiming();
            (void)(*l)->apply_retention();
            state.ResumeTiming();
        }
    }
    state.SetBytesProcessed(int64_t(state.iterations() * b.size()));
    (*l)->close();
}
BENCHMARK(BM_append_buffered_16k);

syncer& bench_syncer() {
    static syncer s;
    return s;
}

// Group commit on one partition: the log's owner thread appends for `producers` clients, each
// with one request in flight (acks wait for the fsync covering them), as a broker does with
// fsync_each_append. Requests that arrive during an fsync share the next one.
void BM_group_commit_one_log_16k(benchmark::State& state) {
    const int producers = int(state.range(0));
    bench_syncer().start();
    fakes::temp_dir dir("trib-bench");
    auto cfg = bench_config();
    cfg.fsync_each_append = true;
    auto l = log::open(dir.path(), cfg, system_clock(), &bench_syncer());
    if (!l) {
        state.SkipWithError("open failed");
        return;
    }
    bytes b = batch16k();
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0;
    const uint64_t fsyncs_before = bench_syncer().fsync_count();
    for (auto _ : state) {
        {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return in_flight < producers; });
            ++in_flight;
        }
        auto r = (*l)->append(b);
        if (!r) {
            state.SkipWithError("append failed");
            break;
        }
        (*l)->sync(r->last, [&](std::error_code) {
            std::lock_guard g(mu);
            --in_flight;
            cv.notify_all();
        });
    }
    {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return in_flight == 0; });
    }
    const double fsyncs = double(bench_syncer().fsync_count() - fsyncs_before);
    state.SetBytesProcessed(int64_t(state.iterations() * b.size()));
    state.SetItemsProcessed(int64_t(state.iterations()));
    state.counters["appends_per_fsync"] = fsyncs > 0 ? double(state.iterations()) / fsyncs : 0;
    (*l)->close();
}
BENCHMARK(BM_group_commit_one_log_16k)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

// Several partitions: each thread owns a log and waits for its own sync; one shared syncer.
// Distinct files can't share an fsync, but their fsyncs run in the same rounds.
void BM_group_commit_log_per_thread_16k(benchmark::State& state) {
    bench_syncer().start();
    fakes::temp_dir dir("trib-bench");
    auto cfg = bench_config();
    cfg.fsync_each_append = true;
    auto l = log::open(dir.path(), cfg, system_clock(), &bench_syncer());
    if (!l) {
        state.SkipWithError("open failed");
        return;
    }
    bytes b = batch16k(uint32_t(state.thread_index()));
    for (auto _ : state) {
        auto r = (*l)->append(b);
        if (!r) {
            state.SkipWithError("append failed");
            break;
        }
        std::promise<std::error_code> p;
        auto f = p.get_future();
        (*l)->sync(r->last, [&p](std::error_code ec) { p.set_value(ec); });
        if (f.get()) {
            state.SkipWithError("sync failed");
            break;
        }
    }
    state.SetBytesProcessed(int64_t(state.iterations() * b.size()));
    state.SetItemsProcessed(int64_t(state.iterations()));
    (*l)->close();
}
BENCHMARK(BM_group_commit_log_per_thread_16k)->Threads(1)->Threads(4)->UseRealTime();

// Sequential read of 1 MiB fetches copied into memory (read_bytes), from a 256 MiB log.
void BM_read_sequential_1m(benchmark::State& state) {
    fakes::temp_dir dir("trib-bench");
    auto l = log_with_batches(dir, state, 16384);
    if (!l) {
        return;
    }
    offset at(0);
    uint64_t total = 0;
    for (auto _ : state) {
        auto r = l->read_bytes(at, 1 << 20);
        if (!r) {
            state.SkipWithError("read failed");
            break;
        }
        total += r->size();
        at = at + int64_t(r->size() / batch_bytes) * 16;
        if (at >= l->next_offset()) {
            at = offset(0);
        }
    }
    state.SetBytesProcessed(int64_t(total));
    l->close();
}
BENCHMARK(BM_read_sequential_1m);

// read() only: the slice list a sendfile path would use (no copy).
void BM_read_slices_1m(benchmark::State& state) {
    fakes::temp_dir dir("trib-bench");
    auto l = log_with_batches(dir, state, 4096);
    if (!l) {
        return;
    }
    offset at(0);
    uint64_t total = 0;
    for (auto _ : state) {
        auto r = l->read(at, 1 << 20);
        if (!r) {
            state.SkipWithError("read failed");
            break;
        }
        total += r->bytes;
        at = r->next_offset >= l->next_offset() ? offset(0) : r->next_offset;
    }
    state.SetBytesProcessed(int64_t(total));
    l->close();
}
BENCHMARK(BM_read_slices_1m);

} // namespace
} // namespace trib::storage

BENCHMARK_MAIN();
