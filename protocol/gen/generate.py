#!/usr/bin/python3
"""Generates the C++ message codecs from protocol/defs/*.def.

    generate.py --defs protocol/defs --out <build>/gen/protocol

Writes, under --out:
    messages/<api>.h, messages/<api>.cc  one request and one response struct per API, one
                                         struct per data record
    messages.h                           includes every messages/<api>.h
    api_list.h                           TRIB_FOR_EACH_API(X): X(produce, 0) ...; private APIs
                                         in TRIB_FOR_EACH_PRIVATE_API(X) instead, data
                                         records in TRIB_FOR_EACH_DATA(X)
    messages_sample.h                    test-only: fills a message with non-default values

A file is rewritten only when its text changes, so editing one definition recompiles one
API. Standard library only (runs under Debian's /usr/bin/python3).
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import defs  # noqa: E402
from defs import Api, Field, Message, in_range, snake  # noqa: E402

CPP_TYPES = {
    'int8': 'int8_t', 'int16': 'int16_t', 'int32': 'int32_t', 'int64': 'int64_t',
    'uint16': 'uint16_t', 'float64': 'double', 'bool': 'bool', 'string': 'std::string',
    'bytes': 'bytes', 'records': 'record_set', 'uuid': 'uuid',
}
FIXED_SIZES = {'int8': 1, 'bool': 1, 'int16': 2, 'uint16': 2, 'int32': 4, 'int64': 8,
               'float64': 8, 'uuid': 16}
READ = {'int8': 'read_int8()', 'int16': 'read_int16()', 'int32': 'read_int32()',
        'int64': 'read_int64()', 'uint16': 'read_uint16()', 'float64': 'read_float64()',
        'bool': 'read_bool()', 'uuid': 'read_uuid()'}
CPP_KEYWORDS = {'delete', 'default', 'operator', 'new', 'class', 'template', 'namespace',
                'public', 'private', 'protected', 'register', 'union', 'switch', 'case', 'this',
                'auto', 'const', 'static', 'virtual', 'explicit', 'export', 'friend', 'inline',
                'mutable', 'typename', 'using', 'volatile', 'signed', 'unsigned', 'int', 'long',
                'short', 'char', 'float', 'double', 'bool', 'true', 'false', 'return', 'do',
                'while', 'for', 'if', 'else', 'break', 'continue', 'enum', 'struct', 'sizeof',
                'try', 'catch', 'throw', 'and', 'or', 'not', 'xor', 'concept', 'requires',
                'goto', 'typedef', 'co_await', 'co_return', 'co_yield'}


def member_name(f: Field) -> str:
    n = snake(f.name)
    return n + '_' if n in CPP_KEYWORDS else n


class MessageGen:
    """C++ for one message (the request or the response of an API)."""

    def __init__(self, api: Api, msg: Message):
        self.api = api
        self.msg = msg
        # A data record's struct is named after it alone (offset_commit_key).
        self.cls = snake(api.name) if msg.kind == 'data' else snake(api.name + msg.kind.capitalize())
        self.lo, self.hi = api.min_version, api.max_version
        self.versions = range(self.lo, self.hi + 1)
        # Struct C++ names: snake_case of the Kafka type; "_t" appended when a field of the
        # message has the same name (C++ cannot use one name for both in a scope).
        field_names = set()
        self._collect_names(msg.fields, field_names)
        self.struct_names = {}
        self.structs = []   # (kafka name, fields), children first
        self._collect_structs(msg.fields, field_names)

    def _collect_names(self, fields, out):
        for f in fields:
            out.add(member_name(f))
            if f.fields is not None:
                self._collect_names(f.fields, out)
        if fields is self.msg.fields:
            for body in self.msg.common.values():
                self._collect_names(body, out)

    def _collect_structs(self, fields, field_names):
        for f in fields:
            if f.is_struct and f.type not in self.struct_names:
                body = self.msg.struct_fields(f)
                self._collect_structs(body, field_names)
                name = snake(f.type)
                self.struct_names[f.type] = name + '_t' if name in field_names else name
                self.structs.append((f.type, body))

    # ---- version conditions ----

    def present_versions(self, f: Field):
        return [v for v in self.versions if in_range(f.versions, v)]

    def range_cond(self, r, floor=None) -> str:
        """C++ condition for `version` in r, given version is within the claimed range (and
        at least `floor`: tagged fields are read only in flexible versions)."""
        lo, hi = r
        parts = []
        if lo > max(self.lo, floor or 0):
            parts.append(f'version >= {lo}')
        if hi is not None and hi < self.hi:
            parts.append(f'version <= {hi}')
        return ' && '.join(parts)

    def nullable_mode(self, f: Field):
        """'always', 'never' or a C++ condition, over the versions where f is present."""
        present = self.present_versions(f)
        nullable = [v for v in present if f.nullable_at(v)]
        if not nullable:
            return 'never'
        if nullable == present:
            return 'always'
        return self.range_cond(f.nullable)

    # ---- C++ types and defaults ----

    def elem_type(self, f: Field) -> str:
        if f.is_struct:
            return self.struct_names[f.type]
        return CPP_TYPES[f.type]

    def is_optional(self, f: Field) -> bool:
        if f.type == 'records' and not f.array:
            return True
        return self.nullable_mode(f) != 'never'

    def value_type(self, f: Field) -> str:
        t = self.elem_type(f)
        if f.array:
            t = f'std::vector<{t}>'
        if f.type == 'records' and not f.array:
            return 'std::optional<record_set>'
        if self.is_optional(f):
            t = f'std::optional<{t}>'
        return t

    def qualified_struct(self, f: Field) -> str:
        return f'{self.cls}::{self.struct_names[f.type]}'

    def int_literal(self, f: Field) -> str:
        v = int(f.default, 0) if f.default else 0
        if f.type == 'int32' and v == -2**31:
            return '-2147483647 - 1'
        if f.type == 'int64' and v == -2**63:
            return '-9223372036854775807 - 1'
        return f.default if f.default and f.default.startswith('0x') else str(v)

    def initializer(self, f: Field) -> str:
        """The ` = value` of a member declaration, or ''."""
        if f.array:
            if self.is_optional(f) and f.default != 'null':
                return f' = std::vector<{self.elem_type(f)}>()'
            return ''
        if f.type in defs.INTEGERS:
            return f' = {self.int_literal(f)}'
        if f.type == 'bool':
            return f' = {f.default or "false"}'
        if f.type == 'float64':
            return f' = {f.default or "0.0"}'
        if f.type in ('string', 'bytes'):
            cpp = CPP_TYPES[f.type]
            if self.is_optional(f):
                if f.default == 'null':
                    return ''
                if f.type == 'string' and f.default:
                    return f' = std::string("{f.default}")'
                return f' = {cpp}()'
            if f.type == 'string' and f.default:
                return f' = "{f.default}"'
        return ''

    def is_default(self, f: Field, e: str) -> str:
        """C++ condition: the value e of field f equals the field's default."""
        if f.type == 'records' and not f.array:
            return f'!{e}'
        if self.is_optional(f):
            if f.default == 'null':
                return f'!{e}'
            if f.type == 'string' and f.default:
                return f'({e} && *{e} == "{f.default}")'
            return f'({e} && {e}->empty())'
        if f.array or f.type in ('string', 'bytes'):
            if f.type == 'string' and f.default and not f.array:
                return f'{e} == "{f.default}"'
            return f'{e}.empty()'
        if f.type == 'uuid':
            return f'{e}.is_zero()'
        if f.is_struct:
            return f'{e} == {self.qualified_struct(f)}{{}}'
        if f.type in defs.INTEGERS:
            return f'{e} == {self.elem_type(f)}({self.int_literal(f)})'
        return f'{e} == {self.initializer(f)[3:]}'

    def not_default(self, f: Field, e: str) -> str:
        c = self.is_default(f, e)
        if c.startswith('!'):
            return c[1:]
        if ' == ' in c and not c.startswith('('):
            return c.replace(' == ', ' != ', 1)
        return f'!{c}' if c.startswith('(') else f'!({c})'

    def tag_cond(self, f: Field) -> str:
        return self.range_cond(f.versions, self.api.flexible_from)

    # ---- declarations ----

    def field_comment(self, f: Field) -> str:
        notes = []
        lo, hi = f.versions
        if lo > self.lo or (hi is not None and hi < self.hi):
            notes.append(f'v{lo}+' if hi is None else f'v{lo}-{hi}')
        mode = self.nullable_mode(f)
        if mode != 'never' and not (f.type == 'records' and not f.array):
            notes.append('nullable' if mode == 'always' else f'nullable v{f.nullable[0]}+')
        if f.tag is not None:
            notes.append(f'tag {f.tag}')
        return f'  // {", ".join(notes)}' if notes else ''

    def declare_fields(self, fields, ind, out):
        for f in fields:
            out.append(f'{ind}{self.value_type(f)} {member_name(f)}{self.initializer(f)};'
                       f'{self.field_comment(f)}')
        out.append(f'{ind}tagged_fields unknown_tags;')

    def declare(self) -> list:
        a = self.api
        out = []
        flex = 'never_flexible' if a.flexible_from == defs.NEVER else str(a.flexible_from)
        out.append(f'struct {self.cls} {{')
        if not a.data:
            out.append(f'    static constexpr int16_t api_key = {a.key};')
        out.append(f'    static constexpr int16_t min_version = {a.min_version}, '
                   f'max_version = {a.max_version}, flexible_from = {flex};')
        out.append('')
        for kafka_name, body in self.structs:
            name = self.struct_names[kafka_name]
            out.append(f'    struct {name} {{')
            field_names = {member_name(f) for f in body}
            aliases = []
            for f in body:
                if f.is_struct:
                    child = self.struct_names[f.type]
                    if child not in field_names and child not in aliases:
                        aliases.append(child)
                        out.append(f'        using {child} = {self.cls}::{child};')
            self.declare_fields(body, '        ', out)
            out.append(f'        bool operator==(const {name}&) const = default;')
            out.append('    };')
        if self.structs:
            out.append('')
        self.declare_fields(self.msg.fields, '    ', out)
        out.append('')
        out.append('    void encode(writer& w, int16_t version) const;')
        out.append('    // Reads into a default-constructed message; on bad input leaves r not ok().')
        out.append('    void decode(reader& r, int16_t version);')
        out.append(f'    bool operator==(const {self.cls}&) const = default;')
        out.append('};')
        return out

    # ---- encode ----

    def write_scalar(self, f: Field, e: str, nullable: str, w: str, ind: str, out):
        """Writes one non-array value e (nullable: 'always', 'never' or a condition)."""
        t = f.type
        if f.is_struct and self.is_optional(f):
            # Kafka's nullable struct: int8 -1 for null, 1 then the struct
            out.append(f'{ind}if (!{e}) {{')
            out.append(f'{ind}    {w}.write_int8(-1);')
            out.append(f'{ind}}} else {{')
            out.append(f'{ind}    {w}.write_int8(1);')
            out.append(f'{ind}    encode_struct({w}, *{e}, version, flex);')
            out.append(f'{ind}}}')
        elif f.is_struct:
            out.append(f'{ind}encode_struct({w}, {e}, version, flex);')
        elif t == 'records':
            out.append(f'{ind}{w}.write_records({e}, flex);')
        elif t in ('string', 'bytes'):
            view = 'std::string_view' if t == 'string' else 'bytes_view'
            if not self.is_optional(f):
                out.append(f'{ind}{w}.write_{t}({e}, flex);')
            elif nullable == 'always':
                out.append(f'{ind}{w}.write_nullable_{t}({e}, flex);')
            elif nullable == 'never':
                out.append(f'{ind}{w}.write_{t}({e} ? {view}(*{e}) : {view}(), flex);')
            else:
                out.append(f'{ind}if ({nullable}) {{')
                out.append(f'{ind}    {w}.write_nullable_{t}({e}, flex);')
                out.append(f'{ind}}} else {{')
                out.append(f'{ind}    {w}.write_{t}({e} ? {view}(*{e}) : {view}(), flex);')
                out.append(f'{ind}}}')
        else:
            out.append(f'{ind}{w}.write_{t}({e});')

    def write_elem(self, f: Field, e: str, w: str, ind: str, out):
        if f.is_struct:
            out.append(f'{ind}encode_struct({w}, {e}, version, flex);')
        elif f.type in ('string', 'bytes'):
            out.append(f'{ind}{w}.write_{f.type}({e}, flex);')
        else:
            out.append(f'{ind}{w}.write_{f.type}({e});')

    def write_field(self, f: Field, e: str, w: str, ind: str, out):
        nullable = self.nullable_mode(f)
        if not f.array:
            self.write_scalar(f, e, nullable, w, ind, out)
            return
        if self.is_optional(f):
            null_len = {'always': '-1', 'never': '0'}.get(nullable, f'({nullable}) ? -1 : 0')
            out.append(f'{ind}if (!{e}) {{')
            out.append(f'{ind}    {w}.write_array_len({null_len}, flex);')
            out.append(f'{ind}}} else {{')
            out.append(f'{ind}    {w}.write_array_len(int32_t({e}->size()), flex);')
            out.append(f'{ind}    for (const auto& e : *{e}) {{')
            self.write_elem(f, 'e', w, ind + '        ', out)
            out.append(f'{ind}    }}')
            out.append(f'{ind}}}')
        else:
            out.append(f'{ind}{w}.write_array_len(int32_t({e}.size()), flex);')
            out.append(f'{ind}for (const auto& e : {e}) {{')
            self.write_elem(f, 'e', w, ind + '    ', out)
            out.append(f'{ind}}}')

    def grouped(self, fields):
        """Untagged fields present in some claimed version, grouped by version condition."""
        groups = []
        for f in fields:
            if f.tag is not None or not self.present_versions(f):
                continue
            cond = self.range_cond(f.versions)
            if groups and groups[-1][0] == cond:
                groups[-1][1].append(f)
            else:
                groups.append((cond, [f]))
        return groups

    def encode_body(self, fields, out):
        ind = '    '
        for cond, group in self.grouped(fields):
            if cond:
                out.append(f'{ind}if ({cond}) {{')
            for f in group:
                self.write_field(f, f'v.{member_name(f)}', 'w', ind + ('    ' if cond else ''), out)
            if cond:
                out.append(f'{ind}}}')
        tagged = sorted((f for f in fields if f.tag is not None and self.present_versions(f)),
                        key=lambda f: f.tag)
        out.append(f'{ind}if (flex) {{')
        if not tagged:
            out.append(f'{ind}    w.write_tags({{}}, v.unknown_tags);')
        else:
            out.append(f'{ind}    tagged_fields known;')
            for f in tagged:
                e = f'v.{member_name(f)}'
                cond = ' && '.join(c for c in (self.tag_cond(f), self.not_default(f, e)) if c)
                out.append(f'{ind}    if ({cond}) {{')
                out.append(f'{ind}        writer t;')
                self.write_field(f, e, 't', ind + '        ', out)
                out.append(f'{ind}        known.push_back({{{f.tag}, t.take()}});')
                out.append(f'{ind}    }}')
            out.append(f'{ind}    w.write_tags(known, v.unknown_tags);')
        out.append(f'{ind}}}')

    # ---- decode ----

    def read_scalar(self, f: Field, e: str, nullable: str, r: str, ind: str, out):
        t = f.type
        if f.is_struct and self.is_optional(f):
            out.append(f'{ind}if ({r}.read_int8() < 0) {{')
            out.append(f'{ind}    {e}.reset();')
            out.append(f'{ind}}} else {{')
            # Assigned, not emplace()d: clang judges a nested struct with default member
            # initializers not default-constructible inside std::optional.
            out.append(f'{ind}    {e} = {self.qualified_struct(f)}{{}};')
            out.append(f'{ind}    decode_struct({r}, *{e}, version, flex);')
            out.append(f'{ind}}}')
        elif f.is_struct:
            out.append(f'{ind}decode_struct({r}, {e}, version, flex);')
        elif t == 'records':
            out.append(f'{ind}{e} = {r}.read_records(flex);')
        elif t in ('string', 'bytes'):
            if not self.is_optional(f) or nullable == 'never':
                out.append(f'{ind}{e} = {r}.read_{t}(flex);')
            elif nullable == 'always':
                out.append(f'{ind}{e} = {r}.read_nullable_{t}(flex);')
            else:
                out.append(f'{ind}if ({nullable}) {{')
                out.append(f'{ind}    {e} = {r}.read_nullable_{t}(flex);')
                out.append(f'{ind}}} else {{')
                out.append(f'{ind}    {e} = {r}.read_{t}(flex);')
                out.append(f'{ind}}}')
        else:
            out.append(f'{ind}{e} = {r}.{READ[t]};')

    def read_field(self, f: Field, e: str, r: str, ind: str, out):
        nullable = self.nullable_mode(f)
        if not f.array:
            self.read_scalar(f, e, nullable, r, ind, out)
            return
        size = FIXED_SIZES.get(f.type, 1)
        out.append(f'{ind}{{')
        i2 = ind + '    '
        out.append(f'{i2}int32_t n = {r}.read_array_len(flex' + (f', {size}' if size > 1 else '') + ');')
        if self.is_optional(f):
            if nullable == 'never':
                out.append(f'{i2}if (n < 0) {r}.fail();')
                out.append(f'{i2}auto& a = {e}.emplace();')
            else:
                null_ok = 'n < 0' if nullable == 'always' else f'n < 0 && {nullable}'
                out.append(f'{i2}if ({null_ok}) {{')
                out.append(f'{i2}    {e}.reset();')
                out.append(f'{i2}}} else {{')
                if nullable != 'always':
                    out.append(f'{i2}    if (n < 0) {r}.fail();')
                out.append(f'{i2}    auto& a = {e}.emplace();')
                self.read_elems(f, r, i2 + '    ', out)
                out.append(f'{i2}}}')
                out.append(f'{ind}}}')
                return
        else:
            out.append(f'{i2}if (n < 0) {r}.fail();')
            out.append(f'{i2}auto& a = {e};')
            out.append(f'{i2}a.clear();')
        self.read_elems(f, r, i2, out)
        out.append(f'{ind}}}')

    def read_elems(self, f: Field, r: str, ind: str, out):
        if f.type in FIXED_SIZES:
            out.append(f'{ind}a.reserve(size_t(n < 0 ? 0 : n));')
        out.append(f'{ind}for (int32_t i = 0; i < n && {r}.ok(); ++i) {{')
        if f.is_struct:
            out.append(f'{ind}    decode_struct({r}, a.emplace_back(), version, flex);')
        elif f.type in ('string', 'bytes'):
            out.append(f'{ind}    a.push_back({r}.read_{f.type}(flex));')
        else:
            out.append(f'{ind}    a.push_back({r}.{READ[f.type]});')
        out.append(f'{ind}}}')

    def decode_body(self, fields, out):
        ind = '    '
        for cond, group in self.grouped(fields):
            if cond:
                out.append(f'{ind}if ({cond}) {{')
            for f in group:
                self.read_field(f, f'v.{member_name(f)}', 'r', ind + ('    ' if cond else ''), out)
            if cond:
                out.append(f'{ind}}}')
        tagged = sorted((f for f in fields if f.tag is not None and self.present_versions(f)),
                        key=lambda f: f.tag)
        out.append(f'{ind}if (flex) {{')
        out.append(f'{ind}    v.unknown_tags.clear();')
        if not tagged:
            out.append(f'{ind}    r.read_tags([&](uint32_t tag, bytes_view data) {{')
            out.append(f'{ind}        v.unknown_tags.push_back({{tag, bytes(data.begin(), data.end())}});')
            out.append(f'{ind}    }});')
        else:
            out.append(f'{ind}    r.read_tags([&](uint32_t tag, bytes_view data) {{')
            out.append(f'{ind}        reader t(data);')
            out.append(f'{ind}        switch (tag) {{')
            for f in tagged:
                cond = self.tag_cond(f)
                out.append(f'{ind}        case {f.tag}:')
                i3 = ind + '            '
                if cond:
                    out.append(f'{i3}if (!({cond})) break;')
                self.read_field(f, f'v.{member_name(f)}', 't', i3, out)
                out.append(f'{i3}if (!t.ok()) r.fail();')
                out.append(f'{i3}return;')
            out.append(f'{ind}        default:')
            out.append(f'{ind}            break;')
            out.append(f'{ind}        }}')
            out.append(f'{ind}        v.unknown_tags.push_back({{tag, bytes(data.begin(), data.end())}});')
            out.append(f'{ind}    }});')
        out.append(f'{ind}}}')

    def define(self) -> list:
        out = []
        items = [(f'{self.cls}::{self.struct_names[k]}', body) for k, body in self.structs]
        items.append((self.cls, self.msg.fields))
        for qname, body in items:
            out.append(f'[[maybe_unused]] void encode_struct(writer& w, const {qname}& v, '
                       f'int16_t version, bool flex) {{')
            self.encode_body(body, out)
            out.append('}')
            out.append('')
            out.append(f'[[maybe_unused]] void decode_struct(reader& r, {qname}& v, '
                       f'int16_t version, bool flex) {{')
            self.decode_body(body, out)
            out.append('}')
            out.append('')
        return out

    def define_members(self) -> list:
        c = self.cls
        return [
            f'void {c}::encode(writer& w, int16_t version) const {{',
            '    encode_struct(w, *this, version, version >= flexible_from);',
            '}',
            '',
            f'void {c}::decode(reader& r, int16_t version) {{',
            '    decode_struct(r, *this, version, version >= flexible_from);',
            '}',
            '',
        ]

    # ---- test samples ----

    def sample_value(self, f: Field, k: int, seed: str) -> str:
        t = f.type
        if t in defs.INTEGERS:
            return f'{CPP_TYPES[t]}({10 + k} + {seed})'
        if t == 'bool':
            return 'false' if f.default == 'true' else 'true'
        if t == 'float64':
            return f'{k}.5 + {seed}'
        if t == 'string':
            return f'"f{k}-" + std::to_string({seed})'
        if t == 'bytes':
            return f'bytes{{{k}, uint8_t({seed}), 0xfe}}'
        if t == 'records':
            return f'record_set{{bytes{{{k}, uint8_t({seed}), 1, 2, 3}}, {{}}}}'
        if t == 'uuid':
            return f'sample_uuid({k}, {seed})'
        raise AssertionError(t)

    def sample_body(self, fields, out):
        ind = '    '
        for k, f in enumerate(fields):
            if not self.present_versions(f):
                continue
            conds = [c for c in (self.range_cond(f.versions),) if c]
            if f.tag is not None:
                conds.insert(0, 'flex')
            e = f'v.{member_name(f)}'
            body = []
            if f.array:
                ref = f'{e}.emplace()' if self.is_optional(f) else e
                if f.is_struct:
                    body.append(f'auto& a = {ref};')
                    body.append('a.resize(2);')
                    body.append('for (int i = 0; i < 2; ++i) fill(a[size_t(i)], version, flex, seed + i + 1, tags);')
                else:
                    body.append(f'{ref} = {{{self.sample_value(f, k, "seed")}, '
                                f'{self.sample_value(f, k, "seed + 1")}}};')
            elif f.is_struct:
                if self.is_optional(f):
                    body.append(f'{e} = {self.qualified_struct(f)}{{}};')
                    body.append(f'fill(*{e}, version, flex, seed + 1, tags);')
                else:
                    body.append(f'fill({e}, version, flex, seed + 1, tags);')
            else:
                body.append(f'{e} = {self.sample_value(f, k, "seed")};')
            if conds:
                out.append(f'{ind}if ({" && ".join(conds)}) {{')
            elif len(body) > 1:
                out.append(f'{ind}{{')
            if conds or len(body) > 1:
                out.extend(f'{ind}    {b}' for b in body)
                out.append(f'{ind}}}')
            else:
                out.extend(f'{ind}{b}' for b in body)
        out.append(f'{ind}if (flex && tags) v.unknown_tags = {{{{uint32_t(100 + seed), bytes{{1, 2}}}}, '
                   f'{{uint32_t(200 + seed), bytes{{}}}}}};')

    def samples(self) -> list:
        out = []
        items = [(f'{self.cls}::{self.struct_names[k]}', body) for k, body in self.structs]
        items.append((self.cls, self.msg.fields))
        for qname, body in items:
            out.append(f'inline void fill({qname}& v, int16_t version, bool flex, int seed, bool tags) {{')
            self.sample_body(body, out)
            out.append('}')
        return out


