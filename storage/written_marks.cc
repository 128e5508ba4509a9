#include "storage/written_marks.h"

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/errc.h"
#include "storage/file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

namespace trib::storage {

namespace {
constexpr uint8_t magic[4] = {'T', 'R', 'W', 'M'};
constexpr uint16_t version = 1;
constexpr size_t boot_id_size = 36;
constexpr size_t header_size = 48;               // magic .. entry count
constexpr size_t entry_fixed = 2 + 8 + 8 + 8;    // name length, nonce, segment, position
constexpr size_t max_name = 255;
constexpr size_t max_file = 64 << 20;
} // namespace

void written_marks::cell::set(const written_mark& m) {
    std::lock_guard g(_mu);
    _mark = m;
}

void written_marks::cell::clear() {
    std::lock_guard g(_mu);
    _mark.reset();
}

std::optional<written_mark> written_marks::cell::get() const {
    std::lock_guard g(_mu);
    return _mark;
}

std::string written_marks::current_boot_id() {
    std::string id;
    if (FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re")) {
        char buf[64] = {};
        if (std::fgets(buf, sizeof buf, f)) {
            id = buf;
        }
        std::fclose(f);
    }
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) {
        id.pop_back();
    }
    return id.size() == boot_id_size ? id : std::string();
}

std::vector<uint8_t> written_marks::encode(const std::string& boot_id,
                                           const std::map<std::string, written_mark>& entries) {
    size_t n = 0;
    for (const auto& [name, m] : entries) {
        if (!name.empty() && name.size() <= max_name) {
            ++n;
        }
    }
    bytes out(header_size);
    std::memcpy(out.data(), magic, 4);
    store_be16(out.data() + 4, version);
    std::memset(out.data() + 8, ' ', boot_id_size);
    std::memcpy(out.data() + 8, boot_id.data(), std::min(boot_id.size(), boot_id_size));
    store_be32(out.data() + 44, uint32_t(n));
    for (const auto& [name, m] : entries) {
        if (name.empty() || name.size() > max_name) {
            continue;  // not a log directory name; never produced by a log
        }
        size_t at = out.size();
        out.resize(at + entry_fixed + name.size());
        uint8_t* p = out.data() + at;
        store_be16(p, uint16_t(name.size()));
        std::memcpy(p + 2, name.data(), name.size());
        p += 2 + name.size();
        store_be64(p, m.nonce);
        store_be64(p + 8, uint64_t(m.segment.value()));
        store_be64(p + 16, m.position);
    }
    uint8_t crc[4];
    store_be32(crc, crc32c::extend(0, out.data(), out.size()));
    out.insert(out.end(), crc, crc + 4);
    return out;
}

std::optional<written_marks::decoded> written_marks::decode(const std::vector<uint8_t>& data, std::string* why) {
    auto fail = [&](const char* reason) {
        if (why) {
            *why = reason;
        }
        return std::optional<decoded>{};
    };
    if (data.size() < header_size + 4 || data.size() > max_file) {
        return fail("wrong size");
    }
    const size_t body = data.size() - 4;
    if (crc32c::extend(0, data.data(), body) != load_be32(data.data() + body)) {
        return fail("CRC mismatch");
    }
    if (std::memcmp(data.data(), magic, 4) != 0 || load_be16(data.data() + 4) != version) {
        return fail("not a written-marks file of version 1");
    }
    decoded out;
    out.boot_id.assign(reinterpret_cast<const char*>(data.data() + 8), boot_id_size);
    while (!out.boot_id.empty() && out.boot_id.back() == ' ') {
        out.boot_id.pop_back();  // encode() pads a shorter id (tests) with spaces
    }
    const uint32_t count = load_be32(data.data() + 44);
    size_t pos = header_size;
    for (uint32_t i = 0; i < count; ++i) {
        if (body - pos < entry_fixed) {
            return fail("entry past the end");
        }
        const size_t len = load_be16(data.data() + pos);
        if (len == 0 || len > max_name || body - pos < entry_fixed + len) {
            return fail("bad name length");
        }
        std::string name(reinterpret_cast<const char*>(data.data() + pos + 2), len);
        const uint8_t* p = data.data() + pos + 2 + len;
        written_mark m{load_be64(p), offset(int64_t(load_be64(p + 8))), load_be64(p + 16)};
        if (m.segment.value() < 0 || m.position > UINT32_MAX || name.find('/') != std::string::npos ||
            !out.entries.emplace(std::move(name), m).second) {
            return fail("bad entry");
        }
        pos += entry_fixed + len;
    }
    if (pos != body) {
        return fail("bytes after the last entry");
    }
    return out;
}

