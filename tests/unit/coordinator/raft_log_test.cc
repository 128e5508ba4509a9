// raft_log: three coordinators' Raft logs in temp dirs, on one io_context, connected by the
// in-memory transport (tests/fakes/raft_loopback_transport.h), with short real timings
// (tick 10 ms, election timeout 100 ms) and real fsyncs on each log's syncer thread. What a
// user of the log would notice: one active controller all agree on, appends committed and
// applied everywhere in one order at one set of offsets, appends failing when the leadership
// is lost, and nothing committed lost across restarts, cut-offs and snapshots.
#include "coordinator/raft_log.h"
#include "coordinator/client/errc.h"
#include "coordinator/controller.h"
#include "tests/fakes/coordinator_fake_clock.h"
#include "tests/fakes/raft_loopback_transport.h"
#include "tests/fakes/run_until.h"
#include "tests/fakes/temp_dir.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace trib::coordinator {
namespace {

using namespace std::chrono_literals;

// A state machine that keeps the image (so snapshots have content) and what it applied.
struct recording_sm final : state_machine {
    void apply(offset at, const metadata_record& r) override {
        if (!seen.insert(at.value()).second) {
            ++applied_twice;
        }
        if (auto a = image.apply(at, r); !a) {
            ADD_FAILURE() << "record at " << at.value() << " does not apply: " << a.error().message();
        }
        applied.emplace_back(at.value(), describe(r));
    }
    void restore(const metadata_image& img) override {
        image = img;
        ++restores;
    }
    metadata_image image;
    std::vector<std::pair<int64_t, std::string>> applied;  // in order, since start
    std::set<int64_t> seen;
    int applied_twice = 0;
    int restores = 0;
};

protocol::uuid uuid_of(int n) {
    protocol::uuid u;
    u.b[0] = uint8_t(n);
    u.b[1] = uint8_t(n >> 8);
    u.b[15] = 1;
    return u;
}

// One decision's records: `n` new topics.
std::vector<metadata_record> topics(int& next, int n) {
    std::vector<metadata_record> out;
    for (int i = 0; i < n; ++i, ++next) {
        out.emplace_back(topic_record{fmt::format("t{}", next), uuid_of(next), {}});
    }
    return out;
}

// Holds a node's fsyncs back while closed (on its syncer thread), to show what waits for them.
class fsync_gate {
public:
    int fsync(int fd) {
        std::unique_lock lk(_mu);
        _cv.wait(lk, [&] { return _open; });
        return ::fdatasync(fd);
    }
    void hold() {
        std::lock_guard g(_mu);
        _open = false;
    }
    void release() {
        {
            std::lock_guard g(_mu);
            _open = true;
        }
        _cv.notify_all();
    }

private:
    std::mutex _mu;
    std::condition_variable _cv;
    bool _open = true;
};

constexpr int nodes = 3;

class raft_log_test : public ::testing::Test {
protected:
    struct member {
        std::unique_ptr<fakes::temp_dir> dir = std::make_unique<fakes::temp_dir>("trib-raftlog");
        std::unique_ptr<recording_sm> sm;
        std::unique_ptr<raft_log> log;
        std::vector<leadership> changes;  // on_leadership calls, in order
        std::shared_ptr<fsync_gate> gate = std::make_shared<fsync_gate>();
    };

    raft_log_test() {
        for (int i = 0; i < nodes; ++i) {
            voters.push_back(raft::voter{node_id(i + 1), "127.0.0.1", uint16_t(19090 + i)});
        }
    }
    ~raft_log_test() override {
        for (auto& m : members) {
            m.gate->release();  // a failed test must not leave close() waiting for an fsync
            if (m.log) {
                m.log->close();
            }
        }
    }

    // (Re)starts node i from its directory with a fresh state machine: a process start.
    // With `sm`, that state machine instead of a recording one (its owner outlives the log).
    void open(int i, storage::log_config cfg = {}, std::chrono::milliseconds election_timeout = 100ms,
              state_machine* sm = nullptr) {
        auto& m = members[size_t(i)];
        m.log.reset();
        m.sm = std::make_unique<recording_sm>();
        m.changes.clear();
        raft_log_options o;
        o.log = cfg;
        o.self = voters[size_t(i)];
        o.voters = initial_voters.value_or(voters);
        o.ctx = &ctx;
        o.transport = hub.connect(voters[size_t(i)].id);
        o.tick = 10ms;
        o.election_timeout = election_timeout;
        o.seed = uint64_t(1000 + i);
        o.fsync = [gate = m.gate](int fd) { return gate->fsync(fd); };
        m.log = raft_log::open(m.dir->path(), std::move(o), sm ? *sm : *m.sm);
        m.log->on_leadership([&m](const leadership& l) { m.changes.push_back(l); });
    }
    void open_all() {
        for (int i = 0; i < nodes; ++i) {
            open(i);
        }
    }
    void close(int i) {
        members[size_t(i)].log->close();
        members[size_t(i)].log.reset();
    }

    bool wait(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
        return fakes::run_until(ctx, cond, limit);
    }

    // The active controller among the open nodes (not cut off), or -1.
    int active(const std::set<int>& among = {0, 1, 2}) const {
        for (int i : among) {
            const auto& m = members[size_t(i)];
            if (m.log && m.log->leader().is_leader) {
                return i;
            }
        }
        return -1;
    }
    int wait_for_active(const std::set<int>& among = {0, 1, 2}) {
        int found = -1;
        wait([&] { return (found = active(among)) >= 0; });
        return found;
    }

