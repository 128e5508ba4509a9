#pragma once

#include "common/result.h"

#include <string>

namespace trib::storage {

enum class errc {
    io_error = 1,         // a system call on a log file failed (details are logged)
    corrupt,              // on-disk data contradicts its own framing or the log's invariants
    offset_out_of_range,  // offset below the log start offset or above the next offset
    batch_too_large,      // a batch larger than log_config::max_batch_bytes
    invalid_batch,        // framing or CRC of an appended batch is wrong
    closed,               // the log (or syncer) was closed
    unsupported_codec,    // the cleaner met a compressed batch without a codec to read it
    buffer_too_small,     // the cleaner's key map can't hold the keys of one batch
    log_failed,           // an earlier write or sync of the log failed: it takes no more (log::failed)
};

std::string errc_message(errc e);
TRIB_ERROR_CATEGORY(storage, errc, errc_message)

} // namespace trib::storage

TRIB_REGISTER_ERRC(trib::storage::errc)
