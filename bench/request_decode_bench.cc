// Request decoding throughput: header + body of a Produce v9 request carrying a 16 KiB record
// set (the broker's hottest path; the record bytes are copied once into record_set::data),
// and a Metadata v12 request naming 20 topics. Reports bytes/s of request frames decoded.
#include "protocol/api.h"
#include "protocol/messages.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using namespace trib::protocol;

bytes produce_frame(size_t record_bytes) {
    produce_request req;
    req.acks = -1;
    req.timeout_ms = 30000;
    auto& topic = req.topic_data.emplace_back();
    topic.name = "bench-topic";
    auto& part = topic.partition_data.emplace_back();
    part.index = 3;
    part.records = record_set{bytes(record_bytes, 0x5a), {}};
    writer w;
    encode_request_header(w, request_header{produce_request::api_key, 9, 42, "bench-producer", {}});
    req.encode(w, 9);
    return w.take();
}

bytes metadata_frame(int topics) {
    metadata_request req;
    req.topics.emplace();
    for (int i = 0; i < topics; ++i) req.topics->emplace_back().name = "topic-" + std::to_string(i);
    writer w;
    encode_request_header(w, request_header{metadata_request::api_key, 12, 7, "bench-client", {}});
    req.encode(w, 12);
    return w.take();
}

template<typename Request>
void decode_frames(benchmark::State& state, const bytes& frame) {
    for (auto _ : state) {
        reader r(frame);
        request_header h;
        decode_request_header(r, h);
        Request req;
        req.decode(r, h.api_version);
        if (!r.ok()) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(req);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(frame.size()));
}

void bm_produce_decode(benchmark::State& state) {
    decode_frames<produce_request>(state, produce_frame(size_t(state.range(0))));
}
BENCHMARK(bm_produce_decode)->Arg(16 * 1024)->Arg(1024);

void bm_metadata_decode(benchmark::State& state) {
    decode_frames<metadata_request>(state, metadata_frame(int(state.range(0))));
}
BENCHMARK(bm_metadata_decode)->Arg(20)->Arg(0);

void bm_produce_encode(benchmark::State& state) {
    produce_request req;
    {
        bytes frame = produce_frame(size_t(state.range(0)));
        reader r(frame);
        request_header h;
        decode_request_header(r, h);
        req.decode(r, 9);
    }
    size_t n = 0;
    for (auto _ : state) {
        writer w;
        req.encode(w, 9);
        n = w.size();
        benchmark::DoNotOptimize(w.buffer().data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(bm_produce_encode)->Arg(16 * 1024);

} // namespace

BENCHMARK_MAIN();
