// libFuzzer target: a record set as a client or a peer broker could send it. Walks the batches,
// validates each (CRC not required, so the fuzzer reaches the record parser), reads every
// record with decompression bounded, and checks the validator and the reader agree.
#include "protocol/compression.h"
#include "protocol/records.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace trib;
using namespace trib::protocol;

namespace {

// Aborts (a finding) naming the broken expectation.
#define check(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "fuzz_record_batch: %s failed at line %d\n", #cond, __LINE__); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

void read_batch(bytes_view data, const record_limits& limits) {
    auto summary = validate_batch(data, limits);
    auto reader = batch_reader::open(data, limits);
    if (!reader) {
        check(!summary);
        return;
    }
    check(reader->records_bytes().size() <= limits.max_uncompressed_bytes);
    int32_t n = 0;
    std::error_code err;
    for (;;) {
        auto rec = reader->next();
        if (!rec) {
            err = rec.error();
            break;
        }
        if (!*rec) {
            break;
        }
        const record_view& r = **rec;
        check(r.offset - reader->header().base_offset <= reader->header().last_offset_delta);
        int32_t headers = 0;
        for (const auto& h : r.headers) {
            (void)h.key.size();
            ++headers;
        }
        check(headers == r.headers.size());
        if (reader->header().control()) {
            (void)read_control_record(r);
        }
        ++n;
    }
    // The validator and the reader apply the same rules to the same bytes.
    check(bool(summary) == !err);
    if (summary) {
        check(summary->record_count == n);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    record_limits limits;
    limits.verify_crc = false;
    limits.max_uncompressed_bytes = size_t(1) << 20;
    limits.max_batch_bytes = size_t(1) << 20;

    record_set_iterator it(bytes_view(data, size), limits.max_batch_bytes);
    for (;;) {
        auto b = it.next();
        if (!b || !*b) {
            break;
        }
        read_batch((*b)->data, limits);
        limits.from_producer = !limits.from_producer; // both rule sets
    }
    check(it.consumed() <= size);

    // The whole input as one codec stream too: decoders must never overrun the bound.
    if (size > 0) {
        auto codec = compression_codec(data[0] % 5);
        auto out = decompress(codec, bytes_view(data + 1, size - 1), 1 << 16);
        if (out) {
            check(out->size() <= (1 << 16));
        }
    }
    return 0;
}
