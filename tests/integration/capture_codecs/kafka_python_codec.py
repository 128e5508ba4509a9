#!/usr/bin/python3
"""Cross-checks Tributary's record batches and codecs against kafka-python's own.

Run with Debian's interpreter (/usr/bin/python3, which has python3-kafka). Used by
tests/unit/protocol/records_test.cc and compression_test.cc; exits 77 when kafka-python or the
codec's Python module is missing, so the C++ test can skip.

  kafka_python_codec.py encode CODEC IN OUT    kafka.codec's encoder (snappy: xerial framing)
  kafka_python_codec.py decode CODEC IN OUT    kafka.codec's decoder
  kafka_python_codec.py build CODEC OUT        a magic-2 batch built by DefaultRecordBatchBuilder
                                               from sample_records(); prints them as describe()
  kafka_python_codec.py read IN                parses every batch of a record set with
                                               DefaultRecordBatch (CRC checked), prints describe()

CODEC is none, gzip, snappy, lz4 or zstd.
"""
import sys

SKIP = 77

try:
    import kafka.codec as codec
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
except ImportError:
    sys.exit(SKIP)

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
AVAILABLE = {
    "none": lambda: True,
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}
ENCODE = {"gzip": codec.gzip_encode, "snappy": codec.snappy_encode,
          "lz4": lambda d: codec.lz4_encode(d), "zstd": codec.zstd_encode}
DECODE = {"gzip": codec.gzip_decode, "snappy": codec.snappy_decode,
          "lz4": codec.lz4_decode, "zstd": codec.zstd_decode}

BASE_TS = 1700000000000


def sample_records():
    """The records both sides build: nulls, empty values, headers, timestamps going back."""
    out = []
    for i in range(60):
        key = None if i % 7 == 3 else b"key-%d" % i
        if i % 11 == 5:
            value = None
        elif i % 13 == 4:
            value = b""
        else:
            value = (b"value %d of the sample; " % i) * (i % 5 + 1)
        headers = []
        for j in range(i % 3):
            headers.append(("h%d" % j, None if j == 1 and i % 2 else b"hv-%d-%d" % (i, j)))
        ts = BASE_TS + (i * 37) % 50 - 10
        out.append((i, ts, key, value, headers))
    return out


def fmt(b):
    return "null" if b is None else (b.hex() if b else "-")


def describe(offset, ts, key, value, headers):
    hs = ",".join("%s=%s" % (k, fmt(v)) for k, v in headers)
    return "%d %d %s %s [%s]" % (offset, ts, fmt(key), fmt(value), hs)


def need(name):
    if name not in CODECS:
        sys.exit("unknown codec " + name)
    if not AVAILABLE[name]():
        sys.exit(SKIP)


def main(argv):
    cmd = argv[1]
    if cmd in ("encode", "decode"):
        name = argv[2]
        need(name)
        data = open(argv[3], "rb").read()
        fn = (ENCODE if cmd == "encode" else DECODE)[name]
        open(argv[4], "wb").write(bytes(fn(data)))
    elif cmd == "build":
        name = argv[2]
        need(name)
        b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[name], is_transactional=False,
                                      producer_id=4242, producer_epoch=3, base_sequence=17,
                                      batch_size=1 << 20)
        for offset, ts, key, value, headers in sample_records():
            b.append(offset, timestamp=ts, key=key, value=value, headers=headers)
            print(describe(offset, ts, key, value, headers))
        open(argv[3], "wb").write(bytes(b.build()))
    elif cmd == "read":
        data = open(argv[2], "rb").read()
        pos = 0
        while pos < len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            batch = DefaultRecordBatch(data[pos:pos + 12 + length])
            if not batch.validate_crc():
                sys.exit("CRC mismatch")
            name = [k for k, v in CODECS.items() if v == batch.compression_type][0]
            need(name)
            print("batch %d %s %d %d" % (batch.base_offset, name, batch.last_offset_delta,
                                         batch.max_timestamp))
            for r in batch:
                print(describe(r.offset, r.timestamp, r.key, r.value, r.headers))
            pos += 12 + length
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
