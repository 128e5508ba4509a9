#pragma once
// Removes deleted replicas' directories off the cores. A replica that leaves this broker (a
// reassignment moved it, its topic was deleted) may hold gigabytes; unlinking them takes
// seconds, and on its owner core that stalls every partition the core serves, and with them
// every acks=all write whose ISR includes this broker. So the core only renames the
// directory `<topic>-<p>.<id>-delete` (one rename) and hands it here; a thread of its own
// removes it. Kafka's log manager does the same with its `-delete` directories.
//
// A directory not removed when the broker stops (the thread leaves the queue as it is) keeps
// its `-delete` name, and partition_manager::open_dirs hands it here again at the next start.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

namespace trib::broker {

class dir_reaper {
public:
    dir_reaper();
    dir_reaper(const dir_reaper&) = delete;
    dir_reaper& operator=(const dir_reaper&) = delete;
    // Finishes the directory being removed, leaves the rest for the next start.
    ~dir_reaper();

    // Queues `dir` (already renamed out of the way) for removal. Returns at once.
    void remove(std::filesystem::path dir);
    // Blocks until the queue is empty and nothing is being removed (tests, shutdown of tests).
    void wait_idle();
    // Directories removed since start.
    uint64_t removed() const;

private:
    void run();

    mutable std::mutex _mu;
    std::condition_variable _cv;
    std::deque<std::filesystem::path> _queue;
    bool _busy = false;
    bool _stopping = false;
    uint64_t _removed = 0;
    std::thread _thread;  // last: started once the rest is ready
};

} // namespace trib::broker
