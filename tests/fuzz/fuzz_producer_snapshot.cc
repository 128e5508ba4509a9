// libFuzzer target: a producer-state snapshot file as a damaged disk or a foreign file could
// present it. The decoder must refuse anything but a well-formed snapshot without crashing or
// allocating by a count it read, and what it accepts must encode back to the same bytes (one
// encoding per state) in the version it was read in; a version 1 state written as the current
// version must read back equal.
//
// Each input is tried twice: as it is (mostly refused by the CRC) and with a correct CRC
// appended and the file name's offset taken from its header, so the fuzzer reaches the body.
#include "broker/producer_state.h"
#include "common/crc32c.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace trib;
using trib::broker::producer_state;

namespace {

#define check(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            std::fprintf(stderr, "fuzz_producer_snapshot: %s failed at line %d\n", #cond, __LINE__); \
            std::abort();                                                                            \
        }                                                                                            \
    } while (0)

void decode(bytes_view data, offset at) {
    std::string why;
    auto s = producer_state::decode_snapshot(data, at, why);
    if (!s) {
        check(!why.empty());
        return;
    }
    const uint16_t version = load_be16(data.data() + 4);
    bytes again = s->encode_snapshot(at, version);
    check(again.size() == data.size() && std::equal(again.begin(), again.end(), data.begin()));
    if (version != producer_state::snapshot_version) {
        auto current = producer_state::decode_snapshot(s->encode_snapshot(at), at, why);
        check(current && *current == *s);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const offset named = offset(size >= 16 ? int64_t(load_be64(data + 8)) : 0);
    decode(bytes_view(data, size), named);
    bytes sealed(data, data + size);
    sealed.resize(size + 4);
    store_be32(sealed.data() + size, crc32c::extend(0, data, size));
    decode(sealed, named);
    return 0;
}
