#include "operator/k8s/leader_election.h"

#include "common/log.h"

#include <stdexcept>

namespace trib::op::k8s {

using web::json::value;

leader_elector::leader_elector(api& kube, leader_election_settings settings, const clock& c)
    : _kube(kube), _s(std::move(settings)), _clock(c) {
    if (_s.ns.empty() || _s.name.empty() || _s.identity.empty()) {
        throw std::invalid_argument("leader election: lease namespace, lease name and identity must not be empty");
    }
    if (!(_s.lease_duration > _s.renew_deadline && _s.renew_deadline > _s.retry_period &&
          _s.retry_period > std::chrono::milliseconds::zero())) {
        throw std::invalid_argument(
            "leader election: need lease duration > renew deadline > retry period > 0 "
            "(leader.election.lease.duration.ms, leader.election.renew.deadline.ms, "
            "leader.election.retry.period.ms)");
    }
    if (_s.lease_duration < std::chrono::seconds(1)) {
        throw std::invalid_argument("leader election: the lease duration is whole seconds, at least 1000 ms");
    }
}

leader_elector::~leader_elector() { stop(); }

leader_elector::record leader_elector::parse(const value& lease) {
    record r;
    if (!lease.has_object_field("spec")) {
        return r;
    }
    const auto& s = lease.at("spec");
    auto str = [&](const char* f) { return s.has_string_field(f) ? s.at(f).as_string() : std::string(); };
    auto num = [&](const char* f) { return s.has_number_field(f) ? s.at(f).as_number().to_int64() : int64_t{0}; };
    r.holder = str("holderIdentity");
    r.duration_s = num("leaseDurationSeconds");
    r.acquire_time = str("acquireTime");
    r.renew_time = str("renewTime");
    r.transitions = num("leaseTransitions");
    return r;
}

value leader_elector::spec_of(const record& r) const {
    value s = value::object();
    s["holderIdentity"] = value::string(r.holder);
    s["leaseDurationSeconds"] = value::number(r.duration_s);
    s["acquireTime"] = value::string(r.acquire_time);
    s["renewTime"] = value::string(r.renew_time);
    s["leaseTransitions"] = value::number(r.transitions);
    return s;
}

bool leader_elector::try_acquire_or_renew() {
    const auto now = _clock.steady_now();
    const auto stamp = rfc3339_micro(_clock.wall_now());
    record mine{_s.identity, std::chrono::duration_cast<std::chrono::seconds>(_s.lease_duration).count(), stamp,
                stamp, 0};

    auto lease = _kube.get(resources::leases, _s.ns, _s.name);
    if (!lease) {
        value obj;
        obj["apiVersion"] = value::string(resources::leases.api_version());
        obj["kind"] = value::string(resources::leases.kind);
        obj["metadata"]["name"] = value::string(_s.name);
        obj["metadata"]["namespace"] = value::string(_s.ns);
        obj["spec"] = spec_of(mine);
        try {
            _kube.create(resources::leases, obj);
        } catch (const api_error& e) {
            if (e.status == 409) {
                return false; // another replica created it first
            }
            throw;
        }
        _observed = mine;
        _observed_at = now;
        return true;
    }

    record seen = parse(*lease);
    if (!(seen == _observed)) {
        _observed = seen;
        _observed_at = now;
    }
    if (!seen.holder.empty() && seen.holder != _s.identity &&
        now < _observed_at + std::chrono::seconds(seen.duration_s)) {
        return false; // held by another replica, and renewed recently
    }
    if (seen.holder == _s.identity) {
        mine.acquire_time = seen.acquire_time;
        mine.transitions = seen.transitions;
    } else {
        mine.transitions = seen.transitions + 1;
    }
    value next = *lease;
    next["spec"] = spec_of(mine);
    try {
        _kube.replace(resources::leases, next);
    } catch (const api_error& e) {
        if (e.conflict()) {
            return false; // someone wrote it since we read it; look again next round
        }
        throw;
    }
    _observed = mine;
    _observed_at = now;
    return true;
}

void leader_elector::step() {
    bool ok = false;
    try {
        ok = try_acquire_or_renew();
    } catch (const std::exception& e) {
        TLOG_WARN("leader election: lease {}/{}: {}", _s.ns, _s.name, e.what());
    }
    const auto now = _clock.steady_now();
    if (ok) {
        _renewed_at = now;
        if (!_leading) {
            TLOG_INFO("leader election: {} now leads (lease {}/{})", _s.identity, _s.ns, _s.name);
            set_leading(true);
        }
        return;
    }
    if (!_leading) {
        return;
    }
    if (_observed.holder != _s.identity) {
        TLOG_WARN("leader election: lease {}/{} is now held by {}; {} stops leading", _s.ns, _s.name,
                  _observed.holder, _s.identity);
        set_leading(false);
    } else if (now - _renewed_at >= _s.renew_deadline) {
        TLOG_WARN("leader election: could not renew lease {}/{} within {} ms; {} stops leading", _s.ns, _s.name,
                  _s.renew_deadline.count(), _s.identity);
        set_leading(false);
    }
}

void leader_elector::set_leading(bool leading) {
    _leading = leading;
    const auto& cb = leading ? _s.started_leading : _s.stopped_leading;
    if (cb) {
        cb();
    }
}

void leader_elector::release() {
    try {
        auto lease = _kube.get(resources::leases, _s.ns, _s.name);
        if (!lease || parse(*lease).holder != _s.identity) {
            return;
        }
        const auto stamp = rfc3339_micro(_clock.wall_now());
        record released{"", 1, stamp, stamp, parse(*lease).transitions};
        value next = *lease;
        next["spec"] = spec_of(released);
        _kube.replace(resources::leases, next);
        _observed = released;
        _observed_at = _clock.steady_now();
        TLOG_INFO("leader election: {} released lease {}/{}", _s.identity, _s.ns, _s.name);
    } catch (const std::exception& e) {
        TLOG_WARN("leader election: releasing lease {}/{}: {} (the other replica waits for it to expire)", _s.ns,
                  _s.name, e.what());
    }
}

void leader_elector::start() {
    std::lock_guard lock(_mu);
    if (_thread.joinable()) {
        return;
    }
    _stopping = false;
    _thread = std::thread([this] {
        std::unique_lock lock(_mu);
        while (!_stopping) {
            lock.unlock();
            step();
            lock.lock();
            _cv.wait_for(lock, _s.retry_period, [this] { return _stopping; });
        }
    });
}

void leader_elector::stop() {
    {
        std::lock_guard lock(_mu);
        _stopping = true;
    }
    _cv.notify_all();
    if (_thread.joinable()) {
        _thread.join();
    }
    if (_leading) {
        release();
        set_leading(false);
    }
}

} // namespace trib::op::k8s
