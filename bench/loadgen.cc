// tributary-loadgen: a small Kafka load generator on Debian's librdkafka (C API), for
// bench/broker_bench.sh. Works against any Kafka-compatible broker.
//
//   produce  records of --record-size bytes to --topic (created with --partitions if
//            missing), --records N or --seconds S; records/s, MB/s of payload, delivery errors
//   consume  assign() every partition from the beginning, read --bytes B or --records N (or
//            to the end of every partition); MB/s of payload
//   latency  produce at --rate msgs/s (paced) with the send time in the payload, consume
//            concurrently from the end; end-to-end latency p50/p99/p99.9/max. SIGTERM or
//            SIGINT ends the run early, reported as if --seconds had ended there (for a
//            script whose window, such as a partition move, has no length known in advance)
//   gap      produce at --rate msgs/s (paced) to one --partition for --seconds; once acks
//            flow, a line naming the partition's leader (for a script to kill it), at the
//            end the largest gap between two consecutive acks, its ends on the wall clock
//
// One JSON object per line on stdout (machine-readable), one human line on stderr.
// MB are 10^6 bytes of record values (keys are null; headers none).
#include "common/big_buffers.h"

#include <librdkafka/rdkafka.h>

#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
    std::string mode;
    std::string brokers = "127.0.0.1:9092";
    std::string topic = "bench";
    int partitions = 16;
    int replication = 1;
    size_t record_size = 1024;
    int64_t records = 0;   // 0: not a bound
    int64_t bytes = 0;     // consume: payload bytes to read; 0: not a bound
    double seconds = 0;    // 0: not a bound
    double warmup = 2;     // latency: seconds discarded at the start
    std::string acks = "1";
    int linger_ms = 5;
    int batch_size = 1 << 20;
    std::string compression = "none";
    double rate = 50000;    // latency: messages per second
    std::string label;      // echoed in the JSON line
    std::vector<std::pair<std::string, std::string>> extra;  // --set k=v (librdkafka)
    bool round_robin = true;  // produce: explicit round-robin over partitions
    int clients = 1;          // produce/consume: independent clients, partitions split among them
    std::vector<std::pair<std::string, std::string>> topic_config;  // --topic-config k=v
    int32_t partition = 0;    // gap: the partition produced to
    std::string slow_log;     // latency: where to list the slow messages and acks
    double slow_ms = 3;       // latency: what counts as slow
};

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "tributary-loadgen: %s\n", msg.c_str());
    std::exit(2);
}

void usage() {
    std::fprintf(stderr,
                 "usage: tributary-loadgen produce|consume|latency|gap [options]\n"
                 "  --brokers H:P[,H:P]   bootstrap servers (127.0.0.1:9092)\n"
                 "  --topic NAME          topic (bench)\n"
                 "  --partitions N        partitions when creating the topic (16)\n"
                 "  --replication N       replication factor when creating the topic (1)\n"
                 "  --topic-config K=V    topic config when creating the topic (repeatable)\n"
                 "  --partition P         gap: the partition produced to (0)\n"
                 "  --record-size B       value size in bytes (1024)\n"
                 "  --records N           produce/consume N records\n"
                 "  --bytes B             consume B payload bytes (k/m/g suffixes: 2^10..)\n"
                 "  --seconds S           produce (or latency: measure) for S seconds; latency ends\n"
                 "                        early, with its report, on SIGTERM or SIGINT\n"
                 "  --warmup S            latency: seconds not counted (2)\n"
                 "  --rate R              latency, gap: messages per second (50000)\n"
                 "  --slow-log FILE       latency: list each message and ack slower than --slow-ms\n"
                 "  --slow-ms MS          latency: what --slow-log counts as slow (3)\n"
                 "  --acks A              0, 1 or all (1)\n"
                 "  --linger-ms MS        linger.ms (5)\n"
                 "  --batch-size B        batch.size (1048576)\n"
                 "  --compression C       none|gzip|snappy|lz4|zstd (none)\n"
                 "  --partitioner P       rr (explicit round-robin, default) or default (librdkafka's)\n"
                 "  --clients N           produce/consume: N clients (own connections and threads),\n"
                 "                        client i takes the partitions p with p %% N == i (1)\n"
                 "  --set KEY=VALUE       any librdkafka property (repeatable)\n"
                 "  --label L             copied into the JSON line\n");
    std::exit(2);
}

int64_t parse_size(const std::string& s) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str()) die("bad number: " + s);
    switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024.0 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    case '\0': break;
    default: die("bad number: " + s);
    }
    return int64_t(v);
}