HEADER_NOTE = '// Generated by protocol/gen/generate.py from protocol/defs/{}. Do not edit.'


def api_header(api: Api, gens) -> str:
    flex = 'none' if api.flexible_from == defs.NEVER else f'{api.flexible_from}+'
    what = 'data record' if api.data else f'key {api.key}'
    out = [HEADER_NOTE.format(api.stem + '.def'), '#pragma once', '',
           '#include "protocol/wire.h"', '', '#include <cstdint>', '#include <optional>',
           '#include <string>', '#include <vector>', '', 'namespace trib::protocol {', '',
           f'// {api.name}: {what}, versions {api.min_version}-{api.max_version}, '
           f'flexible {flex}.']
    for g in gens:
        out += g.declare()
        out.append('')
    out.append('} // namespace trib::protocol')
    return '\n'.join(out) + '\n'


def api_source(api: Api, gens) -> str:
    out = [HEADER_NOTE.format(api.stem + '.def'), f'#include "protocol/messages/{api.stem}.h"',
           '', 'namespace trib::protocol {', '', 'namespace {', '']
    for g in gens:
        out += g.define()
    out += ['} // namespace', '']
    for g in gens:
        out += g.define_members()
    out.append('} // namespace trib::protocol')
    return '\n'.join(out) + '\n'


