"""Parser for Tributary's protocol definitions (protocol/defs/*.def).

The grammar is described in protocol/DEFINITIONS.md. This module only reads the files into
a small model; generate.py turns the model into C++ and the reference validation test
(tests/protocol_reference/validate.py) compares it with the upstream specs.
Standard library only: it runs under Debian's /usr/bin/python3 at build time.
"""

import os
import re
from dataclasses import dataclass, field as dc_field
from typing import Dict, List, Optional, Tuple

PRIMITIVES = ('int8', 'int16', 'int32', 'int64', 'uint16', 'float64', 'bool', 'string',
              'bytes', 'records', 'uuid')
INTEGERS = ('int8', 'int16', 'int32', 'int64', 'uint16')
NEVER = 0x7fff  # flexible_from of an API that has no flexible version

# A version range: (lo, hi) with hi None for "and every later version".
Range = Tuple[int, Optional[int]]


class DefError(Exception):
    pass


def parse_range(text: str, where: str) -> Range:
    m = re.fullmatch(r'v?(\d+)(\+|-(\d+))?', text)
    if not m:
        raise DefError(f'{where}: bad version range {text!r}')
    lo = int(m.group(1))
    if m.group(2) == '+':
        return (lo, None)
    hi = int(m.group(3)) if m.group(3) else lo
    if hi < lo:
        raise DefError(f'{where}: empty version range {text!r}')
    return (lo, hi)


def in_range(r: Optional[Range], v: int) -> bool:
    return r is not None and r[0] <= v and (r[1] is None or v <= r[1])


def snake(name: str) -> str:
    s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', name)
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)
    return s.lower()


@dataclass
class Field:
    name: str
    type: str                      # element type for arrays: 'int32', 'TopicData', ...
    array: bool = False
    versions: Range = (0, None)
    nullable: Optional[Range] = None
    tag: Optional[int] = None      # tagged in every flexible version it is present in
    default: Optional[str] = None  # as written; None means the type's zero value
    fields: Optional[List['Field']] = None  # inline struct body
    line: int = 0

    @property
    def is_struct(self) -> bool:
        return self.type not in PRIMITIVES

    def present(self, v: int, flexible: bool) -> bool:
        return in_range(self.versions, v) and (self.tag is None or flexible)

    def nullable_at(self, v: int) -> bool:
        return in_range(self.nullable, v)


@dataclass
class Message:
    kind: str                      # 'request' or 'response'
    fields: List[Field] = dc_field(default_factory=list)
    common: Dict[str, List[Field]] = dc_field(default_factory=dict)  # common structs

    def struct_fields(self, f: Field) -> List[Field]:
        if f.fields is not None:
            return f.fields
        return self.common[f.type]


@dataclass
class Api:
    name: str
    key: int
    min_version: int
    max_version: int
    flexible_from: int             # NEVER when no version is flexible
    request: Message
    response: Message
    path: str = ''
    private: bool = False          # Tributary-only (coordinator RPCs, metadata records)
    data: bool = False             # a Kafka data record (no key, one field tree in `request`)
    own: bool = False              # Tributary's own client API: served beside Kafka's, no upstream spec

    @property
    def stem(self) -> str:
        return snake(self.name)

    def flexible(self, v: int) -> bool:
        return v >= self.flexible_from


_FIELD_RE = re.compile(r'([A-Za-z][A-Za-z0-9]*)\s+(\[\])?([A-Za-z][A-Za-z0-9]*)((?:\s+\S+)*)')


def _parse_field(text: str, where: str) -> Field:
    m = _FIELD_RE.fullmatch(text)
    if not m:
        raise DefError(f'{where}: expected "Name Type [attributes]", got {text!r}')
    f = Field(name=m.group(1), type=m.group(3), array=bool(m.group(2)))
    if f.type[0].islower() and f.type not in PRIMITIVES:
        raise DefError(f'{where}: unknown type {f.type!r}')
    if f.type == 'records' and f.array:
        raise DefError(f'{where}: arrays of records are not a Kafka type')
    for attr in m.group(4).split():
        if attr.startswith('v') and attr[1:2].isdigit():
            f.versions = parse_range(attr, where)
        elif attr == 'nullable':
            f.nullable = f.versions  # fixed up below if versions come later
            f._nullable_all = True  # type: ignore[attr-defined]
        elif attr.startswith('nullable='):
            f.nullable = parse_range(attr[len('nullable='):], where)
        elif attr.startswith('tag='):
            f.tag = int(attr[len('tag='):])
        elif attr.startswith('default='):
            f.default = attr[len('default='):]
        else:
            raise DefError(f'{where}: unknown attribute {attr!r}')
    if getattr(f, '_nullable_all', False):
        f.nullable = f.versions
    if f.nullable is not None and not f.array and f.type not in ('string', 'bytes', 'records') \
            and not f.is_struct:
        raise DefError(f'{where}: only strings, bytes, records, structs and arrays can be nullable')
    if f.nullable is not None and f.is_struct and not f.array and f.nullable != f.versions:
        raise DefError(f'{where}: a nullable struct must be nullable in every version it has')
    if f.default == 'null' and f.nullable is None:
        raise DefError(f'{where}: default=null on a field that is never nullable')
    if f.default is not None and f.default != 'null':
        if f.type in INTEGERS:
            try:
                int(f.default, 0)
            except ValueError:
                raise DefError(f'{where}: bad integer default {f.default!r}') from None
        elif f.type == 'bool' and f.default not in ('true', 'false'):
            raise DefError(f'{where}: bad bool default {f.default!r}')
        elif f.array or f.is_struct or f.type in ('bytes', 'records', 'uuid'):
            raise DefError(f'{where}: {f.type} fields take only default=null')
    return f


