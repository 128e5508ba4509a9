#include "storage/leader_epoch_cache.h"

#include "common/log.h"
#include "storage/file.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

namespace trib::storage {

namespace {

constexpr int64_t file_version = 0;
// A real cache has one line per leader change; anything this large is not one of ours, and
// the limit keeps a damaged file from driving an allocation.
constexpr uint64_t max_file_bytes = 4 << 20;

// Reads the next '\n'-terminated line of `text` from `at`; nullopt at the end or on a line
// without its newline (a torn write, which replace_file makes impossible, or foreign data).
std::optional<std::string_view> next_line(std::string_view text, size_t& at) {
    auto nl = text.find('\n', at);
    if (nl == std::string_view::npos) {
        return std::nullopt;
    }
    auto line = text.substr(at, nl - at);
    at = nl + 1;
    return line;
}

// A non-negative decimal integer filling all of `s`.
template<typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < 0) {
        return std::nullopt;
    }
    return v;
}

// Parses the file's text; on failure sets `why`.
std::optional<std::vector<epoch_entry>> parse(std::string_view text, std::string& why) {
    size_t at = 0;
    auto version_line = next_line(text, at);
    auto count_line = next_line(text, at);
    if (!version_line || !count_line) {
        why = "missing version or count line";
        return std::nullopt;
    }
    if (parse_number<int64_t>(*version_line) != file_version) {
        why = "unknown version '" + std::string(*version_line) + "'";
        return std::nullopt;
    }
    auto count = parse_number<int64_t>(*count_line);
    if (!count) {
        why = "bad count line '" + std::string(*count_line) + "'";
        return std::nullopt;
    }
    std::vector<epoch_entry> entries;  // grown line by line: the count is not trusted
    for (int64_t i = 0; i < *count; ++i) {
        auto line = next_line(text, at);
        if (!line) {
            why = "expected " + std::to_string(*count) + " entries, found " + std::to_string(i);
            return std::nullopt;
        }
        auto sp = line->find(' ');
        auto epoch = sp == std::string_view::npos ? std::nullopt : parse_number<int32_t>(line->substr(0, sp));
        auto start = sp == std::string_view::npos ? std::nullopt : parse_number<int64_t>(line->substr(sp + 1));
        if (!epoch || !start) {
            why = "bad entry line '" + std::string(*line) + "'";
            return std::nullopt;
        }
        epoch_entry e{leader_epoch(*epoch), offset(*start)};
        if (!entries.empty() && (e.epoch <= entries.back().epoch || e.start_offset <= entries.back().start_offset)) {
            why = "entry '" + std::string(*line) + "' doesn't increase epoch and start offset";
            return std::nullopt;
        }
        entries.push_back(e);
    }
    if (at != text.size()) {
        why = "more than " + std::to_string(*count) + " entries";
        return std::nullopt;
    }
    return entries;
}

} // namespace

result<std::optional<leader_epoch_cache>> leader_epoch_cache::read(const std::filesystem::path& dir) {
    auto path = dir / file_name;
    auto got = read_small_file(path, max_file_bytes);
    if (!got) {
        return got.error();
    }
    if (!*got) {
        return std::optional<leader_epoch_cache>{};
    }
    std::string why = "larger than " + std::to_string(max_file_bytes) + " bytes";
    std::optional<std::vector<epoch_entry>> entries;
    if ((*got)->size() <= max_file_bytes) {
        entries = parse(std::string_view(reinterpret_cast<const char*>((*got)->data()), (*got)->size()), why);
    }
    if (!entries) {
        TLOG_WARN("storage: {} is damaged ({}); rebuilding it from the log", path.string(), why);
        return std::optional<leader_epoch_cache>{};
    }
    leader_epoch_cache c;
    c._entries = std::move(*entries);
    return std::optional<leader_epoch_cache>(std::move(c));
}

result<void> leader_epoch_cache::write(const std::filesystem::path& dir) const {
    std::string text = std::to_string(file_version) + "\n" + std::to_string(_entries.size()) + "\n";
    for (const auto& e : _entries) {
        text += std::to_string(e.epoch.value()) + " " + std::to_string(e.start_offset.value()) + "\n";
    }
    return replace_file(dir, file_name, bytes_view(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

bool leader_epoch_cache::assign(leader_epoch epoch, offset start) {
    if (epoch.value() < 0 || start.value() < 0) {
        return false;
    }
    if (!_entries.empty()) {
        const epoch_entry& last = _entries.back();
        if (epoch <= last.epoch) {
            return false;
        }
        if (start < last.start_offset) {
            TLOG_WARN("storage: leader epoch {} at offset {} ignored: epoch {} already starts at {}",
                      epoch.value(), start.value(), last.epoch.value(), last.start_offset.value());
            return false;
        }
        if (start == last.start_offset) {
            _entries.pop_back();
        }
    }
    _entries.push_back({epoch, start});
    return true;
}

std::optional<leader_epoch> leader_epoch_cache::latest_epoch() const {
    if (_entries.empty()) {
        return std::nullopt;
    }
    return _entries.back().epoch;
}

std::pair<leader_epoch, offset> leader_epoch_cache::end_offset_for(leader_epoch requested, offset log_end) const {
    const std::pair<leader_epoch, offset> undefined_pair{leader_epoch(undefined), offset(undefined)};
    if (requested.value() < 0 || _entries.empty() || requested > _entries.back().epoch) {
        return undefined_pair;
    }
    if (requested == _entries.back().epoch) {
        return {requested, log_end};
    }
    // The first entry with a larger epoch exists: requested < the latest epoch.
    auto higher = std::upper_bound(_entries.begin(), _entries.end(), requested,
                                   [](leader_epoch r, const epoch_entry& e) { return r < e.epoch; });
    if (higher == _entries.begin()) {
        return {requested, higher->start_offset};
    }
    return {std::prev(higher)->epoch, higher->start_offset};
}

bool leader_epoch_cache::truncate_from_end(offset end) {
    auto first_gone = std::find_if(_entries.begin(), _entries.end(),
                                   [&](const epoch_entry& e) { return e.start_offset >= end; });
    const bool changed = first_gone != _entries.end();
    _entries.erase(first_gone, _entries.end());
    return changed;
}

bool leader_epoch_cache::truncate_from_start(offset start) {
    // The last entry starting at or below `start` covers it; those before it cover nothing left.
    auto covering = std::upper_bound(_entries.begin(), _entries.end(), start,
                                     [](offset s, const epoch_entry& e) { return s < e.start_offset; });
    if (covering == _entries.begin()) {
        return false;
    }
    --covering;
    const bool changed = covering != _entries.begin() || covering->start_offset != start;
    covering->start_offset = start;
    _entries.erase(_entries.begin(), covering);
    return changed;
}

} // namespace trib::storage