    // Appends on node i and runs until it completes; the result.
    result<offset> append_and_wait(int i, std::vector<metadata_record> records) {
        std::optional<result<offset>> got;
        members[size_t(i)].log->append(records, [&](result<offset> r) { got = r; });
        wait([&] { return got.has_value(); });
        if (!got) {
            return errc::timed_out;
        }
        return *got;
    }

    bool all_applied(const std::set<int>& who, offset upto) {
        for (int i : who) {
            if (!members[size_t(i)].log || members[size_t(i)].log->committed() < upto) {
                return false;
            }
        }
        return true;
    }

    asio::io_context ctx;
    fakes::raft_loopback_hub hub{ctx};
    raft::voter_set voters;
    // What open() configures as controller.quorum.voters; unset: `voters`.
    std::optional<raft::voter_set> initial_voters;
    // Controllers as the logs' state machines (closed logs complete nothing afterwards, so
    // the destructor's close() runs while they are still here).
    testing::fake_clock clk;
    std::array<std::unique_ptr<controller>, nodes> controllers;
    std::array<member, nodes> members;
    int next_topic = 0;
};

TEST_F(raft_log_test, elects_one_active_controller_all_agree_on) {
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0) << "no leader elected";
    const auto lead = members[size_t(l)].log->leader();
    ASSERT_TRUE(lead.leader);
    EXPECT_EQ(lead.leader->id, voters[size_t(l)].id);
    EXPECT_EQ(lead.leader->host, "127.0.0.1");
    EXPECT_EQ(lead.leader->port, voters[size_t(l)].port);
    // The followers learn of it with the first append (its no-op).
    ASSERT_TRUE(wait([&] {
        for (const auto& m : members) {
            auto x = m.log->leader();
            if (x.term != lead.term || !x.leader || x.leader->id != lead.leader->id) {
                return false;
            }
        }
        return true;
    })) << "the followers do not name the leader";
    for (int i = 0; i < nodes; ++i) {
        const auto& m = members[size_t(i)];
        EXPECT_EQ(m.log->leader().is_leader, i == l) << "node " << i;
        ASSERT_FALSE(m.changes.empty()) << "on_leadership never fired on node " << i;
        EXPECT_EQ(m.changes.back(), m.log->leader()) << "the last change published is the current one";
    }
    // DescribeQuorum: the leader knows every voter's log end.
    ASSERT_TRUE(wait([&] {
        auto vs = members[size_t(l)].log->voters();
        return vs.size() == 3 && std::all_of(vs.begin(), vs.end(), [](const voter_view& v) {
                   return v.log_end_offset >= 1;
               });
    }));
    for (const auto& v : members[size_t(l)].log->voters()) {
        EXPECT_EQ(v.last_fetch_ms >= 0, v.endpoint.id != voters[size_t(l)].id) << "voter " << v.endpoint.id.value();
    }
}

TEST_F(raft_log_test, appends_commit_on_the_leader_and_apply_everywhere_in_one_order) {
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    auto& leader = *members[size_t(l)].log;

    std::vector<result<offset>> done;
    const offset first_at = leader.end();
    for (int i = 0; i < 5; ++i) {
        leader.append(topics(next_topic, 2), [&](result<offset> r) { done.push_back(r); });
    }
    leader.append({}, [&](result<offset> r) { done.push_back(r); });
    EXPECT_TRUE(done.empty()) << "an append completes once applied, never inside append()";
    ASSERT_TRUE(wait([&] { return done.size() == 6; }));
    for (size_t i = 0; i < 5; ++i) {
        ASSERT_TRUE(done[i]) << done[i].error().message();
        EXPECT_EQ(*done[i], first_at + int64_t(2 * i + 1)) << "the batch's last offset";
    }
    ASSERT_TRUE(done[5]);
    EXPECT_EQ(*done[5], *done[4]) << "an empty append completes after the one before it";

    const offset end = *done[4] + 1;
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, end); }));
    const auto& expected = members[size_t(l)].sm->applied;
    ASSERT_EQ(expected.size(), 10u);
    for (int i = 0; i < nodes; ++i) {
        EXPECT_EQ(members[size_t(i)].sm->applied, expected) << "node " << i;
        EXPECT_EQ(members[size_t(i)].sm->applied_twice, 0);
        EXPECT_EQ(members[size_t(i)].log->committed(), end);
    }

    // A follower may not decide: its append fails at once, naming no offset.
    const int f = (l + 1) % nodes;
    std::optional<result<offset>> refused;
    members[size_t(f)].log->append(topics(next_topic, 1), [&](result<offset> r) { refused = r; });
    ASSERT_TRUE(refused.has_value());
    ASSERT_FALSE(*refused);
    EXPECT_EQ(refused->error(), make_error_code(errc::not_leader));

    // The feed brokers read: the committed batches, the applied records among them.
    auto feed = members[size_t(f)].log->read(first_at, 1 << 20);
    ASSERT_TRUE(feed) << feed.error().message();
    int records = 0;
    ASSERT_TRUE(for_each_record(*feed, [&](offset, const metadata_record&) { ++records; }));
    EXPECT_EQ(records, 10);
}

