#pragma once

// The four codecs of Kafka record batches, as the stock clients frame them:
//
//   gzip    RFC 1952 gzip members (zlib). Concatenated members are accepted on input.
//   snappy  the xerial snappy-java framing the Java client writes ("\x82SNAPPY\0", version 1,
//           compatible version 1, then blocks of [int32 BE length][raw snappy]); raw snappy
//           without that header (what librdkafka writes) is accepted on input. We write xerial
//           with 32 KiB blocks, like the Java client; librdkafka, kafka-python, sarama and
//           kafkajs' snappy codec all detect and read that framing.
//   lz4     the standard LZ4 frame format (LZ4F). We write 64 KiB independent blocks with no
//           content size or checksums, what Kafka's Java client writes and reads.
//   zstd    zstd frames; decompressed streaming, so frames without a content size work.
//
// Decompression never trusts the input: the caller passes the largest output it accepts, the
// output grows only as data actually decompresses, and a corrupt, truncated or oversized
// stream is an error (never a crash or an allocation beyond the limit).

#include "common/batch_header.h"
#include "common/bytes.h"
#include "common/result.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace trib::protocol {

enum class compression_errc {
    unsupported_codec = 1, // attribute bits name no codec we know (5, 6, 7)
    corrupt,               // the stream is malformed or fails a checksum
    truncated,             // the stream ends before its end marker
    too_large,             // the output would exceed the caller's limit
    trailing_data,         // bytes after the end of the compressed stream
    internal,              // the library failed for another reason (out of memory)
};
std::string compression_errc_message(compression_errc e);
TRIB_ERROR_CATEGORY(compression, compression_errc, compression_errc_message)

// Codec name as Kafka's `compression.type` spells it ("none", "gzip", "snappy", "lz4",
// "zstd"), and back.
std::string_view codec_name(compression_codec c) noexcept;
result<compression_codec> codec_from_name(std::string_view name);

// Library default level for a codec (what Kafka's producer uses by default).
constexpr int default_compression_level = -1000;

// Compresses `input` and appends the result to `out`. `level` is the codec's own level scale
// (gzip 1-9, lz4 0 fast / 1-12 HC, zstd 1-22); snappy has none. codec none copies.
result<void> compress_append(compression_codec codec, bytes_view input, bytes& out,
                             int level = default_compression_level);
result<bytes> compress(compression_codec codec, bytes_view input,
                       int level = default_compression_level);

// Decompresses `input`, appending at most `max_output` bytes to `out`. On error `out` is left
// at its original size.
result<void> decompress_append(compression_codec codec, bytes_view input, size_t max_output,
                               bytes& out);
result<bytes> decompress(compression_codec codec, bytes_view input, size_t max_output);

} // namespace trib::protocol

TRIB_REGISTER_ERRC(trib::protocol::compression_errc)
