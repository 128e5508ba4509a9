// recovery_open: how long one log takes to open after a process kill, checking the CRC of
// every batch since the recovery point against trusting a written mark (storage/README.md,
// Recovery). A one-shot measurement for the record, not a Google Benchmark (bench/run.sh
// does not run it); run it under `perf record` to see where the time goes:
//
//   build/bench/recovery_open [MiB, default 1024] [batch bytes, default 16384] [cold|warm] [dir]
//
// (configure with -DTRIB_BENCH=ON). Writes one segment of that many MiB in `dir` (default a
// fresh temp directory, removed at the end) with the page cache warm, as a SIGKILL leaves it,
// then opens it three times uncleanly: without marks, with a mark at the end, and without
// again (the first open may pay for page-table setup the others don't). "cold" evicts the
// log's files from the page cache before each open (posix_fadvise DONTNEED on each; nothing
// else on the machine is touched), as the broker's direct writes leave them.
#include "common/batch_header.h"
#include "common/crc32c.h"
#include "storage/checkpoint.h"
#include "storage/log.h"
#include "storage/written_marks.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace trib;

namespace {

constexpr const char* boot = "recovery-open";

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& what, std::error_code ec) {
    std::fprintf(stderr, "recovery_open: %s: %s\n", what.c_str(), ec.message().c_str());
    std::exit(1);
}

void evict(const std::filesystem::path& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)::fdatasync(fd);
            (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            ::close(fd);
        }
    }
}

// The checkpoint as a crash right after open leaves it: unclean, recovery point 0.
void make_unclean(const std::filesystem::path& dir) {
    auto cp = storage::checkpoint::read(dir);
    if (!cp || !*cp) {
        die("read checkpoint", cp ? std::error_code() : cp.error());
    }
    auto c = **cp;
    c.clean = false;
    c.recovery_point = offset(0);
    if (auto r = c.write(dir); !r) {
        die("write checkpoint", r.error());
    }
}

void measure(const char* label, const std::filesystem::path& dir, bool with_marks, bool cold) {
    if (cold) {
        evict(dir);
    }
    if (!with_marks) {
        std::filesystem::remove(dir.parent_path() / storage::written_marks::file_name);
    }
    storage::written_marks found(dir.parent_path(), std::chrono::hours(1), boot);
    auto t0 = std::chrono::steady_clock::now();
    auto l = storage::log::open(dir, storage::log_config{}, storage::system_clock(), nullptr, &found);
    if (!l) {
        die("open", l.error());
    }
    const double s = seconds_since(t0);
    const auto& w = (*l)->opened_with();
    std::printf("%-22s %7.3f s  %8.1f MB CRC-checked (%6.0f MB/s), %8.1f MB trusted\n", label, s,
                double(w.bytes_scanned) / 1e6, double(w.bytes_scanned) / 1e6 / s, double(w.bytes_trusted) / 1e6);
    if (auto r = found.write_now(); !r) {  // the mark for the next open
        die("write marks", r.error());
    }
}

} // namespace

int main(int argc, char** argv) {
    const uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    const size_t batch = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 16384;
    std::filesystem::path root;
    const bool cold = argc > 3 && std::strcmp(argv[3], "cold") == 0;
    bool temp = argc <= 4;
    if (temp) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "recovery-open-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) {
            die("mkdtemp", std::error_code(errno, std::generic_category()));
        }
        root = tmpl;
    } else {
        root = argv[4];
    }
    const auto dir = root / "bench-0";
    {
        storage::written_marks marks(root, std::chrono::hours(1), boot);
        storage::log_config cfg;
        cfg.segment_bytes = UINT32_MAX;
        auto l = storage::log::open(dir, cfg, storage::system_clock(), nullptr, &marks);
        if (!l) {
            die("open " + dir.string(), l.error());
        }
        bytes b(batch);
        batch_header h;
        h.batch_length = int32_t(batch - batch_header::length_field_end);
        h.record_count = 1;
        h.max_timestamp = h.base_timestamp = 1'700'000'000'000;
        for (size_t i = batch_header::size; i < batch; ++i) {
            b[i] = uint8_t(i * 131);
        }
        write_batch_header(b.data(), h);
        store_be32(b.data() + 17, compute_batch_crc(b));
        auto t0 = std::chrono::steady_clock::now();
        for (uint64_t written = 0; written + batch <= mib << 20; written += batch) {
            if (auto r = (*l)->append(b, {}, true); !r) {
                die("append", r.error());
            }
        }
        std::printf("wrote %.1f MB in %zu-byte batches in %.2f s\n", double(mib << 20) / 1e6, batch, seconds_since(t0));
        if (auto r = marks.write_now(); !r) {
            die("write marks", r.error());
        }
        // Destroyed without close(): an unclean shutdown.
    }
    make_unclean(dir);
    measure("no marks", dir, false, cold);
    make_unclean(dir);
    measure("mark at the end", dir, true, cold);
    make_unclean(dir);
    measure("no marks (again)", dir, false, cold);
    if (temp) {
        std::filesystem::remove_all(root);
    }
    return 0;
}
