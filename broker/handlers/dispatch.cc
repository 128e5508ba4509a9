#include "broker/handlers/dispatch.h"

#include "broker/handlers/handlers.h"
#include "broker/services.h"
#include "common/log.h"

#include <array>

namespace trib::broker {
namespace {

using protocol::reader;
using protocol::request_header;
using protocol::writer;

// Encodes size prefix, response header and body into one frame.
template<typename Response>
outgoing_frame encode_response(const request_header& h, const Response& r) {
    writer w;
    w.write_int32(0);  // size, patched below
    auto header_version = protocol::response_header_version(h.api_key, h.api_version);
    protocol::encode_response_header(w, h.correlation_id, header_version);
    r.encode(w, h.api_version);
    auto splices = w.splices();
    outgoing_frame f{w.take(), std::move(splices)};
    store_be32(f.data.data(), uint32_t(f.data.size() - 4 + f.splice_bytes()));
    return f;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

using entry_fn = asio::awaitable<dispatch_result> (*)(broker_services&, const request_header&, reader&,
                                                       const connection_info&);

template<typename H>
asio::awaitable<dispatch_result> run_handler(broker_services& services, const request_header& h, reader& r,
                                             const connection_info& conn) {
    typename H::request req;
    req.decode(r, h.api_version);
    if (!r.ok()) {
        co_return close_connection{fmt::format("malformed {} v{} request (correlation id {})",
                                               protocol::find_api(h.api_key)->name, h.api_version,
                                               h.correlation_id)};
    }
    request_context ctx{services, h, conn, std::nullopt, std::nullopt};
    auto started = std::chrono::steady_clock::now();
    auto resp = co_await H::handle(ctx, std::move(req));
    if (!resp) {
        services.metrics.request_done(h.api_key, seconds_since(started));
        if (ctx.close_reason) {
            co_return close_connection{*ctx.close_reason};
        }
        co_return no_response{};
    }
    auto frame = encode_response(h, *resp);
    services.metrics.request_done(h.api_key, seconds_since(started));
    if (ctx.close_after_response) {
        co_return respond_then_close{std::move(frame), std::move(*ctx.close_after_response)};
    }
    co_return respond{std::move(frame)};
}

struct table_entry {
    int16_t min_version = -1;
    int16_t max_version = -1;
    entry_fn fn = nullptr;
};
template<typename... H>
constexpr std::array<table_entry, protocol::api_slots> build_table(handler_list<H...>) {
    static_assert(((protocol::api_slot(H::request::api_key).has_value()) && ...), "an API key without a slot");
    std::array<table_entry, protocol::api_slots> t{};
    ((t[*protocol::api_slot(H::request::api_key)] = table_entry{H::min_version, H::max_version, &run_handler<H>}),
     ...);
    return t;
}
constexpr auto table = build_table(all_handlers{});

// The lowest version advertised in ApiVersions. Produce is advertised from v0 though only
// v3+ (magic-2 batches) is served: librdkafka 2.0 decides whether the broker takes gzip,
// snappy and lz4 by checking for Produce v0 and sends them uncompressed otherwise (its issue
// #4956; Apache Kafka 4.0 does the same, KAFKA-18659). A v0-v2 request is still refused.
template<typename H>
constexpr int16_t advertised_min_version() {
    return H::request::api_key == protocol::produce_request::api_key ? 0 : H::min_version;
}

template<typename... H>
std::vector<served_api> list_served(handler_list<H...>) {
    return {served_api{H::request::api_key, advertised_min_version<H>(), H::max_version}...};
}

// An ApiVersions request of a version we don't serve is answered in the v0 layout with
// UNSUPPORTED_VERSION and our ranges, so a newer client can pick a version we do serve.
outgoing_frame unsupported_api_versions(const request_header& h) {
    protocol::api_versions_response resp;
    resp.error_code = code(protocol::error_code::unsupported_version);
    for (const auto& a : served_apis()) {
        auto& k = resp.api_keys.emplace_back();
        k.api_key = a.key;
        k.min_version = a.min_version;
        k.max_version = a.max_version;
    }
    request_header v0 = h;
    v0.api_version = 0;
    return encode_response(v0, resp);
}

} // namespace

const std::vector<served_api>& served_apis() {
    static const auto apis = list_served(all_handlers{});
    return apis;
}

std::unique_ptr<net::connection_state> handler_dispatcher::open_connection(const std::string& listener) {
    return std::make_unique<session>(_services.config.sasl.find(listener));
}

asio::awaitable<dispatch_result> handler_dispatcher::dispatch(bytes frame, const connection_info& conn) {
    reader r(frame);
    request_header h;
    if (!protocol::decode_request_header(r, h)) {
        co_return close_connection{"undecodable request header"};
    }
    const auto slot = protocol::api_slot(h.api_key);
    if (!slot || !table[*slot].fn) {
        co_return close_connection{fmt::format("unsupported API key {} (correlation id {})", h.api_key,
                                               h.correlation_id)};
    }
    // On a SASL listener only ApiVersions, SaslHandshake and SaslAuthenticate may come before
    // authentication, only SaslAuthenticate during a re-authentication, and nothing but the
    // SaslHandshake of a re-authentication once the session has ended: anything else closes
    // the connection (Kafka does the same). The session is always ours: open_connection made it.
    if (auto* s = static_cast<session*>(conn.state)) {
        const auto admission = s->admit(h.api_key, session::clock::now());
        if (admission != session::admission::serve) {
            if (admission == session::admission::expired) {
                _services.metrics.sasl(conn.listener, broker_metrics::sasl_event::expired_connection_killed);
            }
            co_return close_connection{s->refusal(admission, h.api_key, h.correlation_id, conn.listener)};
        }
    }
    const auto& e = table[*slot];
    if (h.api_version < e.min_version || h.api_version > e.max_version) {
        if (h.api_key == protocol::api_versions_request::api_key) {
            co_return respond{unsupported_api_versions(h)};
        }
        co_return close_connection{fmt::format("unsupported version {} of {} (serving {}..{})", h.api_version,
                                               protocol::find_api(h.api_key)->name, e.min_version,
                                               e.max_version)};
    }
    co_return co_await e.fn(_services, h, r, conn);
}

} // namespace trib::broker
