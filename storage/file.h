#pragma once

#include "common/bytes.h"
#include "common/result.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace trib::storage {

// An open file descriptor, closed on destruction. Segments hold their files through
// shared_ptr so that a reader (a file_slice_ref handed to the network layer) or the syncer
// thread can keep using a file after the segment was rolled, truncated or deleted: unlinking
// a path doesn't invalidate an open descriptor.
//
// All helpers report a failing call through io_failure (below) and return errc::io_error.
class file {
public:
    // open(2) with O_CLOEXEC added.
    static result<std::shared_ptr<file>> open(const std::filesystem::path& path, int flags,
                                              unsigned mode = 0644);

    file(int fd, std::filesystem::path path) noexcept : _fd(fd), _path(std::move(path)) {}
    file(const file&) = delete;
    file& operator=(const file&) = delete;
    ~file();

    int fd() const noexcept { return _fd; }
    const std::filesystem::path& path() const noexcept { return _path; }

    // pwrite(2) until everything is written.
    result<void> write_at(bytes_view data, uint64_t pos) const;
    // pread(2) until `out` is full or end of file; returns the bytes read.
    result<size_t> read_at(std::span<uint8_t> out, uint64_t pos) const;
    result<uint64_t> size() const;
    result<void> truncate(uint64_t size) const;
    // Last modification time in ms since the epoch.
    result<int64_t> mtime_ms() const;

private:
    int _fd;
    std::filesystem::path _path;
};

// fsync(2) of a directory, so a create, rename or unlink in it is durable.
result<void> sync_directory(const std::filesystem::path& dir);
// The contents of a small file, at most `max_bytes + 1` bytes (more than `max_bytes` tells the
// caller the file is too long without reading it all); nullopt when it doesn't exist.
result<std::optional<bytes>> read_small_file(const std::filesystem::path& path, size_t max_bytes);
// Replaces `dir/name` with `data` so that a crash leaves the old or the new file, never a mix:
// `name.tmp` is written and fdatasync'ed, renamed over `name`, then the directory is fsync'ed.
result<void> replace_file(const std::filesystem::path& dir, const std::string& name, bytes_view data);
// unlink(2); a missing file is not an error.
result<void> remove_file(const std::filesystem::path& path);

// A failed system call on `path`: logs it with strerror(err) (err 0: "short write"), remembers
// it as this thread's last I/O failure, and returns errc::io_error. Every write path of storage
// that fails with an I/O error goes through here; the second form takes the reason in words.
std::error_code io_failure(const char* call, const std::filesystem::path& path, int err);
std::error_code io_failure(const char* call, const std::filesystem::path& path, std::string_view reason);
// This thread's last io_failure, as "CALL PATH: REASON" ("pwrite /d/t-0/0.log: No space left on
// device"); empty if none. What a log's failure listener hears says it (log::failed).
const std::string& last_io_failure();

} // namespace trib::storage
