#include "operator/metrics/cluster_poller.h"

#include "common/log.h"

#include <algorithm>
#include <tuple>
#include <vector>

namespace trib::op::metrics {

cluster_poller::cluster_poller(cluster_metrics& metrics, std::chrono::milliseconds period, read_options options)
  : _metrics(metrics), _period(period), _options(std::move(options)) {}

cluster_poller::~cluster_poller() {
    stop();
}

void cluster_poller::track(const std::string& ns, const std::string& name, const std::string& bootstrap,
                           std::shared_ptr<net::tls_source> tls) {
    std::lock_guard lock(_mutex);
    auto& t = _clusters[{ns, name}];
    t.tls = std::move(tls);
    if (t.bootstrap != bootstrap || !t.read) {
        if (t.bootstrap != bootstrap) {
            t.timestamps.clear();  // another cluster's offsets, maybe
        }
        t.bootstrap = bootstrap;
        t.read = false;
        _pending = true;
        _wake.notify_all();
    }
}

void cluster_poller::forget(const std::string& ns, const std::string& name) {
    std::lock_guard lock(_mutex);
    _clusters.erase({ns, name});
    _metrics.remove(ns, name);
}

void cluster_poller::forget_all() {
    std::lock_guard lock(_mutex);
    for (const auto& [k, _] : _clusters) {
        _metrics.remove(k.first, k.second);
    }
    _clusters.clear();
}

void cluster_poller::start() {
    std::lock_guard lock(_mutex);
    if (!_thread.joinable()) {
        _stopping = false;
        _thread = std::thread([this] { run(); });
    }
}

void cluster_poller::stop() {
    {
        std::lock_guard lock(_mutex);
        _stopping = true;
        _wake.notify_all();
    }
    if (_thread.joinable()) {
        _thread.join();
    }
}

void cluster_poller::run() {
    std::unique_lock lock(_mutex);
    while (!_stopping) {
        _pending = false;
        lock.unlock();
        poll_once();
        lock.lock();
        _wake.wait_for(lock, _period, [this] { return _stopping || _pending; });
    }
}

void cluster_poller::poll_once() {
    std::vector<std::tuple<key, std::string, std::shared_ptr<net::tls_source>>> todo;
    {
        std::lock_guard lock(_mutex);
        for (const auto& [k, t] : _clusters) {
            todo.emplace_back(k, t.bootstrap, t.tls);
        }
    }
    for (const auto& [k, bootstrap, tls] : todo) {
        timestamp_cache known;
        {
            std::lock_guard lock(_mutex);
            if (auto it = _clusters.find(k); it != _clusters.end() && it->second.bootstrap == bootstrap) {
                known = it->second.timestamps;
            }
        }
        std::string why;
        auto options = _options;
        options.tls = tls;
        auto view = read_cluster(bootstrap, options, &why, &known);
        std::lock_guard lock(_mutex);
        auto it = _clusters.find(k);
        if (it == _clusters.end() || it->second.bootstrap != bootstrap) {
            continue;  // forgotten or moved while we read: this view is not its to publish
        }
        auto& t = it->second;
        t.read = true;
        if (view) {
            auto inverted = _metrics.update(k.first, k.second, *view);
            if (inverted.size() != t.inverted && !inverted.empty()) {
                const auto& i = inverted.front();
                TLOG_WARN("kafkacluster {}/{}: {} committed offset(s) above their partition's end, e.g. group {} "
                          "{}-{}: committed {}, end {} (lag shown as 0)",
                          k.first, k.second, inverted.size(), i.group_id, i.tp.first, i.tp.second, i.committed, i.end);
            }
            t.inverted = inverted.size();
            for (const auto& p : view->problems) {
                if (std::find(t.problems.begin(), t.problems.end(), p) == t.problems.end()) {
                    TLOG_WARN("kafkacluster {}/{}: metrics: {}", k.first, k.second, p);
                }
            }
            t.problems = std::move(view->problems);
            t.timestamps = timestamps_of(*view);
            t.last_error.clear();
        } else {
            if (why != t.last_error) {
                TLOG_WARN("kafkacluster {}/{}: metrics not read: {}", k.first, k.second, why);
            }
            _metrics.unreachable(k.first, k.second);
            t.last_error = std::move(why);
        }
    }
}

std::string cluster_poller::last_error(const std::string& ns, const std::string& name) const {
    std::lock_guard lock(_mutex);
    auto it = _clusters.find({ns, name});
    return it == _clusters.end() ? std::string() : it->second.last_error;
}

} // namespace trib::op::metrics
