#pragma once

// Raft transports between drivers in one process (coordinator/raft_log.h tests): a hub on the
// test's io_context, one transport per node. A message sent is posted to the io_context and
// handed to the destination's deliver callback when it runs, so it arrives later, as over a
// wire, never inside send(). The hub can cut a node off (what it sends and what is sent to
// it, including what is already on its way, is dropped) and heal it. Best effort like the
// real wire: a message to a node with no open transport, or not among the sender's peers, is
// dropped.
#include "common/runtime.h"
#include "coordinator/raft/transport.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>

namespace trib::fakes {

class raft_loopback_transport;

class raft_loopback_hub {
public:
    explicit raft_loopback_hub(asio::io_context& ctx) : _ctx(ctx) {}
    raft_loopback_hub(const raft_loopback_hub&) = delete;
    raft_loopback_hub& operator=(const raft_loopback_hub&) = delete;

    // The transport of node `id` (one open at a time per id: a restart closes the old one).
    inline std::unique_ptr<coordinator::raft::transport> connect(node_id id);

    void cut(node_id id) { _cut.insert(id); }
    void heal(node_id id) { _cut.erase(id); }
    bool is_cut(node_id id) const { return _cut.contains(id); }
    uint64_t delivered() const noexcept { return _delivered; }
    uint64_t dropped() const noexcept { return _dropped; }
    // Messages of type Body to `to` dropped because one end was cut off. Messages from one
    // node arrive in the order it sent them, so once one it sent later is counted, everything
    // it sent before has been handled too.
    template <class Body>
    uint64_t dropped_to(node_id to) const {
        auto it = _cut_off.find({to.value(), coordinator::raft::message_body(Body{}).index()});
        return it == _cut_off.end() ? 0 : it->second;
    }

private:
    friend class raft_loopback_transport;
    inline void post(coordinator::raft::message m);
    inline void deliver(const coordinator::raft::message& m);
    inline void post(coordinator::raft::observer_report r);

    asio::io_context& _ctx;
    std::map<node_id, raft_loopback_transport*> _open;
    std::set<node_id> _cut;
    uint64_t _delivered = 0;
    uint64_t _dropped = 0;
    std::map<std::pair<int32_t, size_t>, uint64_t> _cut_off;  // (to, body index) -> count
};

class raft_loopback_transport final : public coordinator::raft::transport {
public:
    raft_loopback_transport(raft_loopback_hub& hub, node_id id) : _hub(hub), _id(id) {}
    ~raft_loopback_transport() override { close(); }

    void start(deliver_fn deliver) override { _deliver = std::move(deliver); }
    void send(std::vector<coordinator::raft::message> msgs) override {
        for (auto& m : msgs) {
            if (_closed || !_peers.contains(m.to)) {
                ++_hub._dropped;
                continue;
            }
            _hub.post(std::move(m));
        }
    }
    void set_peers(const coordinator::raft::voter_set& peers) override {
        _peers.clear();
        for (const auto& p : peers) {
            if (p.id != _id) {
                _peers.insert(p.id);
            }
        }
    }
    void on_reports(report_fn f) override { _reports = std::move(f); }
    // Observer reports go the same way as messages (dropped when cut off, or to a non-peer).
    void send_report(coordinator::raft::observer_report r) override {
        if (_closed || !_peers.contains(r.to)) {
            ++_hub._dropped;
            return;
        }
        _hub.post(std::move(r));
    }
    std::optional<bytes> handle(int16_t, int16_t, bytes_view) override { return std::nullopt; }
    void close() override {
        if (_closed) {
            return;
        }
        _closed = true;
        if (auto it = _hub._open.find(_id); it != _hub._open.end() && it->second == this) {
            _hub._open.erase(it);
        }
    }

private:
    friend class raft_loopback_hub;
    raft_loopback_hub& _hub;
    node_id _id;
    deliver_fn _deliver;
    report_fn _reports;
    std::set<node_id> _peers;
    bool _closed = false;
};

std::unique_ptr<coordinator::raft::transport> raft_loopback_hub::connect(node_id id) {
    auto t = std::make_unique<raft_loopback_transport>(*this, id);
    _open[id] = t.get();
    return t;
}

void raft_loopback_hub::post(coordinator::raft::message m) {
    asio::post(_ctx, [this, m = std::move(m)] { deliver(m); });
}

void raft_loopback_hub::deliver(const coordinator::raft::message& m) {
    if (_cut.contains(m.from) || _cut.contains(m.to)) {
        ++_dropped;
        ++_cut_off[{m.to.value(), m.body.index()}];
        return;
    }
    auto it = _open.find(m.to);
    if (it == _open.end() || !it->second->_deliver) {
        ++_dropped;
        return;
    }
    ++_delivered;
    it->second->_deliver(m);
}

void raft_loopback_hub::post(coordinator::raft::observer_report r) {
    asio::post(_ctx, [this, r = std::move(r)] {
        if (_cut.contains(r.from) || _cut.contains(r.to)) {
            ++_dropped;
            return;
        }
        auto it = _open.find(r.to);
        if (it == _open.end() || !it->second->_reports) {
            ++_dropped;
            return;
        }
        ++_delivered;
        it->second->_reports(r);
    });
}

} // namespace trib::fakes
