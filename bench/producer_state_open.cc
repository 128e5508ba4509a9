// producer_state_open: how long a partition takes to get its idempotent-producer state back
// on open, walking every batch header against loading a snapshot (after a clean close) and
// against a snapshot plus the active segment (after a crash). A one-shot measurement for the
// record, not a Google Benchmark (bench/run.sh does not run it):
//
//   build/bench/producer_state_open [dir] [GiB, default 2.5] [payload bytes, default 100]
//
// (configure with -DTRIB_BENCH=ON). 2.5 GiB makes two full segments and a half-full active
// one, the part a crash makes the log and the state walk again.
//
// Builds the log in `dir` (default a fresh temp directory, removed at the end) with 1 GiB
// segments (Kafka's default) of single-record batches from 8 idempotent producers, then opens
// it several ways. "cold" evicts the directory's files from the page cache first
// (posix_fadvise DONTNEED on each; nothing else on the machine is touched).
#include "broker/producer_state.h"
#include "common/batch_header.h"
#include "common/crc32c.h"
#include "storage/log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace trib;
using broker::producer_state;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void evict(const std::filesystem::path& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            ::close(fd);
        }
    }
}

[[noreturn]] void die(const std::string& what, std::error_code ec) {
    std::fprintf(stderr, "producer_state_open: %s: %s\n", what.c_str(), ec.message().c_str());
    std::exit(1);
}

std::unique_ptr<storage::log> open_log(const std::filesystem::path& dir) {
    auto l = storage::log::open(dir, storage::log_config{});
    if (!l) {
        die("open " + dir.string(), l.error());
    }
    return std::move(*l);
}

// One measured open: the log, then the producer state.
void measure(const char* name, const std::filesystem::path& dir, bool cold, bool crash_after) {
    if (cold) {
        evict(dir);
    }
    auto t0 = std::chrono::steady_clock::now();
    auto l = open_log(dir);
    double log_s = seconds_since(t0);
    producer_state s;
    auto t1 = std::chrono::steady_clock::now();
    auto st = s.load(*l);
    double load_s = seconds_since(t1);
    if (!st) {
        die("load", st.error());
    }
    std::printf("%-34s %-4s  log open %7.3f s   producer state %7.3f s   batches walked %10llu  producers %zu\n",
                name, cold ? "cold" : "warm", log_s, load_s, (unsigned long long)st->batches_walked, s.producers());
    if (crash_after) {
        l.reset();  // no close(): the next open recovers
    } else {
        (void)s.write_snapshot(*l);
        l->close();
    }
}

} // namespace

int main(int argc, char** argv) {
    std::filesystem::path dir;
    bool own_dir = argc < 2;
    if (own_dir) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "trib-pstate-open-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) {
            die("mkdtemp", std::error_code(errno, std::generic_category()));
        }
        dir = tmpl;
    } else {
        dir = argv[1];
    }
    const uint64_t total = uint64_t((argc > 2 ? std::atof(argv[2]) : 2.5) * (1ull << 30));
    const size_t payload = argc > 3 ? size_t(std::atoi(argv[3])) : 100;
    const size_t batch_size = batch_header::size + payload;
    constexpr int producers = 8;
    constexpr size_t per_append = 4096;

    // Build: batches appended 4096 at a time, each producer's sequence running on.
    {
        auto l = open_log(dir);
        producer_state s;
        s.snapshot_on_roll(*l);
        bytes buf(batch_size * per_append, 0);
        int32_t seq[producers] = {};
        uint64_t n = 0;
        auto t0 = std::chrono::steady_clock::now();
        while (l->size_bytes() < total) {
            for (size_t i = 0; i < per_append; ++i, ++n) {
                uint8_t* p = buf.data() + i * batch_size;
                batch_header h;
                h.batch_length = int32_t(batch_size - batch_header::length_field_end);
                h.partition_leader_epoch = 0;
                h.base_timestamp = h.max_timestamp = 1700000000000 + int64_t(n);
                h.producer_id = 1000 + int64_t(n % producers);
                h.producer_epoch = 0;
                h.base_sequence = seq[n % producers]++;
                h.record_count = 1;
                write_batch_header(p, h);
                store_be32(p + 17, compute_batch_crc({p, batch_size}));
            }
            auto r = l->append(std::span<uint8_t>(buf), std::nullopt, true);
            if (!r) {
                die("append", r.error());
            }
            for (size_t i = 0; i < per_append; ++i) {
                s.record(decode_batch_header(buf.data() + i * batch_size));
            }
        }
        (void)s.write_snapshot(*l);
        std::printf("built %s: %.2f GiB, %llu batches of %zu bytes, %zu segments, in %.1f s\n", dir.c_str(),
                    double(total) / (1ull << 30), (unsigned long long)n, batch_size,
                    l->segment_bases().size(),
                    seconds_since(t0));
        l->close();
    }
    auto drop_snapshots = [&] {
        auto snaps = producer_state::list_snapshots(dir);
        if (!snaps) {
            die("list snapshots", snaps.error());
        }
        for (offset o : *snaps) {
            std::filesystem::remove(producer_state::snapshot_path(dir, o));
        }
    };

    for (bool cold : {false, true}) {
        measure("clean close, snapshot at the end", dir, cold, false);
        drop_snapshots();
        measure("no snapshot: every batch header", dir, cold, false);  // writes one at the end
    }
    // A crash: the snapshot of the last roll stays; the log and the state walk the active segment.
    {
        auto l = open_log(dir);
        producer_state s;
        (void)s.load(*l);
        const offset last_roll = l->segment_bases().back();
        l->close();
        drop_snapshots();
        auto again = open_log(dir);
        producer_state s2;
        // Rebuild the roll's snapshot: the state at the active segment's base.
        (void)again->for_each_batch_header([&](const batch_header& h) {
            if (offset(h.base_offset) >= last_roll) {
                return false;
            }
            s2.record(h);
            return true;
        });
        (void)s2.write_snapshot(dir, last_roll);
        again.reset();  // unclean: no close
    }
    for (bool cold : {false, true}) {
        measure("crash, snapshot at the last roll", dir, cold, true);
    }
    if (own_dir) {
        std::filesystem::remove_all(dir);
    }
    return 0;
}
