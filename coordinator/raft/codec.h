#pragma once

// The coordinators' Raft on the wire and on disk: entries as record batches, voter sets and
// snapshot headers as control records, and the messages of types.h as private Kafka-framed
// RPCs (protocol/defs/coordinator_raft_*.def, version 0).
//
// An entry is one record batch (magic 2) at its offsets: base offset = entry.at,
// last_offset_delta = count - 1, partition leader epoch = term (KRaft's "epoch"; a batch with
// -1, written before Raft, is term 0). The batch is the same bytes in the log
// (raft/log_store.h) and inside CoordinatorRaftAppend, whose CRC the receiver checks.
//
//   kind     payload                                   batch
//   data     one whole uncompressed record batch of     the payload itself (base offset and
//            `count` metadata records, as make_batch     leader epoch rewritten: they are
//            (coordinator/client/records.h) builds it    outside the CRC, and not part of the
//                                                        entry: read back as 0 and -1)
//   data     empty, count 1: a no-op (a new leader's     control batch, one record:
//            first entry of its term)                    key (version 0, type 2), value null
//   voters   encode_voters(set)                         control batch, one record:
//                                                        key (version 0, type 6), value = payload
//
// Control record types are numbered as KRaft numbers its own (LEADER_CHANGE = 2,
// SNAPSHOT_HEADER = 3, KRAFT_VOTERS = 6); the values are ours (CoordinatorVotersRecord,
// CoordinatorSnapshotHeaderRecord: int16 type, int16 version 0, the body, as metadata records).
// Readers of the metadata feed skip control batches (for_each_record).
//
// RPCs (each request carries the cluster id, the sender's and the receiver's node ids; each
// response an error code, sender and receiver):
//
//   key    RPC                        request            response
//   10010  CoordinatorRaftVote        vote_request       vote_response
//   10011  CoordinatorRaftAppend      append_request     append_response
//   10012  CoordinatorRaftSnapshot    snapshot_request   snapshot_response
//   10013  CoordinatorRaftTimeoutNow  timeout_now        (an acknowledgement: no message)
//
// Between coordinators they travel inside CoordinatorRaftMessages (10014, raft/envelope.h):
// each item one of the bodies above, request or response alike.
//
// Decoders trust no length: malformed input, a CRC that doesn't match, impossible values
// (a negative offset, count or term, entries that don't follow prev_end and each other) are
// store_errc::bad_message / store_errc::bad_entry, never a crash.
#include "common/bytes.h"
#include "common/result.h"
#include "coordinator/raft/store_errc.h"
#include "coordinator/raft/types.h"
#include "protocol/error_code.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trib::coordinator::raft {

// Control record types (the key's int16 after the version).
inline constexpr int16_t control_noop = 2;
inline constexpr int16_t control_snapshot_header = 3;
inline constexpr int16_t control_voters = 6;

// Private API keys of the RPCs.
inline constexpr int16_t api_vote = 10010;
inline constexpr int16_t api_append = 10011;
inline constexpr int16_t api_snapshot = 10012;
inline constexpr int16_t api_timeout_now = 10013;
// The envelope carrying any of the above one-way, in batches (raft/envelope.h).
inline constexpr int16_t api_messages = 10014;
// An observer_report (types.h), only ever an item of an envelope (a request body).
inline constexpr int16_t api_observer = 10015;
inline constexpr int16_t rpc_version = 0;

// ---- voter sets -------------------------------------------------------------------------

// A voters entry's payload (types.h): a CoordinatorVotersRecord value (int16 type 10110,
// int16 version 0, the voters: id, host, port, directory id as tagged field 0 when not zero,
// so sets written before directory ids decode, with none), framed as the snapshot header's
// value is. The
// set must be sorted by id with unique ids. Everything else here treats the payload as opaque
// bytes that decode_voters accepts, stored as the value of the voters control record.
bytes encode_voters(const voter_set& voters);
// nullopt for anything but a well-formed CoordinatorVotersRecord value holding a set sorted
// by id, ids unique and non-negative.
std::optional<voter_set> decode_voters(bytes_view payload);
// Sorted by id, ids unique and >= 0.
bool valid_voter_set(const voter_set& voters);

// ---- entries as record batches ----------------------------------------------------------

// The batch storing `e` (see the table above). store_errc::bad_entry when the entry can't be one:
// a data payload that is not one whole valid batch of exactly `count` records (or is a
// control batch), an empty data payload with count != 1, a voters entry with count != 1 or an
// invalid set, a term outside the batch's int32 leader epoch, a negative offset.
// `timestamp_ms`: the control batches' timestamp (data batches keep their own).
result<bytes> entry_to_batch(const entry& e, int64_t timestamp_ms);
// Exactly one whole batch (no bytes after it), CRC and every record checked.
result<entry> batch_to_entry(bytes_view batch);
// Batches back to back (a raft_append's entries, a read of the log) → entries.
result<std::vector<entry>> batches_to_entries(bytes_view batches);

// The control batch opening a snapshot file: `meta` as a CoordinatorSnapshotHeaderRecord.
result<bytes> snapshot_header_batch(const snapshot_meta& meta, int64_t timestamp_ms);
// If `batch` (one whole batch) is a snapshot header, its meta; nullopt when it is some other
// batch; store_errc::bad_entry when it claims to be one and doesn't decode.
result<std::optional<snapshot_meta>> read_snapshot_header(bytes_view batch);

// ---- messages as RPCs -------------------------------------------------------------------

struct encoded_rpc {
    int16_t api_key = 0;
    bool request = false;  // a request body (else a response body)
    bytes body;            // the message, encoded at rpc_version (no Kafka request header)
};

// vote_request, append_request, snapshot_request and timeout_now are requests (they carry
// `cluster_id`); the others are the responses to them. store_errc::bad_entry when an append's
// entries can't be batches.
result<encoded_rpc> encode(const message& m, std::string_view cluster_id);
// A request body → the message. store_errc::wrong_cluster when its cluster id isn't `cluster_id`
// (answer it with encode_error_response(..., inconsistent_cluster_id)).
result<message> decode_request(int16_t api_key, bytes_view body, std::string_view cluster_id);
// A response body → the message; nullopt for timeout_now's acknowledgement.
// store_errc::peer_error when the response carries an error code (the code is logged).
result<std::optional<message>> decode_response(int16_t api_key, bytes_view body);
// The response body refusing a request: an error code and message, the rest default.
// `from`/`to`: this node and the requester.
result<bytes> encode_error_response(int16_t api_key, protocol::error_code code, std::string_view error_message,
                                    node_id from, node_id to);
// An observer_report as an envelope item's body (a CoordinatorRaftObserver request), and back:
// store_errc::bad_message for ids below 0 (the observer's too) or a negative log end,
// store_errc::wrong_cluster for another cluster's id.
encoded_rpc encode_report(const observer_report& r, std::string_view cluster_id);
result<observer_report> decode_report(bytes_view body, std::string_view cluster_id);

// The error code of a response body (0 when none), for a transport that wants to tell
// INCONSISTENT_CLUSTER_ID from other refusals; nullopt when the body doesn't decode.
std::optional<protocol::error_code> response_error(int16_t api_key, bytes_view body);

} // namespace trib::coordinator::raft
