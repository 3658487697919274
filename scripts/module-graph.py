#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The import graph of the module's Rust crate, one node per file.

    scripts/module-graph.py [--dot] [RUST_DIR]

Reads every `use` tree and every `crate::`/`super::` path of the files under
RUST_DIR (default: rust/ next to this script), resolves each to the file
(module) it names, and fails with the cycles it finds: no two modules of the
crate may import each other, directly or in a circle, and nothing under
abstractions/ may import the service above it. Declaring a child (`mod x;`)
is not an import. With --dot, prints the graph for Graphviz.
"""

import os
import re
import sys

ROOT_FILE = 'handshake_rs.rs'


def module_of(rel):
    """Module path of a file relative to the rust dir ('' is the crate root)."""
    if rel == ROOT_FILE:
        return ''
    parts = rel[:-3].split('/')
    if parts[-1] == 'mod':
        parts = parts[:-1]
    return '::'.join(parts)


def strip_comments(text):
    """The code without comments, string and character literals, in one left-to-right pass."""
    token = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'', re.S)
    return token.sub(lambda m: '""' if m.group(0)[0] in '"\'' else ' ', text)


def flatten_use(tree):
    """The paths of a use tree such as `crate::{a::{b, c}, d as e}`."""
    tree = re.sub(r'\s+as\s+', '@', tree)
    tree = re.sub(r'\s+', '', tree)
    out = []

    def walk(prefix, s):
        # split s at top-level commas
        depth, cur, items = 0, '', []
        for ch in s:
            if ch == '{':
                depth += 1
            elif ch == '}':
                depth -= 1
            if ch == ',' and depth == 0:
                items.append(cur)
                cur = ''
            else:
                cur += ch
        if cur:
            items.append(cur)
        for item in items:
            m = re.match(r'^(.*?)::\{(.*)\}$', item)
            if m:
                walk(prefix + [p for p in m.group(1).split('::') if p], m.group(2))
            elif item.startswith('{') and item.endswith('}'):
                walk(prefix, item[1:-1])
            else:
                name = item.split('@')[0]
                out.append(prefix + [p for p in name.split('::') if p])

    walk([], tree)
    return out


def references(text):
    """Every path the file names, from its use trees and its inline paths."""
    text = strip_comments(text)
    paths = []
    for m in re.finditer(r'\buse\s+([^;]+);', text):
        paths.extend(flatten_use(m.group(1)))
    text = re.sub(r'\buse\s+[^;]+;', '', text)
    for m in re.finditer(r'(?<![\w:])((?:\$crate|crate|super)(?:::(?:super|[A-Za-z_]\w*))+)',
                         text):
        paths.append(m.group(1).split('::'))
    return paths


def resolve(path, here, modules):
    """The module a path names, or None for a path outside the crate."""
    if not path:
        return None
    if path[0] in ('crate', '$crate'):
        base, rest = [], path[1:]
    elif path[0] in ('super', 'self'):
        base = here.split('::') if here else []
        rest = path
        while rest and rest[0] in ('super', 'self'):
            if rest[0] == 'super':
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    best = '::'.join(base)
    cur = list(base)
    for part in rest:
        cur.append(part)
        name = '::'.join(cur)
        if name in modules:
            best = name
        else:
            break
    return best


def graph(rust_dir):
    files = {}
    for dirpath, _, names in os.walk(rust_dir):
        for n in names:
            if n.endswith('.rs'):
                rel = os.path.relpath(os.path.join(dirpath, n), rust_dir)
                files[module_of(rel)] = os.path.join(dirpath, n)
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        refs = references(text)
        if mod == '':
            # The crate root names its modules without a prefix (`netlink::FAMILY`); a module
            # that names the root back (`crate::HandshakeModule`) closes a circle with it.
            bare = strip_comments(text)
            for child in (m for m in modules if m and '::' not in m):
                if re.search(r'(?<![\w:])' + child + r'::', bare):
                    refs.append(['crate', child])
        for ref in refs:
            target = resolve(ref, mod, modules)
            if target is None or target == mod:
                continue
            # A module naming its own children declares them (the crate root excepted).
            if mod and target.startswith(mod + '::'):
                continue
            edges[mod].add(target)
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges[n]):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    rust_dir = args[0] if args else os.path.join(os.path.dirname(__file__), '..', 'rust')
    edges = graph(rust_dir)
    name = lambda m: m or 'crate'
    if '--dot' in sys.argv:
        print('digraph crate {')
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f'  "{name(m)}" -> "{name(t)}";')
        print('}')
    found = cycles(edges)
    for c in found:
        print('import cycle: ' + ' -> '.join(name(m) for m in c))
    # The abstractions sit below the service: they import nothing of it.
    upward = [(m, t) for m in sorted(edges) for t in sorted(edges[m])
              if m.startswith('abstractions') and not t.startswith('abstractions')]
    for m, t in upward:
        print(f'layer violation: {m} imports {name(t)}')
    return 1 if found or upward else 0


if __name__ == '__main__':
    sys.exit(main())
