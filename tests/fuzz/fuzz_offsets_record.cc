// libFuzzer target: reading a record of __consumer_offsets (broker/groups/offsets_records),
// as a group coordinator loading that topic would. Input: one byte saying whether a value is
// there, one byte of key length, the key, then the value. Any input must give a record or a
// bad_record with a reason, never a crash or an out-of-bounds read.
#include "broker/groups/offsets_records.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace trib;
    if (size < 2) {
        return 0;
    }
    const bool has_value = data[0] & 1;
    const size_t key_len = data[1] < size - 2 ? data[1] : size - 2;
    const bytes_view key(data + 2, key_len);
    const bytes_view value(data + 2 + key_len, size - 2 - key_len);
    auto rec = broker::groups::decode_offsets_record(key, has_value ? std::optional<bytes_view>(value) : std::nullopt);
    if (auto* bad = std::get_if<broker::groups::bad_record>(&rec); bad && bad->reason.empty()) {
        std::abort();  // every refusal says why
    }
    return 0;
}
