"""Any Kafka request, at any version this project claims, encoded from a dict and its response
decoded to a dict, driven by the project's own message definitions (protocol/defs/*.def, read
with protocol/gen/defs.py, the parser the C++ generator uses). Tests that compare raw answers
(acl_matrix_test.py) use it where kafka-python's schemas lack the version or the API.

  Connection(port).call("Metadata", 12, {"Topics": None})   -> {"ThrottleTimeMs": 0, ...}
  Connection(port, sasl=("alice", "secret"))                 SASL/PLAIN first (SaslHandshake v1,
                                                             SaslAuthenticate v2)
  Connection(coordinator_port).call("CoordinatorRegisterBroker", 0, {...})   the coordinator's
                                                             private APIs too

Fields are named as in the .def files (Kafka's names). A field missing from the request dict
takes its default; tagged fields are written only when given. Responses hold every field of
that version (tagged ones only when the server sent them).
"""
import socket
import struct
import sys
import uuid as uuidlib
from functools import lru_cache
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE_DIR / "protocol" / "gen"))

import defs  # noqa: E402  (protocol/gen/defs.py)


@lru_cache(maxsize=None)
def apis():
    """API name -> defs.Api, for the APIs served to clients."""
    return {a.name: a for a in defs.load_dir(str(SOURCE_DIR / "protocol" / "defs"))
            if not a.private and not a.data}


@lru_cache(maxsize=None)
def private_apis():
    """API name -> defs.Api, for the coordinator's private APIs (their bodies may be flexible,
    their request header is v1 and their response header v0 all the same: client/rpc.h)."""
    return {a.name: a for a in defs.load_dir(str(SOURCE_DIR / "protocol" / "defs")) if a.private}


def api(name):
    return apis()[name] if name in apis() else private_apis()[name]


# ---- writing ---------------------------------------------------------------------------------

def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


_FIXED = {"int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q", "uint16": ">H",
          "float64": ">d", "bool": ">?"}


def _default(f):
    if f.array:
        return None if f.default == "null" else []
    if f.default is None:
        if f.type in _FIXED:
            return False if f.type == "bool" else 0
        if f.type == "string":
            return ""
        if f.type in ("bytes",):
            return b""
        if f.type == "records":
            return None
        if f.type == "uuid":
            return b"\x00" * 16
        return {}  # a struct: every field its default
    if f.default == "null":
        return None
    if f.default in ("true", "false"):
        return f.default == "true"
    if f.type in _FIXED:
        return int(f.default, 0)
    return f.default


def _write_value(out, msg, f, t, value, v, flex):
    """One value of type `t` (a primitive or struct name) of field `f`."""
    if t in _FIXED:
        out += struct.pack(_FIXED[t], value)
    elif t == "uuid":
        out += value.bytes if isinstance(value, uuidlib.UUID) else bytes(value)
    elif t == "string":
        if value is None:
            out += b"\x00" if flex else struct.pack(">h", -1)
        else:
            b = value.encode()
            out += uvarint(len(b) + 1) if flex else struct.pack(">h", len(b))
            out += b
    elif t in ("bytes", "records"):
        if value is None:
            out += b"\x00" if flex else struct.pack(">i", -1)
        else:
            out += uvarint(len(value) + 1) if flex else struct.pack(">i", len(value))
            out += value
    else:  # a struct
        if f.nullable_at(v) and not f.array:
            if value is None:
                out += struct.pack(">b", -1)
                return
            out += struct.pack(">b", 1)
        _write_struct(out, msg, msg.struct_fields(f), value or {}, v, flex)


def _write_field(out, msg, f, value, v, flex):
    if f.array:
        if value is None:
            out += b"\x00" if flex else struct.pack(">i", -1)
            return
        out += uvarint(len(value) + 1) if flex else struct.pack(">i", len(value))
        for x in value:
            _write_value(out, msg, f, f.type, x, v, flex)
    else:
        _write_value(out, msg, f, f.type, value, v, flex)


def _write_struct(out, msg, fields, values, v, flex):
    unknown = set(values) - {f.name for f in fields}
    assert not unknown, f"no such fields: {sorted(unknown)}"
    tagged = []
    for f in fields:
        if not f.present(v, flex):
            continue
        if f.tag is not None:
            if f.name in values:
                tagged.append(f)
            continue
        _write_field(out, msg, f, values.get(f.name, _default(f)), v, flex)
    if flex:
        out += uvarint(len(tagged))
        for f in sorted(tagged, key=lambda f: f.tag):
            body = bytearray()
            _write_field(body, msg, f, values[f.name], v, flex)
            out += uvarint(f.tag) + uvarint(len(body)) + body


