#pragma once

// A coordinator's identity on disk: `meta.properties` in its metadata directory (the parent of
// __cluster_metadata-0: metadata.log.dir, or the first of log.dirs), in Kafka's layout
// (version 1, node.id, cluster.id, directory.id), so Kafka's own tools read it:
// `kafka-metadata-quorum add-controller --command-config <the coordinator's properties>`
// takes the new voter's directory id from there (KIP-853).
//
// Written once, atomically, when absent; a file naming another node or cluster stops start-up
// (two coordinators on one directory, or data of another cluster), as Kafka refuses it.
#include "protocol/wire.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace trib::coordinator {

// The directory id of `dir`, creating `dir/meta.properties` if needed. Throws
// std::runtime_error naming the file and the mismatch.
protocol::uuid load_directory_id(const std::filesystem::path& dir, int32_t node_id, const std::string& cluster_id);

} // namespace trib::coordinator