options parse(int argc, char** argv) {
    if (argc < 2) usage();
    options o;
    o.mode = argv[1];
    if (o.mode != "produce" && o.mode != "consume" && o.mode != "latency" && o.mode != "gap") usage();
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "-h" || k == "--help") usage();
        if (i + 1 >= argc) die("missing value for " + k);
        std::string v = argv[++i];
        if (k == "--brokers") o.brokers = v;
        else if (k == "--topic") o.topic = v;
        else if (k == "--partitions") o.partitions = int(parse_size(v));
        else if (k == "--replication") o.replication = int(parse_size(v));
        else if (k == "--record-size") o.record_size = size_t(parse_size(v));
        else if (k == "--records") o.records = parse_size(v);
        else if (k == "--bytes") o.bytes = parse_size(v);
        else if (k == "--seconds") o.seconds = std::strtod(v.c_str(), nullptr);
        else if (k == "--warmup") o.warmup = std::strtod(v.c_str(), nullptr);
        else if (k == "--rate") o.rate = std::strtod(v.c_str(), nullptr);
        else if (k == "--acks") o.acks = v;
        else if (k == "--linger-ms") o.linger_ms = int(parse_size(v));
        else if (k == "--batch-size") o.batch_size = int(parse_size(v));
        else if (k == "--compression") o.compression = v;
        else if (k == "--label") o.label = v;
        else if (k == "--partitioner") o.round_robin = (v == "rr");
        else if (k == "--clients") o.clients = int(parse_size(v));
        else if (k == "--partition") o.partition = int32_t(parse_size(v));
        else if (k == "--slow-log") o.slow_log = v;
        else if (k == "--slow-ms") o.slow_ms = std::strtod(v.c_str(), nullptr);
        else if (k == "--set" || k == "--topic-config") {
            auto eq = v.find('=');
            if (eq == std::string::npos) die(k + " wants KEY=VALUE");
            (k == "--set" ? o.extra : o.topic_config).emplace_back(v.substr(0, eq), v.substr(eq + 1));
        } else die("unknown option " + k);
    }
    if (o.record_size < 8 && o.mode == "latency") die("latency needs --record-size >= 8");
    if (o.clients < 1 || o.clients > 64) die("--clients wants 1..64");
    if (o.clients > 1 && !o.round_robin) die("--clients needs the rr partitioner");
    return o;
}

double now_s() {
    return std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
        .count();
}

// CPU seconds (user + system) this process has used so far.
double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out;
}

// A JSON line built field by field; numbers printed with enough digits.
class json_line {
public:
    json_line& str(const char* k, const std::string& v) {
        std::string q = "\"";  // appended, not "..." + string: g++ 12's -Wrestrict misfires on that
        q += json_escape(v);
        q += '"';
        add(k, q);
        return *this;
    }
    json_line& num(const char* k, double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", v);
        add(k, buf);
        return *this;
    }
    json_line& integer(const char* k, int64_t v) {
        add(k, std::to_string(v));
        return *this;
    }
    void print() const { std::printf("{%s}\n", _body.c_str()), std::fflush(stdout); }

private:
    void add(const char* k, const std::string& v) {
        if (!_body.empty()) _body += ",";
        _body += '"';
        _body += k;
        _body += "\":";
        _body += v;
    }
    std::string _body;
};

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config " + k + "=" + v + ": " + err);
}

// Settings every client gets; --set values last, so they win.
rd_kafka_conf_t* base_conf(const options& o) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", o.brokers);
    set(conf, "client.id", "tributary-loadgen");
    set(conf, "log_level", "4");
    // Never let a Metadata request of ours auto-create a topic with the broker's
    // default.replication.factor before ensure_topic's CreateTopics (a producer's default).
    // Probes found a topic asked with one replica holding three
    // (bench/results/2026-12-07-direct-writes-*).
    set(conf, "allow.auto.create.topics", "false");
    return conf;
}

void apply_extra(rd_kafka_conf_t* conf, const options& o) {
    for (auto& [k, v] : o.extra) set(conf, k, v);
}

// Producer settings a fair Kafka throughput benchmark uses: big batches, some linger, no
// idempotence (acks=1), a deep local queue so the client never starves the broker.
rd_kafka_conf_t* producer_conf(const options& o) {
    rd_kafka_conf_t* conf = base_conf(o);
    set(conf, "acks", o.acks);
    set(conf, "linger.ms", std::to_string(o.linger_ms));
    set(conf, "batch.size", std::to_string(o.batch_size));
    set(conf, "batch.num.messages", "1000000");
    set(conf, "compression.type", o.compression);
    set(conf, "queue.buffering.max.messages", "2000000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    set(conf, "message.max.bytes", std::to_string(std::max(o.batch_size + 65536, 1000000)));
    set(conf, "enable.idempotence", "false");
    set(conf, "max.in.flight.requests.per.connection", "5");
    return conf;
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die(std::string("rd_kafka_new: ") + err);
    return rk;
}

// Partition count of `topic`, or -1 when the broker doesn't know it. Asks for every topic:
// a Metadata request naming the topic would let the broker auto-create it with
// num.partitions.
int partition_count(rd_kafka_t* rk, const std::string& topic) {
    const rd_kafka_metadata_t* md = nullptr;
    int n = -1;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < md->topic_cnt; ++i) {
            if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[i].partition_cnt > 0)
                n = md->topics[i].partition_cnt;
        }
        rd_kafka_metadata_destroy(md);
    }
    return n;
}

