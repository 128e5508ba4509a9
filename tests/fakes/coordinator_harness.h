#pragma once

// A controller on a single-voter log in a temporary directory, with a fake clock, and
// synchronous helpers for its callback API (the single-voter log commits inline).
#include "coordinator/controller.h"
#include "coordinator/single_voter_log.h"
#include "tests/fakes/coordinator_fake_clock.h"
#include "tests/fakes/temp_dir.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace trib::coordinator::testing {

inline protocol::uuid make_uuid(uint8_t a, uint8_t b = 0) {
    protocol::uuid u;
    u.b[0] = a;
    u.b[1] = b;
    u.b[15] = 1;
    return u;
}

class harness {
public:
    explicit harness(controller_config cfg = {}) : _cfg(std::move(cfg)) {
        if (_cfg.cluster_id.empty()) {
            _cfg.cluster_id = "test-cluster";
        }
        if (_cfg.seed == 0) {
            _cfg.seed = 42;
        }
        open();
    }

    void open() {
        ctrl = std::make_unique<controller>(_cfg, clk);
        storage::log_config lc;
        lc.segment_bytes = 4096;  // several segments, so snapshots can drop some
        log = single_voter_log::open(dir.path() / "__cluster_metadata-0", lc, *ctrl);
        ctrl->set_log(*log);
    }
    void close() {
        log->close();
        log.reset();
        ctrl.reset();
    }
    void reopen() {
        close();
        open();
    }

    controller::register_response register_broker(int32_t id, protocol::uuid incarnation,
                                                  std::optional<std::string> rack = std::nullopt) {
        controller::register_request req;
        req.cluster_id = _cfg.cluster_id;
        req.broker_id = id;
        req.incarnation_id = incarnation;
        auto& l = req.listeners.emplace_back();
        l.name = "PLAINTEXT";
        l.host = "127.0.0.1";
        l.port = uint16_t(9000 + id);
        req.rack = rack;
        std::optional<controller::register_response> out;
        ctrl->register_broker(req, [&](controller::register_response r) { out = std::move(r); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(controller::register_response{});
    }

    controller::heartbeat_response heartbeat(int32_t id, protocol::uuid incarnation, int64_t epoch,
                                             int64_t applied = INT64_MAX) {
        controller::heartbeat_request req;
        req.broker_id = id;
        req.incarnation_id = incarnation;
        req.broker_epoch = epoch;
        req.applied_offset = applied;
        std::optional<controller::heartbeat_response> out;
        ctrl->heartbeat(req, [&](controller::heartbeat_response r) { out = std::move(r); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(controller::heartbeat_response{});
    }

    // Registers broker `id` (incarnation id) and unfences it with a heartbeat.
    int64_t add_live_broker(int32_t id, std::optional<std::string> rack = std::nullopt) {
        auto r = register_broker(id, make_uuid(uint8_t(id)), rack);
        EXPECT_EQ(r.error_code, 0) << r.error_message.value_or("");
        auto h = heartbeat(id, make_uuid(uint8_t(id)), r.broker_epoch);
        EXPECT_EQ(h.error_code, 0);
        EXPECT_FALSE(h.is_fenced);
        return r.broker_epoch;
    }

    template<typename Req, typename Resp>
    Resp admin(const Req& req, int16_t version, offset* commit = nullptr) {
        protocol::writer w;
        req.encode(w, version);
        std::optional<admin_reply> out;
        ctrl->admin(Req::api_key, version, w.buffer(), [&](admin_reply r) { out = std::move(r); });
        EXPECT_TRUE(out.has_value());
        EXPECT_EQ(out->error, protocol::error_code::none) << out->message;
        Resp resp;
        protocol::reader r(out->body);
        resp.decode(r, version);
        EXPECT_TRUE(r.ok());
        if (commit) {
            *commit = out->commit;
        }
        return resp;
    }

    protocol::create_topics_response::creatable_topic_result create_topic(const std::string& name, int32_t partitions,
                                                                          int16_t rf) {
        protocol::create_topics_request req;
        auto& t = req.topics.emplace_back();
        t.name = name;
        t.num_partitions = partitions;
        t.replication_factor = rf;
        auto resp = admin<protocol::create_topics_request, protocol::create_topics_response>(req, 7);
        EXPECT_EQ(resp.topics.size(), 1u);
        return resp.topics.empty() ? protocol::create_topics_response::creatable_topic_result{} : resp.topics[0];
    }

    const metadata_image& image() const { return ctrl->image(); }

    fakes::temp_dir dir{"trib-coordinator"};
    fake_clock clk;
    std::unique_ptr<controller> ctrl;
    std::unique_ptr<single_voter_log> log;

private:
    controller_config _cfg;
};

} // namespace trib::coordinator::testing
