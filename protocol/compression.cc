#include "protocol/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace trib::protocol {

std::string compression_errc_message(compression_errc e) {
    switch (e) {
    case compression_errc::unsupported_codec: return "unsupported compression codec";
    case compression_errc::corrupt: return "compressed data is corrupt";
    case compression_errc::truncated: return "compressed data is truncated";
    case compression_errc::too_large: return "decompressed data exceeds the size limit";
    case compression_errc::trailing_data: return "data after the end of the compressed stream";
    case compression_errc::internal: return "compression library failure";
    }
    return "unknown compression error";
}

std::string_view codec_name(compression_codec c) noexcept {
    switch (c) {
    case compression_codec::none: return "none";
    case compression_codec::gzip: return "gzip";
    case compression_codec::snappy: return "snappy";
    case compression_codec::lz4: return "lz4";
    case compression_codec::zstd: return "zstd";
    }
    return "unknown";
}

result<compression_codec> codec_from_name(std::string_view name) {
    for (auto c : {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                   compression_codec::lz4, compression_codec::zstd}) {
        if (codec_name(c) == name) {
            return c;
        }
    }
    return compression_errc::unsupported_codec;
}

namespace {

// ---- output growth ----------------------------------------------------------------------

// Appends to `out` in growing steps, never past `max_output + 1` bytes (one byte of slack
// tells "exactly max_output" apart from "more than max_output"). Restores `out` on failure.
class bounded_output {
public:
    bounded_output(bytes& out, size_t max_output, size_t size_hint)
        : _out(out), _base(out.size()),
          _limit(max_output == SIZE_MAX ? SIZE_MAX : max_output + 1), _max(max_output),
          _next_step(std::clamp<size_t>(size_hint, 4096, 1 << 20)) {}

    // Free space after what was written; grows the buffer when full. nullptr when the limit
    // is reached and no more room may be given.
    uint8_t* space(size_t& avail) {
        if (_written == _capacity) {
            if (_capacity >= _limit) {
                avail = 0;
                return nullptr;
            }
            size_t grow = std::min(_next_step, _limit - _capacity);
            _capacity += grow;
            _next_step = std::min<size_t>(_next_step * 2, size_t(64) << 20);
            _out.resize(_base + _capacity);
        }
        avail = _capacity - _written;
        return _out.data() + _base + _written;
    }
    void produced(size_t n) noexcept { _written += n; }
    size_t written() const noexcept { return _written; }
    bool over_limit() const noexcept { return _written > _max; }
    // Reserves exactly n more bytes (for codecs that know the size up front); false when
    // that would pass the limit. `p` may be null when n == 0 and nothing was written yet.
    bool exact(size_t n, uint8_t*& p) {
        if (n > _max - std::min(_max, _written)) {
            return false;
        }
        _out.resize(_base + _written + n);
        _capacity = _written + n;
        p = _out.data() + _base + _written;
        return true;
    }

