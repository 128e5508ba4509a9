#include "coordinator/client/client.h"

#include "common/log.h"
#include "coordinator/client/errc.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include <random>

namespace trib::coordinator {

using protocol::error_code;

namespace {


protocol::uuid random_uuid() {
    std::random_device rd;
    std::mt19937_64 rng(uint64_t(rd()) << 32 | rd());
    protocol::uuid u;
    for (size_t i = 0; i < 16; i += 8) {
        uint64_t v = rng();
        std::memcpy(u.b.data() + i, &v, 8);
    }
    u.b[6] = uint8_t((u.b[6] & 0x0f) | 0x40);
    u.b[8] = uint8_t((u.b[8] & 0x3f) | 0x80);
    return u;
}

int64_t steady_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string client_name(const client_config& c) {
    return c.id.value() >= 0 ? "broker-" + std::to_string(c.id.value()) : "coordinator-client";
}

} // namespace

coordinator_client::coordinator_client(asio::any_io_executor ex, client_config cfg)
  : _ex(ex)
  , _cfg(std::move(cfg))
  , _control(ex, _cfg.coordinators, client_name(_cfg), _cfg.security)
  , _metadata(ex, _cfg.coordinators, client_name(_cfg), _cfg.security)
  , _admin(ex, _cfg.coordinators, client_name(_cfg), _cfg.security) {
    if (_cfg.incarnation.is_zero()) {
        _cfg.incarnation = random_uuid();
    }
}

void coordinator_client::start() {
    auto self = shared_from_this();
    if (_cfg.register_broker) {
        asio::co_spawn(_ex, [self]() { return self->registration_loop(); },
                       [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator registration loop"); });
    }
    asio::co_spawn(_ex, [self]() { return self->metadata_loop(); },
                   [](std::exception_ptr e) { log_failed_coroutine(e, "coordinator metadata loop"); });
}

void coordinator_client::stop() {
    auto self = shared_from_this();
    asio::post(_ex, [self] {
        self->_stopped = true;
        self->_control.close();
        self->_metadata.close();
        self->_admin.close();
        for (auto* t : self->_sleepers) {
            t->cancel();
        }
        for (auto* t : self->_waiters) {
            t->cancel();
        }
    });
}

asio::awaitable<void> coordinator_client::park(std::list<asio::steady_timer*>& list,
                                                asio::steady_timer::time_point deadline) {
    asio::steady_timer t(_ex, deadline);
    auto it = list.insert(list.end(), &t);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    list.erase(it);
}

asio::awaitable<void> coordinator_client::sleep(std::chrono::milliseconds d) {
    co_await park(_sleepers, asio::steady_timer::clock_type::now() + d);
}

asio::awaitable<bool> coordinator_client::wait_until(const std::function<bool()>& done,
                                                     std::chrono::milliseconds timeout) {
    auto deadline = asio::steady_timer::clock_type::now() + timeout;
    while (!done() && !_stopped && asio::steady_timer::clock_type::now() < deadline) {
        co_await park(_waiters, deadline);
    }
    co_return done();
}

asio::awaitable<void> coordinator_client::registration_loop() {
    int failed_while_shutting_down = 0;  // heartbeats in a row that got no answer
    auto self = shared_from_this();
    std::chrono::milliseconds interval = _cfg.retry_backoff;
    while (!_stopped) {
        if (_broker_epoch < 0) {
            protocol::coordinator_register_broker_request req;
            req.cluster_id = _cfg.cluster_id;
            req.broker_id = _cfg.id.value();
            req.incarnation_id = _cfg.incarnation;
            for (const auto& e : _cfg.listeners) {
                auto& l = req.listeners.emplace_back();
                l.name = e.listener;
                l.host = e.host;
                l.port = e.port;
            }
            req.rack = _cfg.rack;
            protocol::coordinator_register_broker_response resp;
            co_await lock_control();
            auto ec = co_await _control.call(req, resp, _cfg.request_timeout);
            unlock_control();
            if (ec) {
                TLOG_DEBUG("registering with the coordinator: {}", ec.message());
                co_await sleep(_cfg.retry_backoff);
                continue;
            }
            _registration_error = error_code(resp.error_code);
            if (resp.error_code != 0) {
                TLOG_ERROR("coordinator refused registration of broker {}: {} ({})", _cfg.id.value(),
                           protocol::error_code_name(_registration_error), resp.error_message.value_or(""));
                co_await sleep(std::chrono::milliseconds(std::max<int64_t>(resp.heartbeat_interval_ms, 1000)));
                continue;
            }
            _broker_epoch = resp.broker_epoch;
            _fenced = true;
            set_lease({});  // a new registration starts fenced
            interval = std::chrono::milliseconds(resp.heartbeat_interval_ms);
            TLOG_INFO("registered with the coordinator as broker {} (epoch {})", _cfg.id.value(), _broker_epoch);
        }
        protocol::coordinator_broker_heartbeat_request hb;
        hb.broker_id = _cfg.id.value();
        hb.incarnation_id = _cfg.incarnation;
        hb.broker_epoch = _broker_epoch;
        hb.applied_offset = _image.next_offset().value() - 1;
        hb.want_shut_down = _shutdown_requested;
        protocol::coordinator_broker_heartbeat_response resp;
        co_await lock_control();
        const int64_t sent_ms = steady_ms();
        auto ec = co_await _control.call(hb, resp, _cfg.request_timeout);
        unlock_control();
        if (ec) {
            TLOG_DEBUG("heartbeat: {}", ec.message());
            // Shutting down with no coordinator to answer: nobody can move the leaderships,
            // so waiting longer only delays the stop.
            if (_shutdown_requested && !_shutdown_granted && ++failed_while_shutting_down >= 3) {
                TLOG_WARN("controlled shutdown: the coordinator cannot be reached ({}); stopping without it",
                          ec.message());
                grant_shutdown();
            }
            co_await sleep(_cfg.retry_backoff);
            continue;
        }
        failed_while_shutting_down = 0;
        if (resp.error_code == int16_t(error_code::stale_broker_epoch) ||
            resp.error_code == int16_t(error_code::broker_id_not_registered)) {
            TLOG_WARN("coordinator: {}; registering again", resp.error_message.value_or("stale registration"));
            _broker_epoch = -1;
            _fenced = true;
            set_lease({});
            continue;
        }
        if (resp.error_code != int16_t(_heartbeat_error)) {
            _heartbeat_error = error_code(resp.error_code);
            if (resp.error_code != 0) {
                TLOG_ERROR("coordinator refused the heartbeat of broker {}: {} ({})", _cfg.id.value(),
                           protocol::error_code_name(_heartbeat_error), resp.error_message.value_or(""));
            }
        }
        if (resp.error_code == 0) {
            heartbeat_answered(sent_ms, resp);
        }
        if (resp.error_code == 0 && _fenced != resp.is_fenced) {
            TLOG_INFO("broker {} is {} by the coordinator", _cfg.id.value(), resp.is_fenced ? "fenced" : "unfenced");
            _fenced = resp.is_fenced;
        }
        if (resp.error_code == 0 && resp.should_shut_down && _shutdown_requested && !_shutdown_granted) {
            grant_shutdown();
        }
        // While fenced or shutting down, heartbeat sooner: the coordinator unfences once it
        // sees we caught up, and grants the shutdown once the leaderships moved.
        const bool waiting = _fenced || (_shutdown_requested && !_shutdown_granted);
        co_await sleep(waiting ? std::min(interval, std::chrono::milliseconds(200)) : interval);
    }
}

void coordinator_client::heartbeat_answered(int64_t sent_ms,
                                            const protocol::coordinator_broker_heartbeat_response& resp) {
    if (resp.is_fenced) {
        set_lease({});  // a fenced broker leads nothing
        return;
    }
    lease next{sent_ms + resp.lease_ms, _lease.from_offset};
    // Answered while the previous lease still ran: the coordinator heard from this broker
    // before its own deadline, so it has not fenced it and every leadership held is still
    // valid. Otherwise it may have: relearn the metadata up to its end first.
    if (_lease.until_ms == 0 || steady_ms() >= _lease.until_ms) {
        next.from_offset = resp.metadata_end;
        if (_lease.until_ms != 0) {
            TLOG_WARN("broker {}: the leadership lease ran out before the coordinator answered; leading again "
                      "once metadata offset {} is applied",
                      _cfg.id.value(), resp.metadata_end);
        }
    }
    set_lease(next);
}

void coordinator_client::set_lease(lease l) {
    if (l == _lease) {
        return;
    }
    _lease = l;
    if (_on_lease) {
        _on_lease(_lease);
    }
}

void coordinator_client::apply_fetch(protocol::coordinator_fetch_metadata_response& resp) {
    bool changed = false;
    if (resp.snapshot && resp.snapshot_offset >= 0) {
        metadata_image fresh;
        if (auto r = fresh.apply_batches(resp.snapshot->data); !r) {
            TLOG_ERROR("metadata snapshot from the coordinator does not apply: {}", r.error().message());
            return;
        }
        fresh.set_next_offset(offset(resp.snapshot_offset));
        _image = std::move(fresh);
        _delta.everything = true;
        changed = true;
    }
    if (resp.records) {
        std::error_code failed;
        auto r = for_each_record(resp.records->data, [&](offset at, const metadata_record& rec) {
            if (failed || at < _image.next_offset()) {
                return;  // already have it (a batch straddling our position)
            }
            _delta.add(_image, rec);  // a record that fails reloads everything anyway
            if (auto a = _image.apply(at, rec); !a) {
                failed = a.error();
                return;
            }
            changed = true;
        });
        if (!r || failed) {
            // Our copy and the log disagree: start over from the beginning (or the snapshot).
            TLOG_ERROR("metadata from the coordinator does not apply ({}): reloading",
                       (failed ? failed : r.error()).message());
            _image = metadata_image{};
            _delta.everything = true;
            changed = true;
        } else if (resp.next_offset > _image.next_offset().value()) {
            // The answer ended with control batches (the coordinators' Raft entries), which
            // hold no record: the image has still seen everything below next_offset.
            _image.set_next_offset(offset(resp.next_offset));
        }
    }
    // committed_offset is the coordinator's end: caught up once the image reaches it. The first
    // time is published even without a change, for those waiting on caught_up().
    bool first_catch_up = !_caught_up && _image.next_offset().value() >= resp.committed_offset;
    _caught_up = _caught_up || first_catch_up;
    if (changed || first_catch_up) {
        publish();
    }
}

void coordinator_client::publish() {
    _snapshot = std::make_shared<const cluster_snapshot>(_image.to_snapshot(_cfg.cluster_id, node_id(-1)));
    for (auto* t : _waiters) {
        t->cancel();
    }
    if (_on_update) {
        _on_update(_snapshot);
    }
    if (_on_change) {
        _on_change(_snapshot, _delta);
    }
    _delta.clear();
}

asio::awaitable<void> coordinator_client::metadata_loop() {
    auto self = shared_from_this();
    while (!_stopped) {
        protocol::coordinator_fetch_metadata_request req;
        req.from_offset = _image.next_offset().value();
        req.max_wait_ms = int32_t(_cfg.fetch_max_wait.count());
        protocol::coordinator_fetch_metadata_response resp;
        auto ec = co_await _metadata.call(req, resp, _cfg.fetch_max_wait + _cfg.request_timeout);
        if (_stopped) {
            break;
        }
        if (ec) {
            TLOG_DEBUG("fetching metadata: {}", ec.message());
            co_await sleep(_cfg.retry_backoff);
            continue;
        }
        if (resp.error_code == int16_t(error_code::offset_out_of_range)) {
            // The coordinator's log is shorter than our copy (a new cluster in the same place):
            // start over.
            TLOG_WARN("metadata offset {} is beyond the coordinator's log ({}): reloading", req.from_offset,
                      resp.committed_offset);
            _image = metadata_image{};
            _delta.everything = true;
            publish();
            continue;
        }
        if (resp.error_code == int16_t(error_code::cluster_authorization_failed)) {
            // Not transient: said once (until it changes), and asked again at a slower pace.
            if (_fetch_error != error_code::cluster_authorization_failed) {
                TLOG_ERROR("coordinator refused this broker's metadata fetch: {} ({})",
                           protocol::error_code_name(error_code(resp.error_code)), resp.error_message.value_or(""));
            }
            _fetch_error = error_code::cluster_authorization_failed;
            co_await sleep(std::max(_cfg.retry_backoff, std::chrono::milliseconds(1000)));
            continue;
        }
        if (resp.error_code != 0) {
            TLOG_WARN("fetching metadata: {} ({})", protocol::error_code_name(error_code(resp.error_code)),
                      resp.error_message.value_or(""));
            co_await sleep(_cfg.retry_backoff);
            continue;
        }
        _fetch_error = error_code::none;
        if (!resp.voters.empty()) {
            learn_voters(resp.voters);
        }
        apply_fetch(resp);
    }
}

void coordinator_client::learn_voters(const std::vector<protocol::coordinator_fetch_metadata_response::voter>& voters) {
    std::vector<config::host_port> learned;
    std::string names;
    for (const auto& v : voters) {
        if (v.port > 0 && v.port <= 65535 && !v.host.empty() && !_cfg.coordinator_ids.contains(v.id)) {
            learned.push_back({v.host, uint16_t(v.port)});
            names += fmt::format("{}{}@{}:{}", names.empty() ? "" : ",", v.id, v.host, v.port);
        }
    }
    if (learned == _learned) {
        return;
    }
    TLOG_INFO("coordinators the quorum names beyond controller.quorum.voters: {}", names.empty() ? "none" : names);
    _learned = std::move(learned);
    _control.set_learned(_learned);
    _metadata.set_learned(_learned);
    _admin.set_learned(_learned);
}

asio::awaitable<bool> coordinator_client::wait_for_offset(offset o, std::chrono::milliseconds timeout) {
    const std::function<bool()> reached = [this, o] { return _image.next_offset() >= o; };
    co_return co_await wait_until(reached, timeout);
}

asio::awaitable<admin_result> coordinator_client::admin(int16_t api_key, int16_t api_version, const bytes& body) {
    auto self = shared_from_this();
    admin_result out;
    // One envelope at a time on the admin channel.
    while (_admin_busy && !_stopped) {
        asio::steady_timer t(_ex);
        t.expires_after(std::chrono::milliseconds(10));
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (_stopped) {
        out.error = error_code::request_timed_out;
        out.message = "coordinator client stopped";
        co_return out;
    }
    _admin_busy = true;
    protocol::coordinator_admin_request req;
    req.request_api_key = api_key;
    req.request_api_version = api_version;
    req.body = body;
    protocol::coordinator_admin_response resp;
    auto ec = co_await _admin.call(req, resp, _cfg.request_timeout);
    _admin_busy = false;
    if (ec) {
        out.error = error_code::request_timed_out;
        out.message = "coordinator: " + ec.message();
        co_return out;
    }
    out.error = error_code(resp.error_code);
    out.message = resp.error_message.value_or("");
    if (out.error == error_code::cluster_authorization_failed) {
        // The client sees the code; the operator of this broker needs to know it is its own
        // principal the coordinator refuses, not the client's.
        TLOG_ERROR("coordinator refused an admin request broker {} forwarded: {}", _cfg.id.value(), out.message);
    }
    out.body = std::move(resp.body);
    out.commit = offset(resp.commit_offset);
    if (out.error == error_code::none && !co_await wait_for_offset(out.commit, _cfg.request_timeout)) {
        out.error = error_code::request_timed_out;
        out.message = "the change is committed but this broker's metadata has not caught up yet";
    }
    co_return out;
}

asio::awaitable<void> coordinator_client::lock_control() {
    while (_control_busy) {
        co_await park(_control_queue, asio::steady_timer::time_point::max());
    }
    _control_busy = true;
}

void coordinator_client::unlock_control() {
    _control_busy = false;
    if (!_control_queue.empty()) {
        _control_queue.front()->cancel();
    }
}

asio::awaitable<result<protocol::alter_partition_response>> coordinator_client::alter_partition(
    const protocol::alter_partition_request& req) {
    auto self = shared_from_this();
    protocol::alter_partition_request out = req;
    protocol::alter_partition_response resp;
    co_await lock_control();
    // After the turn: a registration may have happened while we waited.
    out.broker_id = _cfg.id.value();
    out.broker_epoch = _broker_epoch;
    auto ec = co_await _control.call(out, resp, _cfg.request_timeout, protocol::alter_partition_request::max_version);
    unlock_control();
    if (ec) {
        co_return ec;
    }
    co_return resp;
}

void coordinator_client::request_shutdown() {
    auto self = shared_from_this();
    asio::post(_ex, [self] {
        if (self->_shutdown_requested) {
            return;
        }
        self->_shutdown_requested = true;
        if (!self->_cfg.register_broker || self->_broker_epoch < 0) {
            self->grant_shutdown();  // not registered: nothing to move
            return;
        }
        TLOG_INFO("broker {} asks the coordinator for a controlled shutdown", self->_cfg.id.value());
        for (auto* t : self->_sleepers) {
            t->cancel();  // heartbeat now
        }
    });
}

void coordinator_client::grant_shutdown() {
    _shutdown_granted = true;
    TLOG_INFO("controlled shutdown granted: broker {} may stop", _cfg.id.value());
    for (auto* t : _waiters) {
        t->cancel();
    }
    if (_on_shutdown_granted) {
        _on_shutdown_granted();
    }
}

asio::awaitable<bool> coordinator_client::wait_for_shutdown(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    const std::function<bool()> granted = [this] { return _shutdown_granted; };
    co_return co_await wait_until(granted, timeout);
}

} // namespace trib::coordinator