TEST_F(raft_log_test, followers_write_while_the_leader_fsyncs_and_nothing_is_acknowledged_before_it) {
    // While its fsync is out the leader sends nothing more (raft/node.h: one ready at a time),
    // so the hold stays well below the election timeout: this is about a slow disk, not a
    // dead one.
    for (int i = 0; i < nodes; ++i) {
        open(i, {}, 500ms);
    }
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(append_and_wait(l, topics(next_topic, 1)));
    const offset end = members[size_t(l)].log->committed();
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, end); }));

    members[size_t(l)].gate->hold();
    std::vector<int64_t> done;
    for (int i = 0; i < 4; ++i) {
        members[size_t(l)].log->append(topics(next_topic, 1), [&](result<offset> r) {
            ASSERT_TRUE(r) << r.error().message();
            done.push_back(r->value());
        });
    }
    // The first append went out in a ready of its own, its request sent before the leader's
    // fsync: the followers write it meanwhile. The other three wait for the next ready.
    ASSERT_TRUE(wait([&] {
        for (int i = 0; i < nodes; ++i) {
            if (i != l && members[size_t(i)].log->end() != end + 1) {
                return false;
            }
        }
        return true;
    })) << "the leader's append request waited for its fsync";
    // Bounded on purpose: what must not happen does not happen for a few elections' time.
    EXPECT_FALSE(wait([&] { return !done.empty(); }, 200ms)) << "acknowledged before its fsync";
    for (int i = 0; i < nodes; ++i) {
        EXPECT_EQ(members[size_t(i)].log->committed(), end) << "node " << i << " applied what its leader has not synced";
        EXPECT_EQ(members[size_t(i)].log->end(), i == l ? end + 4 : end + 1) << "node " << i;
    }
    EXPECT_EQ(active(), l) << "a slow disk is not a lost leadership";

    members[size_t(l)].gate->release();
    ASSERT_TRUE(wait([&] { return done.size() == 4; }));
    EXPECT_EQ(done, (std::vector<int64_t>{end.value(), end.value() + 1, end.value() + 2, end.value() + 3}));
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, end + 4); }));
}

TEST_F(raft_log_test, a_leader_cut_off_fails_its_appends_and_the_others_go_on) {
    open_all();
    const int old = wait_for_active();
    ASSERT_GE(old, 0);
    ASSERT_TRUE(append_and_wait(old, topics(next_topic, 1)));
    const term_id old_term = members[size_t(old)].log->leader().term;

    hub.cut(voters[size_t(old)].id);
    std::vector<result<offset>> failed;
    for (int i = 0; i < 3; ++i) {
        members[size_t(old)].log->append(topics(next_topic, 1), [&](result<offset> r) { failed.push_back(r); });
    }
    // Check-quorum: it hears from no majority and steps down; what it had in flight fails,
    // in order.
    ASSERT_TRUE(wait([&] { return failed.size() == 3; }));
    for (const auto& r : failed) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), make_error_code(errc::not_leader));
    }
    EXPECT_FALSE(members[size_t(old)].log->leader().is_leader);
    EXPECT_EQ(members[size_t(old)].log->pending_appends(), 0u);
    EXPECT_FALSE(members[size_t(old)].changes.back().is_leader) << "the loss was published";

    std::set<int> rest;
    for (int i = 0; i < nodes; ++i) {
        if (i != old) {
            rest.insert(i);
        }
    }
    const int now = wait_for_active(rest);
    ASSERT_GE(now, 0) << "the two others elect no leader";
    EXPECT_GT(members[size_t(now)].log->leader().term, old_term);
    auto committed = append_and_wait(now, topics(next_topic, 2));
    ASSERT_TRUE(committed) << committed.error().message();
    ASSERT_TRUE(wait([&] { return all_applied(rest, *committed + 1); }));

    // Healed, the old leader follows the new one and applies the same sequence (its three
    // uncommitted entries are truncated away).
    hub.heal(voters[size_t(old)].id);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *committed + 1); }));
    for (int i = 0; i < nodes; ++i) {
        EXPECT_EQ(members[size_t(i)].sm->applied, members[size_t(now)].sm->applied) << "node " << i;
        EXPECT_EQ(members[size_t(i)].sm->applied_twice, 0);
    }
    EXPECT_EQ(active(), now);
    ASSERT_TRUE(members[size_t(old)].log->leader().leader);
    EXPECT_EQ(members[size_t(old)].log->leader().leader->id, voters[size_t(now)].id);
}

TEST_F(raft_log_test, a_restarted_node_rejoins_and_applies_everything_once) {
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    auto first = append_and_wait(l, topics(next_topic, 3));
    ASSERT_TRUE(first);
    const int f = (l + 1) % nodes;
    ASSERT_TRUE(wait([&] { return all_applied({f}, *first + 1); }));
    const auto before = members[size_t(f)].sm->applied;
    const auto term_before = members[size_t(f)].log->node().term();

    close(f);
    EXPECT_EQ(raft::quorum_state::open(members[size_t(f)].dir->path()).current().term, term_before)
        << "the term is on disk";
    auto second = append_and_wait(l, topics(next_topic, 2));  // committed by the other two
    ASSERT_TRUE(second) << second.error().message();

    open(f);
    EXPECT_GE(members[size_t(f)].log->node().term(), term_before) << "the term is kept";
    EXPECT_EQ(members[size_t(f)].log->committed(), offset(0)) << "nothing applied before a leader says what is committed";
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *second + 1); }));
    const auto& again = members[size_t(f)].sm->applied;
    EXPECT_EQ(again, members[size_t(l)].sm->applied) << "the whole log, replayed in one order";
    EXPECT_TRUE(std::equal(before.begin(), before.end(), again.begin()));
    EXPECT_EQ(members[size_t(f)].sm->applied_twice, 0);
    EXPECT_EQ(members[size_t(f)].log->node().term(), members[size_t(l)].log->node().term());
    EXPECT_EQ(active(), l) << "a restarted follower does not depose a live leader";
}