def encode_request(name, version, fields):
    a = api(name)
    assert a.min_version <= version <= a.max_version, f"{name} v{version} is not claimed"
    out = bytearray()
    _write_struct(out, a.request, a.request.fields, fields, version, a.flexible(version))
    return bytes(out)


# ---- reading ---------------------------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        (x,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return x

    def raw(self, n):
        b = self.data[self.pos:self.pos + n]
        if len(b) != n:
            raise ValueError("short response")
        self.pos += n
        return b

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.raw(self.uvarint())


def _read_value(r, msg, f, t, v, flex):
    if t in _FIXED:
        return r.take(_FIXED[t])
    if t == "uuid":
        return uuidlib.UUID(bytes=r.raw(16))
    if t == "string":
        n = r.uvarint() - 1 if flex else r.take(">h")
        return None if n < 0 else r.raw(n).decode()
    if t in ("bytes", "records"):
        n = r.uvarint() - 1 if flex else r.take(">i")
        return None if n < 0 else r.raw(n)
    if f.nullable_at(v) and not f.array:
        if r.take(">b") < 0:
            return None
    return _read_struct(r, msg, msg.struct_fields(f), v, flex)


def _read_field(r, msg, f, v, flex):
    if f.array:
        n = r.uvarint() - 1 if flex else r.take(">i")
        return None if n < 0 else [_read_value(r, msg, f, f.type, v, flex) for _ in range(n)]
    return _read_value(r, msg, f, f.type, v, flex)


def _read_struct(r, msg, fields, v, flex):
    out = {}
    by_tag = {}
    for f in fields:
        if not f.present(v, flex):
            continue
        if f.tag is not None:
            by_tag[f.tag] = f
            continue
        out[f.name] = _read_field(r, msg, f, v, flex)
    if flex:
        for _ in range(r.uvarint()):
            tag = r.uvarint()
            size = r.uvarint()
            if tag in by_tag:
                sub = Reader(r.raw(size))
                out[by_tag[tag].name] = _read_field(sub, msg, by_tag[tag], v, flex)
            else:
                r.raw(size)
    return out


def decode_response(name, version, body):
    a = api(name)
    r = Reader(body)
    out = _read_struct(r, a.response, a.response.fields, version, a.flexible(version))
    assert r.pos == len(body), f"{name} v{version}: {len(body) - r.pos} bytes left in the response"
    return out


# ---- a connection ----------------------------------------------------------------------------

class KafkaError(Exception):
    pass


def _recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


class Connection:
    """One connection to a broker, optionally authenticated with SASL/PLAIN; requests one at a
    time."""

    def __init__(self, port, sasl=None, host="127.0.0.1", client_id="trib-wire", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id.encode()
        self.corr = 0
        if sasl:
            user, password = sasl
            h = self.call("SaslHandshake", 1, {"Mechanism": "PLAIN"})
            if h["ErrorCode"]:
                raise KafkaError(f"SaslHandshake: error {h['ErrorCode']}")
            a = self.call("SaslAuthenticate", 2,
                          {"AuthBytes": b"\x00" + user.encode() + b"\x00" + password.encode()})
            if a["ErrorCode"]:
                raise KafkaError(f"SaslAuthenticate: error {a['ErrorCode']} {a['ErrorMessage']}")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def raw(self, key, version, body, flexible_header):
        """Sends one framed request; the response body after its header."""
        self.corr += 1
        header = struct.pack(">hhih", key, version, self.corr, len(self.client_id)) + self.client_id
        if flexible_header:
            header += b"\x00"
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(self.sock, 4))
        data = _recv_exact(self.sock, size)
        r = Reader(data)
        corr = r.take(">i")
        assert corr == self.corr, f"correlation id {corr}, sent {self.corr}"
        if flexible_header and key != 18:  # ApiVersions answers with header v0 always
            r.skip_tags()
        return data[r.pos:]

    def call(self, name, version, fields):
        a = api(name)
        body = encode_request(name, version, fields)
        return decode_response(name, version,
                               self.raw(a.key, version, body, a.flexible(version) and not a.private))