    result<void> finish() {
        if (over_limit()) {
            return fail(compression_errc::too_large);
        }
        _out.resize(_base + _written);
        return success();
    }
    result<void> fail(compression_errc e) {
        _out.resize(_base);
        return e;
    }

private:
    bytes& _out;
    size_t _base;
    size_t _limit;
    size_t _max;
    size_t _next_step;
    size_t _capacity = 0;
    size_t _written = 0;
};

size_t initial_hint(size_t input) { return input > SIZE_MAX / 4 ? input : input * 4; }

// ---- gzip -------------------------------------------------------------------------------

constexpr int gzip_window_bits = 15 + 16; // 32 KiB window, gzip framing

result<void> gzip_compress(bytes_view in, bytes& out, int level) {
    z_stream zs{};
    if (level == default_compression_level) {
        level = Z_DEFAULT_COMPRESSION;
    }
    if (deflateInit2(&zs, level, Z_DEFLATED, gzip_window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return compression_errc::internal;
    }
    const size_t base = out.size();
    const size_t bound = deflateBound(&zs, uLong(in.size()));
    out.resize(base + bound);
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = uInt(in.size());
    zs.next_out = out.data() + base;
    zs.avail_out = uInt(bound);
    int rc = deflate(&zs, Z_FINISH);
    const size_t produced = bound - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        out.resize(base);
        return compression_errc::internal;
    }
    out.resize(base + produced);
    return success();
}

result<void> gzip_decompress(bytes_view in, size_t max_output, bytes& out) {
    if (in.empty()) {
        return compression_errc::truncated;
    }
    z_stream zs{};
    if (inflateInit2(&zs, gzip_window_bits) != Z_OK) {
        return compression_errc::internal;
    }
    struct guard {
        z_stream* z;
        ~guard() { inflateEnd(z); }
    } g{&zs};
    bounded_output o(out, max_output, initial_hint(in.size()));
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = uInt(in.size());
    for (;;) {
        size_t avail = 0;
        uint8_t* dst = o.space(avail);
        if (dst == nullptr) {
            return o.fail(compression_errc::too_large);
        }
        const uInt step = uInt(std::min<size_t>(avail, UINT32_MAX));
        zs.next_out = dst;
        zs.avail_out = step;
        int rc = inflate(&zs, Z_NO_FLUSH);
        o.produced(step - zs.avail_out);
        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0) {
                break;
            }
            inflateReset(&zs); // another gzip member follows
            continue;
        }
        if (rc == Z_OK || rc == Z_BUF_ERROR) {
            if (zs.avail_out != 0 && zs.avail_in == 0) {
                return o.fail(compression_errc::truncated);
            }
            continue;
        }
        if (rc == Z_MEM_ERROR) {
            return o.fail(compression_errc::internal);
        }
        return o.fail(compression_errc::corrupt);
    }
    return o.finish();
}

// ---- snappy (xerial framing or raw) -----------------------------------------------------

constexpr std::array<uint8_t, 8> xerial_magic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t xerial_header_size = 16; // magic, int32 version, int32 compatible version
constexpr size_t xerial_block = 32 * 1024;

bool starts_with_xerial(bytes_view in) {
    return in.size() >= xerial_header_size &&
           std::memcmp(in.data(), xerial_magic.data(), xerial_magic.size()) == 0;
}

result<void> snappy_compress(bytes_view in, bytes& out) {
    const size_t base = out.size();
    const size_t blocks = (in.size() + xerial_block - 1) / xerial_block;
    out.resize(base + xerial_header_size +
               blocks * (4 + snappy::MaxCompressedLength(std::min(in.size(), xerial_block))));
    uint8_t* p = out.data() + base;
    std::memcpy(p, xerial_magic.data(), xerial_magic.size());
    store_be32(p + 8, 1);  // version
    store_be32(p + 12, 1); // minimum compatible version
    p += xerial_header_size;
    for (size_t pos = 0; pos < in.size(); pos += xerial_block) {
        const size_t n = std::min(xerial_block, in.size() - pos);
        size_t compressed = 0;
        snappy::RawCompress(reinterpret_cast<const char*>(in.data() + pos), n,
                            reinterpret_cast<char*>(p + 4), &compressed);
        store_be32(p, uint32_t(compressed));
        p += 4 + compressed;
    }
    out.resize(size_t(p - out.data()));
    return success();
}

result<void> snappy_raw_block(bytes_view block, bounded_output& o) {
    size_t n = 0;
    const char* src = reinterpret_cast<const char*>(block.data());
    if (!snappy::GetUncompressedLength(src, block.size(), &n)) {
        return o.fail(compression_errc::corrupt);
    }
    uint8_t* dst = nullptr;
    if (!o.exact(n, dst)) {
        return o.fail(compression_errc::too_large);
    }
    // RawUncompress checks every copy against both buffers: safe on hostile input. An empty
    // block still goes through it (into a dummy byte) so its framing is checked the same way
    // whatever the output buffer holds.
    char dummy = 0;
    char* target = n == 0 ? &dummy : reinterpret_cast<char*>(dst);
    if (!snappy::RawUncompress(src, block.size(), target)) {
        return o.fail(compression_errc::corrupt);
    }
    o.produced(n);
    return success();
}