TEST_F(raft_log_test, a_follower_far_behind_installs_the_leaders_snapshot) {
    // Small segments, so a snapshot deletes whole segments and the log start moves.
    storage::log_config cfg;
    cfg.segment_bytes = 1024;
    for (int i = 0; i < nodes; ++i) {
        open(i, cfg);
    }
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    auto first = append_and_wait(l, topics(next_topic, 2));
    ASSERT_TRUE(first);
    const int f = (l + 1) % nodes;
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *first + 1); }));

    hub.cut(voters[size_t(f)].id);
    result<offset> last = errc::timed_out;
    for (int i = 0; i < 20; ++i) {
        last = append_and_wait(l, topics(next_topic, 3));
        ASSERT_TRUE(last) << last.error().message();
    }
    // Both nodes that could lead when it comes back compact their logs past it.
    auto& leader = *members[size_t(l)].log;
    const int other = 3 - l - f;
    ASSERT_TRUE(wait([&] { return all_applied({other}, leader.committed()); }));
    for (int i : {l, other}) {
        auto& log = *members[size_t(i)].log;
        ASSERT_TRUE(log.snapshot(members[size_t(i)].sm->image));
        ASSERT_TRUE(log.latest_snapshot());
        EXPECT_EQ(log.latest_snapshot()->at, log.committed());
        ASSERT_GT(log.log_start(), members[size_t(f)].log->end()) << "the log start moved past the follower";
    }

    // Appends sent before the compaction and still on their way would bring it up to date
    // without a snapshot (a delayed message, as a real network may deliver): heal once the
    // leader has started sending it the snapshot, so they were all dropped.
    ASSERT_TRUE(wait([&] { return hub.dropped_to<raft::snapshot_request>(voters[size_t(f)].id) > 0; }));
    hub.heal(voters[size_t(f)].id);
    ASSERT_TRUE(wait([&] { return all_applied({f}, leader.committed()); }));
    const auto& fsm = *members[size_t(f)].sm;
    EXPECT_EQ(fsm.restores, 1) << "restored from the snapshot";
    EXPECT_EQ(members[size_t(f)].log->stats().snapshots_installed, 1u);
    EXPECT_EQ(members[size_t(f)].log->stats().snapshots_taken, 0u);
    EXPECT_EQ(fsm.image, members[size_t(l)].sm->image);
    EXPECT_EQ(members[size_t(f)].log->log_start(), leader.latest_snapshot()->at);

    // And it goes on from there.
    auto after = append_and_wait(l, topics(next_topic, 1));
    ASSERT_TRUE(after);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *after + 1); }));
    EXPECT_EQ(members[size_t(f)].sm->image, members[size_t(l)].sm->image);
    EXPECT_EQ(members[size_t(f)].sm->applied.back(), members[size_t(l)].sm->applied.back());
}

TEST_F(raft_log_test, a_restart_of_all_three_keeps_every_committed_record) {
    open_all();
    int l = wait_for_active();
    ASSERT_GE(l, 0);
    result<offset> last = errc::timed_out;
    for (int i = 0; i < 4; ++i) {
        last = append_and_wait(l, topics(next_topic, 2));
        ASSERT_TRUE(last) << last.error().message();
    }
    // One snapshot on one node, so restarts start from a snapshot and from a whole log.
    ASSERT_TRUE(members[size_t(l)].log->snapshot(members[size_t(l)].sm->image));
    const auto image = members[size_t(l)].sm->image;
    const auto sequence = members[size_t(l)].sm->applied;
    for (int i = 0; i < nodes; ++i) {
        close(i);
    }
    open_all();
    l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *last + 1); }));
    for (int i = 0; i < nodes; ++i) {
        EXPECT_EQ(members[size_t(i)].sm->image, image) << "node " << i;
        EXPECT_EQ(members[size_t(i)].sm->applied_twice, 0);
        if (members[size_t(i)].sm->restores == 0) {
            EXPECT_EQ(members[size_t(i)].sm->applied, sequence) << "node " << i << " replayed its whole log";
        }
    }
    auto more = append_and_wait(l, topics(next_topic, 1));
    ASSERT_TRUE(more) << more.error().message();
    EXPECT_GT(*more, *last);
}

