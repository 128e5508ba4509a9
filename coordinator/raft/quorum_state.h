#pragma once

// The durable Raft hard state (term, vote) of a coordinator voter, in
// `<metadata log dir>/quorum-state` (KRaft's file name; not its JSON layout). 24 bytes,
// big-endian:
//
//   0-3    magic "TRQS"
//   4-5    version (1)
//   6-7    reserved (0)
//   8-15   i64 current term (>= 0)
//   16-19  i32 the node voted for in that term (-1: none)
//   20-23  CRC-32C of bytes 0-19
//
// Replaced atomically: quorum-state.tmp is written and fdatasync'ed, renamed over the file,
// then the directory is fsync'ed (storage::replace_file), before save() returns; a message
// that depends on it leaves only afterwards (raft/node.h's ready contract).
//
// Absent file: term 0, no vote (a new voter, or a cluster from before Raft). A damaged file
// (wrong size, magic, version or CRC, a negative term) stops start-up with the path and the
// reason: forgetting a vote could let this node vote twice in one term and elect two leaders.
// An operator who knows the node may start with a clean slate (it never voted, or its whole
// data directory is gone) removes the file.
#include "common/bytes.h"
#include "common/result.h"
#include "coordinator/raft/types.h"

#include <filesystem>
#include <string>

namespace trib::coordinator::raft {

inline constexpr const char* quorum_state_file = "quorum-state";

bytes encode_hard_state(const hard_state& hs);
// The hard state in `data`; store_errc::bad_message with the reason in `why` when damaged.
result<hard_state> decode_hard_state(bytes_view data, std::string& why);

class quorum_state {
public:
    // Reads `dir`/quorum-state (creating `dir` if needed). Throws std::runtime_error naming the
    // file and the reason when it is damaged or unreadable.
    static quorum_state open(const std::filesystem::path& dir);

    const hard_state& current() const noexcept { return _current; }
    // Makes `hs` durable, then current. The term never goes down and a vote, once cast in a
    // term, never changes within it: asking for either is a caller's bug (std::logic_error).
    result<void> save(const hard_state& hs);

private:
    quorum_state(std::filesystem::path dir, hard_state hs) : _dir(std::move(dir)), _current(hs) {}

    std::filesystem::path _dir;
    hard_state _current;
};

} // namespace trib::coordinator::raft