def umbrella(apis) -> str:
    out = ['// Generated by protocol/gen/generate.py. Do not edit.', '#pragma once', '',
           '// Every generated request and response struct.']
    out += [f'#include "protocol/messages/{a.stem}.h"' for a in apis]
    return '\n'.join(out) + '\n'


def api_list(all_apis) -> str:
    apis = [a for a in all_apis if not a.private and not a.data]
    private = [a for a in all_apis if a.private]
    data = [a for a in all_apis if a.data]
    out = ['// Generated by protocol/gen/generate.py. Do not edit.', '#pragma once', '',
           '// X(name, key) for every API with definitions: <name>_request and <name>_response',
           '// are the message structs (protocol/messages.h). Ascending by key.',
           '#define TRIB_FOR_EACH_API(X) \\']
    out += [f'    X({a.stem}, {a.key}) \\' for a in apis]
    out.append('')
    out.append('// X(name, key, "KafkaName").')
    out.append('#define TRIB_FOR_EACH_API_NAME(X) \\')
    out += [f'    X({a.stem}, {a.key}, "{a.name}") \\' for a in apis]
    out.append('')
    out.append('// X(name, key) for the private (Tributary-only) definitions: not Kafka APIs, never')
    out.append('// advertised to clients nor in the registry (protocol/api.h).')
    out.append('#define TRIB_FOR_EACH_PRIVATE_API(X) \\')
    out += [f'    X({a.stem}, {a.key}) \\' for a in private]
    out.append('')
    out.append('// X(name) for the data records (the __consumer_offsets keys and values): one struct')
    out.append('// <name> each, versioned like a message but with no API key.')
    out.append('#define TRIB_FOR_EACH_DATA(X) \\')
    out += [f'    X({a.stem}) \\' for a in data]
    out.append('')
    return '\n'.join(out) + '\n'