def parse(text: str, path: str = '<defs>') -> Api:
    header = None
    request = Message('request')
    response = Message('response')
    section: Optional[Message] = None
    # stack of (indent, children list) for the field tree being built
    stack: List[Tuple[int, List[Field]]] = []
    last: Optional[Field] = None
    last_indent = 0
    for n, raw in enumerate(text.splitlines(), 1):
        where = f'{path}:{n}'
        line = raw.split('#', 1)[0].rstrip()
        if not line.strip():
            continue
        if '\t' in line:
            raise DefError(f'{where}: tabs are not allowed, indent with spaces')
        indent = len(line) - len(line.lstrip(' '))
        words = line.split()
        if indent == 0:
            last = None
            if words[0] in ('api', 'data'):
                if header is not None:
                    raise DefError(f'{where}: a second api or data line')
                header = _parse_header(words, where)
            elif (words == ['request'] or words == ['response'] or words == ['fields']) \
                    and header is not None and (words == ['fields']) == header[6]:
                section = response if words[0] == 'response' else request
                if section.fields:
                    raise DefError(f'{where}: {words[0]} defined twice')
                stack = [(2, section.fields)]
            elif words[0] == 'common' and len(words) == 2:
                if section is None:
                    raise DefError(f'{where}: common struct outside request/response')
                body: List[Field] = []
                section.common[words[1]] = body
                stack = [(2, body)]
            else:
                raise DefError(f'{where}: expected api or data, then request and response (api) '
                               'or fields (data), or common')
            continue
        if not stack:
            raise DefError(f'{where}: field outside a section')
        if indent % 2:
            raise DefError(f'{where}: indent by two spaces')
        if last is not None and indent == last_indent + 2:
            if not last.is_struct:
                raise DefError(f'{where}: {last.name} is {last.type}, it has no fields')
            last.fields = []
            stack.append((indent, last.fields))
        while stack and stack[-1][0] > indent:
            stack.pop()
        if not stack or stack[-1][0] != indent:
            raise DefError(f'{where}: unexpected indentation')
        f = _parse_field(line.strip(), where)
        f.line = n
        stack[-1][1].append(f)
        last, last_indent = f, indent
    if header is None:
        raise DefError(f'{path}: no api or data line')
    name, key, lo, hi, flex, private, data = header
    if data:
        request.kind = 'data'
    own = private == 'own'
    private = private is True
    api = Api(name, key, lo, hi, flex, request, response, path, private, data, own)
    for msg in (request, response):
        _check_structs(api, msg, msg.fields, set())
    return api


def _parse_header(words: List[str], where: str):
    data = words[0] == 'data'
    if data:
        # A data record has no API key: "data Name versions=A-B flexible=(A+|none)".
        if len(words) != 4:
            raise DefError(f'{where}: expected "data Name versions=A-B flexible=(A+|none)"')
        words = words[:2] + ['key=-1'] + words[2:]
    # "private": coordinator RPCs and metadata records, never served to clients; "tributary":
    # an API of Tributary's own that brokers serve to clients beside Kafka's (keys from 10200).
    private = len(words) == 6 and words[5] in ('private', 'tributary')
    if private:
        private = True if words[5] == 'private' else 'own'
        words = words[:5]
    if len(words) != 5 or not words[2].startswith('key=') or not words[3].startswith('versions=') \
            or not words[4].startswith('flexible='):
        raise DefError(f'{where}: expected "api Name key=N versions=A-B flexible=(A+|none) '
                       f'[private|tributary]"')
    lo, hi = parse_range(words[3][len('versions='):], where)
    if hi is None:
        raise DefError(f'{where}: the claimed versions must be a closed range')
    fl = words[4][len('flexible='):]
    if fl == 'none':
        flex = NEVER
    else:
        flo, fhi = parse_range(fl, where)
        if fhi is not None:
            raise DefError(f'{where}: flexible versions are "N+" or "none"')
        flex = flo
    return words[1], int(words[2][len('key='):]), lo, hi, flex, private, data


def _check_structs(api: Api, msg: Message, fields: List[Field], seen: set):
    names = set()
    for f in fields:
        where = f'{api.path}:{f.line}'
        if f.name in names:
            raise DefError(f'{where}: duplicate field {f.name}')
        names.add(f.name)
        if f.tag is not None and any(in_range(f.versions, v) and not api.flexible(v)
                                     for v in range(api.min_version, api.max_version + 1)):
            raise DefError(f'{where}: tagged field present in a non-flexible version')
        if f.is_struct:
            if f.fields is None and f.type not in msg.common:
                raise DefError(f'{where}: struct {f.type} has no fields and is not a common struct')
            if f.fields is not None:
                if f.type in seen or f.type in msg.common:
                    raise DefError(f'{where}: struct {f.type} defined twice')
                seen.add(f.type)
                _check_structs(api, msg, f.fields, seen)
    if fields is msg.fields:
        for body in msg.common.values():
            _check_structs(api, msg, body, seen)


def load_dir(defs_dir: str) -> List[Api]:
    apis = []
    for name in sorted(os.listdir(defs_dir)):
        if name.endswith('.def'):
            path = os.path.join(defs_dir, name)
            with open(path, encoding='utf-8') as fh:
                api = parse(fh.read(), path)
            if name != api.stem + '.def':
                raise DefError(f'{path}: file name should be {api.stem}.def')
            apis.append(api)
    keys = [a.key for a in apis if not a.data]
    if len(set(keys)) != len(keys):
        raise DefError('two definitions share an api key')
    return sorted(apis, key=lambda a: (a.data, a.key, a.name))