TEST_F(raft_log_test, a_snapshot_after_control_entries_stands_for_them_too) {
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    auto& leader = *members[size_t(l)].log;
    // Only the leader's first entry (its voter set, no record) is applied: the image's next
    // offset trails committed().
    ASSERT_EQ(members[size_t(l)].sm->image.next_offset(), offset(0));
    ASSERT_GT(leader.committed(), offset(0));
    ASSERT_TRUE(leader.snapshot(members[size_t(l)].sm->image));
    ASSERT_TRUE(leader.latest_snapshot());
    EXPECT_EQ(leader.latest_snapshot()->at, leader.committed());
    EXPECT_EQ(leader.log_start(), leader.committed());
    metadata_image ahead;
    ASSERT_TRUE(ahead.apply(leader.committed(), topic_record{"x", uuid_of(9999), {}}));
    EXPECT_FALSE(leader.snapshot(ahead)) << "an image ahead of the log is refused";

    auto at = append_and_wait(l, topics(next_topic, 1));
    ASSERT_TRUE(at) << at.error().message();
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *at + 1); }));
}

TEST_F(raft_log_test, controllers_on_the_logs_decide_only_on_the_active_one) {
    for (int i = 0; i < nodes; ++i) {
        controller_config cfg;
        cfg.cluster_id = "raft-cluster";
        cfg.id = voters[size_t(i)].id;
        cfg.seed = 7;
        controllers[size_t(i)] = std::make_unique<controller>(cfg, clk);
        open(i, {}, 100ms, controllers[size_t(i)].get());
        controllers[size_t(i)]->set_log(*members[size_t(i)].log);
    }
    auto register_on = [&](int i, int32_t broker) {
        controller::register_request req;
        req.cluster_id = "raft-cluster";
        req.broker_id = broker;
        req.incarnation_id = uuid_of(broker);
        auto& l = req.listeners.emplace_back();
        l.name = "PLAINTEXT";
        l.host = "127.0.0.1";
        l.port = uint16_t(9000 + broker);
        std::optional<controller::register_response> out;
        controllers[size_t(i)]->register_broker(req, [&](controller::register_response r) { out = std::move(r); });
        wait([&] { return out.has_value(); });
        return out.value_or(controller::register_response{});
    };
    const int16_t not_controller = int16_t(protocol::error_code::not_controller);

    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(controllers[size_t(l)]->active()) << "the controller follows its log's leadership";
    auto first = register_on(l, 1);
    ASSERT_EQ(first.error_code, 0) << first.error_message.value_or("");
    const int f = (l + 1) % nodes;
    EXPECT_FALSE(controllers[size_t(f)]->active());
    EXPECT_EQ(register_on(f, 2).error_code, not_controller);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, members[size_t(l)].log->committed()); }));
    for (const auto& c : controllers) {
        ASSERT_TRUE(c->image().broker(1));
        EXPECT_EQ(c->image().broker(1)->epoch, first.broker_epoch);
    }

    // Cut off, the active controller's decision in flight is answered NOT_CONTROLLER once its
    // log steps down; the others go on.
    hub.cut(voters[size_t(l)].id);
    EXPECT_EQ(register_on(l, 3).error_code, not_controller);
    EXPECT_FALSE(controllers[size_t(l)]->active());
    const int now = wait_for_active({f, 3 - l - f});
    ASSERT_GE(now, 0);
    ASSERT_TRUE(wait([&] { return controllers[size_t(now)]->active(); }));
    auto fourth = register_on(now, 4);
    ASSERT_EQ(fourth.error_code, 0) << fourth.error_message.value_or("");

    hub.heal(voters[size_t(l)].id);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, members[size_t(now)].log->committed()); }));
    for (const auto& c : controllers) {
        EXPECT_EQ(c->image(), controllers[size_t(now)]->image());
        EXPECT_FALSE(c->image().broker(3)) << "the cut-off leader's decision was not committed";
        EXPECT_TRUE(c->image().broker(4));
    }
}

TEST_F(raft_log_test, a_sole_voter_leads_at_once_and_keeps_its_records_across_a_restart) {
    initial_voters = raft::voter_set{voters[0]};
    // An election timeout far beyond the wait: only an election at start makes it leader.
    open(0, {}, 60s);
    ASSERT_TRUE(wait([&] { return members[0].log->leader().is_leader; }, 20s)) << "the sole voter does not lead";
    auto a = append_and_wait(0, topics(next_topic, 3));
    ASSERT_TRUE(a) << a.error().message();
    auto b = append_and_wait(0, topics(next_topic, 2));
    ASSERT_TRUE(b) << b.error().message();
    const auto before = members[0].sm->applied;
    ASSERT_EQ(before.size(), 5u);
    close(0);

    open(0, {}, 60s);
    ASSERT_TRUE(wait([&] { return members[0].log->leader().is_leader && members[0].log->committed() > *b; }, 20s))
        << "the restarted sole voter does not lead, or does not replay its log";
    EXPECT_EQ(members[0].sm->applied, before);
    EXPECT_EQ(members[0].log->voters().size(), 1u);
}

