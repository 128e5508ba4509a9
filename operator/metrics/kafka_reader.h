#pragma once

// What the operator reads from a running cluster through the Kafka protocol, to publish it
// as kafka_exporter-compatible metrics (cluster_metrics.h): the brokers, every partition with
// its leader, replicas and in-sync set, each partition's oldest and current offset, and
// every consumer group's members and committed offsets (for the lag, common/consumer_lag.h).
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
//   3. the consumer groups (read_options::groups), broker by broker: ListGroups (a broker
//      lists the groups it coordinates, so it is the one to ask about them), DescribeGroups
//      (classic groups) or ConsumerGroupDescribe (KIP-848 groups, where the broker speaks it)
//      for the member counts and OffsetFetch for the committed offsets, all in batches of
//      read_options::group_batch groups (OffsetFetch v8+; one group per request before);
//      no request of this step starts or lasts after half the time left after step 2, so
//      that the ends always have theirs (the groups not read by then are left out, and a
//      broker that did not answer in time is given up for the read);
//   4. AFTER every group's commits, ListOffsets to each partition's leader, one request per
//      leader for the earliest offsets and one for the latest (Kafka refuses a partition
//      twice in one request). Commits first, ends after: lag is never negative
//      (common/consumer_lag.h says why);
//   5. for the lag in seconds (read_options::timestamps), the timestamp of the record each
//      group reads next where it is behind: a Fetch at its committed offset (at the log
//      start if that is above) of one batch, from the partition's leader, one round per
//      committed offset of a partition (a Fetch names a partition once). Timestamps the
//      previous read found (`known`, by partition and offset) are not fetched again: a
//      record's timestamp at an offset never changes while the offset stays in the log.
// A leader that can't be reached, or a partition error, leaves that partition's offsets at
// -1 and adds a line to cluster_view::problems: one sick broker doesn't blank the rest. A
// group whose offsets could not be read is left out of cluster_view::groups, with a line in
// problems; one whose description failed (or a KIP-848 group on a broker without
// ConsumerGroupDescribe) keeps its offsets, with members unknown (-1).
// Each broker is connected to once per read; one that could not be reached is not tried
// again in the same read.
#include "common/bytes.h"
#include "common/consumer_lag.h"
#include "common/result.h"
#include "protocol/api.h"
#include "protocol/messages/consumer_group_describe.h"
#include "protocol/messages/describe_groups.h"
#include "protocol/messages/list_groups.h"
#include "protocol/messages/list_offsets.h"
#include "protocol/messages/metadata.h"
#include "protocol/messages/offset_fetch.h"
#include "protocol/wire.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace trib::net {
class tls_source;
}

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
    // Step 5: by committed offset, the timestamp (ms since the epoch) of the record a group
    // committed there reads next; only for offsets behind the end whose record was read.
    std::map<int64_t, int64_t> next_timestamp_ms = {};
    bool operator==(const partition_info&) const = default;
};

// A consumer group as its coordinator had it.
struct group_info {
    std::string group_id;
    int32_t coordinator = -1;   // the broker that listed it
    std::string protocol_type;  // "consumer" for consumers' groups, "" for commits from outside a group
    std::string type;           // "classic" or "consumer" (KIP-848); "" from brokers before ListGroups v5
    std::string state;          // "" from brokers before ListGroups v4
    int32_t members = -1;       // -1: not known (its description failed or could not be asked for)
    std::vector<lag::committed_offset> offsets;  // what OffsetFetch answered, partitions without error
    bool operator==(const group_info&) const = default;
};

struct cluster_view {
    std::string cluster_id;
    int32_t controller_id = -1;
    std::vector<broker_info> brokers;        // ascending by id
    std::vector<partition_info> partitions;  // ascending by (topic, partition)
    std::vector<group_info> groups;          // ascending by id; only those whose offsets were read
    bool timestamps_read = false;            // step 5 ran (partitions may still lack some)
    int64_t read_at_ms = 0;                  // wall clock when the read ended, for the lag in seconds
    // Partial failures the view still stands despite: a topic the broker reported an error
    // for, a leader that did not answer ListOffsets. Readable, one per line.
    std::vector<std::string> problems;
};

struct read_options {
    // Bound on the whole read_cluster call.
    std::chrono::milliseconds timeout{10000};
    // Bound on each connection attempt (and its ApiVersions), within `timeout`.
    std::chrono::milliseconds connect_timeout{3000};
    // Bound on each request to a broker after the bootstrap (ListGroups, DescribeGroups,
    // OffsetFetch, ListOffsets), within `timeout`: a broker that accepts and stays silent
    // costs this much once (it is given up for the rest of the read), not the whole read.
    std::chrono::milliseconds request_timeout{3000};
    std::string client_id = "tributary-operator";
    // Read the consumer groups (step 3).
    bool groups = true;
    // Groups per DescribeGroups and per OffsetFetch request.
    size_t group_batch = 100;
    // Read the next records' timestamps (step 5), for kafka_consumergroup_lag_seconds.
    bool timestamps = true;
    // TLS towards the brokers (a client source of net/tls.h: the cluster CA and the operator's
    // certificate, kafka/security.h); null: plaintext.
    std::shared_ptr<net::tls_source> tls = nullptr;
};

// Timestamps of records by partition and offset, from one read to the next (step 5).
using timestamp_cache = std::map<std::pair<lag::partition_key, int64_t>, int64_t>;

// What a read found, as the `known` timestamps of the next read.
timestamp_cache timestamps_of(const cluster_view& view);

// Reads the cluster behind `bootstrap` ("host:port,host:port"). On failure the error is an
// errc and `*why`, when given, says what happened in a sentence fit for a log or a status
// condition ("no bootstrap broker answered: 127.0.0.1:1: Connection refused; ...").
result<cluster_view> read_cluster(std::string_view bootstrap, const read_options& options = {},
                                  std::string* why = nullptr, const timestamp_cache* known = nullptr);

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

// The groups a ListGroups answer of broker `coordinator` lists, in its order, leaving out
// Dead ones (being deleted or moving away). An error code (COORDINATOR_LOAD_IN_PROGRESS: the
// list is partial) adds a line to `problems`; the groups listed are still returned.
std::vector<group_info> listed_groups(const protocol::list_groups_response& resp, int32_t coordinator,
                                      std::vector<std::string>& problems);

// Member counts from a DescribeGroups answer into `groups` (by id). A group answered with an
// error keeps members -1 and is named in `problems`.
void apply_described(const protocol::describe_groups_response& resp, std::vector<group_info>& groups,
                     std::vector<std::string>& problems);
// The same from a ConsumerGroupDescribe answer (KIP-848 groups).
void apply_described(const protocol::consumer_group_describe_response& resp, std::vector<group_info>& groups,
                     std::vector<std::string>& problems);

// The committed offsets of an OffsetFetch answer at `version` into `groups` (by id; before
// v8 the answer is of `asked`, the one group the request named). Returns the ids read; a
// group answered with an error is not among them and is named in `problems`. Partitions
// answered with an error are left out (and named); -1 (no commit) is kept.
std::vector<std::string> apply_committed(const protocol::offset_fetch_response& resp, int16_t version,
                                         const std::string& asked, std::vector<group_info>& groups,
                                         std::vector<std::string>& problems);

} // namespace detail
} // namespace trib::op::metrics

TRIB_REGISTER_ERRC(trib::op::metrics::errc)
