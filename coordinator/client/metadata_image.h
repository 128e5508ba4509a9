#pragma once

// The cluster metadata as of an offset of the metadata log: what replaying every committed
// record from the start (or from a snapshot) gives. The coordinator decides against it; each
// broker keeps one, fed by the long-poll (client.h), and publishes it as a cluster_snapshot.
//
// Invariants (checked by apply; a record that would break one is refused with
// errc::inconsistent_record and leaves the image unchanged):
//   - broker ids and topic ids/names are unique; a topic's partitions are 0..n-1;
//   - a partition record names an existing topic; leader is -1 or a member of the ISR;
//     the ISR is a subset of the replicas; the adding and removing replicas of a
//     reassignment are disjoint subsets of the replicas; the leader epoch never goes down; a change
//     record's partition epoch is above the partition's (a record of a log written before
//     partition epochs, 0 onto 0, is accepted);
//   - a broker is unregistered only while no partition names it as a replica;
//   - a SCRAM credential has a known mechanism and a non-empty user; only an existing one is
//     removed;
//   - next_offset() only grows.
//
// Copying an image is cheap (copy-on-write): its maps are shared between copies until one is
// written, and each topic is shared on its own, so a change to one topic of a copy copies the
// map of topic pointers and that one topic, not every topic's partitions. The controller
// copies the image for every decision (controller.cc, `change`); bench/coordinator_image_bench
// measures it. Not thread-safe: a copy may be handed to another thread and read there, but one
// image is written by one thread at a time.
#include "common/ids.h"
#include "common/result.h"
#include "coordinator/client/cluster_snapshot.h"
#include "coordinator/client/records.h"
#include "security/authorizer.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::coordinator {

struct broker_registration {
    node_id id;
    protocol::uuid incarnation;
    std::vector<endpoint> endpoints;
    std::optional<std::string> rack;
    bool fenced = true;
    int64_t epoch = -1;  // offset of the registration record: identifies this registration
    bool operator==(const broker_registration&) const = default;
};

struct partition_state {
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int32_t leader = -1;
    int32_t leader_epoch = 0;
    int32_t partition_epoch = 0;  // grows on every change of replicas, ISR or leader
    // A reassignment in progress (KIP-455): `replicas` is the target followed by the replicas
    // leaving. `adding` are target replicas the original set lacked, `removing` original
    // replicas the target lacks; both are subsets of `replicas`, disjoint, and empty when no
    // reassignment is in progress.
    std::vector<int32_t> adding;
    std::vector<int32_t> removing;
    bool reassigning() const noexcept { return !adding.empty() || !removing.empty(); }
    // The replicas before the reassignment: `replicas` without `adding`, in order.
    std::vector<int32_t> original_replicas() const;
    // The replicas after it: `replicas` without `removing`, in order.
    std::vector<int32_t> target_replicas() const;
    bool operator==(const partition_state&) const = default;
};

struct topic_state {
    std::string name;
    protocol::uuid id;
    std::vector<partition_state> partitions;
    bool operator==(const topic_state&) const = default;
};

using config_map = std::map<std::string, std::string>;

// A value shared by copies until one of them writes it (then that one gets its own copy).
template<typename T>
class copy_on_write {
public:
    copy_on_write() : _p(std::make_shared<T>()) {}
    // A move copies the pointer too: a moved-from image stays a valid (shared) image.
    copy_on_write(const copy_on_write&) = default;
    copy_on_write& operator=(const copy_on_write&) = default;
    const T& operator*() const noexcept { return *_p; }
    const T* operator->() const noexcept { return _p.get(); }
    T& write() {
        if (_p.use_count() > 1) {
            _p = std::make_shared<T>(*_p);
        }
        return *_p;
    }

private:
    std::shared_ptr<T> _p;
};

// An image's topics by id, read-only: iterating gives (id, topic_state) pairs of references.
class topic_range {
public:
    using map = std::map<protocol::uuid, std::shared_ptr<topic_state>>;
    class iterator {
    public:
        using value_type = std::pair<const protocol::uuid&, const topic_state&>;
        explicit iterator(map::const_iterator it) : _it(it) {}
        value_type operator*() const { return {_it->first, *_it->second}; }
        iterator& operator++() {
            ++_it;
            return *this;
        }
        bool operator==(const iterator&) const = default;

    private:
        map::const_iterator _it;
    };
    explicit topic_range(const map& m) : _m(&m) {}
    iterator begin() const { return iterator(_m->begin()); }
    iterator end() const { return iterator(_m->end()); }
    size_t size() const noexcept { return _m->size(); }
    bool empty() const noexcept { return _m->empty(); }

private:
    const map* _m;
};

class metadata_image {
public:
    // Applies the committed record at offset `at` (>= next_offset()).
    result<void> apply(offset at, const metadata_record& r);
    // Applies every record of a record set (batches back to back).
    result<void> apply_batches(bytes_view set);

    // One past the last record applied: the offset the next record will have.
    offset next_offset() const noexcept { return _next; }
    // After loading a snapshot taken at `o` (it holds every record below o).
    void set_next_offset(offset o) noexcept { _next = o; }

    const std::map<int32_t, broker_registration>& brokers() const noexcept { return *_brokers; }
    // Brokers being drained (by id, registered or not): they take no new replica, and the
    // controller moves their replicas and leaderships away.
    const std::set<int32_t>& drained() const noexcept { return *_drained; }
    bool is_drained(int32_t id) const { return _drained->contains(id); }
    const broker_registration* broker(int32_t id) const;
    topic_range topics() const noexcept { return topic_range(*_topics); }
    const topic_state* topic(std::string_view name) const;
    const topic_state* topic(const protocol::uuid& id) const;
    // Dynamic configs of a resource; nullptr when it has none.
    const config_map* configs(resource_type t, std::string_view name) const;
    // ACL bindings (CreateAcls), each once.
    const std::set<security::acl_binding>& acls() const noexcept { return *_acls; }
    // The authorizer's index of acls(), built on first use after a change and shared by copies
    // and snapshots until the bindings change again.
    std::shared_ptr<const security::acl_index> acl_index() const;

    // SCRAM credentials by user, then mechanism (scram_mechanism as int8).
    const scram_users& scram() const noexcept { return *_scram; }
    // A user's credential for `mechanism`; nullptr when there is none.
    const scram_secret* scram(std::string_view user, int8_t mechanism) const;

    // The records that rebuild this image from empty: a snapshot's content.
    std::vector<metadata_record> to_records() const;
    cluster_snapshot to_snapshot(std::string cluster_id, node_id controller) const;

    // Same content (not: same sharing).
    bool operator==(const metadata_image& o) const;

private:
    using config_key = std::pair<int8_t, std::string>;
    result<void> apply_impl(offset at, const metadata_record& r);
    // The topic `it` points to (in the written topic map), made this image's own first.
    topic_state& own(topic_range::map::iterator it);

    offset _next{0};
    copy_on_write<std::map<int32_t, broker_registration>> _brokers;
    copy_on_write<std::set<int32_t>> _drained;
    copy_on_write<topic_range::map> _topics;
    copy_on_write<std::map<std::string, protocol::uuid, std::less<>>> _topic_names;
    copy_on_write<std::map<config_key, config_map, std::less<>>> _configs;
    copy_on_write<scram_users> _scram;
    copy_on_write<std::set<security::acl_binding>> _acls;
    mutable std::shared_ptr<const security::acl_index> _acl_index;  // null: not built since the last change
};

} // namespace trib::coordinator
