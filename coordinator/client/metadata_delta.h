#pragma once

// What changed between two published cluster snapshots, named by what a broker acts on: the
// topics whose partitions or configs changed (created, removed, reassigned, new leader or
// ISR, config altered), whether brokers changed, and whether cluster- or broker-level configs
// changed (those reach every topic's effective config). A broker walks only the named topics'
// partitions instead of every partition it hosts.
#include "coordinator/client/metadata_image.h"
#include "coordinator/client/records.h"

#include <set>
#include <string>

namespace trib::coordinator {

struct metadata_delta {
    // The image was replaced (first load, a snapshot, or a reload after disagreement):
    // everything may have changed.
    bool everything = false;
    std::set<std::string, std::less<>> topics;
    bool brokers = false;
    bool broker_configs = false;
    // SCRAM credentials were set or removed (the broker's SCRAM server reads them from the
    // snapshot at each authentication, so nothing else needs doing).
    bool scram = false;
    bool acls = false;  // an ACL binding was created or removed

    static metadata_delta all() {
        metadata_delta d;
        d.everything = true;
        return d;
    }
    bool empty() const noexcept { return !everything && topics.empty() && !brokers && !broker_configs && !scram && !acls; }
    void clear() { *this = metadata_delta{}; }

    // Notes record `r`, about to be applied to `before` (names of removed topics come from it).
    void add(const metadata_image& before, const metadata_record& r);
};

} // namespace trib::coordinator