written_marks::written_marks(std::filesystem::path dir, std::chrono::milliseconds interval, std::string boot_id)
    : _dir(std::move(dir)), _interval(interval), _boot_id(std::move(boot_id)) {
    const auto path = _dir / file_name;
    if (_boot_id.empty()) {
        TLOG_WARN("storage: the boot id is unknown: no written marks; recovery after a crash checks every "
                  "batch written since the recovery point");
    } else if (auto got = read_small_file(path, max_file); got && *got) {
        std::string why;
        auto d = decode(**got, &why);
        if (!d) {
            TLOG_WARN("storage: {} is damaged ({}); ignoring it", path.string(), why);
        } else if (d->boot_id != _boot_id) {
            TLOG_INFO("storage: {} is from an earlier boot; ignoring it", path.string());
        } else {
            _found = std::move(d->entries);
            _carried = _found;
        }
    }
    (void)remove_file(_dir / (std::string(file_name) + ".tmp"));
    if (!_boot_id.empty()) {
        _thread = std::thread([this] { run(); });
    }
}

written_marks::~written_marks() {
    {
        std::lock_guard g(_mu);
        _stop = true;
    }
    _cv.notify_all();
    if (_thread.joinable()) {
        _thread.join();
    }
}

std::optional<written_mark> written_marks::found(const std::string& name) const {
    auto it = _found.find(name);
    return it == _found.end() ? std::nullopt : std::optional<written_mark>(it->second);
}

std::shared_ptr<written_marks::cell> written_marks::attach(const std::string& name) {
    auto c = std::make_shared<cell>(name);
    std::lock_guard g(_mu);
    _carried.erase(name);
    std::erase_if(_cells, [](const std::weak_ptr<cell>& w) { return w.expired(); });
    _cells.push_back(c);
    return c;
}

result<void> written_marks::write_now() {
    if (_boot_id.empty()) {
        return success();
    }
    std::lock_guard w(_write_mu);
    std::map<std::string, written_mark> entries;
    {
        std::lock_guard g(_mu);
        std::erase_if(_carried, [&](const auto& kv) {
            std::error_code ec;
            return !std::filesystem::exists(_dir / kv.first, ec);  // deleted while we weren't looking
        });
        entries = _carried;
        std::erase_if(_cells, [](const std::weak_ptr<cell>& w) { return w.expired(); });
        for (const auto& w : _cells) {
            if (auto c = w.lock()) {
                if (auto m = c->get()) {
                    entries[c->name()] = *m;
                }
            }
        }
    }
    auto data = encode(_boot_id, entries);
    if (data == _last_written) {
        return success();
    }
    const auto tmp = _dir / (std::string(file_name) + ".tmp");
    auto f = file::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!f) {
        return f.error();
    }
    if (auto r = (*f)->write_at(data, 0); !r) {
        return r;
    }
    // No fsync: the file only speaks for this boot (see the class comment).
    if (::rename(tmp.c_str(), (_dir / file_name).c_str()) != 0) {
        return io_failure("rename", tmp, errno);
    }
    _last_written = std::move(data);
    return success();
}

void written_marks::run() {
    bool failing = false;
    std::unique_lock g(_mu);
    while (!_stop) {
        _cv.wait_for(g, _interval, [this] { return _stop; });
        if (_stop) {
            break;
        }
        g.unlock();
        auto r = write_now();
        if (!r && !failing) {
            TLOG_ERROR("storage: cannot write {}: {} (recovery after a crash will check every batch)",
                       (_dir / file_name).string(), r.error().message());
        }
        failing = !r;
        g.lock();
    }
}

} // namespace trib::storage