result<void> snappy_decompress(bytes_view in, size_t max_output, bytes& out) {
    bounded_output o(out, max_output, 0);
    if (!starts_with_xerial(in)) {
        if (in.empty()) {
            return o.fail(compression_errc::truncated);
        }
        if (auto r = snappy_raw_block(in, o); !r) {
            return r;
        }
        return o.finish();
    }
    size_t pos = xerial_header_size;
    while (pos < in.size()) {
        bytes_view rest = in.subspan(pos);
        if (starts_with_xerial(rest)) { // concatenated streams, as snappy-java reads them
            pos += xerial_header_size;
            continue;
        }
        if (rest.size() < 4) {
            return o.fail(compression_errc::truncated);
        }
        const uint32_t len = load_be32(rest.data());
        if (len > rest.size() - 4) {
            return o.fail(compression_errc::truncated);
        }
        if (auto r = snappy_raw_block(rest.subspan(4, len), o); !r) {
            return r;
        }
        pos += 4 + size_t(len);
    }
    return o.finish();
}

// ---- lz4 frame ---------------------------------------------------------------------------

struct lz4_dctx_deleter {
    void operator()(LZ4F_dctx* d) const noexcept { LZ4F_freeDecompressionContext(d); }
};

// Reused per thread: a context keeps block-sized buffers that cost more to set up than a
// small batch takes to decode.
LZ4F_dctx* lz4_dctx() {
    thread_local std::unique_ptr<LZ4F_dctx, lz4_dctx_deleter> ctx([] {
        LZ4F_dctx* raw = nullptr;
        return LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION)) ? nullptr : raw;
    }());
    return ctx.get();
}

result<void> lz4_compress(bytes_view in, bytes& out, int level) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    prefs.compressionLevel = level == default_compression_level ? 0 : level;
    const size_t base = out.size();
    const size_t bound = LZ4F_compressFrameBound(in.size(), &prefs);
    out.resize(base + bound);
    size_t n = LZ4F_compressFrame(out.data() + base, bound, in.data(), in.size(), &prefs);
    if (LZ4F_isError(n)) {
        out.resize(base);
        return compression_errc::internal;
    }
    out.resize(base + n);
    return success();
}

result<void> lz4_decompress(bytes_view in, size_t max_output, bytes& out) {
    if (in.empty()) {
        return compression_errc::truncated;
    }
    LZ4F_dctx* dctx = lz4_dctx();
    if (dctx == nullptr) {
        return compression_errc::internal;
    }
    LZ4F_resetDecompressionContext(dctx); // a previous call may have stopped mid-frame
    bounded_output o(out, max_output, initial_hint(in.size()));
    size_t pos = 0;
    size_t hint = 1;
    for (;;) {
        size_t avail = 0;
        uint8_t* dst = o.space(avail);
        if (dst == nullptr) {
            return o.fail(compression_errc::too_large);
        }
        size_t dst_size = avail;
        size_t src_size = in.size() - pos;
        hint = LZ4F_decompress(dctx, dst, &dst_size, in.data() + pos, &src_size, nullptr);
        const bool stalled = src_size == 0 && dst_size == 0 && hint != 0 && pos < in.size();
        if (LZ4F_isError(hint) || stalled) {
            return o.fail(compression_errc::corrupt);
        }
        pos += src_size;
        o.produced(dst_size);
        if (hint == 0) { // a frame ended; another may follow
            if (pos == in.size()) {
                break;
            }
            continue;
        }
        if (pos == in.size() && dst_size < avail) {
            return o.fail(compression_errc::truncated); // wants input we don't have
        }
    }
    return o.finish();
}

// ---- zstd --------------------------------------------------------------------------------

struct zstd_dctx_deleter {
    void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};
struct zstd_cctx_deleter {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

// Contexts are reused per thread: creating one costs more than decompressing a small batch.
ZSTD_DCtx* zstd_dctx() {
    thread_local std::unique_ptr<ZSTD_DCtx, zstd_dctx_deleter> ctx(ZSTD_createDCtx());
    return ctx.get();
}
ZSTD_CCtx* zstd_cctx() {
    thread_local std::unique_ptr<ZSTD_CCtx, zstd_cctx_deleter> ctx(ZSTD_createCCtx());
    return ctx.get();
}

result<void> zstd_compress(bytes_view in, bytes& out, int level) {
    ZSTD_CCtx* cctx = zstd_cctx();
    if (cctx == nullptr) {
        return compression_errc::internal;
    }
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
                           level == default_compression_level ? 3 : level);
    const size_t base = out.size();
    const size_t bound = ZSTD_compressBound(in.size());
    out.resize(base + bound);
    size_t n = ZSTD_compress2(cctx, out.data() + base, bound, in.data(), in.size());
    if (ZSTD_isError(n)) {
        out.resize(base);
        return compression_errc::internal;
    }
    out.resize(base + n);
    return success();
}

