// libFuzzer target: the decoders of the coordinators' Raft (coordinator/raft/codec.h, the
// envelope of raft/envelope.h and the quorum-state file, raft/quorum_state.h), fed what a peer
// or a damaged disk could hand them.
// The first input byte picks the decoder, the rest is its input:
//   0-3   a request body of CoordinatorRaft{Vote, Append, Snapshot, TimeoutNow}
//   4-7   a response body of the same
//   8     one record batch as a log entry;   9  batches back to back as entries
//   10    a voter set payload;                11 a quorum-state file;   12 a snapshot header batch
//   13    a CoordinatorRaftMessages request body, as node 2 receives it
//   14    a CoordinatorRaftObserver body (an observer report, an envelope's item)
// Bad input must give an error, never a crash; whatever decodes must encode again and decode
// back to the same value.
#include "coordinator/raft/codec.h"
#include "coordinator/raft/envelope.h"
#include "coordinator/raft/quorum_state.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace trib;
using namespace trib::coordinator::raft;

namespace {

constexpr std::string_view cluster = "fuzz-cluster";

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void entry_round_trip(const entry& e) {
    auto b = entry_to_batch(e, 0);
    check(bool(b));
    auto back = batch_to_entry(*b);
    check(back && *back == e);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t which = data[0] % 15;
    const bytes_view in(data + 1, size - 1);
    if (which < 4) {
        int16_t key = int16_t(api_vote + which);
        auto m = decode_request(key, in, cluster);
        if (m) {
            auto again = encode(*m, cluster);
            check(again && again->api_key == key && again->request);
            auto back = decode_request(key, again->body, cluster);
            check(back && *back == *m);
        }
    } else if (which < 8) {
        int16_t key = int16_t(api_vote + which - 4);
        auto m = decode_response(key, in);
        if (m && *m) {
            auto again = encode(**m, cluster);
            check(again && again->api_key == key && !again->request);
            auto back = decode_response(key, again->body);
            check(back && *back == *m);
        }
        (void)response_error(key, in);
    } else if (which == 8) {
        if (auto e = batch_to_entry(in)) {
            entry_round_trip(*e);
        }
    } else if (which == 9) {
        if (auto es = batches_to_entries(in)) {
            for (const auto& e : *es) {
                entry_round_trip(e);
            }
        }
    } else if (which == 10) {
        if (auto v = decode_voters(in)) {
            auto back = decode_voters(encode_voters(*v));
            check(back && *back == *v);
        }
    } else if (which == 11) {
        std::string why;
        auto hs = decode_hard_state(in, why);
        check(bool(hs) == why.empty());
        if (hs) {
            auto again = encode_hard_state(*hs);
            check(bytes(in.begin(), in.end()) == again);
        }
    } else if (which == 14) {
        if (auto r = decode_report(in, cluster)) {
            check(r->observer.value() >= 0 && r->log_end.value() >= 0);
            auto back = decode_report(encode_report(*r, cluster).body, cluster);
            check(back && *back == *r);
        }
    } else if (which == 13) {
        // Whatever is taken must be what the sender could have sent: every message from the
        // envelope's sender to this node, and it encodes back to an envelope taken the same.
        const node_id self(2);
        std::string why;
        auto env = decode_envelope(in, cluster, self, &why);
        check(bool(env) == why.empty());
        if (env) {
            for (const auto& m : env->messages) {
                check(m.from == env->sender && m.to == self);
            }
            for (const auto& r : env->reports) {
                check(r.from == env->sender && r.to == self && r.observer.value() >= 0 && r.log_end.value() >= 0);
            }
            auto again = encode_envelope(cluster, env->sender, self, env->messages, env->reports);
            check(bool(again));
            auto back = decode_envelope(*again, cluster, self);
            check(back && *back == *env);
        } else {
            (void)envelope_error_code(env.error());
        }
    } else {
        auto meta = read_snapshot_header(in);
        if (meta && *meta) {
            auto b = snapshot_header_batch(**meta, 0);
            check(bool(b));
            auto back = read_snapshot_header(*b);
            check(back && *back == *meta);
        }
    }
    return 0;
}
