#pragma once

// The log cleaner: one background thread that compacts the partition logs whose
// cleanup.policy includes compact (storage/cleaner.h), one pass over the dirtiest log at a
// time, as Kafka's LogCleaner with log.cleaner.threads=1. Between passes, and while no log
// is due, it sleeps log.cleaner.backoff.ms. It publishes Kafka's LogCleaner metrics, named as
// Strimzi's JMX rules name them:
//   kafka_log_logcleaner_max_clean_time_secs              duration of the last pass
//   kafka_log_logcleaner_cleaner_recopy_percent           bytes written / bytes read by it
//   kafka_log_logcleaner_max_buffer_utilization_percent   key map use of it
//   kafka_log_logcleanermanager_max_dirty_percent         dirtiest compacted log at the last look
#include "broker/broker_config.h"
#include "broker/partition_manager.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace trib::broker {

class log_cleaner {
public:
    log_cleaner(partition_manager& partitions, cleaner_config cfg, prometheus::Registry& registry);
    log_cleaner(const log_cleaner&) = delete;
    log_cleaner& operator=(const log_cleaner&) = delete;
    ~log_cleaner();

    // Starts the thread (nothing when log.cleaner.enable is false). The io threads must run
    // until stop() returns: passes wait for the owner cores.
    void start();
    void stop();

private:
    void run();

    partition_manager& _partitions;
    cleaner_config _cfg;
    prometheus::Gauge& _max_clean_time;
    prometheus::Gauge& _recopy;
    prometheus::Gauge& _buffer_utilization;
    prometheus::Gauge& _max_dirty;
    std::mutex _mutex;
    std::condition_variable _wake;
    bool _stopping = false;
    std::atomic<bool> _stop{false};  // _stopping for a pass in progress, read without the lock
    std::thread _thread;
};

} // namespace trib::broker
