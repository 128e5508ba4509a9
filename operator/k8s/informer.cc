#include "operator/k8s/informer.h"

#include "common/log.h"
#include "operator/k8s/label_selector.h"

#include <cpprest/containerstream.h>

#include <random>

namespace trib::op::k8s {

using web::json::value;

// Drops the in-flight request's cancellation source when the request is over.
struct informer::cancel_guard {
    informer* self;
    ~cancel_guard() {
        std::lock_guard lock(self->_mu);
        self->_cancel.reset();
    }
};

informer::informer(client& c, resource r, informer_options options)
  : _client(c), _resource(std::move(r)), _options(std::move(options)) {
    label_selector check(_options.label_selector);  // a bad selector fails here, not in the thread
}

informer::~informer() { stop(); }

web::json::value metadata_only(web::json::value obj) {
    web::json::value kept = web::json::value::object();
    for (const char* f : {"apiVersion", "kind", "metadata"}) {
        if (obj.has_field(f)) {
            kept[f] = std::move(obj.at(f));
        }
    }
    return kept;
}

void informer::add_handlers(informer_handlers h) {
    if (_thread.joinable()) {
        throw std::logic_error("informer::add_handlers after start()");
    }
    _handlers.push_back(std::move(h));
}

void informer::start() {
    if (_thread.joinable()) {
        return;
    }
    {
        std::lock_guard lock(_mu);
        _stopping = false;
    }
    _thread = std::thread([this] { run(); });
}

void informer::stop() {
    {
        std::lock_guard lock(_mu);
        _stopping = true;
        if (_cancel) {
            _cancel->cancel();
        }
    }
    _cv.notify_all();
    if (_thread.joinable()) {
        _thread.join();
    }
}

bool informer::wait_for_sync(std::chrono::milliseconds limit) const {
    std::unique_lock lock(_mu);
    return _cv.wait_for(lock, limit, [this] { return _synced.load(); });
}

std::optional<value> informer::get(const std::string& ns, const std::string& name) const {
    return _cache.get(_resource.namespaced ? ns + "/" + name : name);
}

std::vector<value> informer::list(const std::string& ns, const std::string& selector) const {
    label_selector s(selector);
    std::vector<value> out;
    for (auto& obj : _cache.list(_resource.namespaced ? ns : "")) {
        if (s.matches(obj)) {
            out.push_back(std::move(obj));
        }
    }
    return out;
}

std::string informer::resource_version() const {
    std::lock_guard lock(_mu);
    return _rv;
}

void informer::restart_watch() {
    std::lock_guard lock(_mu);
    _restart = true;
    if (_cancel) {
        _cancel->cancel();
    }
}

void informer::run() {
    TLOG_INFO("informer {}: watching {}{}", _resource.plural,
              _options.ns.empty() || !_resource.namespaced ? "all namespaces" : "namespace " + _options.ns,
              _options.label_selector.empty() ? "" : " with labels " + _options.label_selector);
    while (true) {
        bool need_list;
        {
            std::lock_guard lock(_mu);
            if (_stopping) {
                break;
            }
            need_list = _need_list || _rv.empty();
        }
        bool ok = need_list ? relist() : watch_once();
        if (!ok) {
            backoff();
        }
    }
}

bool informer::relist() {
    pplx::cancellation_token token = pplx::cancellation_token::none();
    {
        std::lock_guard lock(_mu);
        if (_stopping) {
            return true;
        }
        _cancel.emplace();
        token = _cancel->get_token();
    }
    cancel_guard guard{this};
    try {
        auto l = _client.list_with_version(_resource, _resource.namespaced ? _options.ns : "",
                                           _options.label_selector, token);
        if (_options.transform) {
            for (auto& item : l.items) {
                item = _options.transform(std::move(item));
            }
        }
        auto changes = _cache.replace(l.items);
        {
            std::lock_guard lock(_mu);
            _rv = l.resource_version;
            _need_list = false;
            _delay = std::chrono::milliseconds(0);
        }
        ++_lists;
        TLOG_DEBUG("informer {}: listed {} objects at resourceVersion {}", _resource.plural, l.items.size(),
                   l.resource_version);
        for (const auto& c : changes) {
            dispatch(c);
        }
        {
            std::lock_guard lock(_mu);  // so wait_for_sync can't miss the notification
            _synced = true;
        }
        _cv.notify_all();
        return true;
    } catch (const std::exception& e) {
        std::lock_guard lock(_mu);
        if (!_stopping) {
            TLOG_WARN("informer {}: LIST failed: {}", _resource.plural, e.what());
        }
        return false;
    }
}

std::string informer::watch_path(std::chrono::seconds timeout) const {
    auto p = client::path(_resource, _resource.namespaced ? _options.ns : "") +
             "?watch=true&allowWatchBookmarks=true&resourceVersion=" + web::uri::encode_data_string(_rv) +
             "&timeoutSeconds=" + std::to_string(timeout.count());
    if (!_options.label_selector.empty()) {
        p += "&labelSelector=" + web::uri::encode_data_string(_options.label_selector);
    }
    return p;
}

bool informer::watch_once() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    auto base = _options.min_watch_timeout;
    auto timeout = std::min<std::chrono::seconds>(
        base + std::chrono::seconds(std::uniform_int_distribution<long>(0, base.count())(rng)), client::max_watch);
    std::string path;
    pplx::cancellation_token token = pplx::cancellation_token::none();
    {
        std::lock_guard lock(_mu);
        if (_stopping) {
            return true;
        }
        _restart = false;
        _cancel.emplace();
        token = _cancel->get_token();
        path = watch_path(timeout);
    }
    cancel_guard guard{this};
    auto set_rv = [&](const std::string& rv) {
        std::lock_guard lock(_mu);
        _rv = rv;
    };
    try {
        auto resp = _client.open_stream(path, token);
        ++_watches;
        {
            std::lock_guard lock(_mu);
            _delay = std::chrono::milliseconds(0);
        }
        auto body = resp.body();
        bool heard = false;
        while (true) {
            concurrency::streams::stringstreambuf buf;
            body.read_line(buf).get();
            const auto& line = buf.collection();
            if (line.empty()) {
                if (body.is_eof()) {
                    // The server ended the watch (timeoutSeconds): watch again at once. One
                    // that ended without a word is taken as a failure, so a server that ends
                    // every watch at once is not asked again in a tight loop.
                    return heard;
                }
                continue;
            }
            heard = true;
            auto ev = parse_watch_event(line);
            if (_options.transform && ev.type != watch_event::kind::bookmark && ev.type != watch_event::kind::error) {
                ev.object = _options.transform(std::move(ev.object));
            }
            switch (ev.type) {
            case watch_event::kind::added:
            case watch_event::kind::modified: {
                auto c = _cache.upsert(ev.object);
                set_rv(ev.resource_version);
                dispatch(*c);
                break;
            }
            case watch_event::kind::deleted:
                if (auto c = _cache.erase(ev.object)) {
                    set_rv(ev.resource_version);
                    dispatch(*c);
                } else {
                    set_rv(ev.resource_version);
                }
                break;
            case watch_event::kind::bookmark:
                set_rv(ev.resource_version);
                break;
            case watch_event::kind::error:
                if (ev.code == 410) {
                    TLOG_INFO("informer {}: {} (410); listing again", _resource.plural, ev.message);
                    std::lock_guard lock(_mu);
                    _need_list = true;
                    return true;
                }
                TLOG_WARN("informer {}: watch error {}: {}", _resource.plural, ev.code, ev.message);
                return false;
            }
        }
    } catch (const api_error& e) {
        if (e.status == 410) {
            TLOG_INFO("informer {}: {}; listing again", _resource.plural, e.what());
            std::lock_guard lock(_mu);
            _need_list = true;
            return true;
        }
        TLOG_WARN("informer {}: watch failed: {}", _resource.plural, e.what());
        return false;
    } catch (const std::exception& e) {
        std::lock_guard lock(_mu);
        if (_stopping || _restart) {
            return true;  // we cancelled it
        }
        TLOG_WARN("informer {}: watch ended: {}", _resource.plural, e.what());
        return false;
    }
}

