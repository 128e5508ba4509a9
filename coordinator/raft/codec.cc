#include "coordinator/raft/codec.h"

#include "common/batch_header.h"
#include "common/log.h"
#include "protocol/messages/coordinator_raft_append.h"
#include "protocol/messages/coordinator_raft_observer.h"
#include "protocol/messages/coordinator_raft_snapshot.h"
#include "protocol/messages/coordinator_raft_timeout_now.h"
#include "protocol/messages/coordinator_raft_vote.h"
#include "protocol/messages/coordinator_snapshot_header_record.h"
#include "protocol/messages/coordinator_voters_record.h"
#include "protocol/records.h"

#include <algorithm>
#include <chrono>
#include <climits>

namespace trib::coordinator::raft {

namespace {

constexpr int16_t record_version = 0;

// A control record's value: int16 type (the definition's key), int16 version, the body.
template<typename R>
bytes encode_value(const R& rec) {
    protocol::writer w;
    w.write_int16(R::api_key);
    w.write_int16(record_version);
    rec.encode(w, record_version);
    return w.take();
}

template<typename R>
result<R> decode_value(bytes_view value) {
    protocol::reader r(value);
    int16_t type = r.read_int16();
    int16_t version = r.read_int16();
    if (!r.ok() || type != R::api_key || version != record_version) {
        return store_errc::bad_entry;
    }
    R out;
    out.decode(r, record_version);
    if (!r.ok() || r.remaining() != 0) {
        return store_errc::bad_entry;
    }
    return out;
}

template<typename V>
std::vector<V> to_wire(const voter_set& voters) {
    std::vector<V> out;
    out.reserve(voters.size());
    for (const auto& v : voters) {
        V w;
        w.id = v.id.value();
        w.host = v.host;
        w.port = v.port;
        w.directory_id = v.directory_id;
        out.push_back(std::move(w));
    }
    return out;
}

template<typename V>
voter_set from_wire(const std::vector<V>& wire) {
    voter_set out;
    out.reserve(wire.size());
    for (const auto& w : wire) {
        out.push_back(voter{node_id(w.id), w.host, w.port, w.directory_id});
    }
    return out;
}

// A control batch of one record: key (version 0, `type`), `value`.
result<bytes> control_batch(int16_t type, std::optional<bytes_view> value, offset at, term_id term,
                            int64_t timestamp_ms) {
    protocol::batch_options o;
    o.control = true;
    o.base_offset = at.value();
    o.partition_leader_epoch = int32_t(term.value());
    uint8_t key[4];
    store_be16(key, 0);
    store_be16(key + 2, uint16_t(type));
    protocol::batch_builder b(o);
    b.add(bytes_view(key), value, timestamp_ms);
    return b.build();
}

// The one record of a control batch: its type and value. store_errc::bad_entry unless the batch
// holds exactly one control record with a 4-byte key of version 0.
struct control_content {
    int16_t type = 0;
    std::optional<bytes> value;
};
result<control_content> read_control(bytes_view batch) {
    auto reader = protocol::batch_reader::open(batch);
    if (!reader) {
        return store_errc::bad_entry;
    }
    auto rec = reader->next();
    if (!rec || !*rec || !(*rec)->key || (*rec)->key->size() != 4) {
        return store_errc::bad_entry;
    }
    control_content c;
    if (load_be16((*rec)->key->data()) != 0) {
        return store_errc::bad_entry;
    }
    c.type = int16_t(load_be16((*rec)->key->data() + 2));
    if ((*rec)->value) {
        c.value = bytes((*rec)->value->begin(), (*rec)->value->end());
    }
    auto end = reader->next();
    if (!end || *end) {
        return store_errc::bad_entry;  // a second record, or bytes after the first
    }
    return c;
}

bool term_fits_batch(term_id t) { return t.value() >= 0 && t.value() <= INT32_MAX; }

template<typename M>
result<M> decode_body(bytes_view body) {
    protocol::reader r(body);
    M m;
    m.decode(r, rpc_version);
    if (!r.ok() || r.remaining() != 0) {
        return store_errc::bad_message;
    }
    return m;
}

template<typename M>
bytes encode_body(const M& m) {
    protocol::writer w;
    m.encode(w, rpc_version);
    return w.take();
}

bool nonneg(int64_t v) { return v >= 0; }

// The sender and receiver of a request (checked: ids are >= 0) and its cluster id.
template<typename Req>
result<message> request_envelope(const Req& req, std::string_view cluster_id) {
    if (req.sender_id < 0 || req.receiver_id < 0) {
        return store_errc::bad_message;
    }
    if (req.cluster_id != cluster_id) {
        return store_errc::wrong_cluster;
    }
    message m;
    m.from = node_id(req.sender_id);
    m.to = node_id(req.receiver_id);
    return m;
}

template<typename Resp>
result<message> response_envelope(const Resp& resp) {
    if (resp.error_code != 0) {
        TLOG_WARN("raft peer {} answered api {} with {} ({})", resp.sender_id, Resp::api_key,
                  protocol::error_code_name(protocol::error_code(resp.error_code)),
                  resp.error_message ? *resp.error_message : "");
        return store_errc::peer_error;
    }
    if (resp.sender_id < 0 || resp.receiver_id < 0) {
        return store_errc::bad_message;
    }
    message m;
    m.from = node_id(resp.sender_id);
    m.to = node_id(resp.receiver_id);
    return m;
}

template<typename Req>
void fill_request(Req& req, const message& m, std::string_view cluster_id) {
    req.cluster_id = std::string(cluster_id);
    req.sender_id = m.from.value();
    req.receiver_id = m.to.value();
}

template<typename Resp>
void fill_response(Resp& resp, const message& m) {
    resp.sender_id = m.from.value();
    resp.receiver_id = m.to.value();
}

} // namespace

// ---- voter sets -------------------------------------------------------------------------

bytes encode_voters(const voter_set& voters) {
    protocol::coordinator_voters_record_request rec;
    rec.voters = to_wire<protocol::coordinator_voters_record_request::voter>(voters);
    return encode_value(rec);
}

std::optional<voter_set> decode_voters(bytes_view payload) {
    auto rec = decode_value<protocol::coordinator_voters_record_request>(payload);
    if (!rec) {
        return std::nullopt;
    }
    voter_set out = from_wire(rec->voters);
    if (!valid_voter_set(out)) {
        return std::nullopt;
    }
    return out;
}

// ---- voter sets -------------------------------------------------------------------------

bool valid_voter_set(const voter_set& voters) {
    for (size_t i = 0; i < voters.size(); ++i) {
        if (voters[i].id.value() < 0 || (i > 0 && voters[i - 1].id >= voters[i].id)) {
            return false;
        }
    }
    return true;
}

// ---- entries as record batches ----------------------------------------------------------

result<bytes> entry_to_batch(const entry& e, int64_t timestamp_ms) {
    if (e.at.value() < 0 || e.count < 1 || !term_fits_batch(e.term) || e.at.value() > INT64_MAX - e.count) {
        return store_errc::bad_entry;
    }
    switch (e.kind) {
    case entry_kind::voters: {
        if (e.count != 1 || !decode_voters(e.payload)) {
            return store_errc::bad_entry;
        }
        return control_batch(control_voters, bytes_view(e.payload), e.at, e.term, timestamp_ms);
    }
    case entry_kind::data: {
        if (e.payload.empty()) {
            if (e.count != 1) {
                return store_errc::bad_entry;
            }
            return control_batch(control_noop, std::nullopt, e.at, e.term, timestamp_ms);
        }
        auto summary = protocol::validate_batch(e.payload);
        if (!summary || summary->size != e.payload.size() || summary->header.control() ||
            summary->record_count != e.count || summary->header.last_offset_delta != e.count - 1) {
            return store_errc::bad_entry;
        }
        bytes out = e.payload;
        set_base_offset(out.data(), e.at.value());
        set_partition_leader_epoch(out.data(), int32_t(e.term.value()));
        return out;
    }
    }
    return store_errc::bad_entry;
}

result<entry> batch_to_entry(bytes_view batch) {
    auto h = read_and_verify_batch(batch);
    if (!h || h->total_size() != batch.size() || h->base_offset < 0 || h->last_offset_delta < 0 ||
        h->base_offset > INT64_MAX - h->last_offset_delta - 1) {
        return store_errc::bad_entry;
    }
    entry e;
    e.at = offset(h->base_offset);
    e.count = h->last_offset_delta + 1;
    e.term = term_id(std::max(h->partition_leader_epoch, 0));
    if (h->control()) {
        auto c = read_control(batch);
        if (!c || e.count != 1) {
            return store_errc::bad_entry;
        }
        if (c->type == control_voters && c->value && decode_voters(*c->value)) {
            e.kind = entry_kind::voters;
            e.payload = std::move(*c->value);
            return e;
        }
        if (c->type == control_noop && !c->value) {
            return e;  // data, empty payload
        }
        return store_errc::bad_entry;
    }
    auto summary = protocol::validate_batch(batch);
    if (!summary || summary->record_count != e.count) {
        return store_errc::bad_entry;
    }
    e.payload.assign(batch.begin(), batch.end());
    set_base_offset(e.payload.data(), 0);
    set_partition_leader_epoch(e.payload.data(), -1);
    return e;
}

result<std::vector<entry>> batches_to_entries(bytes_view batches) {
    std::vector<entry> out;
    protocol::record_set_iterator it(batches);
    while (true) {
        auto b = it.next();
        if (!b) {
            return store_errc::bad_entry;
        }
        if (!*b) {
            break;
        }
        auto e = batch_to_entry((*b)->data);
        if (!e) {
            return e.error();
        }
        out.push_back(std::move(*e));
    }
    if (it.partial_tail()) {
        return store_errc::bad_entry;
    }
    return out;
}

result<bytes> snapshot_header_batch(const snapshot_meta& meta, int64_t timestamp_ms) {
    if (meta.end.value() < 0 || !term_fits_batch(meta.term) || !valid_voter_set(meta.voters)) {
        return store_errc::bad_entry;
    }
    protocol::coordinator_snapshot_header_record_request rec;
    rec.end_offset = meta.end.value();
    rec.term = meta.term.value();
    rec.voters = to_wire<protocol::coordinator_snapshot_header_record_request::voter>(meta.voters);
    bytes value = encode_value(rec);
    return control_batch(control_snapshot_header, bytes_view(value), offset(0), meta.term, timestamp_ms);
}

result<std::optional<snapshot_meta>> read_snapshot_header(bytes_view batch) {
    auto h = read_batch_header(batch);
    if (!h || !h->control()) {
        return std::optional<snapshot_meta>();
    }
    auto c = read_control(batch);
    if (!c) {
        return c.error();
    }
    if (c->type != control_snapshot_header) {
        return std::optional<snapshot_meta>();
    }
    if (!c->value) {
        return store_errc::bad_entry;
    }
    auto rec = decode_value<protocol::coordinator_snapshot_header_record_request>(*c->value);
    if (!rec) {
        return rec.error();
    }
    snapshot_meta meta;
    meta.end = offset(rec->end_offset);
    meta.term = term_id(rec->term);
    meta.voters = from_wire(rec->voters);
    if (meta.end.value() < 0 || !term_fits_batch(meta.term) || !valid_voter_set(meta.voters)) {
        return store_errc::bad_entry;
    }
    return std::optional<snapshot_meta>(std::move(meta));
}

// ---- messages as RPCs -------------------------------------------------------------------

result<encoded_rpc> encode(const message& m, std::string_view cluster_id) {
    struct visitor {
        const message& m;
        std::string_view cluster_id;

        result<encoded_rpc> operator()(const vote_request& v) const {
            protocol::coordinator_raft_vote_request req;
            fill_request(req, m, cluster_id);
            req.term = v.term.value();
            req.last_end = v.last_end.value();
            req.last_term = v.last_term.value();
            req.pre_vote = v.pre_vote;
            req.transfer = v.transfer;
            return encoded_rpc{api_vote, true, encode_body(req)};
        }
        result<encoded_rpc> operator()(const vote_response& v) const {
            protocol::coordinator_raft_vote_response resp;
            fill_response(resp, m);
            resp.term = v.term.value();
            resp.granted = v.granted;
            resp.pre_vote = v.pre_vote;
            return encoded_rpc{api_vote, false, encode_body(resp)};
        }
        result<encoded_rpc> operator()(const append_request& a) const {
            protocol::coordinator_raft_append_request req;
            fill_request(req, m, cluster_id);
            req.term = a.term.value();
            req.prev_end = a.prev_end.value();
            req.prev_term = a.prev_term.value();
            req.commit = a.commit.value();
            req.lease_tick = a.lease_tick;
            if (!a.entries.empty()) {
                // Control batches get the sender's clock; data batches keep their own.
                int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
                protocol::record_set set;
                for (const auto& e : a.entries) {
                    auto b = entry_to_batch(e, now);
                    if (!b) {
                        return b.error();
                    }
                    set.data.insert(set.data.end(), b->begin(), b->end());
                }
                req.entries = std::move(set);
            }
            return encoded_rpc{api_append, true, encode_body(req)};
        }
        result<encoded_rpc> operator()(const append_response& a) const {
            protocol::coordinator_raft_append_response resp;
            fill_response(resp, m);
            resp.term = a.term.value();
            resp.success = a.success;
            resp.end = a.end.value();
            resp.hint_term = a.hint_term.value();
            resp.lease_tick = a.lease_tick;
            return encoded_rpc{api_append, false, encode_body(resp)};
        }
        result<encoded_rpc> operator()(const snapshot_request& s) const {
            protocol::coordinator_raft_snapshot_request req;
            fill_request(req, m, cluster_id);
            req.term = s.term.value();
            req.end_offset = s.meta.end.value();
            req.snapshot_term = s.meta.term.value();
            req.voters = to_wire<protocol::coordinator_raft_snapshot_request::voter>(s.meta.voters);
            req.chunk_at = int64_t(s.chunk_at);
            req.data = s.data;
            req.last = s.last;
            return encoded_rpc{api_snapshot, true, encode_body(req)};
        }
        result<encoded_rpc> operator()(const snapshot_response& s) const {
            protocol::coordinator_raft_snapshot_response resp;
            fill_response(resp, m);
            resp.term = s.term.value();
            resp.end_offset = s.end.value();
            resp.next_chunk = int64_t(s.next_chunk);
            resp.done = s.done;
            return encoded_rpc{api_snapshot, false, encode_body(resp)};
        }
        result<encoded_rpc> operator()(const timeout_now& t) const {
            protocol::coordinator_raft_timeout_now_request req;
            fill_request(req, m, cluster_id);
            req.term = t.term.value();
            return encoded_rpc{api_timeout_now, true, encode_body(req)};
        }
    };
    return std::visit(visitor{m, cluster_id}, m.body);
}

result<message> decode_request(int16_t api_key, bytes_view body, std::string_view cluster_id) {
    switch (api_key) {
    case api_vote: {
        auto req = decode_body<protocol::coordinator_raft_vote_request>(body);
        if (!req) {
            return req.error();
        }
        if (!nonneg(req->term) || !nonneg(req->last_end) || !nonneg(req->last_term)) {
            return store_errc::bad_message;
        }
        auto m = request_envelope(*req, cluster_id);
        if (m) {
            m->body = vote_request{term_id(req->term), offset(req->last_end), term_id(req->last_term), req->pre_vote,
                                   req->transfer};
        }
        return m;
    }
    case api_append: {
        auto req = decode_body<protocol::coordinator_raft_append_request>(body);
        if (!req) {
            return req.error();
        }
        if (!nonneg(req->term) || !nonneg(req->prev_end) || !nonneg(req->prev_term) || !nonneg(req->commit)) {
            return store_errc::bad_message;
        }
        auto m = request_envelope(*req, cluster_id);
        if (!m) {
            return m;
        }
        append_request a;
        a.term = term_id(req->term);
        a.prev_end = offset(req->prev_end);
        a.prev_term = term_id(req->prev_term);
        a.commit = offset(req->commit);
        a.lease_tick = req->lease_tick;
        if (req->entries && !req->entries->data.empty()) {
            auto entries = batches_to_entries(req->entries->data);
            if (!entries) {
                return entries.error();
            }
            // Log matching needs entries that follow prev_end and each other, with terms that
            // never go down and never pass the leader's.
            offset next = a.prev_end;
            term_id last = a.prev_term;
            for (const auto& e : *entries) {
                if (e.at != next || e.term < last || e.term > a.term) {
                    return store_errc::bad_message;
                }
                next = e.end();
                last = e.term;
            }
            a.entries = std::move(*entries);
        }
        m->body = std::move(a);
        return m;
    }
    case api_snapshot: {
        auto req = decode_body<protocol::coordinator_raft_snapshot_request>(body);
        if (!req) {
            return req.error();
        }
        if (!nonneg(req->term) || !nonneg(req->end_offset) || !nonneg(req->snapshot_term) ||
            !nonneg(req->chunk_at)) {
            return store_errc::bad_message;
        }
        auto m = request_envelope(*req, cluster_id);
        if (!m) {
            return m;
        }
        snapshot_request s;
        s.term = term_id(req->term);
        s.meta.end = offset(req->end_offset);
        s.meta.term = term_id(req->snapshot_term);
        s.meta.voters = from_wire(req->voters);
        if (!valid_voter_set(s.meta.voters)) {
            return store_errc::bad_message;
        }
        s.chunk_at = uint64_t(req->chunk_at);
        s.data = std::move(req->data);
        s.last = req->last;
        m->body = std::move(s);
        return m;
    }
    case api_timeout_now: {
        auto req = decode_body<protocol::coordinator_raft_timeout_now_request>(body);
        if (!req) {
            return req.error();
        }
        if (!nonneg(req->term)) {
            return store_errc::bad_message;
        }
        auto m = request_envelope(*req, cluster_id);
        if (m) {
            m->body = timeout_now{term_id(req->term)};
        }
        return m;
    }
    }
    return store_errc::bad_message;
}

result<std::optional<message>> decode_response(int16_t api_key, bytes_view body) {
    switch (api_key) {
    case api_vote: {
        auto resp = decode_body<protocol::coordinator_raft_vote_response>(body);
        if (!resp) {
            return resp.error();
        }
        auto m = response_envelope(*resp);
        if (!m) {
            return m.error();
        }
        if (!nonneg(resp->term)) {
            return store_errc::bad_message;
        }
        m->body = vote_response{term_id(resp->term), resp->granted, resp->pre_vote};
        return std::optional<message>(std::move(*m));
    }
    case api_append: {
        auto resp = decode_body<protocol::coordinator_raft_append_response>(body);
        if (!resp) {
            return resp.error();
        }
        auto m = response_envelope(*resp);
        if (!m) {
            return m.error();
        }
        if (!nonneg(resp->term) || !nonneg(resp->end) || !nonneg(resp->hint_term)) {
            return store_errc::bad_message;
        }
        m->body = append_response{term_id(resp->term), resp->success, offset(resp->end), term_id(resp->hint_term),
                                  resp->lease_tick};
        return std::optional<message>(std::move(*m));
    }
    case api_snapshot: {
        auto resp = decode_body<protocol::coordinator_raft_snapshot_response>(body);
        if (!resp) {
            return resp.error();
        }
        auto m = response_envelope(*resp);
        if (!m) {
            return m.error();
        }
        if (!nonneg(resp->term) || !nonneg(resp->end_offset) || !nonneg(resp->next_chunk)) {
            return store_errc::bad_message;
        }
        m->body = snapshot_response{term_id(resp->term), offset(resp->end_offset), uint64_t(resp->next_chunk),
                                    resp->done};
        return std::optional<message>(std::move(*m));
    }
    case api_timeout_now: {
        auto resp = decode_body<protocol::coordinator_raft_timeout_now_response>(body);
        if (!resp) {
            return resp.error();
        }
        if (auto m = response_envelope(*resp); !m) {
            return m.error();
        }
        return std::optional<message>();
    }
    }
    return store_errc::bad_message;
}

encoded_rpc encode_report(const observer_report& r, std::string_view cluster_id) {
    protocol::coordinator_raft_observer_request req;
    req.cluster_id = std::string(cluster_id);
    req.sender_id = r.from.value();
    req.receiver_id = r.to.value();
    req.observer_id = r.observer.value();
    req.directory_id = r.directory_id;
    req.host = r.host;
    req.port = r.port;
    req.log_end_offset = r.log_end.value();
    return encoded_rpc{api_observer, true, encode_body(req)};
}

result<observer_report> decode_report(bytes_view body, std::string_view cluster_id) {
    auto req = decode_body<protocol::coordinator_raft_observer_request>(body);
    if (!req) {
        return req.error();
    }
    if (req->observer_id < 0 || !nonneg(req->log_end_offset)) {
        return store_errc::bad_message;
    }
    auto m = request_envelope(*req, cluster_id);
    if (!m) {
        return m.error();
    }
    observer_report r;
    r.from = m->from;
    r.to = m->to;
    r.observer = node_id(req->observer_id);
    r.directory_id = req->directory_id;
    r.host = std::move(req->host);
    r.port = req->port;
    r.log_end = offset(req->log_end_offset);
    return r;
}

namespace {

template<typename Resp>
bytes error_body(protocol::error_code code, std::string_view error_message, node_id from, node_id to) {
    Resp resp;
    resp.error_code = protocol::to_int(code);
    resp.error_message = std::string(error_message);
    resp.sender_id = from.value();
    resp.receiver_id = to.value();
    return encode_body(resp);
}

template<typename Resp>
std::optional<protocol::error_code> error_of(bytes_view body) {
    auto resp = decode_body<Resp>(body);
    if (!resp) {
        return std::nullopt;
    }
    return protocol::error_code(resp->error_code);
}

} // namespace

result<bytes> encode_error_response(int16_t api_key, protocol::error_code code, std::string_view error_message,
                                    node_id from, node_id to) {
    switch (api_key) {
    case api_vote: return error_body<protocol::coordinator_raft_vote_response>(code, error_message, from, to);
    case api_append: return error_body<protocol::coordinator_raft_append_response>(code, error_message, from, to);
    case api_snapshot:
        return error_body<protocol::coordinator_raft_snapshot_response>(code, error_message, from, to);
    case api_timeout_now:
        return error_body<protocol::coordinator_raft_timeout_now_response>(code, error_message, from, to);
    }
    return store_errc::bad_message;
}

std::optional<protocol::error_code> response_error(int16_t api_key, bytes_view body) {
    switch (api_key) {
    case api_vote: return error_of<protocol::coordinator_raft_vote_response>(body);
    case api_append: return error_of<protocol::coordinator_raft_append_response>(body);
    case api_snapshot: return error_of<protocol::coordinator_raft_snapshot_response>(body);
    case api_timeout_now: return error_of<protocol::coordinator_raft_timeout_now_response>(body);
    }
    return std::nullopt;
}

} // namespace trib::coordinator::raft
