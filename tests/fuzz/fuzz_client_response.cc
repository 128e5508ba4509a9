// Fuzzes what net::kafka_client makes of a broker's answers (net/client_codec.h): the input's
// first byte picks the API (ApiVersions, Metadata or Fetch), the second its version, and the
// rest is a response frame without its size prefix. The correlation id expected is the one
// the frame carries, so the body decoders are reached.
//
// Whatever decodes must hold together: an ApiVersions answer's version table gives only
// versions inside both sides' ranges, and a retry version is below the one tried.
//   ./fuzz_client_response -max_total_time=60 <corpus dir>

#include "net/client_codec.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/metadata.h"

#include <cstdint>
#include <cstdlib>

using namespace trib;
using namespace trib::protocol;

namespace {

template<typename Resp>
void decode_at(bytes_view frame, uint8_t v) {
    int16_t version = int16_t(Resp::min_version + v % (Resp::max_version - Resp::min_version + 1));
    int32_t correlation_id = frame.size() >= 4 ? int32_t(load_be32(frame.data())) : 0;
    (void)net::decode_response<Resp>(frame, version, correlation_id);
}

void api_versions(bytes_view frame, uint8_t v) {
    auto version = int16_t(v % (api_versions_response::max_version + 1));
    int32_t correlation_id = frame.size() >= 4 ? int32_t(load_be32(frame.data())) : 0;
    auto resp = net::decode_api_versions(frame, version, correlation_id);
    if (!resp) return;
    int16_t retry = net::api_versions_retry_version(*resp, version);
    if (retry >= version) std::abort();
    net::api_version_table table(*resp);
    for (const auto& r : table.ranges()) {
        for (int16_t wanted : {int16_t(0), r.max_version, int16_t(0x7fff)}) {
            auto got = table.version_for(r.key, wanted);
            if (!got) continue;
            const api_info* ours = find_api(r.key);
            if (!ours || *got > wanted || *got > r.max_version || *got < r.min_version || !ours->supports(*got)) {
                std::abort();
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    bytes_view frame(data + 2, size - 2);
    switch (data[0] % 3) {
    case 0: api_versions(frame, data[1]); break;
    case 1: decode_at<metadata_response>(frame, data[1]); break;
    default: decode_at<fetch_response>(frame, data[1]); break;
    }
    return 0;
}
