#pragma once

#include "common/result.h"

#include <string>

namespace trib::coordinator {

// Expected failures inside the coordinator and its client. Kafka-visible failures are
// protocol::error_code values in responses instead.
enum class errc {
    bad_record = 1,        // a metadata record that does not decode
    unknown_record_type,   // a record type this build does not know
    inconsistent_record,   // a record that does not fit the image (e.g. a partition of no topic)
    bad_snapshot,          // a snapshot file that does not read back
    not_connected,         // no coordinator reachable
    rpc_failed,            // a request got no (decodable) response
    timed_out,
    shut_down,
    not_leader,            // this coordinator may not decide (not the active controller)
};

inline std::string errc_message(errc e) {
    switch (e) {
    case errc::bad_record: return "malformed metadata record";
    case errc::unknown_record_type: return "unknown metadata record type";
    case errc::inconsistent_record: return "metadata record inconsistent with the image";
    case errc::bad_snapshot: return "malformed metadata snapshot";
    case errc::not_connected: return "no coordinator reachable";
    case errc::rpc_failed: return "coordinator request failed";
    case errc::timed_out: return "timed out";
    case errc::shut_down: return "shut down";
    case errc::not_leader: return "not the active controller";
    }
    return "unknown coordinator error";
}

TRIB_ERROR_CATEGORY(coordinator, errc, errc_message)

} // namespace trib::coordinator

TRIB_REGISTER_ERRC(trib::coordinator::errc)
