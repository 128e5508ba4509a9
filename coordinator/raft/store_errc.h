#pragma once

#include "common/result.h"

#include <string>

namespace trib::coordinator::raft {

// Expected failures of the Raft log store, the durable vote and the wire codec (the core's
// own are raft::errc, raft/node.h).
enum class store_errc {
    bad_message = 1,      // an RPC body that does not decode, or carries impossible values
    bad_entry,            // an entry that is not a valid record batch of its kind
    wrong_cluster,        // a request from another cluster (another cluster id)
    peer_error,           // the peer answered with an error code
    not_contiguous,       // entries that don't follow the log end, or each other
    term_regressed,       // an entry whose term is below the log's last term
    below_log_start,      // an offset the log no longer holds (compacted into a snapshot)
    beyond_log_end,       // an offset past the log end
    stale_snapshot,       // a snapshot older than the one the log already starts from
    snapshot_mismatch,    // a local snapshot whose end or term doesn't match the log
};

inline std::string store_errc_message(store_errc e) {
    switch (e) {
    case store_errc::bad_message: return "malformed raft message";
    case store_errc::bad_entry: return "malformed raft log entry";
    case store_errc::wrong_cluster: return "raft message from another cluster";
    case store_errc::peer_error: return "the peer answered with an error";
    case store_errc::not_contiguous: return "raft entries do not continue the log";
    case store_errc::term_regressed: return "raft entry term below the log's last term";
    case store_errc::below_log_start: return "offset below the raft log start (compacted into a snapshot)";
    case store_errc::beyond_log_end: return "offset beyond the raft log end";
    case store_errc::stale_snapshot: return "snapshot older than the log start";
    case store_errc::snapshot_mismatch: return "snapshot does not match the log";
    }
    return "unknown raft error";
}

TRIB_ERROR_CATEGORY(raft_store, store_errc, store_errc_message)

} // namespace trib::coordinator::raft

TRIB_REGISTER_ERRC(trib::coordinator::raft::store_errc)
