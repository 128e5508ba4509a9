#include "coordinator/raft/envelope.h"

#include "protocol/wire.h"

#include <fmt/format.h>

namespace trib::coordinator::raft {

namespace {

constexpr int16_t envelope_version = 0;

result<envelope> refuse(envelope_errc e, std::string* why, std::string reason) {
    if (why) {
        *why = std::move(reason);
    }
    return e;
}

} // namespace

envelope_request make_envelope(std::string_view cluster_id, node_id from, node_id to,
                               std::vector<encoded_rpc> items) {
    envelope_request req;
    req.cluster_id = std::string(cluster_id);
    req.sender_id = from.value();
    req.receiver_id = to.value();
    req.messages.reserve(items.size());
    for (auto& item : items) {
        auto& m = req.messages.emplace_back();
        m.api_key = item.api_key;
        m.request = item.request;
        m.body = std::move(item.body);
    }
    return req;
}

result<bytes> encode_envelope(std::string_view cluster_id, node_id from, node_id to,
                              std::span<const message> msgs, std::span<const observer_report> reports) {
    std::vector<encoded_rpc> items;
    items.reserve(msgs.size() + reports.size());
    for (const auto& m : msgs) {
        if (m.from != from || m.to != to) {
            return envelope_errc::mismatched_ids;
        }
        auto item = encode(m, cluster_id);
        if (!item) {
            return item.error();
        }
        items.push_back(std::move(*item));
    }
    for (const auto& r : reports) {
        if (r.from != from || r.to != to) {
            return envelope_errc::mismatched_ids;
        }
        items.push_back(encode_report(r, cluster_id));
    }
    protocol::writer w;
    make_envelope(cluster_id, from, to, std::move(items)).encode(w, envelope_version);
    return w.take();
}

result<envelope> decode_envelope(bytes_view body, std::string_view cluster_id, node_id self, std::string* why) {
    protocol::reader r(body);
    envelope_request req;
    req.decode(r, envelope_version);
    if (!r.ok() || r.remaining() != 0) {
        return refuse(envelope_errc::malformed, why, "the envelope does not decode");
    }
    if (req.cluster_id != cluster_id) {
        return refuse(envelope_errc::wrong_cluster, why,
                      fmt::format("cluster id {:?} from node {}, this cluster is {:?}", req.cluster_id, req.sender_id,
                                  cluster_id));
    }
    if (req.sender_id < 0) {
        return refuse(envelope_errc::malformed, why, fmt::format("negative sender id {}", req.sender_id));
    }
    if (req.receiver_id != self.value()) {
        return refuse(envelope_errc::wrong_receiver, why,
                      fmt::format("node {} addressed node {}, this is node {}", req.sender_id, req.receiver_id,
                                  self.value()));
    }
    envelope out;
    out.sender = node_id(req.sender_id);
    out.messages.reserve(req.messages.size());
    for (size_t i = 0; i < req.messages.size(); ++i) {
        const auto& item = req.messages[i];
        if (item.api_key == api_observer) {
            auto report = item.request ? decode_report(item.body, cluster_id)
                                       : result<observer_report>(store_errc::bad_message);
            if (!report) {
                return refuse(envelope_errc::bad_item, why,
                              fmt::format("node {}'s item {} (api {}, {}) is no observer report: {}", req.sender_id, i,
                                          item.api_key, item.request ? "request" : "response",
                                          report.error().message()));
            }
            if (report->from != out.sender || report->to != self) {
                return refuse(envelope_errc::mismatched_ids, why,
                              fmt::format("node {}'s item {} is a report from node {} to node {}", req.sender_id, i,
                                          report->from.value(), report->to.value()));
            }
            out.reports.push_back(std::move(*report));
            continue;
        }
        std::optional<message> m;
        std::error_code ec;
        if (item.request) {
            auto decoded = decode_request(item.api_key, item.body, cluster_id);
            if (decoded) {
                m = std::move(*decoded);
            } else {
                ec = decoded.error();
            }
        } else {
            auto decoded = decode_response(item.api_key, item.body);
            if (decoded) {
                m = std::move(*decoded);  // nullopt: an acknowledgement, which is no message
            } else {
                ec = decoded.error();
            }
        }
        if (!m) {
            return refuse(envelope_errc::bad_item, why,
                          fmt::format("node {}'s item {} (api {}, {}) is no message: {}", req.sender_id, i,
                                      item.api_key, item.request ? "request" : "response",
                                      ec ? ec.message() : "an acknowledgement"));
        }
        if (m->from != out.sender || m->to != self) {
            return refuse(envelope_errc::mismatched_ids, why,
                          fmt::format("node {}'s item {} is from node {} to node {}", req.sender_id, i,
                                      m->from.value(), m->to.value()));
        }
        out.messages.push_back(std::move(*m));
    }
    return out;
}

protocol::error_code envelope_error_code(std::error_code ec) {
    if (ec.category() != raft_envelope_category()) {
        return protocol::error_code::unknown_server_error;
    }
    switch (envelope_errc(ec.value())) {
    case envelope_errc::wrong_cluster: return protocol::error_code::inconsistent_cluster_id;
    case envelope_errc::wrong_receiver: return protocol::error_code::inconsistent_voter_set;
    case envelope_errc::malformed:
    case envelope_errc::bad_item:
    case envelope_errc::mismatched_ids: return protocol::error_code::invalid_request;
    }
    return protocol::error_code::unknown_server_error;
}

bytes encode_envelope_response(protocol::error_code code, std::string_view message) {
    envelope_response resp;
    resp.error_code = protocol::to_int(code);
    if (code != protocol::error_code::none) {
        resp.error_message = std::string(message);
    }
    protocol::writer w;
    resp.encode(w, envelope_version);
    return w.take();
}

} // namespace trib::coordinator::raft