def samples_header(apis, gens_by_api) -> str:
    out = ['// Generated by protocol/gen/generate.py. Do not edit.', '#pragma once', '',
           '// Test support: fill(m, version, flex, seed, tags) sets every field of m present in',
           '// `version` to a non-default value (arrays get two elements), and with `tags` adds',
           '// unknown tagged fields in flexible versions. make_sample<M>(version) does it for a',
           '// whole message.', '',
           '#include "protocol/messages.h"', '', '#include <string>', '',
           'namespace trib::protocol::sample {', '',
           'inline uuid sample_uuid(int k, int seed) {',
           '    uuid u;',
           '    u.b[0] = uint8_t(k + 1);',
           '    u.b[15] = uint8_t(seed + 1);',
           '    return u;',
           '}', '']
    for a in apis:
        for g in gens_by_api[a.name]:
            out += g.samples()
        out.append('')
    out += ['template<typename M>',
            'M make_sample(int16_t version, bool tags = true) {',
            '    M m;',
            '    fill(m, version, version >= M::flexible_from, 0, tags);',
            '    return m;',
            '}', '',
            '} // namespace trib::protocol::sample']
    return '\n'.join(out) + '\n'


def write_if_changed(path: str, text: str):
    try:
        with open(path, encoding='utf-8') as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as fh:
        fh.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--defs', required=True, help='folder of *.def files')
    ap.add_argument('--out', required=True, help='output folder (<build>/gen/protocol)')
    args = ap.parse_args()
    try:
        apis = defs.load_dir(args.defs)
    except defs.DefError as e:
        print(f'generate.py: {e}', file=sys.stderr)
        sys.exit(1)
    gens_by_api = {}
    for a in apis:
        gens = [MessageGen(a, a.request)] if a.data else [MessageGen(a, a.request), MessageGen(a, a.response)]
        gens_by_api[a.name] = gens
        write_if_changed(os.path.join(args.out, 'messages', a.stem + '.h'), api_header(a, gens))
        write_if_changed(os.path.join(args.out, 'messages', a.stem + '.cc'), api_source(a, gens))
    write_if_changed(os.path.join(args.out, 'messages.h'), umbrella(apis))
    write_if_changed(os.path.join(args.out, 'api_list.h'), api_list(apis))
    write_if_changed(os.path.join(args.out, 'messages_sample.h'), samples_header(apis, gens_by_api))


if __name__ == '__main__':
    main()
