#include "broker/groups/offsets_records.h"

#include "protocol/wire.h"

#include <limits>

namespace trib::broker::groups {

namespace {

// Next code point of `s` from `i` (advanced), U+FFFD for a malformed sequence. As Java's
// decoder does: a sequence cut short is one U+FFFD and the byte that cut it is read again; an
// encoded surrogate is one U+FFFD; an overlong form or a code point past U+10FFFF consumes
// its lead byte only.
uint32_t next_code_point(std::string_view s, size_t& i) {
    constexpr uint32_t replacement = 0xfffd;
    const size_t start = i;
    const auto b0 = uint8_t(s[i++]);
    if (b0 < 0x80) {
        return b0;
    }
    int extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((b0 & 0xe0) == 0xc0) {
        extra = 1, cp = b0 & 0x1f, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        extra = 2, cp = b0 & 0x0f, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        extra = 3, cp = b0 & 0x07, min = 0x10000;
    } else {
        return replacement;
    }
    for (int k = 0; k < extra; ++k) {
        if (i >= s.size() || (uint8_t(s[i]) & 0xc0) != 0x80) {
            return replacement;  // the byte that broke the sequence is read again
        }
        cp = (cp << 6) | (uint8_t(s[i++]) & 0x3f);
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
        return replacement;
    }
    if (cp < min || cp > 0x10ffff) {
        i = start + 1;
        return replacement;
    }
    return cp;
}

template<typename M>
bytes encode_versioned(const M& m, int16_t version) {
    protocol::writer w;
    w.write_int16(version);
    m.encode(w, version);
    return w.take();
}

// Decodes a whole struct of `version`; false when it is short or has bytes left over.
template<typename M>
bool decode_whole(protocol::reader& r, M& m, int16_t version) {
    m.decode(r, version);
    return r.ok() && r.remaining() == 0;
}

template<typename Record, typename Key, typename Value>
offsets_record decode_pair(protocol::reader& kr, int16_t key_version, std::optional<bytes_view> value,
                           const char* what) {
    Record rec;
    if (!decode_whole<Key>(kr, rec.key, key_version)) {
        return bad_record{std::string("a short or overlong ") + what + " key"};
    }
    if (!value) {
        return rec;
    }
    protocol::reader vr(*value);
    const int16_t vv = vr.read_int16();
    if (!vr.ok()) {
        return bad_record{std::string(what) + " value shorter than its version"};
    }
    if (vv < Value::min_version || vv > Value::max_version) {
        return bad_record{std::string(what) + " value version " + std::to_string(vv) + " is unknown"};
    }
    rec.value.emplace();
    if (!decode_whole<Value>(vr, *rec.value, vv)) {
        return bad_record{std::string("a short or overlong ") + what + " value (version " + std::to_string(vv) + ")"};
    }
    return rec;
}

} // namespace

int32_t java_string_hash(std::string_view utf8) {
    uint32_t h = 0;  // Java's int arithmetic wraps; unsigned wraps the same way, defined
    for (size_t i = 0; i < utf8.size();) {
        const uint32_t cp = next_code_point(utf8, i);
        if (cp >= 0x10000) {
            const uint32_t v = cp - 0x10000;
            h = h * 31 + (0xd800 + (v >> 10));
            h = h * 31 + (0xdc00 + (v & 0x3ff));
        } else {
            h = h * 31 + cp;
        }
    }
    return int32_t(h);
}

int32_t offsets_partition_for(std::string_view group_id, int32_t partitions) {
    const int32_t h = java_string_hash(group_id);
    // Kafka's Utils.abs: Math.abs, except that MIN_VALUE (its own negation) maps to 0.
    const int32_t abs = h == std::numeric_limits<int32_t>::min() ? 0 : (h < 0 ? -h : h);
    return abs % partitions;
}

offsets_record decode_offsets_record(bytes_view key, std::optional<bytes_view> value) {
    protocol::reader kr(key);
    const int16_t kv = kr.read_int16();
    if (!kr.ok()) {
        return bad_record{"a key shorter than its version"};
    }
    if (kv < 0) {
        return bad_record{"key version " + std::to_string(kv)};
    }
    if (kv <= protocol::offset_commit_key::max_version) {
        return decode_pair<offset_commit_record, protocol::offset_commit_key, protocol::offset_commit_value>(
            kr, kv, value, "offset commit");
    }
    if (kv == protocol::group_metadata_key::min_version) {
        return decode_pair<group_metadata_record, protocol::group_metadata_key, protocol::group_metadata_value>(
            kr, kv, value, "group metadata");
    }
    using namespace protocol;
    switch (kv) {
    case consumer_group_metadata_key::min_version:
        return decode_pair<consumer_group_metadata_record, consumer_group_metadata_key,
                           consumer_group_metadata_value>(kr, kv, value, "consumer group metadata");
    case consumer_group_partition_metadata_key::min_version:
        return decode_pair<consumer_group_partition_metadata_record, consumer_group_partition_metadata_key,
                           consumer_group_partition_metadata_value>(kr, kv, value, "consumer group partition metadata");
    case consumer_group_member_metadata_key::min_version:
        return decode_pair<consumer_group_member_metadata_record, consumer_group_member_metadata_key,
                           consumer_group_member_metadata_value>(kr, kv, value, "consumer group member metadata");
    case consumer_group_target_assignment_metadata_key::min_version:
        return decode_pair<consumer_group_target_metadata_record, consumer_group_target_assignment_metadata_key,
                           consumer_group_target_assignment_metadata_value>(kr, kv, value, "target assignment metadata");
    case consumer_group_target_assignment_member_key::min_version:
        return decode_pair<consumer_group_target_member_record, consumer_group_target_assignment_member_key,
                           consumer_group_target_assignment_member_value>(kr, kv, value, "target assignment member");
    case consumer_group_current_member_assignment_key::min_version:
        return decode_pair<consumer_group_current_assignment_record, consumer_group_current_member_assignment_key,
                           consumer_group_current_member_assignment_value>(kr, kv, value, "current member assignment");
    default:
        return other_record{kv};
    }
}

bytes encode_key(const protocol::offset_commit_key& k) {
    return encode_versioned(k, offset_commit_key_version);
}

bytes encode_key(const protocol::group_metadata_key& k) {
    return encode_versioned(k, group_metadata_key_version);
}

bytes encode_value(const protocol::offset_commit_value& v) {
    return encode_versioned(v, v.expire_timestamp != -1 ? offset_commit_value_version_with_expiry
                                                        : offset_commit_value_version);
}

bytes encode_value(const protocol::group_metadata_value& v) {
    return encode_versioned(v, group_metadata_value_version);
}

} // namespace trib::broker::groups
