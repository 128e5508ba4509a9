#include "storage/file.h"

#include "common/log.h"
#include "storage/errc.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace trib::storage {

namespace {
thread_local std::string last_failure;

std::error_code errno_failure(const char* call, const std::filesystem::path& path) {
    return io_failure(call, path, errno);
}
} // namespace

std::error_code io_failure(const char* call, const std::filesystem::path& path, int err) {
    return io_failure(call, path, std::string_view(err != 0 ? std::strerror(err) : "short write"));
}

std::error_code io_failure(const char* call, const std::filesystem::path& path, std::string_view reason) {
    TLOG_ERROR("storage: {} {} failed: {}", call, path.string(), reason);
    last_failure = fmt::format("{} {}: {}", call, path.string(), reason);
    return errc::io_error;
}

const std::string& last_io_failure() {
    return last_failure;
}

result<std::shared_ptr<file>> file::open(const std::filesystem::path& path, int flags, unsigned mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) {
        return errno_failure("open", path);
    }
    return std::make_shared<file>(fd, path);
}

file::~file() {
    if (_fd >= 0) {
        ::close(_fd);
    }
}

result<void> file::write_at(bytes_view data, uint64_t pos) const {
    while (!data.empty()) {
        ssize_t n = ::pwrite(_fd, data.data(), data.size(), off_t(pos));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_failure("pwrite", _path);
        }
        data = data.subspan(size_t(n));
        pos += uint64_t(n);
    }
    return success();
}

result<size_t> file::read_at(std::span<uint8_t> out, uint64_t pos) const {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(_fd, out.data() + done, out.size() - done, off_t(pos + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_failure("pread", _path);
        }
        if (n == 0) {
            break;
        }
        done += size_t(n);
    }
    return done;
}

result<uint64_t> file::size() const {
    struct stat st {};
    if (::fstat(_fd, &st) != 0) {
        return errno_failure("fstat", _path);
    }
    return uint64_t(st.st_size);
}

result<int64_t> file::mtime_ms() const {
    struct stat st {};
    if (::fstat(_fd, &st) != 0) {
        return errno_failure("fstat", _path);
    }
    return int64_t(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

result<void> file::truncate(uint64_t size) const {
    while (::ftruncate(_fd, off_t(size)) != 0) {
        if (errno != EINTR) {
            return errno_failure("ftruncate", _path);
        }
    }
    return success();
}

result<void> sync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return errno_failure("open", dir);
    }
    int rc = ::fsync(fd);
    if (rc != 0) {
        auto ec = errno_failure("fsync", dir);
        ::close(fd);
        return ec;
    }
    ::close(fd);
    return success();
}

result<std::optional<bytes>> read_small_file(const std::filesystem::path& path, size_t max_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return std::optional<bytes>{};
        }
        return errno_failure("open", path);
    }
    file f(fd, path);
    auto size = f.size();
    if (!size) {
        return size.error();
    }
    bytes out(std::min<uint64_t>(*size, uint64_t(max_bytes) + 1));
    auto got = f.read_at(out, 0);
    if (!got) {
        return got.error();
    }
    out.resize(*got);
    return std::optional<bytes>(std::move(out));
}

result<void> replace_file(const std::filesystem::path& dir, const std::string& name, bytes_view data) {
    auto tmp = dir / (name + ".tmp");
    auto f = file::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!f) {
        return f.error();
    }
    if (auto r = (*f)->write_at(data, 0); !r) {
        return r;
    }
    if (::fdatasync((*f)->fd()) != 0) {
        return errno_failure("fdatasync", tmp);
    }
    if (::rename(tmp.c_str(), (dir / name).c_str()) != 0) {
        return errno_failure("rename", tmp);
    }
    return sync_directory(dir);
}

result<void> remove_file(const std::filesystem::path& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return errno_failure("unlink", path);
    }
    return success();
}

} // namespace trib::storage
