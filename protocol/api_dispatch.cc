#include "protocol/api_dispatch.h"

namespace trib::protocol {

bool decode_request_body(int16_t key, int16_t version, reader& r) {
    bool ok = false;
    with_api(key, [&]<typename Req, typename Resp>(api_types<Req, Resp>) {
        if (version < Req::min_version || version > Req::max_version) return;
        Req req;
        req.decode(r, version);
        ok = r.ok();
    });
    return ok;
}

} // namespace trib::protocol
