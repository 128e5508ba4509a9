#pragma once

// Fetch rounds that read the record at given offsets of partitions, for the timestamp of the
// record a consumer positioned there reads next (consumer lag in seconds: the broker's
// lag_publisher for partitions led elsewhere, the operator's kafka_reader). No I/O: the
// caller sends request(round) to the partitions' leader and hands the answer to take().
//
// Each Fetch asks for at most one batch per partition (partition_max_bytes 1: the first batch
// comes whole anyway) and 1 MiB in all; a Fetch names a partition once, so a partition wanted
// at n offsets takes n rounds. A partition answered with an error or without records, or
// left out by the answer's size limit, just has no timestamp for that offset.
#include "protocol/messages/fetch.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace trib::protocol {

class next_record_fetch {
public:
    // Reads the record at `offset` of topic/partition (or the first after it in its batch).
    void want(const std::string& topic, int32_t partition, int64_t offset);

    // The Fetch of `round` (0, 1, ...); nullopt once every offset has been asked for.
    std::optional<fetch_request> request(size_t round) const;
    // The answer to request(round).
    void take(const fetch_response& resp, size_t round);

    // Timestamp (ms since the epoch) of the record found at topic/partition/offset.
    std::optional<int64_t> timestamp(const std::string& topic, int32_t partition, int64_t offset) const;

private:
    std::map<std::pair<std::string, int32_t>, std::vector<int64_t>> _wanted;  // by topic, then partition
    std::map<std::tuple<std::string, int32_t, int64_t>, int64_t> _found;
};

} // namespace trib::protocol
