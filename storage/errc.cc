#include "storage/errc.h"

#include "storage/clock.h"

#include <chrono>

namespace trib::storage {

std::string errc_message(errc e) {
    switch (e) {
    case errc::io_error: return "storage I/O error";
    case errc::corrupt: return "storage data corrupt";
    case errc::offset_out_of_range: return "offset out of range";
    case errc::batch_too_large: return "record batch too large";
    case errc::invalid_batch: return "invalid record batch";
    case errc::closed: return "log closed";
    case errc::unsupported_codec: return "compressed batch and no codec to clean it";
    case errc::buffer_too_small: return "log.cleaner.dedupe.buffer.size too small for one batch";
    case errc::log_failed: return "an earlier write or sync of the log failed: the log takes no more writes";
    }
    return "unknown storage error";
}

namespace {
class real_clock final : public clock {
public:
    timestamp_ms now_ms() const override {
        using namespace std::chrono;
        return timestamp_ms(
            duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    }
};
} // namespace

clock& system_clock() {
    static real_clock instance;
    return instance;
}

} // namespace trib::storage
