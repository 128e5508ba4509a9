// libFuzzer target: a group shard (broker/groups/group_shard) fed records to load, then
// requests of both group protocols (classic and KIP-848), append outcomes and clock jumps
// chosen by the input, with member metadata,
// assignments and offset metadata taken raw from it. Any input must leave no crash, and every
// request answered exactly once once the shard is unloaded.
#include "broker/groups/group_shard.h"
#include "tests/fakes/group_shard_host.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace trib;
using namespace trib::broker::groups;
using protocol::error_code;

struct input {
    const uint8_t* data;
    size_t size;
    size_t at = 0;
    bool done() const { return at >= size; }
    uint8_t byte() { return at < size ? data[at++] : 0; }
    bytes take(size_t n) {
        n = std::min(n, size - std::min(at, size));
        bytes b(data + at, data + at + n);
        at += n;
        return b;
    }
};

// Counts the answers each request got.
struct ledger {
    std::vector<std::shared_ptr<int>> calls;
    template<typename R>
    std::function<void(R)> callback(std::function<void(const R&)> seen = nullptr) {
        auto n = std::make_shared<int>(0);
        calls.push_back(n);
        return [n, seen](R r) {
            ++*n;
            if (seen) {
                seen(r);
            }
        };
    }
};

const char* const group_names[] = {"a", "b", ""};
const char* const protocol_names[] = {"range", "roundrobin", ""};
const char* const protocol_types[] = {"consumer", "connect", ""};
const error_code outcomes[] = {error_code::none, error_code::none, error_code::not_enough_replicas,
                               error_code::not_leader_or_follower, error_code::message_too_large,
                               error_code::request_timed_out};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    input in{data, size};
    testing::fake_shard_host host;
    group_config cfg;
    cfg.max_size = 1 + in.byte() % 4;
    cfg.offsets_retention_ms = 1000 * (1 + in.byte());
    cfg.offsets_retention_check_interval_ms = 1000;
    cfg.consumer_max_size = 1 + in.byte() % 4;
    host.add_topic("t", 1 + in.byte() % 4);
    host.add_topic("u", 1 + in.byte() % 3);
    auto shard = std::make_unique<group_shard>(0, host, cfg);
    ledger answers;
    std::vector<std::string> members;  // member ids the shard handed out
    auto learn = [&](const std::string& id) {
        if (!id.empty() && members.size() < 64) {
            members.push_back(id);
        }
    };
    auto some_member = [&]() -> std::string {
        const uint8_t b = in.byte();
        return members.empty() || b % 4 == 0 ? std::string("m") : members[b % members.size()];
    };

    // Records to load: a key and an optional value, each up to 255 bytes.
    for (int n = in.byte() % 8; n > 0 && !in.done(); --n) {
        const bytes key = in.take(in.byte());
        const bool tombstone = in.byte() & 1;
        const bytes value = in.take(in.byte());
        shard->replay(decode_offsets_record(key, tombstone ? std::nullopt : std::optional<bytes_view>(value)));
    }
    shard->loaded();
    for (const auto& g : shard->groups()) {
        (void)g;
    }

    while (!in.done()) {
        const std::string group = group_names[in.byte() % 3];
        switch (in.byte() % 14) {
        case 0: {
            protocol::join_group_request req;
            req.group_id = group;
            if (in.byte() & 1) {
                req.member_id = some_member();
            }
            if (in.byte() % 3 == 0) {
                req.group_instance_id = "i" + std::to_string(in.byte() % 3);
            }
            req.protocol_type = protocol_types[in.byte() % 3];
            for (int n = in.byte() % 4; n > 0; --n) {
                auto& p = req.protocols.emplace_back();
                p.name = protocol_names[in.byte() % 3];
                p.metadata = in.take(in.byte() % 32);
            }
            req.session_timeout_ms = 5000 + 1000 * (in.byte() % 8);
            req.rebalance_timeout_ms = int32_t(in.byte()) * 100 - 100;
            shard->join(req, int16_t(in.byte() % 10), {"c", "/127.0.0.1"},
                        answers.callback<protocol::join_group_response>(
                            [&](const protocol::join_group_response& r) { learn(r.member_id); }));
            break;
        }
        case 1: {
            protocol::sync_group_request req;
            req.group_id = group;
            req.member_id = some_member();
            req.generation_id = in.byte() % 4;
            for (int n = in.byte() % 3; n > 0; --n) {
                auto& a = req.assignments.emplace_back();
                a.member_id = some_member();
                a.assignment = in.take(in.byte() % 16);
            }
            shard->sync(req, 5, answers.callback<protocol::sync_group_response>());
            break;
        }
        case 2: {
            protocol::heartbeat_request req;
            req.group_id = group;
            req.member_id = some_member();
            req.generation_id = in.byte() % 4;
            shard->heartbeat(req, 4);
            break;
        }
        case 3: {
            protocol::leave_group_request req;
            req.group_id = group;
            req.member_id = some_member();
            for (int n = in.byte() % 3; n > 0; --n) {
                auto& m = req.members.emplace_back();
                m.member_id = in.byte() & 1 ? some_member() : "";
                if (in.byte() & 1) {
                    m.group_instance_id = "i" + std::to_string(in.byte() % 3);
                }
            }
            shard->leave(req, int16_t(in.byte() % 6), answers.callback<protocol::leave_group_response>());
            break;
        }
        case 4: {
            protocol::offset_commit_request req;
            req.group_id = group;
            req.generation_id_or_member_epoch = int32_t(in.byte() % 4) - 1;
            if (in.byte() & 1) {
                req.member_id = some_member();
            }
            req.retention_time_ms = in.byte() & 1 ? -1 : 500;
            auto& t = req.topics.emplace_back();
            t.name = "t";
            auto& p = t.partitions.emplace_back();
            p.partition_index = in.byte() % 3;
            p.committed_offset = in.byte();
            const size_t meta = in.byte() & 1 ? 5000 : in.byte() % 8;
            p.committed_metadata = std::string(meta, 'x');
            shard->commit_offsets(req, int16_t(8 + (in.byte() & 1)), answers.callback<protocol::offset_commit_response>());
            break;
        }
        case 5: {
            protocol::offset_delete_request req;
            req.group_id = group;
            auto& t = req.topics.emplace_back();
            t.name = "t";
            t.partitions.emplace_back().partition_index = in.byte() % 3;
            shard->delete_offsets(req, answers.callback<protocol::offset_delete_response>());
            break;
        }
        case 6:
            shard->delete_groups({group}, answers.callback<std::vector<protocol::delete_groups_response::deletable_group_result>>());
            break;
        case 7: {
            shard->describe(group);
            std::vector<protocol::list_groups_response::listed_group> out;
            shard->list({}, {}, out);
            shard->fetch_offsets(group, std::nullopt, in.byte() & 1);
            shard->fetch_offsets(group, std::vector<wanted_topic>{{"t", {0, 1}}}, false);
            shard->groups();
            break;
        }
        case 12: {
            // ConsumerGroupHeartbeat: joins, heartbeats at chosen epochs, leaves.
            protocol::consumer_group_heartbeat_request req;
            req.group_id = group;
            req.member_id = in.byte() % 3 == 0 ? std::string() : some_member();
            const int32_t epochs[] = {0, 0, 1, 2, 3, -1, -2, 7};
            req.member_epoch = epochs[in.byte() % 8];
            if (in.byte() & 1) {
                req.instance_id = "i" + std::to_string(in.byte() % 3);
            }
            if (in.byte() & 1) {
                req.rebalance_timeout_ms = int32_t(in.byte()) * 100;
            }
            const uint8_t sub = in.byte();
            if (sub % 4 == 1) {
                req.subscribed_topic_names = std::vector<std::string>{"t"};
            } else if (sub % 4 == 2) {
                req.subscribed_topic_names = std::vector<std::string>{"t", "u", "missing"};
            } else if (sub % 4 == 3) {
                const char* const patterns[] = {"t|u", "[", ".*", ""};
                req.subscribed_topic_regex = patterns[in.byte() % 4];
            }
            if (in.byte() & 1) {
                const char* const assignors[] = {"uniform", "range", "sticky"};
                req.server_assignor = assignors[in.byte() % 3];
            }
            if (in.byte() & 1) {
                auto& owned = req.topic_partitions.emplace();
                for (int n = in.byte() % 3; n > 0; --n) {
                    auto& tp = owned.emplace_back();
                    tp.topic_id = host.topics[in.byte() & 1 ? "t" : "u"].id;
                    for (int k = in.byte() % 4; k > 0; --k) {
                        tp.partitions.push_back(int32_t(in.byte() % 5) - 1);
                    }
                }
            }
            shard->consumer_heartbeat(req, int16_t(in.byte() % 2), {"c", "/127.0.0.1"},
                                      answers.callback<protocol::consumer_group_heartbeat_response>(
                                          [&](const protocol::consumer_group_heartbeat_response& r) {
                                              if (r.member_id) {
                                                  learn(*r.member_id);
                                              }
                                          }));
            break;
        }
        case 13: {
            shard->consumer_describe(group);
            shard->fetch_offsets(group, std::nullopt, false, {some_member(), int32_t(in.byte() % 4)});
            if (in.byte() & 1) {
                host.add_topic("t", 1 + in.byte() % 6);  // partitions added (or a topic remade)
            }
            break;
        }
        case 8:
        case 9: {
            const int64_t ms = int64_t(in.byte()) * 100;
            host.steady += ms;
            host.wall += ms;
            if (shard->next_deadline_ms() <= host.steady || (in.byte() & 1)) {
                shard->poll();
            }
            break;
        }
        default:
            host.complete(outcomes[in.byte() % 6]);
            break;
        }
        host.run();
    }
    shard->unload();
    host.run();
    host.complete_all();  // the shard ignores these now
    shard.reset();
    host.run();
    for (const auto& n : answers.calls) {
        if (*n != 1) {
            std::abort();  // a request answered twice, or never
        }
    }
    return 0;
}
