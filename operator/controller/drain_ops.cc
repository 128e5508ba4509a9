#include "operator/controller/drain_ops.h"

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/messages/drain_brokers.h"
#include "protocol/messages/unregister_broker.h"

#include <fmt/format.h>

#include <algorithm>

namespace trib::op::controller {

namespace {

enum class drain_mode : int8_t { drain = 0, undrain = 1, describe = 2 };

std::vector<config::host_port> addresses(const std::string& bootstrap, std::string& why) {
    std::vector<config::host_port> out;
    size_t start = 0;
    while (start <= bootstrap.size()) {
        const size_t comma = std::min(bootstrap.find(',', start), bootstrap.size());
        const std::string one = bootstrap.substr(start, comma - start);
        if (!one.empty()) {
            try {
                out.push_back(config::parse_host_port(one));
            } catch (const std::exception& e) {
                why += (why.empty() ? "" : "; ") + one + ": " + e.what();
            }
        }
        start = comma + 1;
    }
    return out;
}

// An answer's error code: refusals are the controller's decision; anything else (no active
// controller, a timeout on the way) is worth asking again.
drain_answer from_error(int16_t code, const std::optional<std::string>& message) {
    const auto e = protocol::error_code(code);
    drain_answer a;
    a.outcome = e == protocol::error_code::invalid_request           ? drain_outcome::refused
                : e == protocol::error_code::broker_id_not_registered ? drain_outcome::not_registered
                                                                      : drain_outcome::unavailable;
    a.message = fmt::format("{}: {}", protocol::error_code_name(e), message.value_or(""));
    return a;
}

class kafka_drain_ops final : public drain_ops {
public:
    explicit kafka_drain_ops(kafka::session_options o) : _session(std::move(o)) {}

    drain_answer describe(const std::string& bootstrap) override {
        return drain_brokers(bootstrap, {}, drain_mode::describe);
    }
    drain_answer drain(const std::string& bootstrap, const std::vector<int32_t>& ids) override {
        return drain_brokers(bootstrap, ids, drain_mode::drain);
    }
    drain_answer undrain(const std::string& bootstrap, int32_t id) override {
        return drain_brokers(bootstrap, {id}, drain_mode::undrain);
    }

    drain_answer unregister(const std::string& bootstrap, int32_t id) override {
        protocol::unregister_broker_request req;
        req.broker_id = id;
        return ask<protocol::unregister_broker_response>(bootstrap, req, [](const auto& resp) {
            if (resp.error_code != 0) {
                return from_error(resp.error_code, resp.error_message);
            }
            return drain_answer{drain_outcome::ok, "", {}};
        });
    }

private:
    drain_answer drain_brokers(const std::string& bootstrap, std::vector<int32_t> ids, drain_mode mode) {
        protocol::drain_brokers_request req;
        req.broker_ids = std::move(ids);
        req.mode = int8_t(mode);
        return ask<protocol::drain_brokers_response>(bootstrap, req, [](const auto& resp) {
            if (resp.error_code != 0) {
                return from_error(resp.error_code, resp.error_message);
            }
            drain_answer a{drain_outcome::ok, "", {}};
            for (const auto& s : resp.brokers) {
                a.brokers.push_back({s.broker_id, s.drained, s.replicas, s.leaders, s.moves_in_flight, s.stuck});
            }
            return a;
        });
    }

    // Sends `req` to the first address that answers; `read` turns the answer into ours. No
    // connection is kept between calls: pod addresses change as pods come and go, and a pass
    // makes a few calls at most.
    template<typename Resp, typename Req, typename Read>
    drain_answer ask(const std::string& bootstrap, const Req& req, Read read) {
        std::string why;
        for (const auto& to : addresses(bootstrap, why)) {
            std::string failure;
            auto resp = _session.call<Resp>(to, req, 0, failure);
            if (resp) {
                _session.close_all();
                return read(*resp);
            }
            why += (why.empty() ? "" : "; ") + failure;
        }
        _session.close_all();
        TLOG_DEBUG("drain: no broker answered at '{}': {}", bootstrap, why);
        return {drain_outcome::unavailable, why.empty() ? "no broker address to ask" : why, {}};
    }

    kafka::admin_session _session;
};

} // namespace

std::unique_ptr<drain_ops> make_kafka_drain_ops(kafka::session_options options) {
    return std::make_unique<kafka_drain_ops>(std::move(options));
}

} // namespace trib::op::controller
