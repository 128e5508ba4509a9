// The controller on a log whose commits and leadership the test drives (tests/fakes/
// coordinator_fake_log.h): decisions pipeline against the pending image, answers wait for
// the commit of what they rest on, a lost leadership fails what is in flight and leaves the
// committed image in charge, and a coordinator that does not lead decides nothing.
#include "coordinator/controller.h"
#include "tests/fakes/coordinator_fake_clock.h"
#include "tests/fakes/coordinator_fake_log.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace trib::coordinator::testing {
namespace {

using protocol::error_code;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

protocol::uuid incarnation(uint8_t id) {
    protocol::uuid u;
    u.b[0] = id;
    u.b[15] = 1;
    return u;
}

// An answer that may come later.
template<typename T>
using later = std::shared_ptr<std::optional<T>>;

template<typename T>
std::function<void(T)> into(const later<T>& out) {
    return [out](T v) { *out = std::move(v); };
}

struct pipeline {
    explicit pipeline(leadership l = {true, term_id(1), std::nullopt}) : ctrl(config(), clk), log(ctrl, std::move(l)) {
        ctrl.set_log(log);
    }
    static controller_config config() {
        controller_config c;
        c.cluster_id = "pipeline";
        c.seed = 5;
        c.session_timeout_ms = 9000;
        return c;
    }

    later<controller::register_response> register_broker(int32_t id) {
        controller::register_request req;
        req.cluster_id = "pipeline";
        req.broker_id = id;
        req.incarnation_id = incarnation(uint8_t(id));
        auto& l = req.listeners.emplace_back();
        l.name = "PLAINTEXT";
        l.host = "127.0.0.1";
        l.port = uint16_t(9000 + id);
        auto out = std::make_shared<std::optional<controller::register_response>>();
        ctrl.register_broker(req, into(out));
        return out;
    }
    later<controller::heartbeat_response> heartbeat(int32_t id, int64_t epoch) {
        controller::heartbeat_request req;
        req.broker_id = id;
        req.incarnation_id = incarnation(uint8_t(id));
        req.broker_epoch = epoch;
        req.applied_offset = INT64_MAX;
        auto out = std::make_shared<std::optional<controller::heartbeat_response>>();
        ctrl.heartbeat(req, into(out));
        return out;
    }
    // Registers and unfences broker `id` with every append committed at once.
    void add_live_broker(int32_t id) {
        const bool was = log.auto_commit;
        log.auto_commit = true;
        auto r = register_broker(id);
        ASSERT_TRUE(r->has_value());
        ASSERT_EQ((*r)->error_code, 0);
        auto h = heartbeat(id, (*r)->broker_epoch);
        ASSERT_TRUE(h->has_value());
        ASSERT_FALSE((*h)->is_fenced);
        log.auto_commit = was;
    }
    later<admin_reply> create_topic(const std::string& name) {
        protocol::create_topics_request req;
        auto& t = req.topics.emplace_back();
        t.name = name;
        t.num_partitions = 1;
        t.replication_factor = 1;
        protocol::writer w;
        req.encode(w, 7);
        auto out = std::make_shared<std::optional<admin_reply>>();
        ctrl.admin(protocol::create_topics_request::api_key, 7, w.buffer(), into(out));
        return out;
    }
    static int16_t topic_error(const admin_reply& r) {
        protocol::create_topics_response resp;
        protocol::reader rd(r.body);
        resp.decode(rd, 7);
        return rd.ok() && resp.topics.size() == 1 ? resp.topics[0].error_code : int16_t(-100);
    }

