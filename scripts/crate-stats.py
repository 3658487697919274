#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How the module's Rust crate divides between its layers.

    scripts/crate-stats.py [--min-logic PERCENT] [RUST_DIR]

Counts code lines (neither blank nor comment) of the crate without its tests
(rust/tests/ and items under #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]), per
layer: the service logic (files with #![forbid(unsafe_code)]), the
abstractions (rust/abstractions/), the C entry points (rust/capi.rs) and the
crate root. With --min-logic, fails when the logic holds a smaller share.
"""

import os
import re
import sys

TEST_CFG = '#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]'


def code_lines(path):
    n, skip, depth, pending = 0, False, 0, False
    for line in open(path, encoding='utf-8'):
        s = line.strip()
        if s == TEST_CFG:
            pending = True
            continue
        if pending or skip:
            # Skip the item the attribute applies to: up to its `;` or its closing brace.
            pending = False
            if not skip:
                skip, depth = True, 0
            depth += s.count('{') - s.count('}')
            if depth <= 0 and (s.endswith(';') or s.endswith('}') or s.endswith('},')):
                skip = False
            continue
        if not s or s.startswith('//'):
            continue
        n += 1
    return n


def main():
    args = sys.argv[1:]
    minimum = None
    if args[:1] == ['--min-logic']:
        minimum = float(args[1])
        args = args[2:]
    rust_dir = args[0] if args else os.path.join(os.path.dirname(__file__), '..', 'rust')
    layers = {'logic': 0, 'abstractions': 0, 'capi': 0, 'root': 0}
    for dirpath, _, names in os.walk(rust_dir):
        rel_dir = os.path.relpath(dirpath, rust_dir)
        if rel_dir.split(os.sep)[0] == 'tests':
            continue
        for name in sorted(names):
            if not name.endswith('.rs'):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel.startswith('abstractions' + os.sep):
                layer = 'abstractions'
            elif rel == 'capi.rs':
                layer = 'capi'
            elif rel == 'handshake_rs.rs':
                layer = 'root'
            elif re.search(r'^#!\[forbid\(unsafe_code\)\]$',
                           open(path, encoding='utf-8').read(), re.M):
                layer = 'logic'
            else:
                print(f'{rel}: service logic without #![forbid(unsafe_code)]')
                return 1
            layers[layer] += code_lines(path)
    total = sum(layers.values())
    share = 100.0 * layers['logic'] / total
    print(' '.join(f'{k} {v}' for k, v in layers.items()) +
          f'; service logic {share:.1f}% of {total} code lines')
    if minimum is not None and share < minimum:
        print(f'service logic below {minimum}%')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