// The leader, replica count and ISR size of one partition, from a metadata request for every
// topic (so the topic is not auto-created); leader -1 when unknown.
struct partition_state {
    int32_t leader = -1;
    int replicas = 0;
    int isr = 0;
};

partition_state partition_info(rd_kafka_t* rk, const std::string& topic, int32_t partition) {
    partition_state ps;
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return ps;
    for (int i = 0; i < md->topic_cnt; ++i) {
        if (topic != md->topics[i].topic) continue;
        for (int j = 0; j < md->topics[i].partition_cnt; ++j) {
            const rd_kafka_metadata_partition_t& p = md->topics[i].partitions[j];
            if (p.id == partition && p.err == RD_KAFKA_RESP_ERR_NO_ERROR)
                ps = {p.leader, p.replica_cnt, p.isr_cnt};
        }
    }
    rd_kafka_metadata_destroy(md);
    return ps;
}

// Creates the topic with the admin API if the broker doesn't have it; returns its partitions.
int ensure_topic(rd_kafka_t* rk, const options& o) {
    int n = partition_count(rk, o.topic);
    if (n > 0) return n;
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, o.replication, err, sizeof err);
    if (!nt) die(std::string("NewTopic: ") + err);
    for (auto& [k, v] : o.topic_config) {
        if (rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()))
            die("--topic-config " + k + ": refused by librdkafka");
    }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) die("CreateTopics: no answer in 20 s");
    if (rd_kafka_event_error(ev)) die(std::string("CreateTopics: ") + rd_kafka_event_error_string(ev));
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t** tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; ++i) {
        auto e = rd_kafka_topic_result_error(tr[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die(std::string("CreateTopics: ") + rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    // Wait (bounded) until metadata shows every partition.
    for (int i = 0; i < 100; ++i) {
        n = partition_count(rk, o.topic);
        if (n >= o.partitions) {
            // A run on a topic with other replicas than asked would measure something else.
            // Probes met it: a topic asked with one replica came out with three, created by
            // someone else meanwhile (TOPIC_ALREADY_EXISTS above) or otherwise.
            int replicas = partition_info(rk, o.topic, 0).replicas;
            if (replicas != o.replication)
                die("topic " + o.topic + " has " + std::to_string(replicas) + " replicas, not --replication " +
                    std::to_string(o.replication));
            return n;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    die("topic " + o.topic + " not in metadata after creation");
}

struct delivery_stats {
    std::atomic<int64_t> ok{0};
    std::atomic<int64_t> failed{0};
    std::atomic<int64_t> ok_bytes{0};
    std::string first_error;
};

// latency --slow-log: one line per measured message whose end-to-end latency ("e2e") or
// acknowledgement ("ack") took more than --slow-ms: kind, send time (steady clock, s),
// latency (ms), partition, offset. For finding when the tail happens and on which side.
struct slow_log {
    FILE* out = nullptr;
    int64_t over_ns = 0;
    std::atomic<int64_t> from_ns{INT64_MAX};  // the warm-up's end
    void note(const char* kind, int64_t sent_ns, int64_t took_ns, const rd_kafka_message_t* m) {
        if (out && took_ns > over_ns && sent_ns >= from_ns.load(std::memory_order_relaxed)) {
            std::fprintf(out, "%s %.6f %.3f %d %lld\n", kind, double(sent_ns) / 1e9, double(took_ns) / 1e6,
                         int(m->partition), (long long)m->offset);
        }
    }
};
slow_log g_slow;

int64_t now_ns();

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<delivery_stats*>(opaque);
    if (g_slow.out && !m->err && m->len >= 8) {
        int64_t sent;
        std::memcpy(&sent, m->payload, 8);
        g_slow.note("ack", sent, now_ns() - sent, m);
    }
    if (m->err) {
        if (st->failed.fetch_add(1) == 0) st->first_error = rd_kafka_err2str(m->err);
    } else {
        st->ok.fetch_add(1, std::memory_order_relaxed);
        st->ok_bytes.fetch_add(int64_t(m->len), std::memory_order_relaxed);
    }
}

// Produces one record; waits for room when the local queue is full. The payload is not
// copied (RD_KAFKA_MSG_F_COPY unset): it lives as long as the producer.
void produce_one(rd_kafka_t* rk, rd_kafka_topic_t* t, int32_t partition, void* payload,
                 size_t len, int flags) {
    for (;;) {
        if (rd_kafka_produce(t, partition, flags, payload, len, nullptr, 0, nullptr) == 0) return;
        auto e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(e));
        rd_kafka_poll(rk, 1);
    }
}

// The partitions client `index` of `clients` owns: p with p % clients == index.
std::vector<int32_t> partitions_of(int parts, int index, int clients) {
    std::vector<int32_t> mine;
    for (int32_t p = index; p < parts; p += clients) mine.push_back(p);
    return mine;
}

struct produce_result {
    int64_t sent = 0;
    double t_enqueued = 0;
    double t_end = 0;
    rd_kafka_resp_err_t flush_err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// One producer client: `quota` records (-1: until `stop_at`) round-robin over `mine`, then
// flush.
void produce_client(const options& o, rd_kafka_t* rk, rd_kafka_topic_t* t,
                    const std::vector<int32_t>& mine, int64_t quota, double stop_at,
                    std::vector<char>& payload, produce_result& r) {
    int64_t sent = 0;
    for (;;) {
        if (quota >= 0 && sent >= quota) break;
        if (stop_at > 0 && (sent & 1023) == 0 && now_s() >= stop_at) break;
        int32_t p = o.round_robin ? mine[size_t(sent % int64_t(mine.size()))] : RD_KAFKA_PARTITION_UA;
        produce_one(rk, t, p, payload.data(), payload.size(), 0);
        ++sent;
        if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    r.t_enqueued = now_s();
    r.flush_err = rd_kafka_flush(rk, 120000);
    r.t_end = now_s();
    r.sent = sent;
}

int run_produce(const options& o) {
    if (o.records == 0 && o.seconds == 0) die("produce needs --records or --seconds");
    const int n = o.clients;
    std::vector<delivery_stats> st(static_cast<size_t>(n));
    std::vector<rd_kafka_t*> rks;
    for (int i = 0; i < n; ++i) {
        rd_kafka_conf_t* conf = producer_conf(o);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, &st[size_t(i)]);
        apply_extra(conf, o);
        rks.push_back(make_client(RD_KAFKA_PRODUCER, conf));
    }
    int parts = ensure_topic(rks[0], o);
    if (parts < n) die("--clients " + std::to_string(n) + " is more than the partitions");
    std::vector<rd_kafka_topic_t*> topics;
    for (auto* rk : rks) topics.push_back(rd_kafka_topic_new(rk, o.topic.c_str(), nullptr));

    std::vector<char> payload(o.record_size);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = char('a' + i % 26);

    std::vector<produce_result> res(static_cast<size_t>(n));
    double cpu0 = cpu_seconds();
    double t0 = now_s();
    double stop_at = o.seconds > 0 ? t0 + o.seconds : 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        int64_t quota = -1;
        if (o.records > 0) quota = o.records / n + (i < o.records % n ? 1 : 0);
        threads.emplace_back([&, i, quota] {
            produce_client(o, rks[size_t(i)], topics[size_t(i)], partitions_of(parts, i, n), quota,
                           stop_at, payload, res[size_t(i)]);
        });
    }
    for (auto& th : threads) th.join();
    double cpu1 = cpu_seconds();
    int64_t sent = 0, ok = 0, ok_bytes = 0, failed = 0;
    double t_enqueued = 0, t1 = 0;
    rd_kafka_resp_err_t fe = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string first_error;
    for (int i = 0; i < n; ++i) {
        auto& r = res[size_t(i)];
        sent += r.sent;
        ok += st[size_t(i)].ok.load();
        ok_bytes += st[size_t(i)].ok_bytes.load();
        failed += st[size_t(i)].failed.load();
        t_enqueued = std::max(t_enqueued, r.t_enqueued);
        t1 = std::max(t1, r.t_end);
        if (!fe) fe = r.flush_err;
        if (first_error.empty()) first_error = st[size_t(i)].first_error;
    }
    int64_t undelivered = sent - ok - failed;
    double secs = t1 - t0;
    double mb = double(ok_bytes) / 1e6;
    json_line()
        .str("mode", "produce").str("label", o.label).str("topic", o.topic)
        .integer("partitions", parts).integer("clients", n)
        .integer("record_size", int64_t(o.record_size))
        .str("acks", o.acks).integer("linger_ms", o.linger_ms).integer("batch_size", o.batch_size)
        .str("compression", o.compression)
        .integer("records", ok).integer("bytes", ok_bytes)
        .num("seconds", secs).num("enqueue_seconds", t_enqueued - t0)
        .num("records_per_s", double(ok) / secs).num("mb_per_s", mb / secs)
        .integer("delivery_errors", failed + undelivered)
        .str("first_error", fe ? rd_kafka_err2str(fe) : first_error)
        .num("client_cpu_s", cpu1 - cpu0)
        .print();
    std::fprintf(stderr,
                 "produce %s: %" PRId64 " records x %zu B to %d partitions by %d client(s) in %.2f s: "
                 "%.0f records/s, %.1f MB/s, %" PRId64 " delivery errors, client CPU %.1f s\n",
                 o.topic.c_str(), ok, o.record_size, parts, n, secs, double(ok) / secs, mb / secs,
                 failed + undelivered, cpu1 - cpu0);
    for (auto* t : topics) rd_kafka_topic_destroy(t);
    for (auto* rk : rks) rd_kafka_destroy(rk);
    return failed + undelivered == 0 ? 0 : 1;
}

// A consumer with the partitions of client `index` (of o.clients) assign()ed at `start` (no
// subscribe, no commits: the group id is only there because librdkafka's assign() wants one).
rd_kafka_t* assigned_consumer(const options& o, int64_t start, bool eof, int index, int* parts_out,
                              std::vector<int32_t>* mine_out) {
    rd_kafka_conf_t* conf = base_conf(o);
    set(conf, "group.id", "tributary-loadgen");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "enable.partition.eof", eof ? "true" : "false");
    set(conf, "auto.offset.reset", start == RD_KAFKA_OFFSET_END ? "latest" : "earliest");
    apply_extra(conf, o);
    rd_kafka_t* rk = make_client(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    int parts = -1;
    for (int i = 0; i < 100 && parts <= 0; ++i) {
        parts = partition_count(rk, o.topic);
        if (parts <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (parts <= 0) die("topic " + o.topic + " not found");
    if (parts < o.clients) die("--clients " + std::to_string(o.clients) + " is more than the partitions");
    std::vector<int32_t> mine = partitions_of(parts, index, o.clients);
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(int(mine.size()));
    for (int32_t p : mine) rd_kafka_topic_partition_list_add(l, o.topic.c_str(), p)->offset = start;
    if (auto e = rd_kafka_assign(rk, l)) die(std::string("assign: ") + rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    *parts_out = parts;
    if (mine_out) *mine_out = mine;
    return rk;
}

struct consume_result {
    int64_t records = 0, bytes = 0, errors = 0;
    double t0 = 0, t_last = 0;  // first and last record
    bool at_end = false;        // every partition of this client reached its end
};

// Shared by the consumer clients: what all of them have read so far.
struct consume_totals {
    std::atomic<int64_t> records{0};
    std::atomic<int64_t> bytes{0};
    bool reached(const options& o) const {
        return (o.bytes > 0 && bytes.load() >= o.bytes) || (o.records > 0 && records.load() >= o.records);
    }
};

// One consumer client: reads its partitions until the totals reach --bytes/--records, or
// (with neither) until each of its partitions is at its end, or until `give_up`.
void consume_client(const options& o, rd_kafka_t* rk, int parts, const std::vector<int32_t>& mine,
                    double give_up, consume_totals& totals, consume_result& r) {
    rd_kafka_queue_t* q = rd_kafka_queue_get_consumer(rk);
    std::vector<rd_kafka_message_t*> batch(10000);
    std::vector<bool> at_eof(size_t(parts), false);
    size_t eofs = 0;
    for (;;) {
        if (now_s() > give_up || totals.reached(o)) break;
        if (eofs == mine.size() && (r.records > 0 || (o.bytes == 0 && o.records == 0))) {
            r.at_end = true;  // no more data here
            break;
        }
        // What is queued now, without waiting (a batch call with a timeout waits for a full
        // batch); when nothing is, block for one message.
        ssize_t n = rd_kafka_consume_batch_queue(q, 0, batch.data(), batch.size());
        if (n == 0) {
            if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100)) {
                batch[0] = m;
                n = 1;
            }
        }
        int64_t got_records = 0, got_bytes = 0;
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t* m = batch[size_t(i)];
            bool known = m->partition >= 0 && m->partition < parts;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (known && !at_eof[size_t(m->partition)]) {
                    at_eof[size_t(m->partition)] = true;
                    ++eofs;
                }
            } else if (m->err) {
                ++r.errors;
                std::fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
            } else {
                if (r.t0 == 0) r.t0 = now_s();  // the clock starts at the first record
                ++got_records;
                got_bytes += int64_t(m->len);
                if (known && at_eof[size_t(m->partition)]) {
                    at_eof[size_t(m->partition)] = false;
                    --eofs;
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (got_records > 0) {
            r.t_last = now_s();
            r.records += got_records;
            r.bytes += got_bytes;
            totals.records.fetch_add(got_records);
            totals.bytes.fetch_add(got_bytes);
        }
    }
    rd_kafka_queue_destroy(q);
}

int run_consume(const options& o) {
    const int n = o.clients;
    int parts = 0;
    std::vector<rd_kafka_t*> rks;
    std::vector<std::vector<int32_t>> mine(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        rks.push_back(assigned_consumer(o, RD_KAFKA_OFFSET_BEGINNING, true, i, &parts, &mine[size_t(i)]));
    consume_totals totals;
    std::vector<consume_result> res(static_cast<size_t>(n));
    double cpu0 = cpu_seconds();
    double give_up = now_s() + (o.seconds > 0 ? o.seconds : 600);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            consume_client(o, rks[size_t(i)], parts, mine[size_t(i)], give_up, totals, res[size_t(i)]);
        });
    }
    for (auto& th : threads) th.join();
    double cpu1 = cpu_seconds();
    int64_t records = 0, bytes = 0, errors = 0;
    double t0 = 0, t_last = 0;
    bool all_at_end = true;
    for (auto& r : res) {
        records += r.records;
        bytes += r.bytes;
        errors += r.errors;
        if (r.t0 > 0 && (t0 == 0 || r.t0 < t0)) t0 = r.t0;
        t_last = std::max(t_last, r.t_last);
        all_at_end = all_at_end && r.at_end;
    }
    bool done = totals.reached(o) || all_at_end;
    double secs = t_last > t0 ? t_last - t0 : 0;
    double mb = double(bytes) / 1e6;
    json_line()
        .str("mode", "consume").str("label", o.label).str("topic", o.topic)
        .integer("partitions", parts).integer("clients", n)
        .integer("records", records).integer("bytes", bytes)
        .num("seconds", secs).num("records_per_s", secs > 0 ? double(records) / secs : 0)
        .num("mb_per_s", secs > 0 ? mb / secs : 0).integer("errors", errors)
        .integer("complete", done ? 1 : 0).num("client_cpu_s", cpu1 - cpu0)
        .print();
    std::fprintf(stderr,
                 "consume %s: %" PRId64 " records, %.1f MB from %d partitions by %d client(s) in "
                 "%.2f s: %.1f MB/s, %" PRId64 " errors%s, client CPU %.1f s\n",
                 o.topic.c_str(), records, mb, parts, n, secs, secs > 0 ? mb / secs : 0, errors,
                 done ? "" : " (INCOMPLETE)", cpu1 - cpu0);
    for (auto* rk : rks) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return done && errors == 0 ? 0 : 1;
}

// latency: set by SIGTERM or SIGINT, ends the sending loop as if --seconds had run out.
volatile std::sig_atomic_t g_stop_requested = 0;

void request_stop(int) {
    g_stop_requested = 1;
}

int run_latency(const options& o) {
    double measure = o.seconds > 0 ? o.seconds : 20;
    std::signal(SIGTERM, request_stop);
    std::signal(SIGINT, request_stop);
    delivery_stats st;
    rd_kafka_conf_t* pconf = producer_conf(o);
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    rd_kafka_conf_set_opaque(pconf, &st);
    apply_extra(pconf, o);
    rd_kafka_t* prod = make_client(RD_KAFKA_PRODUCER, pconf);
    int parts = ensure_topic(prod, o);
    rd_kafka_topic_t* t = rd_kafka_topic_new(prod, o.topic.c_str(), nullptr);

    int cparts = 0;
    rd_kafka_t* cons = assigned_consumer(o, RD_KAFKA_OFFSET_END, false, 0, &cparts, nullptr);

    // Payload: [0,8) send time (steady clock ns, same process), [8,16) sequence, then filler.
    // A message whose send time is before `measure_from` is a warm-up message: not counted.
    std::atomic<bool> stop{false};
    std::atomic<int64_t> received{0};
    std::atomic<int64_t> measure_from_ns{INT64_MAX};
    std::vector<int64_t> lat_ns;
    if (!o.slow_log.empty()) {
        g_slow.out = std::fopen(o.slow_log.c_str(), "w");
        if (!g_slow.out) die("cannot write " + o.slow_log + ": " + std::strerror(errno));
        g_slow.over_ns = int64_t(o.slow_ms * 1e6);
    }
    lat_ns.reserve(size_t(o.rate * measure * 1.1) + 1024);
    // One message per poll: rd_kafka_consume_batch_queue waits until its batch is full or
    // its timeout passes, which would add up to the timeout to every latency.
    std::thread reader([&] {
        while (!stop.load()) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(cons, 50);
            if (m) {
                int64_t now = now_ns();
                if (!m->err && m->len >= 8) {
                    int64_t sent;
                    std::memcpy(&sent, m->payload, 8);
                    if (sent >= measure_from_ns.load(std::memory_order_relaxed)) {
                        lat_ns.push_back(now - sent);
                        g_slow.note("e2e", sent, now - sent, m);
                    }
                    received.fetch_add(1, std::memory_order_relaxed);
                }
                rd_kafka_message_destroy(m);
            }
        }
    });
    // Let the consumer resolve its start offsets (ListOffsets latest) before producing.
    std::this_thread::sleep_for(std::chrono::seconds(2));

    // Each message needs its own payload (the timestamp differs): copied by librdkafka.
    std::vector<char> payload(o.record_size);
    for (size_t i = 16; i < payload.size(); ++i) payload[i] = char('a' + i % 26);
    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    int64_t warm_end = t0 + int64_t(o.warmup * 1e9);
    int64_t end = warm_end + int64_t(measure * 1e9);
    measure_from_ns.store(warm_end);
    g_slow.from_ns.store(warm_end);
    double period_ns = 1e9 / o.rate;
    int64_t sent = 0, sent_measured = 0, max_behind_ns = 0;
    for (;;) {
        int64_t now = now_ns();
        if (now >= end) break;
        if (g_stop_requested) {
            end = now;
            break;
        }
        // Send every message whose scheduled time has come, then sleep a little.
        int64_t due = int64_t(double(now - t0) / period_ns) + 1;
        while (sent < due) {
            int64_t sched = t0 + int64_t(double(sent) * period_ns);
            int64_t ts = now_ns();
            max_behind_ns = std::max(max_behind_ns, ts - sched);
            std::memcpy(payload.data(), &ts, 8);
            std::memcpy(payload.data() + 8, &sent, 8);
            produce_one(prod, t, int32_t(sent % parts), payload.data(), payload.size(),
                        RD_KAFKA_MSG_F_COPY);
            if (ts >= warm_end) ++sent_measured;
            ++sent;
        }
        rd_kafka_poll(prod, 0);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    rd_kafka_flush(prod, 30000);
    // Wait (bounded) for the consumer to see everything.
    for (int i = 0; i < 100 && received.load() < sent; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.store(true);
    reader.join();
    double cpu1 = cpu_seconds();
    if (g_slow.out) {
        std::fclose(std::exchange(g_slow.out, nullptr));
    }

    std::sort(lat_ns.begin(), lat_ns.end());
    auto pct = [&](double p) -> double {
        if (lat_ns.empty()) return 0;
        size_t i = size_t(p / 100.0 * double(lat_ns.size() - 1) + 0.5);
        return double(lat_ns[std::min(i, lat_ns.size() - 1)]) / 1e6;
    };
    int64_t lost = sent - received.load();
    double achieved = double(sent) / (double(end - t0) / 1e9);
    json_line()
        .str("mode", "latency").str("label", o.label).str("topic", o.topic)
        .integer("partitions", parts).integer("record_size", int64_t(o.record_size))
        .str("acks", o.acks).integer("linger_ms", o.linger_ms)
        .num("rate_target", o.rate).num("rate_achieved", achieved)
        .num("warmup_s", o.warmup).num("measure_s", double(std::max<int64_t>(end - warm_end, 0)) / 1e9)
        .integer("stopped_early", g_stop_requested ? 1 : 0)
        .integer("sent", sent).integer("measured", int64_t(lat_ns.size()))
        .integer("lost", lost).integer("delivery_errors", st.failed.load())
        .num("p50_ms", pct(50)).num("p90_ms", pct(90)).num("p99_ms", pct(99))
        .num("p999_ms", pct(99.9)).num("max_ms", pct(100))
        .num("max_send_behind_ms", double(max_behind_ns) / 1e6)
        .num("client_cpu_s", cpu1 - cpu0)
        .print();
    std::fprintf(stderr,
                 "latency %s: %.0f msg/s x %zu B, %zu measured: p50 %.2f ms, p99 %.2f ms, "
                 "p99.9 %.2f ms, max %.2f ms; %" PRId64 " lost, %" PRId64 " delivery errors\n",
                 o.topic.c_str(), achieved, o.record_size, lat_ns.size(), pct(50), pct(99),
                 pct(99.9), pct(100), lost, st.failed.load());
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(prod);
    (void)sent_measured;
    return lost == 0 && st.failed.load() == 0 ? 0 : 1;
}

int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Ack times of the gap mode. Delivery reports run on the thread that polls (the producing
// one), so plain fields do.
struct ack_gaps {
    int64_t acks = 0, failed = 0;
    int64_t first_ns = 0, last_ns = 0;        // wall clock of the first and latest ack
    int64_t gap_from_ns = 0, gap_to_ns = 0;   // the largest gap between consecutive acks
    std::string first_error;
};

void on_gap_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* g = static_cast<ack_gaps*>(opaque);
    if (m->err) {
        if (g->failed++ == 0) g->first_error = rd_kafka_err2str(m->err);
        return;
    }
    int64_t now = wall_ns();
    if (g->acks++ == 0) g->first_ns = now;
    if (g->last_ns > 0 && now - g->last_ns > g->gap_to_ns - g->gap_from_ns) {
        g->gap_from_ns = g->last_ns;
        g->gap_to_ns = now;
    }
    g->last_ns = now;
}

// Paced produce to one partition. Waits (bounded) for the partition's ISR to hold every
// replica first, so a run starts on a healed cluster; prints the leader once a second of
// acks has come back; at the end the largest ack gap with its ends (wall-clock ns, which a
// script compares with the time it killed the leader) and the leader then.
int run_gap(const options& o) {
    if (o.seconds <= 0) die("gap needs --seconds");
    ack_gaps g;
    rd_kafka_conf_t* conf = producer_conf(o);
    set(conf, "linger.ms", "0");
    rd_kafka_conf_set_dr_msg_cb(conf, on_gap_delivery);
    rd_kafka_conf_set_opaque(conf, &g);
    apply_extra(conf, o);
    rd_kafka_t* rk = make_client(RD_KAFKA_PRODUCER, conf);
    int parts = ensure_topic(rk, o);
    if (o.partition < 0 || o.partition >= parts) die("--partition out of range");
    double t_wait = now_s();
    partition_state ps = partition_info(rk, o.topic, o.partition);
    for (int i = 0; i < 600 && (ps.leader < 0 || ps.isr < ps.replicas); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        ps = partition_info(rk, o.topic, o.partition);
    }
    if (ps.leader < 0 || ps.isr < ps.replicas)
        die("partition " + std::to_string(o.partition) + ": ISR " + std::to_string(ps.isr) + " of " +
            std::to_string(ps.replicas) + " replicas after 60 s");
    double isr_wait = now_s() - t_wait;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
    std::vector<char> payload(o.record_size, 'g');
    const int64_t t0 = now_ns(), end = t0 + int64_t(o.seconds * 1e9);
    const double period_ns = 1e9 / o.rate;
    int64_t sent = 0;
    bool announced = false;
    while (now_ns() < end) {
        int64_t due = int64_t(double(now_ns() - t0) / period_ns) + 1;
        for (; sent < due; ++sent) produce_one(rk, t, o.partition, payload.data(), payload.size(), 0);
        rd_kafka_poll(rk, 0);
        if (!announced && g.acks > 0 && wall_ns() - g.first_ns > 1000000000) {
            announced = true;
            json_line().str("mode", "gap").str("event", "leader").str("topic", o.topic)
                .integer("partition", o.partition).integer("leader", ps.leader).print();
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 60000);
    int64_t undelivered = sent - g.acks - g.failed;
    partition_state after = partition_info(rk, o.topic, o.partition);
    json_line()
        .str("mode", "gap").str("label", o.label).str("topic", o.topic)
        .integer("partition", o.partition).integer("replicas", ps.replicas).str("acks", o.acks)
        .num("rate", o.rate).num("seconds", o.seconds).num("isr_wait_s", isr_wait)
        .integer("leader_before", ps.leader).integer("leader_after", after.leader)
        .integer("isr_after", after.isr)
        .integer("sent", sent).integer("acked", g.acks)
        .integer("delivery_errors", g.failed + undelivered)
        .str("first_error", fe ? rd_kafka_err2str(fe) : g.first_error)
        .integer("first_ack_ns", g.first_ns).integer("last_ack_ns", g.last_ns)
        .integer("gap_from_ns", g.gap_from_ns).integer("gap_to_ns", g.gap_to_ns)
        .num("max_gap_ms", double(g.gap_to_ns - g.gap_from_ns) / 1e6)
        .print();
    std::fprintf(stderr,
                 "gap %s/%d: %" PRId64 " sent, %" PRId64 " acked at %.0f msg/s, largest ack gap "
                 "%.1f ms, leader %d then %d, %" PRId64 " delivery errors\n",
                 o.topic.c_str(), o.partition, sent, g.acks, o.rate,
                 double(g.gap_to_ns - g.gap_from_ns) / 1e6, ps.leader, after.leader,
                 g.failed + undelivered);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return g.failed + undelivered == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    // librdkafka's message sets (up to batch.size) come and go at the produce rate.
    trib::keep_big_buffers_in_heap();
    if (o.mode == "produce") return run_produce(o);
    if (o.mode == "consume") return run_consume(o);
    if (o.mode == "gap") return run_gap(o);
    return run_latency(o);
}
