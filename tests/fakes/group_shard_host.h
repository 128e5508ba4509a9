#pragma once

// A shard_host for group_shard tests: clocks that move when the test says, appends that wait
// until the test completes them (with none or an error), and posted answers that run when the
// test calls run().
#include "broker/groups/group_shard.h"

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace trib::broker::groups::testing {

struct fake_shard_host final : shard_host {
    int64_t wall = 1'700'000'000'000;
    int64_t steady = 1'000'000;
    struct pending {
        std::vector<record> records;
        std::function<void(protocol::error_code)> done;
    };
    std::deque<pending> appends;
    std::vector<record> committed;  // every record whose append succeeded, in order
    std::deque<std::function<void()>> posted;
    std::map<std::string, topic_meta> topics;  // the cluster's topics, as the test sets them

    // A topic with `partitions` partitions and an id made from its name.
    void add_topic(const std::string& name, int32_t partitions) {
        topic_meta t;
        for (size_t i = 0; i < name.size() && i < t.id.b.size(); ++i) {
            t.id.b[i] = uint8_t(name[i]);
        }
        t.id.b[15] = 1;
        t.partitions = partitions;
        topics[name] = t;
    }

    int64_t wall_ms() override { return wall; }
    int64_t steady_ms() override { return steady; }
    void append(std::vector<record> records, std::function<void(protocol::error_code)> done) override {
        appends.push_back({std::move(records), std::move(done)});
    }
    void post(std::function<void()> fn) override { posted.push_back(std::move(fn)); }
    std::optional<topic_meta> topic(const std::string& name) override {
        auto it = topics.find(name);
        return it == topics.end() ? std::nullopt : std::optional(it->second);
    }
    std::vector<std::string> topic_names() override {
        std::vector<std::string> out;
        for (const auto& [name, _] : topics) {
            out.push_back(name);
        }
        return out;
    }

    // Who may DESCRIBE which topic: "User:x" -> topic names; a principal not in it may
    // describe every topic (as without an authorizer).
    std::map<std::string, std::set<std::string>> describable;
    describe_check topic_describe_check() override {
        return [this](const consumer::identity& who, const std::string& topic) {
            auto it = describable.find(who.principal);
            return it == describable.end() || it->second.contains(topic);
        };
    }

    void run() {
        while (!posted.empty()) {
            auto f = std::move(posted.front());
            posted.pop_front();
            f();
        }
    }
    // Completes the oldest append, then runs what it posted; false if none was waiting.
    bool complete(protocol::error_code e = protocol::error_code::none) {
        if (appends.empty()) {
            return false;
        }
        pending p = std::move(appends.front());
        appends.pop_front();
        if (e == protocol::error_code::none) {
            committed.insert(committed.end(), p.records.begin(), p.records.end());
        }
        p.done(e);
        run();
        return true;
    }
    // Loads `shard` from every committed record, as a new leader of the partition would.
    void replay_committed_into(group_shard& shard) const {
        for (const auto& rec : committed) {
            std::optional<bytes_view> value;
            if (rec.value) {
                value = bytes_view(*rec.value);
            }
            shard.replay(decode_offsets_record(rec.key, value));
        }
    }
    void complete_all() {
        while (complete()) {
        }
    }
};

} // namespace trib::broker::groups::testing
