#pragma once

#include <malloc.h>

namespace trib {

// For programs that allocate and free buffers of a MiB and more at their request rate (the
// broker's produce requests and the batches decoded from them; librdkafka's batches in the
// load generator). glibc hands blocks that big to mmap, and trims freed memory off the top of
// each thread's heap, so every such buffer faults in fresh pages the kernel must zero: a
// perf profile of the broker under P1 showed a fifth of its time there. This keeps blocks up
// to 32 MiB in the heap, and freed memory there for reuse until a heap has more than 32 MiB
// free at its top, which goes back to the system: a burst of big requests leaves at most
// that much behind per thread heap (P1's peak RSS is under 40 MiB either way). Call first
// thing in main(). No effect under the sanitizers' allocators.
inline void keep_big_buffers_in_heap() {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

} // namespace trib
