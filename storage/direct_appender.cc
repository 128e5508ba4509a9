#include "storage/direct_appender.h"

#include "common/log.h"
#include "storage/errc.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace trib::storage {

namespace {

struct aligned_free {
    void operator()(uint8_t* p) const noexcept { std::free(p); }
};

// This thread's write buffer: `chunk` bytes aligned to a block.
uint8_t* scratch() {
    thread_local std::unique_ptr<uint8_t, aligned_free> buf(
        static_cast<uint8_t*>(std::aligned_alloc(direct_appender::block, direct_appender::chunk)));
    return buf.get();
}

constexpr uint64_t block_floor(uint64_t v) { return v & ~uint64_t(direct_appender::block - 1); }

} // namespace

direct_appender::direct_appender(int fd, std::shared_ptr<file> data)
    : _direct(fd, data->path()), _data(std::move(data)) {}

result<std::unique_ptr<direct_appender>> direct_appender::open(std::shared_ptr<file> data, uint64_t size) {
    int fd = ::open(data->path().c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EINVAL || e == EOPNOTSUPP) {
            static std::atomic<bool> said{false};
            if (!said.exchange(true)) {
                TLOG_INFO("storage: the filesystem of {} refuses O_DIRECT ({}); appending through the "
                          "page cache",
                          data->path().parent_path().string(), std::strerror(e));
            }
            return std::unique_ptr<direct_appender>();
        }
        return io_failure("open (O_DIRECT)", data->path(), e);
    }
    if (scratch() == nullptr) {
        ::close(fd);
        return io_failure("aligned_alloc of the direct write buffer for", data->path(), ENOMEM);
    }
    std::unique_ptr<direct_appender> a(new direct_appender(fd, std::move(data)));
    if (auto r = a->reset(size); !r) {
        return r.error();
    }
    return a;
}

result<void> direct_appender::reset(uint64_t size) {
    _tail_pos = block_floor(size);
    _tail_len = size_t(size - _tail_pos);
    if (_tail_len == 0) {
        return success();
    }
    auto got = _data->read_at(std::span(_tail.data(), _tail_len), _tail_pos);
    if (!got) {
        return got.error();
    }
    if (*got != _tail_len) {
        return io_failure("read of the tail block of", _data->path(),
                          fmt::format("the file is shorter than its data ({} < {})", _tail_pos + *got, size));
    }
    return success();
}

void direct_appender::written_buffered(bytes_view bytes, uint64_t pos) {
    assert(pos == _tail_pos + _tail_len);
    const uint64_t end = pos + bytes.size();
    const uint64_t tail_pos = block_floor(end);
    const size_t tail_len = size_t(end - tail_pos);
    if (tail_pos == _tail_pos) {  // still inside the same block
        std::memcpy(_tail.data() + _tail_len, bytes.data(), bytes.size());
    } else {
        std::memcpy(_tail.data(), bytes.data() + (bytes.size() - tail_len), tail_len);
    }
    _tail_pos = tail_pos;
    _tail_len = tail_len;
}

result<void> direct_appender::write_blocks(const uint8_t* buf, size_t len, uint64_t pos) {
    assert(len % block == 0 && pos % block == 0);
    while (len > 0) {
        ssize_t n = ::pwrite(_direct.fd(), buf, len, off_t(pos));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || size_t(n) % block != 0) {
            return io_failure("direct pwrite", _data->path(), n < 0 ? errno : 0);  // 0: a short write
        }
        buf += n;
        len -= size_t(n);
        pos += uint64_t(n);
    }
    return success();
}

result<void> direct_appender::append(bytes_view bytes, uint64_t pos) {
    assert(pos == _tail_pos + _tail_len);
    uint8_t* buf = scratch();
    std::memcpy(buf, _tail.data(), _tail_len);
    size_t n = _tail_len;
    uint64_t at = _tail_pos;
    while (true) {
        size_t take = std::min(chunk - n, bytes.size());
        std::memcpy(buf + n, bytes.data(), take);
        n += take;
        bytes = bytes.subspan(take);
        if (bytes.empty()) {
            break;
        }
        if (auto r = write_blocks(buf, chunk, at); !r) {  // n == chunk
            return r;
        }
        at += chunk;
        n = 0;
    }
    // The last, possibly partial, stretch: zeros up to the next block boundary.
    const size_t keep = n % block;
    const size_t padded = n - keep + (keep ? block : 0);
    std::memset(buf + n, 0, padded - n);
    if (auto r = write_blocks(buf, padded, at); !r) {
        return r;
    }
    std::memcpy(_tail.data(), buf + (n - keep), keep);
    _tail_pos = at + (n - keep);
    _tail_len = keep;
    return success();
}

} // namespace trib::storage
