#pragma once

// CoordinatorRaftMessages (key 10014, version 0): how raft/net_transport.h carries the Raft
// messages of types.h between coordinators, one-way and in batches.
//
//   request   ClusterId, SenderId, ReceiverId, Messages [ApiKey, Request, Body]
//   response  ErrorCode, ErrorMessage (nullable)
//
// Each item is one message as raft/codec.h `encode(message, cluster_id)` writes it: the body of
// a request or a response of 10010-10013, flagged by `Request`; or an observer report
// (types.h, `encode_report`: a request of 10015), which is not a Raft message and is handed
// over apart from them. Inside an envelope responses
// are messages like any other (the core sends a vote or an acknowledgement as a message of its
// own), so the envelope's response only says whether the batch was taken: 0, or why not.
//
// The receiver takes all of an envelope or none of it. Refused, with the Kafka error code
// envelope_error_code() gives:
//   - a body that does not decode (INVALID_REQUEST);
//   - another cluster's id (INCONSISTENT_CLUSTER_ID: a coordinator of another cluster, or one
//     configured with the wrong id);
//   - a receiver that is not this node (INCONSISTENT_VOTER_SET: the sender's address book is
//     wrong, e.g. two nodes swapped addresses);
//   - an item that does not decode as a message of its key, an error response, or a
//     timeout_now acknowledgement (no message) (INVALID_REQUEST);
//   - an item whose sender or receiver is not the envelope's (INVALID_REQUEST).
//
// Socket-free on purpose: tests/fuzz/fuzz_raft_codec.cc feeds decode_envelope.
#include "common/bytes.h"
#include "common/ids.h"
#include "common/result.h"
#include "coordinator/raft/codec.h"
#include "coordinator/raft/types.h"
#include "protocol/error_code.h"
#include "protocol/messages/coordinator_raft_messages.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trib::coordinator::raft {

enum class envelope_errc {
    malformed = 1,    // the envelope does not decode, or carries a negative sender id
    wrong_cluster,    // another cluster's id
    wrong_receiver,   // addressed to another node
    bad_item,         // an item that is not a well-formed message of its key
    mismatched_ids,   // an item from or to another node than the envelope's
};

inline std::string envelope_errc_message(envelope_errc e) {
    switch (e) {
    case envelope_errc::malformed: return "malformed raft envelope";
    case envelope_errc::wrong_cluster: return "raft envelope from another cluster";
    case envelope_errc::wrong_receiver: return "raft envelope addressed to another node";
    case envelope_errc::bad_item: return "raft envelope holding a malformed message";
    case envelope_errc::mismatched_ids: return "raft envelope holding a message of other nodes";
    }
    return "unknown raft envelope error";
}

TRIB_ERROR_CATEGORY(raft_envelope, envelope_errc, envelope_errc_message)

} // namespace trib::coordinator::raft

TRIB_REGISTER_ERRC(trib::coordinator::raft::envelope_errc)

namespace trib::coordinator::raft {

struct envelope {
    node_id sender{-1};
    std::vector<message> messages;  // in the order sent
    std::vector<observer_report> reports;  // in the order sent (their order among the messages is not kept)
    bool operator==(const envelope&) const = default;
};

using envelope_request = protocol::coordinator_raft_messages_request;
using envelope_response = protocol::coordinator_raft_messages_response;

// The request from `from` to `to` carrying `items` (codec.h encode()'s output), taken.
envelope_request make_envelope(std::string_view cluster_id, node_id from, node_id to,
                               std::vector<encoded_rpc> items);

// The request body (version 0) carrying `msgs`, then `reports`, each of which must be from
// `from` to `to` (envelope_errc::mismatched_ids otherwise); codec.h's errors for a message that
// can't be encoded.
result<bytes> encode_envelope(std::string_view cluster_id, node_id from, node_id to,
                              std::span<const message> msgs, std::span<const observer_report> reports = {});

// A request body (version 0) → its sender and messages, checked as the header says. `why`,
// when given, is set to a sentence for the log on refusal (which item, what was wrong).
result<envelope> decode_envelope(bytes_view body, std::string_view cluster_id, node_id self,
                                 std::string* why = nullptr);

// The error code answering a refusal of decode_envelope (its errors; anything else is
// UNKNOWN_SERVER_ERROR).
protocol::error_code envelope_error_code(std::error_code ec);

// Response bodies (version 0): taken, or refused with `code` and `message`.
bytes encode_envelope_response(protocol::error_code code, std::string_view message);

} // namespace trib::coordinator::raft