    fake_clock clk;
    controller ctrl;
    fake_log log;
};

TEST(pipeline, decisions_see_what_is_proposed_and_answer_once_it_is_committed) {
    pipeline p;
    p.add_live_broker(1);
    p.log.auto_commit = false;
    const offset before = p.ctrl.image().next_offset();

    auto a = p.create_topic("a");
    auto a_again = p.create_topic("a");  // decided against the pending image: "a" exists there
    auto b = p.create_topic("b");
    EXPECT_EQ(p.log.in_flight(), 2u) << "a and b: nothing waited for a commit to decide";
    EXPECT_EQ(p.ctrl.in_flight(), 2u) << "the refusal proposes nothing";
    EXPECT_FALSE(a->has_value());
    EXPECT_FALSE(a_again->has_value()) << "the refusal rests on an uncommitted creation: it waits for it";
    EXPECT_NE(p.ctrl.pending_image().topic("a"), nullptr);
    EXPECT_NE(p.ctrl.pending_image().topic("b"), nullptr);
    EXPECT_EQ(p.ctrl.image().topic("a"), nullptr) << "nothing committed yet";

    p.log.commit_next();
    ASSERT_TRUE(a->has_value());
    EXPECT_EQ((*a)->error, error_code::none);
    EXPECT_EQ(pipeline::topic_error(**a), 0);
    EXPECT_GT((*a)->commit, before);
    ASSERT_TRUE(a_again->has_value()) << "answered once what it saw is committed";
    EXPECT_EQ(pipeline::topic_error(**a_again), code(error_code::topic_already_exists));
    EXPECT_EQ((*a_again)->commit, (*a)->commit) << "a broker shows the topic before answering";
    EXPECT_FALSE(b->has_value());

    p.log.commit_next();
    ASSERT_TRUE(b->has_value());
    EXPECT_EQ(pipeline::topic_error(**b), 0);
    EXPECT_GT((*b)->commit, (*a)->commit);
    EXPECT_NE(p.ctrl.image().topic("a"), nullptr);
    EXPECT_NE(p.ctrl.image().topic("b"), nullptr);
    EXPECT_EQ(p.ctrl.in_flight(), 0u);
    EXPECT_TRUE(p.ctrl.pending_image() == p.ctrl.image());
}

TEST(pipeline, losing_the_leadership_fails_what_is_in_flight_and_the_committed_image_takes_over) {
    pipeline p;
    p.add_live_broker(1);
    p.log.auto_commit = false;
    auto a = p.create_topic("a");
    auto b = p.create_topic("b");
    ASSERT_EQ(p.ctrl.in_flight(), 2u);

    p.log.set_leadership({false, term_id(2), raft::voter{node_id(2), "127.0.0.1", 9999}});
    ASSERT_TRUE(a->has_value());
    ASSERT_TRUE(b->has_value());
    EXPECT_EQ((*a)->error, error_code::not_controller);
    EXPECT_EQ((*b)->error, error_code::not_controller);
    EXPECT_EQ(p.ctrl.in_flight(), 0u);
    EXPECT_FALSE(p.ctrl.active());
    auto c = p.create_topic("c");
    ASSERT_TRUE(c->has_value()) << "a coordinator that does not lead answers at once";
    EXPECT_EQ((*c)->error, error_code::not_controller);
    EXPECT_NE((*c)->message.find("2"), std::string::npos) << "names the active controller: " << (*c)->message;

    // Leading again: decisions start from the committed image, where "a" was never created.
    p.log.set_leadership({true, term_id(3), std::nullopt});
    p.log.auto_commit = true;
    EXPECT_EQ(p.ctrl.pending_image().topic("a") != nullptr, false);
    // The new term gave every registered broker a fresh lease.
    EXPECT_TRUE(p.ctrl.lease_alive(1));
    auto again = p.create_topic("a");
    ASSERT_TRUE(again->has_value());
    EXPECT_EQ(pipeline::topic_error(**again), 0) << "created for real this time";
    EXPECT_NE(p.ctrl.image().topic("a"), nullptr);
}

TEST(pipeline, a_coordinator_that_does_not_lead_decides_nothing) {
    pipeline p({false, term_id(4), raft::voter{node_id(3), "127.0.0.1", 9093}});
    auto r = p.register_broker(1);
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->error_code, code(error_code::not_controller));
    auto h = p.heartbeat(1, 0);
    ASSERT_TRUE(h->has_value());
    EXPECT_EQ((*h)->error_code, code(error_code::not_controller));
    controller::alter_partition_request ap;
    ap.broker_id = 1;
    std::optional<controller::alter_partition_response> ap_resp;
    p.ctrl.alter_partition(ap, 3, [&](controller::alter_partition_response x) { ap_resp = std::move(x); });
    ASSERT_TRUE(ap_resp.has_value());
    EXPECT_EQ(ap_resp->error_code, code(error_code::not_controller));
    auto t = p.create_topic("x");
    ASSERT_TRUE(t->has_value());
    EXPECT_EQ((*t)->error, error_code::not_controller);
    p.clk.advance(60'000);
    p.ctrl.tick();
    EXPECT_EQ(p.log.appends, 0u) << "nothing proposed, not even fencing";
}

TEST(pipeline, a_fence_in_flight_is_not_proposed_again) {
    pipeline p;
    p.add_live_broker(1);
    p.log.auto_commit = false;
    const size_t appends = p.log.appends;
    p.clk.advance(10'000);  // past the 9 s lease
    p.ctrl.tick();
    EXPECT_EQ(p.log.appends, appends + 1);
    p.ctrl.tick();
    p.ctrl.tick();
    EXPECT_EQ(p.log.appends, appends + 1) << "the pending image already has the broker fenced";
    EXPECT_FALSE(p.ctrl.image().broker(1)->fenced);
    p.log.commit_all();
    EXPECT_TRUE(p.ctrl.image().broker(1)->fenced);
}

TEST(pipeline, a_heartbeat_is_answered_with_what_was_decided_before_it_committed) {
    pipeline p;
    p.add_live_broker(1);
    const int64_t epoch = p.ctrl.image().broker(1)->epoch;
    p.log.auto_commit = false;
    auto t = p.create_topic("t");
    auto h = p.heartbeat(1, epoch);
    EXPECT_FALSE(h->has_value()) << "its metadata end must cover the creation decided before it";
    p.log.commit_all();
    ASSERT_TRUE(h->has_value());
    EXPECT_EQ((*h)->error_code, 0);
    EXPECT_FALSE((*h)->is_fenced);
    EXPECT_EQ((*h)->metadata_end, p.ctrl.image().next_offset().value());
    EXPECT_GE((*h)->metadata_end, (*t)->commit.value());
}

} // namespace
} // namespace trib::coordinator::testing
