#pragma once

#include "common/result.h"

#include <string>

namespace trib::admin {

// Why a tributary-admin command failed; the sentence for people goes beside it.
enum class errc {
    bad_arguments = 1,  // an option missing, unknown or malformed
    unreachable,        // no answer from the broker
    broker_error,       // the broker answered with an error code
};

inline std::string errc_message(errc e) {
    switch (e) {
    case errc::bad_arguments: return "bad arguments";
    case errc::unreachable: return "broker unreachable";
    case errc::broker_error: return "the broker refused";
    }
    return "unknown admin error";
}

TRIB_ERROR_CATEGORY(admin, errc, errc_message)

} // namespace trib::admin

TRIB_REGISTER_ERRC(trib::admin::errc)
