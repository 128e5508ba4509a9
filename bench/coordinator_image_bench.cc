// The scratch image of one controller decision (coordinator/controller.cc, `change`): a copy
// of the metadata image with one partition change applied to it, as an AlterPartition makes,
// on images of 100 to 10,000 topics of 3 partitions. The image is copy-on-write, so the copy
// shares every topic but the changed one; before, the copy duplicated every topic.
#include "coordinator/client/metadata_image.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>

namespace {

using namespace trib;
using namespace trib::coordinator;

protocol::uuid topic_id(int n) {
    protocol::uuid u;
    u.b[12] = uint8_t(n >> 16);
    u.b[13] = uint8_t(n >> 8);
    u.b[14] = uint8_t(n);
    u.b[15] = 1;
    return u;
}

metadata_image make_image(int topics) {
    metadata_image img;
    offset at{0};
    auto add = [&](const metadata_record& r) {
        (void)img.apply(at, r);
        at = at + 1;
    };
    for (int32_t b = 1; b <= 3; ++b) {
        register_broker_record r;
        r.broker_id = b;
        r.fenced = false;
        add(r);
    }
    for (int t = 0; t < topics; ++t) {
        add(topic_record{fmt::format("topic-{}", t), topic_id(t), {}});
        for (int32_t p = 0; p < 3; ++p) {
            partition_record pr;
            pr.topic_id = topic_id(t);
            pr.partition_index = p;
            pr.replicas = {1, 2, 3};
            pr.isr = {1, 2, 3};
            pr.leader = 1 + p;
            add(pr);
        }
    }
    return img;
}

void decision_scratch(benchmark::State& state) {
    const int topics = int(state.range(0));
    const metadata_image image = make_image(topics);
    int t = 0;
    for (auto _ : state) {
        metadata_image scratch = image;  // what every decision starts from
        partition_change_record pc;
        pc.topic_id = topic_id(t);
        pc.partition_index = 0;
        pc.replicas = {1, 2, 3};
        pc.isr = {1, 2};
        pc.leader = 1;
        pc.partition_epoch = 1;  // the image stays as made: every scratch starts from epoch 0
        bool ok = bool(scratch.apply(scratch.next_offset(), pc));
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(scratch);
        t = (t + 1) % topics;
    }
    state.counters["topics"] = topics;
}
BENCHMARK(decision_scratch)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