void informer::backoff() {
    std::unique_lock lock(_mu);
    _delay = _delay.count() == 0 ? _options.backoff_initial : std::min(_delay * 2, _options.backoff_max);
    _cv.wait_for(lock, _delay, [this] { return _stopping; });
}

void informer::dispatch(const cache_change& c) {
    for (const auto& h : _handlers) {
        try {
            switch (c.what) {
            case cache_change::kind::added:
                if (h.added) {
                    h.added(c.object);
                }
                break;
            case cache_change::kind::updated:
                if (h.updated) {
                    h.updated(c.old_object, c.object);
                }
                break;
            case cache_change::kind::deleted:
                if (h.deleted) {
                    h.deleted(c.old_object);
                }
                break;
            }
        } catch (const std::exception& e) {
            TLOG_ERROR("informer {}: handler failed for {}: {}", _resource.plural, object_key(c.object), e.what());
        }
    }
}

// --- informer_reader ---

void informer_reader::add(const informer& i) { _informers.push_back(&i); }

const informer& informer_reader::of(const resource& r) const {
    for (const auto* i : _informers) {
        if (i->kind().group == r.group && i->kind().plural == r.plural) {
            return *i;
        }
    }
    throw std::logic_error("no informer for " + r.plural + (r.group.empty() ? "" : "." + r.group));
}

std::optional<value> informer_reader::get(const resource& r, const std::string& ns, const std::string& name) const {
    return of(r).get(ns, name);
}

std::vector<value> informer_reader::list(const resource& r, const std::string& ns,
                                         const std::string& label_selector) const {
    return of(r).list(ns, label_selector);
}

bool informer_reader::has_synced() const {
    for (const auto* i : _informers) {
        if (!i->has_synced()) {
            return false;
        }
    }
    return true;
}

} // namespace trib::op::k8s
