#pragma once

#include "common/ids.h"
#include "common/result.h"

#include <cstdint>
#include <filesystem>
#include <optional>

namespace trib::storage {

// The log's `log.checkpoint` file, 36 bytes, big-endian:
//   0   4  magic "TRLC"
//   4   2  version (2; version 1 is 28 bytes, without the nonce)
//   6   1  clean: 1 if written by close() and nothing was appended since
//   7   1  reserved (0)
//   8   8  recovery_point: every offset below it is on stable storage (with its segment's
//          indexes when that segment isn't the last)
//  16   8  log_start_offset
//  24   8  nonce: a random number, changed whenever the log cuts data (truncation, or recovery
//          cutting a bad tail); written marks (written_marks.h) carry it, so a mark taken
//          before a cut never matches the log after it. 0 (version 1): none.
//  32   4  CRC-32C of bytes 0..31
// Replaced atomically: written to `log.checkpoint.tmp`, fdatasync'ed, renamed over the old
// one, directory fsync'ed. A missing or damaged file reads as nullopt (recover conservatively).
struct checkpoint {
    static constexpr const char* file_name = "log.checkpoint";
    static constexpr size_t size = 36;
    static constexpr size_t size_v1 = 28;

    bool clean = false;
    offset recovery_point;
    offset log_start_offset;
    uint64_t nonce = 0;

    static result<std::optional<checkpoint>> read(const std::filesystem::path& dir);
    result<void> write(const std::filesystem::path& dir) const;
};

} // namespace trib::storage
