#include "coordinator/client/balancer.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace trib::coordinator::balancer {

namespace {

// Fails with `e`, and the sentence in *why when the caller asked for it.
std::error_code fail(std::string* why, errc e, std::string text) {
    if (why) {
        *why = std::move(text);
    }
    return make_error_code(e);
}

std::string name_of(const partition& p) {
    return fmt::format("{}-{}", p.topic, p.index.value());
}

// The planner's working state. Brokers are numbered 0..n-1 in id order; each partition's
// current list holds those numbers.
class planner {
public:
    planner(const input& in) : _in(in) {}

    result<plan> run(std::string* why) {
        if (auto ec = index_brokers(why)) {
            return ec;
        }
        if (auto ec = index_partitions(why)) {
            return ec;
        }
        _before_cnt = _cnt;
        _before_lead = _lead;
        _before_bytes = _bytes;
        evacuate();
        even_replica_counts();
        even_bytes();
        even_leaders();
        while (spread(_lead) > _in.opts.leader_tolerance && trade_leadership()) {
            even_leaders();
        }
        return finish();
    }

private:
    using list = std::vector<int>;

    // ---- input ----

    std::error_code index_brokers(std::string* why) {
        std::vector<const broker*> sorted;
        for (const auto& b : _in.brokers) {
            sorted.push_back(&b);
        }
        std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id < b->id; });
        size_t with_rack = 0;
        for (size_t i = 0; i < sorted.size(); ++i) {
            if (i > 0 && sorted[i]->id == sorted[i - 1]->id) {
                return fail(why, errc::invalid_input, fmt::format("broker {} is listed twice", sorted[i]->id.value()));
            }
            with_rack += sorted[i]->rack.has_value() ? 1 : 0;
        }
        if (with_rack != 0 && with_rack != sorted.size()) {
            return fail(why, errc::invalid_input,
                        fmt::format("{} of {} brokers have a rack: racks must be given for all brokers or none",
                                    with_rack, sorted.size()));
        }
        _racks = with_rack != 0;
        std::map<std::string, int> rack_numbers;
        std::set<int> target_racks;
        for (const auto* b : sorted) {
            _slot[b->id.value()] = int(_ids.size());
            _ids.push_back(b->id);
            _leaving.push_back(b->leaving);
            int r = -1;
            if (b->rack) {
                r = rack_numbers.emplace(*b->rack, int(rack_numbers.size())).first->second;
            }
            _rack.push_back(r);
            if (!b->leaving) {
                _targets.push_back(int(_ids.size()) - 1);
                target_racks.insert(r);
            }
        }
        _target_racks = int(target_racks.size());
        _cnt.assign(_ids.size(), 0);
        _lead.assign(_ids.size(), 0);
        _bytes.assign(_ids.size(), 0);
        return {};
    }

    std::error_code index_partitions(std::string* why) {
        const auto& ps = _in.partitions;
        _order.resize(ps.size());
        for (size_t i = 0; i < ps.size(); ++i) {
            _order[i] = i;
        }
        std::sort(_order.begin(), _order.end(), [&](size_t a, size_t b) {
            return std::tie(ps[a].topic, ps[a].index) < std::tie(ps[b].topic, ps[b].index);
        });
        for (size_t k = 1; k < _order.size(); ++k) {
            const auto& a = ps[_order[k - 1]];
            const auto& b = ps[_order[k]];
            if (a.topic == b.topic && a.index == b.index) {
                return fail(why, errc::invalid_input, fmt::format("partition {} is listed twice", name_of(a)));
            }
        }
        _now.resize(ps.size());
        _can_move.assign(ps.size(), false);
        for (size_t i = 0; i < ps.size(); ++i) {
            const auto& p = ps[i];
            std::set<int32_t> seen;
            std::optional<int32_t> unknown;
            for (auto r : p.replicas) {
                if (!seen.insert(r.value()).second) {
                    return fail(why, errc::invalid_input,
                                fmt::format("partition {} lists broker {} twice", name_of(p), r.value()));
                }
                auto it = _slot.find(r.value());
                if (it == _slot.end()) {
                    unknown = r.value();
                } else {
                    _now[i].push_back(it->second);
                }
            }
            if (p.replicas.size() > _targets.size()) {
                return fail(why, errc::cannot_place,
                            fmt::format("partition {} has {} replicas but only {} brokers remain", name_of(p),
                                        p.replicas.size(), _targets.size()));
            }
            std::string reason;
            if (p.replicas.empty()) {
                reason = "no replicas";
            } else if (unknown) {
                reason = fmt::format("replica on broker {}, which is not among the brokers", *unknown);
            } else if (p.isr.size() < p.replicas.size()) {
                reason = fmt::format("under-replicated: {} of {} replicas in the ISR", p.isr.size(), p.replicas.size());
            }
            if (!reason.empty()) {
                _skipped.push_back({p.topic, p.index, std::move(reason)});
            } else {
                _can_move[i] = p.movable;
            }
            for (size_t k = 0; k < _now[i].size(); ++k) {
                add_load(_now[i][k], i, k == 0, +1);
            }
        }
        std::sort(_skipped.begin(), _skipped.end(),
                  [](const auto& a, const auto& b) { return std::tie(a.topic, a.index) < std::tie(b.topic, b.index); });
        _orig = _now;
        return {};
    }

    // ---- loads and checks ----

    void add_load(int b, size_t p, bool first, int sign) {
        _cnt[b] += sign;
        _lead[b] += first ? sign : 0;
        _bytes[b] += sign * _in.partitions[p].size_bytes;
    }

    int64_t size_of(size_t p) const { return _in.partitions[p].size_bytes; }

    static bool holds(const list& l, int b) { return std::find(l.begin(), l.end(), b) != l.end(); }

    int distinct_racks(const list& l) const {
        std::set<int> r;
        for (int b : l) {
            r.insert(_rack[b]);
        }
        return int(r.size());
    }

    // Whether replacing `from` by `to` in partition p keeps its rack spread: at least
    // min(RF, racks of the remaining brokers, racks before).
    bool racks_ok(size_t p, int from, int to) const {
        if (!_racks) {
            return true;
        }
        const auto& before = _now[p];
        list after = before;
        std::replace(after.begin(), after.end(), from, to);
        const int goal = std::min(int(before.size()), _target_racks);
        return distinct_racks(after) >= std::min(goal, distinct_racks(before));
    }

    bool may_move_more() {
        if (_in.opts.max_moves && _moves >= *_in.opts.max_moves) {
            _limit_reached = true;
            return false;
        }
        return true;
    }

    // Replaces `from` by `to` in partition p, in the same position.
    void move(size_t p, int from, int to) {
        auto& l = _now[p];
        auto it = std::find(l.begin(), l.end(), from);
        const bool first = it == l.begin();
        add_load(from, p, first, -1);
        add_load(to, p, first, +1);
        *it = to;
        ++_moves;
    }

    template<typename Value>
    int spread(const std::vector<Value>& v) const {
        if (_targets.empty()) {
            return 0;
        }
        auto lo = v[_targets[0]], hi = v[_targets[0]];
        for (int b : _targets) {
            lo = std::min(lo, v[b]);
            hi = std::max(hi, v[b]);
        }
        return int(hi - lo);
    }

    bool bytes_within_tolerance() const {
        if (_targets.empty()) {
            return true;
        }
        int64_t total = 0, lo = std::numeric_limits<int64_t>::max(), hi = 0;
        for (int b : _targets) {
            total += _bytes[b];
            lo = std::min(lo, _bytes[b]);
            hi = std::max(hi, _bytes[b]);
        }
        const double mean = double(total) / double(_targets.size());
        return double(hi - lo) <= _in.opts.bytes_tolerance * mean;
    }

    // Targets ordered by `key` (ascending), ties by id.
    template<typename Key>
    std::vector<int> targets_by(Key key) const {
        auto v = _targets;
        std::stable_sort(v.begin(), v.end(), [&](int a, int b) { return key(a) < key(b); });
        return v;
    }

    // ---- phases ----

    // Every replica on a leaving broker goes to the least loaded remaining broker that may
    // take it; big partitions first, so the small ones even out what they leave.
    void evacuate() {
        std::vector<size_t> todo;
        for (size_t p : _order) {
            if (_can_move[p] && std::any_of(_now[p].begin(), _now[p].end(), [&](int b) { return _leaving[b]; })) {
                todo.push_back(p);
            }
        }
        std::stable_sort(todo.begin(), todo.end(), [&](size_t a, size_t b) { return size_of(a) > size_of(b); });
        for (size_t p : todo) {
            for (size_t k = 0; k < _now[p].size(); ++k) {
                const int from = _now[p][k];
                if (!_leaving[from]) {
                    continue;
                }
                if (!may_move_more()) {
                    return;
                }
                // racks_ok always finds one: while a partition has fewer racks than the goal,
                // some remaining rack is not in its list (see the header).
                std::optional<int> best;
                for (int to : _targets) {
                    if (holds(_now[p], to) || !racks_ok(p, from, to)) {
                        continue;
                    }
                    if (!best || std::tie(_cnt[to], _bytes[to]) < std::tie(_cnt[*best], _bytes[*best])) {
                        best = to;
                    }
                }
                if (best) {
                    move(p, from, *best);
                }
            }
        }
    }

    // The smallest movable partition on `from` that may go to `to` (a replica that is not the
    // preferred leader when sizes tie).
    std::optional<size_t> smallest_movable(int from, int to) const {
        std::optional<size_t> best;
        auto key = [&](size_t p) { return std::make_tuple(size_of(p), _now[p][0] == from); };
        for (size_t p : _order) {
            if (!_can_move[p] || !holds(_now[p], from) || holds(_now[p], to) || !racks_ok(p, from, to)) {
                continue;
            }
            if (!best || key(p) < key(*best)) {
                best = p;
            }
        }
        return best;
    }

    // Moves one replica at a time from a fuller broker to an emptier one (two or more apart),
    // the fullest and emptiest first, until the counts are within the tolerance. Each move
    // lowers the sum of squared counts, so this ends.
    void even_replica_counts() {
        while (spread(_cnt) > _in.opts.replica_tolerance && may_move_more()) {
            const auto fullest = targets_by([&](int b) { return std::make_tuple(-_cnt[b], -_bytes[b]); });
            const auto emptiest = targets_by([&](int b) { return std::make_tuple(_cnt[b], _bytes[b]); });
            bool moved = false;
            for (int from : fullest) {
                for (int to : emptiest) {
                    if (_cnt[from] - _cnt[to] < 2) {
                        break;
                    }
                    if (auto p = smallest_movable(from, to)) {
                        move(*p, from, to);
                        moved = true;
                        break;
                    }
                }
                if (moved) {
                    break;
                }
            }
            if (!moved) {
                return;
            }
        }
    }

    // Whether the replica counts stay within the tolerance (or no worse) after one replica
    // leaves `from` for `to`.
    bool counts_ok_after(int from, int to) {
        const int before = spread(_cnt);
        --_cnt[from];
        ++_cnt[to];
        const int after = spread(_cnt);
        ++_cnt[from];
        --_cnt[to];
        return after <= std::max(before, _in.opts.replica_tolerance);
    }

    // Brings bytes within the tolerance where single moves (when counts allow) or swaps of a
    // bigger for a smaller partition between the heaviest and lightest brokers get there.
    // Each step lowers the sum of squared bytes, so this ends.
    void even_bytes() {
        for (size_t guard = 0; guard < 4 * _in.partitions.size() + 16; ++guard) {
            if (bytes_within_tolerance() || !may_move_more()) {
                return;
            }
            if (!even_bytes_step()) {
                return;
            }
        }
    }

    bool even_bytes_step() {
        const auto heaviest = targets_by([&](int b) { return -_bytes[b]; });
        const auto lightest = targets_by([&](int b) { return _bytes[b]; });
        const bool room_for_two = !_in.opts.max_moves || _moves + 2 <= *_in.opts.max_moves;
        for (int h : heaviest) {
            for (int l : lightest) {
                const int64_t gap = _bytes[h] - _bytes[l];
                if (gap <= 0) {
                    break;
                }
                // The gain of shifting d bytes from h to l is d * (gap - d) (the sum of squares
                // drops by twice that); only 0 < d < gap helps.
                auto gain = [gap](int64_t d) { return d > 0 && d < gap ? double(d) * double(gap - d) : 0.0; };
                std::vector<size_t> on_h, on_l;
                for (size_t p : _order) {
                    if (!_can_move[p]) {
                        continue;
                    }
                    const bool at_h = holds(_now[p], h), at_l = holds(_now[p], l);
                    if (at_h && !at_l && racks_ok(p, h, l)) {
                        on_h.push_back(p);
                    } else if (at_l && !at_h && racks_ok(p, l, h)) {
                        on_l.push_back(p);
                    }
                }
                // The best single move, or swap (p, q): q == none for a single move.
                constexpr size_t none = std::numeric_limits<size_t>::max();
                double best = 0;
                size_t best_p = none, best_q = none;
                if (counts_ok_after(h, l)) {
                    for (size_t p : on_h) {
                        if (gain(size_of(p)) > best) {
                            best = gain(size_of(p));
                            best_p = p;
                        }
                    }
                }
                if (room_for_two) {
                    for (size_t p : on_h) {
                        for (size_t q : on_l) {
                            // A swap moves more data than a single: only when it gains more.
                            if (gain(size_of(p) - size_of(q)) > best) {
                                best = gain(size_of(p) - size_of(q));
                                best_p = p;
                                best_q = q;
                            }
                        }
                    }
                }
                if (best_p != none) {
                    move(best_p, h, l);
                    if (best_q != none) {
                        move(best_q, l, h);
                    }
                    return true;
                }
            }
        }
        return false;
    }

    // Evens preferred-leader counts by reordering lists (no data moves). A step hands one
    // preferred leadership along a chain: the broker with most leads a partition where b1 is a
    // follower, b1 leads one where b2 is, ... up to a broker with at least two fewer; each link
    // swaps the first replica with the follower's position. The shortest such chain is found
    // breadth-first. Each step lowers the sum of squared leader counts, so this ends.
    void even_leaders() {
        const size_t n = _ids.size();
        for (size_t guard = 0; guard < 4 * _in.partitions.size() + 16; ++guard) {
            if (spread(_lead) <= _in.opts.leader_tolerance) {
                return;
            }
            // link[u][v]: the partition to turn over from u to v, preferring one already changing
            // (no extra reassignment) and one whose current leader is v (no leadership moves).
            std::vector<std::vector<std::optional<size_t>>> link(n, std::vector<std::optional<size_t>>(n));
            for (size_t p : _order) {
                if (!_can_move[p]) {
                    continue;
                }
                const int u = _now[p][0];
                for (size_t k = 1; k < _now[p].size(); ++k) {
                    const int v = _now[p][k];
                    if (_leaving[v]) {
                        continue;
                    }
                    auto& slot = link[u][v];
                    if (!slot || preference(p, v) < preference(*slot, v)) {
                        slot = p;
                    }
                }
            }
            bool stepped = false;
            for (int start : targets_by([&](int b) { return -_lead[b]; })) {
                if (chain_from(start, link)) {
                    stepped = true;
                    break;
                }
            }
            if (!stepped) {
                return;
            }
        }
    }

    // When reordering cannot even the leaders (a broker's partitions all share their other
    // replicas with brokers that lead as much), two data moves trade one: broker h, leading
    // the most, hands a partition it leads to l, leading the fewest (l takes h's place, first
    // in the list), and takes in return a partition l follows in (h takes l's place), so
    // replica counts stay. The smallest such pair of partitions. False when none exists.
    bool trade_leadership() {
        if (_in.opts.max_moves && _moves + 2 > *_in.opts.max_moves) {
            _limit_reached = true;
            return false;
        }
        for (int h : targets_by([&](int b) { return -_lead[b]; })) {
            for (int l : targets_by([&](int b) { return _lead[b]; })) {
                if (_lead[h] - _lead[l] < 2) {
                    break;
                }
                std::optional<size_t> give, take;
                for (size_t p : _order) {
                    if (!_can_move[p] || holds(_now[p], l) == holds(_now[p], h)) {
                        continue;
                    }
                    if (_now[p][0] == h && racks_ok(p, h, l)) {
                        if (!give || size_of(p) < size_of(*give)) {
                            give = p;
                        }
                    } else if (holds(_now[p], l) && _now[p][0] != l && racks_ok(p, l, h)) {
                        if (!take || size_of(p) < size_of(*take)) {
                            take = p;
                        }
                    }
                }
                if (give && take) {
                    move(*give, h, l);
                    move(*take, l, h);
                    return true;
                }
            }
        }
        return false;
    }

    std::tuple<bool, bool> preference(size_t p, int v) const {
        const bool changing = _now[p] != _orig[p];
        const bool leads_now = _in.partitions[p].leader == _ids[v];
        return {!changing, !leads_now};
    }

    bool chain_from(int start, const std::vector<std::vector<std::optional<size_t>>>& link) {
        const size_t n = _ids.size();
        std::vector<int> parent(n, -2);
        parent[start] = -1;
        std::deque<int> queue{start};
        std::optional<int> end;
        while (!queue.empty() && !end) {
            const int u = queue.front();
            queue.pop_front();
            for (int v : targets_by([&](int b) { return _lead[b]; })) {
                if (parent[v] != -2 || !link[u][v]) {
                    continue;
                }
                parent[v] = u;
                if (_lead[v] <= _lead[start] - 2) {
                    end = v;
                    break;
                }
                queue.push_back(v);
            }
        }
        if (!end) {
            return false;
        }
        for (int v = *end; parent[v] != -1; v = parent[v]) {
            const size_t p = *link[parent[v]][v];
            auto& l = _now[p];
            auto it = std::find(l.begin(), l.end(), v);
            std::iter_swap(l.begin(), it);
            --_lead[parent[v]];
            ++_lead[v];
        }
        return true;
    }

    // ---- output ----

    plan finish() {
        plan out;
        out.skipped = std::move(_skipped);
        auto& s = out.summary;
        for (size_t p : _order) {
            if (_now[p] == _orig[p]) {
                continue;
            }
            const auto& in = _in.partitions[p];
            change c{.topic = in.topic, .index = in.index, .old_replicas = in.replicas, .size_bytes = in.size_bytes};
            for (int b : _now[p]) {
                c.new_replicas.push_back(_ids[b]);
                c.moves += holds(_orig[p], b) ? 0 : 1;
            }
            s.replica_moves += c.moves;
            s.bytes_moved += c.moves * c.size_bytes;
            out.changes.push_back(std::move(c));
        }
        for (size_t b = 0; b < _ids.size(); ++b) {
            s.brokers.push_back({.id = _ids[b], .leaving = _leaving[b],
                                 .replicas_before = _before_cnt[b], .replicas_after = _cnt[b],
                                 .leaders_before = _before_lead[b], .leaders_after = _lead[b],
                                 .bytes_before = _before_bytes[b], .bytes_after = _bytes[b]});
            if (_leaving[b]) {
                s.left_on_leaving += _cnt[b];
            }
        }
        s.replicas_balanced = spread(_cnt) <= _in.opts.replica_tolerance;
        s.leaders_balanced = spread(_lead) <= _in.opts.leader_tolerance;
        s.bytes_balanced = bytes_within_tolerance();
        s.move_limit_reached = _limit_reached;
        return out;
    }

    const input& _in;
    // brokers, by number
    std::vector<node_id> _ids;
    std::map<int32_t, int> _slot;  // id -> number
    std::vector<bool> _leaving;
    std::vector<int> _rack;        // rack number, -1 without racks
    std::vector<int> _targets;     // numbers of the brokers that stay
    bool _racks = false;
    int _target_racks = 0;
    std::vector<int> _cnt, _lead;
    std::vector<int64_t> _bytes;
    std::vector<int> _before_cnt, _before_lead;
    std::vector<int64_t> _before_bytes;
    // partitions, by input position
    std::vector<size_t> _order;    // by topic, then index
    std::vector<list> _orig, _now;
    std::vector<bool> _can_move;
    std::vector<skipped_partition> _skipped;
    int32_t _moves = 0;
    bool _limit_reached = false;
};

} // namespace

result<plan> plan_moves(const input& in, std::string* why) {
    return planner(in).run(why);
}

} // namespace trib::coordinator::balancer
