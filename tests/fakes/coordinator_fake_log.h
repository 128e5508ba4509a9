#pragma once

// A replicated_log in memory whose commits and leadership the test drives: appends wait
// until the test commits them (or commit at once with auto_commit), leadership is whatever
// the test sets, and losing it fails every append in flight, as a Raft log does.
#include "coordinator/client/errc.h"
#include "coordinator/replicated_log.h"

#include <deque>
#include <utility>
#include <vector>

namespace trib::coordinator::testing {

class fake_log final : public replicated_log {
public:
    explicit fake_log(state_machine& sm, leadership l = {true, term_id(1), std::nullopt}) : _sm(sm), _leadership(std::move(l)) {}

    // true: every append commits before append() returns (a single voter's behaviour).
    bool auto_commit = true;
    // What voters() reports.
    std::vector<voter_view> voter_views;

    void append(std::span<const metadata_record> records, std::function<void(result<offset>)> done) override {
        if (!_leadership.is_leader) {
            done(make_error_code(errc::not_leader));
            return;
        }
        if (records.empty()) {
            _in_flight.push_back({_end, {}, {}, std::move(done)});
        } else {
            bytes batch = make_batch(records, 0);
            store_be64(batch.data(), uint64_t(_end.value()));
            _in_flight.push_back({_end, {records.begin(), records.end()}, std::move(batch), std::move(done)});
            _end = _end + int64_t(records.size());
        }
        ++appends;
        if (auto_commit) {
            commit_all();
        }
    }
    offset committed() const override { return _committed; }
    offset end() const override { return _end; }
    offset log_start() const override { return offset(0); }
    result<bytes> read(offset from, size_t max_bytes) override {
        bytes out;
        for (const auto& [base, b] : _batches) {
            if (base + int64_t(count_in(b)) > from && (out.empty() || out.size() + b.size() <= max_bytes)) {
                out.insert(out.end(), b.begin(), b.end());
            }
        }
        return out;
    }
    std::optional<snapshot_view> latest_snapshot() const override { return std::nullopt; }
    result<void> snapshot(const metadata_image&) override {
        ++snapshots;
        return success();
    }
    uint64_t bytes_since_snapshot() const override { return 0; }
    leadership leader() const override { return _leadership; }
    void on_leadership(std::function<void(const leadership&)> f) override { _listener = std::move(f); }
    std::vector<voter_view> voters() const override { return voter_views; }
    void close() override {}

    // ---- the test's controls ----------------------------------------------------------------
    size_t in_flight() const { return _in_flight.size(); }
    // Commits the oldest append in flight: applies its records, completes it.
    void commit_next() {
        auto p = std::move(_in_flight.front());
        _in_flight.pop_front();
        offset at = p.base;
        for (const auto& r : p.records) {
            _sm.apply(at, r);
            at = at + 1;
        }
        if (!p.records.empty()) {
            _batches.emplace_back(p.base, std::move(p.batch));
            _committed = at;
        }
        p.done(_committed - 1);
    }
    void commit_all() {
        while (!_in_flight.empty()) {
            commit_next();
        }
    }
    // A new leadership (announced to the listener); losing it fails every append in flight,
    // oldest first, and drops their records from the log's end.
    void set_leadership(leadership l) {
        const bool lost = _leadership.is_leader && !l.is_leader;
        _leadership = std::move(l);
        if (lost) {
            auto failed = std::move(_in_flight);
            _in_flight.clear();
            _end = _committed;
            for (auto& p : failed) {
                p.done(make_error_code(errc::not_leader));
            }
        }
        if (_listener) {
            _listener(_leadership);
        }
    }

    size_t appends = 0;
    size_t snapshots = 0;

private:
    struct proposal {
        offset base;
        std::vector<metadata_record> records;
        bytes batch;
        std::function<void(result<offset>)> done;
    };
    static int32_t count_in(const bytes& batch) {
        // records count: the last int32 of the 61-byte v2 batch header
        return int32_t(load_be32(batch.data() + 57));
    }

    state_machine& _sm;
    leadership _leadership;
    std::function<void(const leadership&)> _listener;
    std::deque<proposal> _in_flight;
    std::vector<std::pair<offset, bytes>> _batches;
    offset _committed{0};
    offset _end{0};
};

} // namespace trib::coordinator::testing
