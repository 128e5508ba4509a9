#pragma once

#include "common/bytes.h"
#include "common/result.h"
#include "storage/file.h"

#include <array>
#include <cstdint>
#include <memory>

namespace trib::storage {

// Appends to the active segment's .log with O_DIRECT: the bytes go from a page-aligned
// buffer straight to the device, without first being copied into new page-cache pages.
// On a small machine that copy (and the kernel's per-page work, and on a VM the host backing
// each new page) is most of what a produce costs; an O_DIRECT write costs a fraction of it.
//
// O_DIRECT writes whole 4 KiB blocks at 4 KiB-aligned positions. The appender keeps the
// partial last block of the file in memory and rewrites it, followed by the new bytes, on the
// next append: [tail block start, end of the new bytes rounded up to 4 KiB). The bytes already
// in the file are rewritten with the same content, so a write cut short by a crash can't damage
// them. The rounding leaves zeros after the last batch; the segment cuts them off when it stops
// being active, and recovery recognises a zero tail after a crash.
//
// Readers keep using the segment's ordinary descriptor (pread, sendfile): the kernel drops
// page-cache pages a direct write overwrites, so a read after the write returns the new bytes.
// Small appends are written through that descriptor (log_config::direct_min_bytes); the kernel writes back a
// dirty page before a direct write covers it. Writes must not race each other (a buffered
// write concurrent with a direct one can leave a stale page in the cache): the one thread
// that owns the segment makes them all.
//
// A write returns once the device has the data (not fsync'ed: the device may still cache it),
// which survives the process being killed just as a write into the page cache does.
//
// Not thread-safe; the owning segment's thread uses it. Each thread appends through one
// aligned buffer of its own (chunk bytes), allocated on first use.
class direct_appender {
public:
    static constexpr size_t block = 4096;
    static constexpr size_t chunk = 1 << 20;  // largest single write

    // Opens a second, O_DIRECT descriptor on `data`'s path and loads the partial last block
    // of the first `size` bytes. nullptr when the filesystem refuses O_DIRECT (tmpfs, some
    // network filesystems): logged once per process; the caller keeps writing buffered.
    static result<std::unique_ptr<direct_appender>> open(std::shared_ptr<file> data, uint64_t size);

    direct_appender(const direct_appender&) = delete;
    direct_appender& operator=(const direct_appender&) = delete;

    // Writes `bytes` at `pos`, which must be the end of the data so far. On failure the file
    // may hold part of the new bytes after `pos` (the caller cuts them); the appender's state
    // still describes the data up to `pos`.
    result<void> append(bytes_view bytes, uint64_t pos);
    // `bytes` were written at `pos` (the end of the data so far) through the page cache.
    void written_buffered(bytes_view bytes, uint64_t pos);
    // The file was cut (or is to be appended to) at `size`: reload the partial last block.
    result<void> reset(uint64_t size);

private:
    direct_appender(int fd, std::shared_ptr<file> data);
    result<void> write_blocks(const uint8_t* buf, size_t len, uint64_t pos);

    file _direct;                 // the O_DIRECT descriptor
    std::shared_ptr<file> _data;  // the segment's descriptor, for reading the tail block back
    uint64_t _tail_pos = 0;  // block-aligned position of the partial last block
    size_t _tail_len = 0;    // its bytes in the file (< block)
    std::array<uint8_t, block> _tail{};
};

} // namespace trib::storage
