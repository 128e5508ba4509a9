// Fuzzes request decoding: the input is one request frame WITHOUT its 4-byte size prefix
// (what the network layer hands the dispatcher): request header, then the body.
//
// For a known API and a version we claim, the body is decoded as the request (and, for
// coverage of the client side, as the response). Whatever decodes must re-encode, and the
// re-encoding must decode to an equal message.
//
// Seeds: TRIB_FUZZ_SEEDS_DIR=<dir> ./protocol_tests --gtest_filter='*fuzz_seeds*' writes one
// frame per API and version (see tests/unit/protocol/messages_test.cc).
//   ./fuzz_request -max_total_time=60 <corpus dir> <seed dir>

#include "protocol/api.h"
#include "protocol/api_dispatch.h"

#include <cstdint>
#include <cstdlib>

using namespace trib::protocol;

namespace {

template<typename M>
void check(bytes_view body, int16_t version) {
    reader r(body);
    M m;
    m.decode(r, version);
    if (!r.ok()) return;
    writer w;
    m.encode(w, version);
    reader again(w.buffer());
    M back;
    back.decode(again, version);
    if (!again.ok() || again.remaining() != 0) std::abort();
    if (back == m) return;
    // A float64 field (a client quota's value) may decode to NaN, which equals nothing, itself
    // included: then the message must not equal itself either, and its encoding must come back
    // byte for byte. Any other difference is a codec bug.
    writer w2;
    back.encode(w2, version);
    if (m == m || w2.buffer() != w.buffer()) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reader r(bytes_view(data, size));
    request_header h;
    if (!decode_request_header(r, h)) return 0;
    bytes_view body(data + r.offset(), size - r.offset());
    with_api(h.api_key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
        if (h.api_version < Req::min_version || h.api_version > Req::max_version) return;
        check<Req>(body, h.api_version);
        check<Resp>(body, h.api_version);
    });
    return 0;
}