TEST_F(raft_log_test, a_sole_voter_grows_to_three_and_the_three_outlive_it) {
    using protocol::error_code;
    // All three are started with the first one alone as controller.quorum.voters: nodes 2
    // and 3 follow without a vote until they are added.
    initial_voters = raft::voter_set{voters[0]};
    open_all();
    ASSERT_EQ(wait_for_active(), 0);
    ASSERT_TRUE(append_and_wait(0, topics(next_topic, 4)));
    auto add = [&](int who) {
        std::optional<std::pair<error_code, std::string>> got;
        members[0].log->change_voters({true, voters[size_t(who)], 5s},
                                      [&](error_code e, std::string m) { got.emplace(e, std::move(m)); });
        EXPECT_TRUE(wait([&] { return got.has_value(); }));
        return got.value_or(std::pair{error_code::unknown_server_error, std::string("no answer")});
    };
    auto r = add(1);
    ASSERT_EQ(r.first, error_code::none) << r.second;
    ASSERT_TRUE(append_and_wait(0, topics(next_topic, 2)));  // two voters: both must take it
    r = add(2);
    ASSERT_EQ(r.first, error_code::none) << r.second;
    ASSERT_EQ(members[0].log->voters().size(), 3u);
    auto last = append_and_wait(0, topics(next_topic, 3));
    ASSERT_TRUE(last);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *last + 1); }));
    const auto all = members[0].sm->applied;

    // The first one goes: the two it added elect a leader of their own and go on.
    close(0);
    const int next = wait_for_active({1, 2});
    ASSERT_GE(next, 1) << "the two added voters elect nobody";
    auto more = append_and_wait(next, topics(next_topic, 2));
    ASSERT_TRUE(more) << more.error().message();

    // Restarted with its first configuration (itself alone), it follows the voter set in its
    // log, never elects itself alone, and catches up.
    open(0);
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, *more + 1); }));
    EXPECT_EQ(members[0].sm->applied, members[size_t(next)].sm->applied);
    EXPECT_EQ(std::vector(members[0].sm->applied.begin(), members[0].sm->applied.begin() + long(all.size())), all);
    EXPECT_EQ(members[0].log->voters().size(), 3u);
    EXPECT_EQ(active(), next) << "one active controller, the one the two elected";
}

TEST_F(raft_log_test, bad_options_are_refused) {
    fakes::temp_dir dir("trib-raftlog");
    recording_sm sm;
    raft_log_options o;
    o.self = voters[0];
    o.voters = voters;
    o.ctx = &ctx;
    EXPECT_THROW(raft_log::open(dir.path(), std::move(o), sm), std::invalid_argument) << "no transport";
    raft_log_options p;
    p.self = voters[0];
    p.voters = voters;
    p.ctx = &ctx;
    p.transport = hub.connect(voters[0].id);
    p.tick = 100ms;
    p.election_timeout = 100ms;
    EXPECT_THROW(raft_log::open(dir.path(), std::move(p), sm), std::invalid_argument) << "one tick elections";

    // A damaged vote file stops start-up (a forgotten vote could elect two leaders), and what
    // open() had started (the syncer thread, the store) is stopped again.
    {
        std::ofstream bad(dir.path() / raft::quorum_state_file, std::ios::binary);
        bad << "not a vote";
    }
    raft_log_options q;
    q.self = voters[0];
    q.voters = voters;
    q.ctx = &ctx;
    q.transport = hub.connect(voters[0].id);
    EXPECT_THROW(raft_log::open(dir.path(), std::move(q), sm), std::runtime_error);
}

