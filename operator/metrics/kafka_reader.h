#pragma once

// What the operator reads from a running cluster through the Kafka protocol, to publish it
// as kafka_exporter-compatible metrics (cluster_metrics.h): the brokers, every partition with
// its leader, replicas and in-sync set, and each partition's oldest and current offset.
//
// read_cluster blocks: it runs a private io_context on the calling thread, so a reconciler
// (which blocks on the Kubernetes API too) calls it like any other step. The whole read is
// bounded by read_options::timeout; nothing it meets on the wire makes it throw.
//
//   1. bootstrap: the addresses in turn until one accepts a connection and answers
//      ApiVersions v0 (each attempt bounded by connect_timeout, so a silent address costs
//      no more than that);
//   2. Metadata for all topics (cluster id, controller id, brokers, partitions), at the highest
//      version both sides speak (at least v1);
//   3. ListOffsets to each partition's leader, one request per leader for the earliest
//      offsets and one for the latest (Kafka refuses a partition twice in one request).
// A leader that can't be reached, or a partition error, leaves that partition's offsets at
// -1 and adds a line to cluster_view::problems: one sick broker doesn't blank the rest.
#include "common/bytes.h"
#include "common/result.h"
#include "protocol/api.h"
#include "protocol/messages/list_offsets.h"
#include "protocol/messages/metadata.h"
#include "protocol/wire.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace trib::op::metrics {

enum class errc {
    bad_bootstrap = 1,  // empty or malformed "host:port,host:port"
    unreachable,        // no bootstrap address answered
    timed_out,          // the read's deadline passed
    bad_response,       // an answer that does not decode or does not match its request
    unsupported,        // the broker does not speak a version we need
    broker_error,       // the broker answered with an error code
};

inline std::string errc_message(errc e) {
    switch (e) {
    case errc::bad_bootstrap: return "bad bootstrap address list";
    case errc::unreachable: return "no bootstrap broker answered";
    case errc::timed_out: return "timed out";
    case errc::bad_response: return "bad response from broker";
    case errc::unsupported: return "unsupported API version";
    case errc::broker_error: return "broker returned an error";
    }
    return "unknown kafka reader error";
}

TRIB_ERROR_CATEGORY(kafka_reader, errc, errc_message)

struct broker_info {
    int32_t id = -1;
    std::string host;
    int32_t port = 0;
    std::string rack;  // "" when the broker has none
    bool operator==(const broker_info&) const = default;
};

struct partition_info {
    std::string topic;
    int32_t partition = 0;
    int32_t leader = -1;  // -1: no leader
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int64_t oldest_offset = -1;   // log start offset; -1 when it could not be read
    int64_t current_offset = -1;  // high watermark (next offset to be written); -1 likewise
    bool operator==(const partition_info&) const = default;
};

struct cluster_view {
    std::string cluster_id;
    int32_t controller_id = -1;
    std::vector<broker_info> brokers;        // ascending by id
    std::vector<partition_info> partitions;  // ascending by (topic, partition)
    // Partial failures the view still stands despite: a topic the broker reported an error
    // for, a leader that did not answer ListOffsets. Readable, one per line.
    std::vector<std::string> problems;
};

struct read_options {
    // Bound on the whole read_cluster call.
    std::chrono::milliseconds timeout{10000};
    // Bound on each connection attempt (and its ApiVersions), within `timeout`.
    std::chrono::milliseconds connect_timeout{3000};
    std::string client_id = "tributary-operator";
};

// Reads the cluster behind `bootstrap` ("host:port,host:port"). On failure the error is an
// errc and `*why`, when given, says what happened in a sentence fit for a log or a status
// condition ("no bootstrap broker answered: 127.0.0.1:1: Connection refused; ...").
result<cluster_view> read_cluster(std::string_view bootstrap, const read_options& options = {},
                                  std::string* why = nullptr);

// The steps read_cluster takes between the socket and the view, exposed for unit tests.
namespace detail {

// Decodes a response frame (what follows the size prefix) to a request (key, version,
// correlation_id) into `out`. errc::bad_response when it does not decode, has bytes left
// over, or answers another request.
template<typename Resp>
std::error_code decode_response(bytes_view frame, int16_t version, int32_t correlation_id, Resp& out) {
    protocol::reader r(frame);
    auto corr = protocol::decode_response_header(r, protocol::response_header_version(Resp::api_key, version));
    out = Resp{};
    out.decode(r, version);
    if (!corr || *corr != correlation_id || !r.ok() || r.remaining() != 0) {
        return make_error_code(errc::bad_response);
    }
    return {};
}

// The view a Metadata response describes, offsets still unknown (-1). Topics with an error
// code are left out and named in `problems`.
cluster_view view_from_metadata(const protocol::metadata_response& md);

// Copies the offsets of a ListOffsets response into `view` (oldest when `oldest`, else
// current). Partitions answered with an error keep -1 and are named in `problems`.
void apply_offsets(const protocol::list_offsets_response& resp, bool oldest, cluster_view& view);

} // namespace detail
} // namespace trib::op::metrics

TRIB_REGISTER_ERRC(trib::op::metrics::errc)
