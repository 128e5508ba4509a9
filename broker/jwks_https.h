#pragma once

// The OAUTHBEARER verification keys from the issuer's JWKS endpoint
// (sasl.oauthbearer.jwks.endpoint.url with an https: or http: URL), as Kafka's refreshing JWKS
// does (KIP-768). The fetches run on a thread of their own, never on a core serving clients:
//   - at start-up the constructor waits for the first round of attempts (a round: attempts
//     retry_backoff, 2*retry_backoff, ... apart, until retry_backoff_max has passed, as Kafka's
//     Retry does), so the usual start has keys before a listener opens. A round that fails does
//     not stop the broker (Kafka refuses to start): its other listeners and replication do not
//     need the issuer, and on Kubernetes an issuer that is down would otherwise keep restarting
//     every broker rolled meanwhile. OAUTHBEARER logins are then refused with the reason (the
//     last fetch's failure) and rounds repeat retry_backoff_max (at least a second) apart
//     until keys arrive;
//   - with keys, a round runs every `refresh`; a round that fails keeps the keys in use (the
//     reason is logged) and the next comes a refresh later;
//   - reload_for_unknown_kid() (a token names a kid the keys lack: the issuer rotated keys)
//     starts a round at once, at most once per unknown_kid_backoff, and returns without waiting
//     (it is called on a client's core): the login that asked is refused, the next one after
//     the round finds the new key. Kafka also expedites without waiting; it rate-limits per kid
//     (each kid once a minute, 16 remembered), this per source, which bounds what tokens with
//     made-up kids can make the broker ask of the issuer.
// A fetch is one GET with `Connection: close`, bounded by request_timeout from resolving to the
// last byte; the answer must be 200 with a JWKS (security::parse_jwks) of at most 1 MiB holding
// an RSA or EC signature key. Redirects are not followed (a 3xx is a failure naming Location).
// https: the server's certificate is checked against the truststore's context (`tls`, re-read
// when its files change) and, with verify_host, its name or address against the URL's host.
#include "broker/http_url.h"
#include "net/tls.h"
#include "security/oauthbearer.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace trib::broker {


class jwks_https final : public security::jwks_source {
public:
    using clock = std::chrono::steady_clock;

    struct options {
        std::string url;
        std::chrono::milliseconds refresh{3600000};
        std::chrono::milliseconds retry_backoff{100};
        std::chrono::milliseconds retry_backoff_max{10000};
        std::chrono::milliseconds unknown_kid_backoff{1000};
        std::chrono::milliseconds request_timeout{10000};
        std::shared_ptr<net::tls_source> tls;  // https: whom to trust (role client)
        bool verify_host = true;               // ssl.endpoint.identification.algorithm=https
    };

    // Starts the fetching thread and waits for the first round. Throws config::config_error
    // naming `key` on a URL it can't use (https without `tls` included).
    jwks_https(options o, const std::string& key);
    ~jwks_https() override;
    jwks_https(const jwks_https&) = delete;
    jwks_https& operator=(const jwks_https&) = delete;

    std::shared_ptr<const security::jwks> current() override;
    std::shared_ptr<const security::jwks> reload_for_unknown_kid() override;
    std::string no_keys_reason() override;

    const std::string& url() const noexcept { return _o.url; }
    // Rounds of fetch attempts finished so far (failed ones included), and a wait for the
    // n-th (false when `timeout` passed first): for the start-up and tests.
    uint64_t rounds();
    bool wait_rounds(uint64_t n, std::chrono::milliseconds timeout);

private:
    boost::asio::awaitable<void> run();
    // One round of attempts; true when it brought keys.
    boost::asio::awaitable<bool> round(const char* why);
    // One GET: the body, or why not.
    boost::asio::awaitable<security::outcome<std::string>> fetch();

    const options _o;
    http_url _target;
    // Declared before what runs on it, so it is destroyed after them.
    boost::asio::io_context _io{1};
    boost::asio::steady_timer _next_round{_io};  // cancelled to start a round early
    std::atomic<bool> _stopping{false};

    std::mutex _mu;  // guards what follows
    std::condition_variable _round_done;
    uint64_t _rounds = 0;
    std::shared_ptr<const security::jwks> _keys;  // null until a fetch succeeds
    std::string _body;                            // of the fetch _keys came from
    std::string _last_failure;                    // of the last round that failed
    clock::time_point _last_expedite{};
    bool _expedite = false;  // a round was asked for; the thread takes it

    std::thread _thread;  // last: started once everything above exists
};

} // namespace trib::broker
