// The payload of a `voters` entry (types.h, raft/codec.h): a CoordinatorVotersRecord value,
// framed as metadata records are: int16 type (10110), int16 version (0), the record's body.
//
// On its own so that one definition of encode_voters / decode_voters can be kept when this
// branch meets the Raft core's (raft/voters.cc there defines the same two functions with
// another byte layout): the store and the codec take the payload as it comes and only ask
// decode_voters whether it is a voter set.
#include "coordinator/raft/codec.h"
#include "protocol/messages/coordinator_voters_record.h"

namespace trib::coordinator::raft {

namespace {
using voters_record = protocol::coordinator_voters_record_request;
constexpr int16_t record_version = 0;
} // namespace

bytes encode_voters(const voter_set& voters) {
    voters_record rec;
    for (const auto& v : voters) {
        voters_record::voter w;
        w.id = v.id.value();
        w.host = v.host;
        w.port = v.port;
        rec.voters.push_back(std::move(w));
    }
    protocol::writer w;
    w.write_int16(voters_record::api_key);
    w.write_int16(record_version);
    rec.encode(w, record_version);
    return w.take();
}

std::optional<voter_set> decode_voters(bytes_view payload) {
    protocol::reader r(payload);
    int16_t type = r.read_int16();
    int16_t version = r.read_int16();
    if (!r.ok() || type != voters_record::api_key || version != record_version) {
        return std::nullopt;
    }
    voters_record rec;
    rec.decode(r, record_version);
    if (!r.ok() || r.remaining() != 0) {
        return std::nullopt;
    }
    voter_set out;
    for (const auto& w : rec.voters) {
        out.push_back(voter{node_id(w.id), w.host, w.port});
    }
    if (!valid_voter_set(out)) {
        return std::nullopt;
    }
    return out;
}

} // namespace trib::coordinator::raft
