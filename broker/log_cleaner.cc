#include "broker/log_cleaner.h"

#include "common/log.h"
#include "protocol/compression.h"

#include <exception>

namespace trib::broker {

namespace {

// The protocol module's codecs, for the cleaner to read and rewrite compressed batches.
class protocol_codec final : public storage::record_codec {
public:
    result<bytes> decompress(compression_codec c, bytes_view in, size_t max_output) const override {
        return protocol::decompress(c, in, max_output);
    }
    result<bytes> compress(compression_codec c, bytes_view in) const override {
        return protocol::compress(c, in);
    }
};

prometheus::Gauge& gauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

} // namespace

log_cleaner::log_cleaner(partition_manager& partitions, cleaner_config cfg, prometheus::Registry& registry)
    : _partitions(partitions), _cfg(cfg),
      _max_clean_time(gauge(registry, "kafka_log_logcleaner_max_clean_time_secs",
                            "Duration of the last compaction pass (one cleaner thread)")),
      _recopy(gauge(registry, "kafka_log_logcleaner_cleaner_recopy_percent",
                    "Bytes written / bytes read by the last compaction pass, in percent")),
      _buffer_utilization(gauge(registry, "kafka_log_logcleaner_max_buffer_utilization_percent",
                                "Use of log.cleaner.dedupe.buffer.size by the last pass, in percent")),
      _max_dirty(gauge(registry, "kafka_log_logcleanermanager_max_dirty_percent",
                       "Dirty share of the dirtiest compacted log at the cleaner's last look, in percent")) {}

log_cleaner::~log_cleaner() {
    stop();
}

void log_cleaner::start() {
    if (!_cfg.enable || _thread.joinable()) {
        return;
    }
    _thread = std::thread([this] { run(); });
}

void log_cleaner::stop() {
    {
        std::lock_guard lock(_mutex);
        _stopping = true;
    }
    _stop = true;
    _wake.notify_all();
    if (_thread.joinable()) {
        _thread.join();
    }
}

void log_cleaner::run() {
    protocol_codec codec;
    while (true) {
        bool again = false;
        try {
            auto report = _partitions.clean_one(codec, _cfg.dedupe_buffer_bytes, _stop);
            _max_dirty.Set(100.0 * report.max_dirty_ratio);
            if (report.pass) {
                const auto& r = report.pass->result;
                _max_clean_time.Set(report.pass->seconds);
                _recopy.Set(r.bytes_read ? 100.0 * double(r.bytes_written) / double(r.bytes_read) : 0.0);
                _buffer_utilization.Set(r.map_capacity ? 100.0 * double(r.map_bytes) / double(r.map_capacity) : 0.0);
                again = true;  // another log (or another pass of this one) may be due
            }
        } catch (const std::exception& e) {
            TLOG_ERROR("log cleaner: {}", e.what());
        }
        std::unique_lock lock(_mutex);
        if (!again) {
            _wake.wait_for(lock, std::chrono::milliseconds(_cfg.backoff_ms), [this] { return _stopping; });
        }
        if (_stopping) {
            return;
        }
    }
}

} // namespace trib::broker
