#pragma once

#include "common/ids.h"
#include "common/result.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace trib::storage {

// How far a log's appends had completed: every byte before `position` in segment `segment`,
// and every byte of every earlier segment, was written by an append() that returned. `nonce`
// is the log's checkpoint nonce when it was taken (log.checkpoint, which changes it whenever
// the log cuts data), so a mark taken before a truncation never matches the log after it.
struct written_mark {
    uint64_t nonce = 0;
    offset segment;
    uint64_t position = 0;

    bool operator==(const written_mark&) const = default;
};

// The "written marks" of the logs in one data directory, so that recovery after a process
// kill (not a machine crash) trusts what completed appends wrote instead of checking the CRC
// of every batch since the recovery point (storage/README.md, Recovery).
//
// A SIGKILL keeps the page cache: every append that returned is in the files, and only the
// write in progress can be torn. The marks say how far the completed ones went. They hold
// only until the machine restarts (the page cache may then have lost anything not fsync'ed),
// so the file names the boot it was written in, and a file from another boot is ignored.
//
// `<dir>/written-marks`, rewritten every `interval` by a thread of this object (when
// something changed) through `written-marks.tmp` and a rename, without fsync (a machine crash
// voids it anyway). Big-endian:
//   0   4  magic "TRWM"
//   4   2  version (1)
//   6   2  reserved (0)
//   8  36  boot id, as /proc/sys/kernel/random/boot_id prints it (without the newline)
//  44   4  u32 entry count, then per entry:
//           2  u16 name length (1..255): the log's directory name ("orders-3")
//           n  name
//           8  u64 nonce
//           8  i64 segment base offset
//           8  u64 position
//  end  4  CRC-32C of everything before it
// A file that doesn't parse, from another boot, or larger than 64 MiB is ignored (logged):
// recovery then scans as if there were no marks.
//
// Thread-safe. A log attaches once (log::open) and publishes its mark on every append through
// the returned cell; destroying the cell detaches it.
class written_marks {
public:
    static constexpr const char* file_name = "written-marks";

    class cell {
    public:
        // The log's appends completed up to `m`.
        void set(const written_mark& m);
        // The log is about to cut data: forget the mark until the next set().
        void clear();
        std::optional<written_mark> get() const;
        const std::string& name() const noexcept { return _name; }
        explicit cell(std::string name) : _name(std::move(name)) {}

    private:
        mutable std::mutex _mu;
        std::optional<written_mark> _mark;
        std::string _name;
    };

    // Reads `dir`/written-marks (kept when it was written in boot `boot_id`) and starts the
    // writer. An empty `boot_id` (unknown) ignores the file and writes none.
    explicit written_marks(std::filesystem::path dir,
                           std::chrono::milliseconds interval = std::chrono::milliseconds(1000),
                           std::string boot_id = current_boot_id());
    written_marks(const written_marks&) = delete;
    written_marks& operator=(const written_marks&) = delete;
    // Stops the writer (no last write: a clean close marks each log clean instead).
    ~written_marks();

    // The mark the file held for log directory `name` when this object was made.
    std::optional<written_mark> found(const std::string& name) const;
    // Registers the log in directory `name`; its cell starts empty.
    std::shared_ptr<cell> attach(const std::string& name);
    // Writes the file now if its contents changed (the writer thread calls it; tests too).
    result<void> write_now();

    const std::filesystem::path& dir() const noexcept { return _dir; }
    // /proc/sys/kernel/random/boot_id without the newline; empty when unreadable.
    static std::string current_boot_id();

    // The file's contents for these entries (exposed for tests), and its parse: nullopt when
    // damaged; entries only when `boot_id` matches.
    static std::vector<uint8_t> encode(const std::string& boot_id,
                                       const std::map<std::string, written_mark>& entries);
    struct decoded {
        std::string boot_id;
        std::map<std::string, written_mark> entries;
    };
    static std::optional<decoded> decode(const std::vector<uint8_t>& data, std::string* why = nullptr);

private:
    void run();

    std::filesystem::path _dir;
    std::chrono::milliseconds _interval;
    std::string _boot_id;
    std::map<std::string, written_mark> _found;  // read at start, constant after

    mutable std::mutex _mu;  // guards what follows
    // Entries of the file found at start for logs not attached yet: still true for those logs
    // (nothing writes to them), so they are written again until their log attaches or its
    // directory disappears.
    std::map<std::string, written_mark> _carried;
    std::vector<std::weak_ptr<cell>> _cells;
    std::vector<uint8_t> _last_written;
    bool _stop = false;
    std::condition_variable _cv;
    std::mutex _write_mu;  // one write at a time (writer thread, write_now from tests)
    std::thread _thread;
};

} // namespace trib::storage