result<void> zstd_decompress(bytes_view in, size_t max_output, bytes& out) {
    if (in.empty()) {
        return compression_errc::truncated;
    }
    ZSTD_DCtx* dctx = zstd_dctx();
    if (dctx == nullptr) {
        return compression_errc::internal;
    }
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
    // The window is memory the decoder allocates on the frame's word: keep it to what an
    // output of at most max_output bytes can need (but never below what streaming
    // compressors use by default at high levels, 8 MiB).
    int window_log = 23;
    while (window_log < 27 && (size_t(1) << window_log) < max_output) {
        ++window_log;
    }
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, window_log);

    size_t hint = initial_hint(in.size());
    unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
        if (declared > max_output) {
            return compression_errc::too_large;
        }
        hint = std::max<size_t>(size_t(declared) + 1, 1);
    }
    bounded_output o(out, max_output, hint);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    size_t last = 1;
    for (;;) {
        size_t avail = 0;
        uint8_t* dst = o.space(avail);
        if (dst == nullptr) {
            return o.fail(compression_errc::too_large);
        }
        ZSTD_outBuffer ob{dst, avail, 0};
        const size_t in_before = src.pos;
        last = ZSTD_decompressStream(dctx, &ob, &src);
        o.produced(ob.pos);
        if (ZSTD_isError(last)) {
            auto code = ZSTD_getErrorCode(last);
            if (code == ZSTD_error_memory_allocation) {
                return o.fail(compression_errc::internal);
            }
            if (code == ZSTD_error_frameParameter_windowTooLarge) {
                return o.fail(compression_errc::too_large);
            }
            return o.fail(compression_errc::corrupt);
        }
        if (ob.pos == 0 && src.pos == in_before && last != 0 && src.pos < src.size) {
            return o.fail(compression_errc::corrupt); // no progress: never loop forever
        }
        if (src.pos == src.size) {
            if (last == 0) {
                break; // every frame complete and flushed
            }
            if (ob.pos < ob.size) {
                return o.fail(compression_errc::truncated);
            }
        }
    }
    return o.finish();
}

} // namespace

result<void> compress_append(compression_codec codec, bytes_view input, bytes& out, int level) {
    switch (codec) {
    case compression_codec::none:
        out.insert(out.end(), input.begin(), input.end());
        return success();
    case compression_codec::gzip: return gzip_compress(input, out, level);
    case compression_codec::snappy: return snappy_compress(input, out);
    case compression_codec::lz4: return lz4_compress(input, out, level);
    case compression_codec::zstd: return zstd_compress(input, out, level);
    }
    return compression_errc::unsupported_codec;
}

result<bytes> compress(compression_codec codec, bytes_view input, int level) {
    bytes out;
    if (auto r = compress_append(codec, input, out, level); !r) {
        return r.error();
    }
    return out;
}

result<void> decompress_append(compression_codec codec, bytes_view input, size_t max_output,
                               bytes& out) {
    switch (codec) {
    case compression_codec::none:
        if (input.size() > max_output) {
            return compression_errc::too_large;
        }
        out.insert(out.end(), input.begin(), input.end());
        return success();
    case compression_codec::gzip: return gzip_decompress(input, max_output, out);
    case compression_codec::snappy: return snappy_decompress(input, max_output, out);
    case compression_codec::lz4: return lz4_decompress(input, max_output, out);
    case compression_codec::zstd: return zstd_decompress(input, max_output, out);
    }
    return compression_errc::unsupported_codec;
}

result<bytes> decompress(compression_codec codec, bytes_view input, size_t max_output) {
    bytes out;
    if (auto r = decompress_append(codec, input, max_output, out); !r) {
        return r.error();
    }
    return out;
}

} // namespace trib::protocol
