#!/usr/bin/python3
"""Compares protocol/defs/*.def with Apache Kafka's JSON message specs.

    validate.py <source dir> [<kafka-protocol dir>]

The specs are looked for in <source dir>/../shared/reference/kafka-protocol/messages (the
project keeps no copy of them; data records such as the __consumer_offsets keys and values
in the folders beside it). For every API and every version a definition claims, the
request and the response (a data record's one tree) are compared field by field: the fields present in that version,
in order, with their name, type, nullability, tag and default, down through nested and
common structs; and the claimed versions must be valid upstream, with the same flexible
versions. Exit status: 0 when everything matches, 1 on a difference (each one printed),
77 (ctest's skip code) when the specs are absent.
"""

import json
import os
import sys

SKIP = 77
KNOWN_KEYS = {'name', 'type', 'versions', 'nullableVersions', 'default', 'about', 'fields',
              'tag', 'taggedVersions', 'ignorable', 'entityType', 'mapKey', 'zeroCopy'}
INTEGERS = ('int8', 'int16', 'int32', 'int64', 'uint16', 'uint32')


def strip_comments(text):
    """Drops // comments outside strings (the specs are JSON with comments)."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == '\\':
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith('//', i):
            while i < n and text[i] != '\n':
                i += 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def parse_versions(s):
    """'3+', '0-12', '5', 'none' -> (lo, hi|None) or None."""
    if s is None or s == 'none':
        return None
    s = s.strip()
    if s.endswith('+'):
        return (int(s[:-1]), None)
    if '-' in s:
        a, b = s.split('-')
        return (int(a), int(b))
    return (int(s), int(s))


def in_range(r, v):
    return r is not None and r[0] <= v and (r[1] is None or v <= r[1])


def base_type(t):
    return t[2:] if t.startswith('[]') else t


def is_struct_type(t):
    return base_type(t)[:1].isupper()


def norm_default(type_str, default, nullable):
    """Upstream and our defaults in one form: None (type's zero), 'null', or a value."""
    t = type_str
    if default is None or default == '':
        return None
    d = str(default)
    if d == 'null':
        return 'null'
    if t in INTEGERS:
        v = int(d, 0)
        return None if v == 0 else v
    if t == 'bool':
        return None if d.lower() == 'false' else d.lower()
    if t == 'float64':
        return None if float(d) == 0.0 else float(d)
    return d


class Checker:
    def __init__(self):
        self.errors = []

    def error(self, where, what):
        self.errors.append(f'{where}: {what}')

    def compare(self, where, v, flexible, ours, theirs, our_msg, their_common):
        """ours: list of defs.Field; theirs: list of upstream field dicts."""
        mine = [f for f in ours if in_range(f.versions, v) and (f.tag is None or flexible)]
        ref = []
        for f in theirs:
            unknown = set(f) - KNOWN_KEYS
            if unknown:
                self.error(f'{where}.{f.get("name")}',
                           f'upstream uses {sorted(unknown)}, which the generator does not handle')
            fv = parse_versions(f.get('versions'))
            if f.get('versions') is None:
                self.error(f'{where}.{f.get("name")}', 'upstream field without versions')
            if not in_range(fv, v):
                continue
            if 'tag' in f and not in_range(parse_versions(f.get('taggedVersions')), v):
                # Tagged field outside its tagged versions is not on the wire.
                continue
            ref.append(f)
        names_mine = [f.name for f in mine]
        names_ref = [f['name'] for f in ref]
        if names_mine != names_ref:
            self.error(where, f'fields differ: ours {names_mine}, upstream {names_ref}')
            return
        for m, r in zip(mine, ref):
            w = f'{where}.{m.name}'
            our_type = ('[]' if m.array else '') + m.type
            if our_type != r['type']:
                self.error(w, f'type {our_type}, upstream {r["type"]}')
                continue
            their_nullable = in_range(parse_versions(r.get('nullableVersions')), v)
            if m.nullable_at(v) != their_nullable:
                self.error(w, f'nullable {m.nullable_at(v)}, upstream {their_nullable}')
            their_tag = r.get('tag') if 'tag' in r else None
            if m.tag != their_tag:
                self.error(w, f'tag {m.tag}, upstream {their_tag}')
            elem = base_type(r['type'])
            if r['type'].startswith('[]') or is_struct_type(r['type']) or elem in ('bytes', 'records', 'uuid'):
                dm = 'null' if m.default == 'null' else None
                # JSON null (a nullable struct's default) reads as None
                their_default = 'null' if 'default' in r and r['default'] is None else str(r.get('default', ''))
                dr = 'null' if their_default == 'null' else None
                if their_default not in ('null', ''):
                    self.error(w, f'upstream default {r["default"]!r} on a {r["type"]} field is not supported')
            else:
                dm = norm_default(elem, m.default, m.nullable_at(v))
                dr = norm_default(elem, r.get('default'), their_nullable)
            if dm != dr:
                self.error(w, f'default {m.default!r}, upstream {r.get("default")!r}')
            if is_struct_type(r['type']):
                if 'fields' in r:
                    their_fields = r['fields']
                elif elem in their_common:
                    their_fields = their_common[elem]
                else:
                    self.error(w, f'upstream struct {elem} not found')
                    continue
                if (m.fields is None) == ('fields' in r):
                    self.error(w, 'ours and upstream disagree on whether the struct is common')
                self.compare(w, v, flexible, our_msg.struct_fields(m), their_fields, our_msg,
                             their_common)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    src = os.path.abspath(sys.argv[1])
    ref_dir = sys.argv[2] if len(sys.argv) > 2 else \
        os.path.join(src, '..', 'shared', 'reference', 'kafka-protocol')
    messages_dir = os.path.join(ref_dir, 'messages')
    if not os.path.isdir(messages_dir):
        print(f'SKIP: Kafka message specs not found at {os.path.normpath(messages_dir)}; '
              'nothing to compare the definitions with.')
        return SKIP
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(src, 'protocol', 'gen'))
    import defs  # the generator's own parser

    apis = defs.load_dir(os.path.join(src, 'protocol', 'defs'))
    if not apis:
        print('no definitions found')
        return 1
    c = Checker()
    checked = 0
    private = [a for a in apis if a.private or a.own]  # Tributary's own: no upstream spec
    apis = [a for a in apis if not a.private and not a.own]
    # Data records (the __consumer_offsets keys and values) are specified in folders beside
    # messages/ (group-coordinator/), without an API key.
    data_dirs = [os.path.join(ref_dir, d) for d in sorted(os.listdir(ref_dir))
                 if d != 'messages' and os.path.isdir(os.path.join(ref_dir, d))]
    for api in apis:
        parts = (('Data', api.request),) if api.data else \
            (('Request', api.request), ('Response', api.response))
        for kind, msg in parts:
            if api.data:
                where = api.name
                found = [os.path.join(d, api.name + '.json') for d in data_dirs
                         if os.path.exists(os.path.join(d, api.name + '.json'))]
                path = found[0] if found else ''
            else:
                where = f'{api.name}{kind}'
                path = os.path.join(messages_dir, api.name + kind + '.json')
            if not os.path.exists(path):
                c.error(where, f'no upstream spec {where}.json')
                continue
            with open(path, encoding='utf-8') as fh:
                spec = json.loads(strip_comments(fh.read()))
            if not api.data and spec.get('apiKey') != api.key:
                c.error(where, f'key {api.key}, upstream {spec.get("apiKey")}')
            if spec.get('type') != kind.lower():
                c.error(where, f'upstream type is {spec.get("type")}')
            valid = parse_versions(spec['validVersions'])
            for v in (api.min_version, api.max_version):
                if not in_range(valid, v):
                    c.error(where, f'claims v{v}, upstream valid versions are {spec["validVersions"]}')
            their_flex = parse_versions(spec.get('flexibleVersions', 'none'))
            if their_flex is not None and their_flex[1] is not None:
                c.error(where, 'upstream flexible versions are a closed range; not supported')
            ours = None if api.flexible_from == defs.NEVER else api.flexible_from
            theirs = None if their_flex is None else their_flex[0]
            if ours != theirs:
                upstream_flex = spec.get('flexibleVersions')
                c.error(where, f'flexible from {ours}, upstream {upstream_flex}')
            their_common = {s['name']: s['fields'] for s in spec.get('commonStructs', [])}
            if set(msg.common) - set(their_common):
                c.error(where, f'common structs {sorted(set(msg.common) - set(their_common))} '
                               'are not common upstream')
            for v in range(api.min_version, api.max_version + 1):
                c.compare(f'{where} v{v}', v, in_range(their_flex, v), msg.fields, spec['fields'],
                          msg, their_common)
                checked += 1
    if c.errors:
        for e in c.errors:
            print(e)
        print(f'FAIL: {len(c.errors)} difference(s) between protocol/defs and the upstream specs')
        return 1
    print(f'OK: {sum(not a.data for a in apis)} APIs and {sum(a.data for a in apis)} data records, '
          f'{checked} message versions match the upstream specs '
          f'({len(private)} private definitions skipped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
