#pragma once
// A watch cache for one kind (in one namespace or all, optionally narrowed by a label
// selector), as client-go's reflector + informer:
//
//   LIST (remember its resourceVersion) → WATCH from it with allowWatchBookmarks and a
//   timeoutSeconds of 5 to 10 minutes (jittered, so informers don't reconnect together),
//   reading the chunked answer line by line as it arrives. When the server ends the watch,
//   watch again from the last resourceVersion seen (bookmarks move it on without objects).
//   When that version is too old (HTTP 410 Gone, or an ERROR event with code 410), LIST
//   again: the cache is replaced and objects that vanished meanwhile get a deleted event.
//   Connection and server errors back off exponentially (200 ms doubling to 30 s).
//
// One thread per informer does all of that and calls the handlers, in event order. The
// cache can be read from any thread.
#include "operator/k8s/client.h"
#include "operator/k8s/object_cache.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <thread>

namespace trib::op::k8s {

struct informer_options {
    std::string ns = "";              // all namespaces (ignored for cluster-scoped kinds)
    std::string label_selector = "";  // everything
    std::chrono::seconds min_watch_timeout{300};  // timeoutSeconds is this times 1..2
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{30000};
    // Applied to every object before it is cached and handed to the handlers (client-go's
    // transform): what the cache needn't keep, such as a Secret's data, is dropped here.
    std::function<web::json::value(web::json::value)> transform = nullptr;
};

// A transform that keeps an object's apiVersion, kind and metadata alone (for a watch that
// only needs to know something changed, such as the operator's of Secrets).
web::json::value metadata_only(web::json::value obj);

struct informer_handlers {
    std::function<void(const web::json::value& obj)> added;
    std::function<void(const web::json::value& old_obj, const web::json::value& obj)> updated;
    std::function<void(const web::json::value& last_state)> deleted;
};

class informer {
public:
    informer(client& c, resource r, informer_options options = {});
    ~informer();
    informer(const informer&) = delete;
    informer& operator=(const informer&) = delete;

    // Before start(). Handlers run on the informer's thread; an exception from one is logged.
    void add_handlers(informer_handlers h);
    // Starts the thread. After stop(), start() again resumes from the last resourceVersion
    // with the cache as it was (as after a lost connection).
    void start();
    // Ends the in-flight request (cancelled through its pplx token) and the thread.
    void stop();

    // True once the first LIST is in the cache (and stays true).
    bool has_synced() const { return _synced.load(); }
    bool wait_for_sync(std::chrono::milliseconds limit) const;

    std::optional<web::json::value> get(const std::string& ns, const std::string& name) const;
    // Throws std::invalid_argument for a malformed selector.
    std::vector<web::json::value> list(const std::string& ns = "", const std::string& label_selector = "") const;

    const resource& kind() const { return _resource; }
    std::string resource_version() const;

    // Ends the current watch; the informer watches again at once (from the last version).
    void restart_watch();

    // How many LISTs filled the cache and how many watch requests were answered (for tests
    // and metrics).
    uint64_t lists() const { return _lists.load(); }
    uint64_t watches() const { return _watches.load(); }

private:
    struct cancel_guard;
    void run();
    bool relist();
    // Returns true when the watch ended normally (reconnect at once), false after an error.
    bool watch_once();
    void dispatch(const cache_change& c);
    void backoff();
    std::string watch_path(std::chrono::seconds timeout) const;

    client& _client;
    const resource _resource;
    const informer_options _options;
    std::vector<informer_handlers> _handlers;
    object_cache _cache;

    mutable std::mutex _mu;  // guards what follows, and is the condition variable's
    mutable std::condition_variable _cv;
    std::string _rv;
    bool _need_list = true;
    bool _stopping = false;
    bool _restart = false;
    std::optional<pplx::cancellation_token_source> _cancel;  // of the in-flight watch
    std::chrono::milliseconds _delay{0};

    std::atomic<bool> _synced{false};
    std::atomic<uint64_t> _lists{0}, _watches{0};
    std::thread _thread;
};

// reader (api.h) over informers, one per kind: get/list of a kind without an informer throw
// std::logic_error (a programming error: the operator starts one for every kind it reads).
class informer_reader : public reader {
public:
    void add(const informer& i);
    std::optional<web::json::value> get(const resource& r, const std::string& ns,
                                        const std::string& name) const override;
    std::vector<web::json::value> list(const resource& r, const std::string& ns,
                                       const std::string& label_selector = "") const override;
    bool has_synced() const;

private:
    const informer& of(const resource& r) const;
    std::vector<const informer*> _informers;
};

} // namespace trib::op::k8s