TEST_F(raft_log_test, a_coordinator_joins_the_voters_and_another_leaves) {
    using protocol::error_code;
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(append_and_wait(l, topics(next_topic, 5)));

    // Node 4 starts outside the voter set it is given: it follows once added, never campaigns.
    raft::voter four{node_id(4), "127.0.0.1", 19099};
    four.directory_id.b[0] = 4;  // as AddRaftVoter names it (KIP-853)
    fakes::temp_dir dir("trib-raftlog");
    recording_sm sm;
    raft_log_options o;
    o.self = four;
    o.voters = voters;
    o.ctx = &ctx;
    o.transport = hub.connect(four.id);
    o.tick = 10ms;
    o.election_timeout = 100ms;
    o.seed = 2000;
    auto joiner = raft_log::open(dir.path(), std::move(o), sm);
    EXPECT_EQ(joiner->stats().role, log_role::observer) << "not in the voter set it was given";
    EXPECT_FALSE(joiner->stats().is_voter);

    using outcome = std::optional<std::pair<error_code, std::string>>;
    auto change = [&](int on, voter_change c) {
        outcome got;
        members[size_t(on)].log->change_voters(c, [&](error_code e, std::string m) { got.emplace(e, std::move(m)); });
        EXPECT_TRUE(wait([&] { return got.has_value(); }));
        return got.value_or(std::pair{error_code::unknown_server_error, std::string("no answer")});
    };
    const int f = (l + 1) % nodes;  // a follower
    auto r = change(f, {true, four, 5s});
    EXPECT_EQ(r.first, error_code::not_controller) << "a follower decides no voter change";

    r = change(l, {true, four, 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    EXPECT_EQ(members[size_t(l)].log->voters().size(), 4u);
    // It caught up before it joined: it holds everything committed (the new set included).
    ASSERT_TRUE(wait([&] { return joiner->committed() >= members[size_t(l)].log->committed(); }));
    EXPECT_EQ(sm.applied, members[size_t(l)].sm->applied);
    EXPECT_EQ(change(l, {true, four, 5s}).first, error_code::duplicate_voter);
    // Stored with its directory id; known by id and directory: another directory's node 4 is
    // added only after this one is removed, and removing it removes no voter.
    auto other_disk = four;
    other_disk.directory_id.b[0] = 5;
    EXPECT_EQ(change(l, {true, other_disk, 5s}).first, error_code::duplicate_voter);
    EXPECT_EQ(change(l, {false, other_disk, 5s}).first, error_code::voter_not_found);
    auto vs = members[size_t(l)].log->voters();
    EXPECT_TRUE(std::any_of(vs.begin(), vs.end(), [&](const voter_view& v) { return v.endpoint == four; }));
    ASSERT_TRUE(wait([&] { return joiner->stats().is_voter; })) << "it learns it joined from the new set";
    EXPECT_EQ(joiner->stats().role, log_role::follower);
    EXPECT_EQ(joiner->stats().voters, 4u);

    r = change(l, {false, voters[size_t(f)], 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    EXPECT_EQ(change(l, {false, voters[size_t(f)], 5s}).first, error_code::voter_not_found);
    auto now = members[size_t(l)].log->voters();
    ASSERT_EQ(now.size(), 3u);
    EXPECT_TRUE(std::none_of(now.begin(), now.end(), [&](const voter_view& v) { return v.endpoint.id == voters[size_t(f)].id; }));
    close(f);

    // Node 4's vote counts: with the old leader cut off, it and the third node elect a leader.
    const int third = 3 - l - f;
    hub.cut(voters[size_t(l)].id);
    ASSERT_TRUE(wait([&] { return members[size_t(third)].log->leader().is_leader || joiner->leader().is_leader; }))
        << "no leader without the old one";
    replicated_log& lead = members[size_t(third)].log->leader().is_leader ? *members[size_t(third)].log : *joiner;
    std::optional<result<offset>> got;
    lead.append(topics(next_topic, 2), [&](result<offset> a) { got = a; });
    ASSERT_TRUE(wait([&] { return got.has_value(); }));
    ASSERT_TRUE(*got) << got->error().message();
    ASSERT_TRUE(wait([&] {
        return joiner->committed() > **got && members[size_t(third)].log->committed() > **got;
    }));
    EXPECT_EQ(sm.applied, members[size_t(third)].sm->applied);
    joiner->close();
}

TEST_F(raft_log_test, a_leader_that_removes_itself_answers_then_steps_down) {
    using protocol::error_code;
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(append_and_wait(l, topics(next_topic, 3)));
    std::optional<std::pair<error_code, std::string>> got;
    members[size_t(l)].log->change_voters({false, voters[size_t(l)], 5s},
                                          [&](error_code e, std::string m) { got.emplace(e, std::move(m)); });
    ASSERT_TRUE(wait([&] { return got.has_value(); }));
    EXPECT_EQ(got->first, error_code::none) << got->second;
    // The other two go on without it.
    const std::set<int> rest = {(l + 1) % nodes, (l + 2) % nodes};
    const int next = wait_for_active(rest);
    ASSERT_GE(next, 0);
    EXPECT_EQ(members[size_t(next)].log->voters().size(), 2u);
    EXPECT_FALSE(members[size_t(l)].log->leader().is_leader);
}

TEST_F(raft_log_test, coordinators_outside_the_voters_are_observers_until_seated) {
    using protocol::error_code;
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(append_and_wait(l, topics(next_topic, 3)));
    const int f = (l + 1) % nodes;
    replicated_log& leader = *members[size_t(l)].log;

    // A coordinator started outside the voters, with directory `dir`, given `known` as voters.
    struct outsider {
        std::unique_ptr<fakes::temp_dir> dir = std::make_unique<fakes::temp_dir>("trib-raftlog");
        recording_sm sm;
        std::unique_ptr<raft_log> log;
    };
    auto start = [&](outsider& o, raft::voter self, raft::voter_set known) {
        raft_log_options opts;
        opts.self = self;
        opts.voters = std::move(known);
        opts.ctx = &ctx;
        opts.transport = hub.connect(self.id);
        opts.tick = 10ms;
        opts.election_timeout = 100ms;
        opts.seed = 3000 + uint64_t(self.id.value());
        opts.observer_report_interval = 50ms;
        o.log = raft_log::open(o.dir->path(), std::move(opts), o.sm);
    };
    auto observer = [](const replicated_log& log, node_id id) -> std::optional<observer_view> {
        for (const auto& o : log.observers()) {
            if (o.endpoint.id == id) {
                return o;
            }
        }
        return std::nullopt;
    };
    auto change = [&](voter_change c) {
        std::optional<std::pair<error_code, std::string>> got;
        leader.change_voters(c, [&](error_code e, std::string m) { got.emplace(e, std::move(m)); });
        EXPECT_TRUE(wait([&] { return got.has_value(); }));
        return got.value_or(std::pair{error_code::unknown_server_error, std::string("no answer")});
    };

    // 4 knows every voter; 5 knows only a follower (an out-of-date configuration): the
    // follower relays what 5 reports to the leader.
    raft::voter four{node_id(4), "127.0.0.1", 19099};
    four.directory_id.b[0] = 4;
    raft::voter five{node_id(5), "127.0.0.1", 19100};
    five.directory_id.b[0] = 5;
    outsider o4, o5;
    start(o4, four, voters);
    start(o5, five, {voters[size_t(f)]});
    ASSERT_TRUE(wait([&] { return observer(leader, four.id) && observer(leader, five.id); }))
        << "the leader lists both outsiders";
    auto seen = *observer(leader, four.id);
    EXPECT_EQ(seen.endpoint, four) << "id, address and directory id as reported";
    EXPECT_EQ(seen.log_end_offset, 0) << "nothing replicated to it yet";
    EXPECT_GT(seen.last_fetch_ms, 0);
    EXPECT_EQ(seen.last_caught_up_ms, -1);
    EXPECT_EQ(observer(leader, five.id)->endpoint, five);
    EXPECT_TRUE(observer(*members[size_t(f)].log, four.id)) << "every voter keeps them: a new leader has them";
    EXPECT_TRUE(o4.log->observers().empty()) << "an observer hears no reports";

    // Added: a voter, no observer, at once.
    auto r = change({true, four, 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    EXPECT_FALSE(observer(leader, four.id));
    EXPECT_TRUE(observer(leader, five.id));

    // Wiped and restarted under a new directory: listed with it while its seat names the old.
    o4.log->close();
    o4 = outsider{};
    auto wiped = four;
    wiped.directory_id.b[0] = 6;
    start(o4, wiped, voters);
    ASSERT_TRUE(wait([&] {
        auto o = observer(leader, four.id);
        return o && o->endpoint.directory_id == wiped.directory_id;
    })) << "the wiped voter shows up as an observer with its new directory id";
    auto vs = leader.voters();
    EXPECT_TRUE(std::any_of(vs.begin(), vs.end(), [&](const voter_view& v) { return v.endpoint == four; }))
        << "the voter set keeps the old directory id";
    // It catches up as an observer does (it follows, seat lost): caught up at some point.
    ASSERT_TRUE(wait([&] {
        auto o = observer(leader, four.id);
        return o && o->last_caught_up_ms > 0 && o->log_end_offset >= int64_t(leader.committed().value());
    }));

    // The operator's repair: remove (id, old directory), add (id, new directory).
    r = change({false, four, 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    EXPECT_TRUE(observer(leader, four.id));
    r = change({true, wiped, 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    EXPECT_FALSE(observer(leader, four.id));
    ASSERT_TRUE(wait([&] { return o4.log->stats().is_voter; }));

    // Removed and still running: an observer again once it learns it.
    r = change({false, wiped, 5s});
    ASSERT_EQ(r.first, error_code::none) << r.second;
    ASSERT_TRUE(wait([&] { return observer(leader, four.id).has_value(); }))
        << "a removed coordinator that keeps running is listed again";
    EXPECT_TRUE(observer(leader, five.id));
    o4.log->close();
    o5.log->close();
}

TEST_F(raft_log_test, stats_show_one_leader_all_agree_on_and_count_what_happened) {
    open_all();
    const int l = wait_for_active();
    ASSERT_GE(l, 0);
    auto& leader = *members[size_t(l)].log;
    // The followers know the leader once its first entry reached them.
    ASSERT_TRUE(wait([&] { return all_applied({0, 1, 2}, leader.stats().commit_end); }));
    const auto lead = leader.stats();
    EXPECT_EQ(lead.role, log_role::leader);
    EXPECT_EQ(lead.leader, voters[size_t(l)].id);
    EXPECT_GT(lead.term, term_id(0));
    EXPECT_GE(lead.elections, 1u) << "the leader campaigned";
    EXPECT_GE(lead.pre_votes, 1u) << "after a pre-vote that asked the others";
    int leaders = 0;
    uint64_t elections = 0;
    for (int i = 0; i < nodes; ++i) {
        const auto s = members[size_t(i)].log->stats();
        leaders += s.role == log_role::leader;
        elections += s.elections;
        EXPECT_EQ(s.term, lead.term) << "node " << i;
        EXPECT_EQ(s.leader, lead.leader) << "node " << i;
        EXPECT_TRUE(s.is_voter);
        EXPECT_EQ(s.voters, 3u);
        EXPECT_GE(s.leader_changes, 1u) << "node " << i << " saw the leader come";
        EXPECT_LE(s.log_start, s.applied_end);
        EXPECT_LE(s.applied_end, s.commit_end);
        EXPECT_LE(s.commit_end, s.log_end);
        EXPECT_GT(s.fsync_rounds, 0u) << "node " << i << " wrote the leader's first entry";
        EXPECT_EQ(s.dropped_messages, 0u);
        EXPECT_FALSE(s.transport) << "the in-memory transport counts nothing";
        EXPECT_EQ(s.snapshots_taken, 0u);
    }
    EXPECT_EQ(leaders, 1);
    // Every term since 0 was started by somebody's campaign.
    EXPECT_GE(elections, uint64_t(lead.term.value()));

    auto last = append_and_wait(l, topics(next_topic, 4));
    ASSERT_TRUE(last);
    ASSERT_TRUE(leader.snapshot(members[size_t(l)].sm->image));
    EXPECT_EQ(leader.stats().snapshots_taken, 1u);
    EXPECT_EQ(leader.stats().snapshots_installed, 0u) << "its own, not a leader's";
    EXPECT_GT(leader.stats().log_start, offset(0));

    // A new leader: the others count the change, in the term the election took.
    const uint64_t changes_before = members[size_t((l + 1) % nodes)].log->stats().leader_changes;
    hub.cut(voters[size_t(l)].id);
    const std::set<int> rest = {(l + 1) % nodes, (l + 2) % nodes};
    const int next = wait_for_active(rest);
    ASSERT_GE(next, 0);
    const auto now = members[size_t(next)].log->stats();
    EXPECT_GT(now.term, lead.term);
    EXPECT_GE(now.elections, 1u);
    EXPECT_GT(members[size_t((l + 1) % nodes)].log->stats().leader_changes, changes_before);
}

} // namespace
} // namespace trib::coordinator
