#pragma once

// Compile-time dispatch from an API key to its message types. Includes every generated
// message, so include it only where a switch over all APIs is needed (the broker's handler
// table, the fuzzer, tests).
//
//   bool known = with_api(key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
//       Req req; req.decode(r, version); ...
//   });

#include "protocol/api.h"
#include "protocol/messages.h"

namespace trib::protocol {

template<typename Request, typename Response>
struct api_types {
    using request = Request;
    using response = Response;
};

// Calls f(api_types<name_request, name_response>{}) for the API `key`; false when unknown.
template<typename F>
bool with_api(int16_t key, F&& f) {
    switch (key) {
#define TRIB_API_CASE(name, k)                                                               \
    case k:                                                                                  \
        f(api_types<name##_request, name##_response>{});                                     \
        return true;
        TRIB_FOR_EACH_API(TRIB_API_CASE)
#undef TRIB_API_CASE
    default:
        return false;
    }
}

// Decodes a request body of (key, version) and discards it: true when the API and version
// are supported and the body decodes. For fuzzing and diagnostics.
bool decode_request_body(int16_t key, int16_t version, reader& r);

} // namespace trib::protocol
