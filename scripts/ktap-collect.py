#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Merge the KTAP suites found in test-tier console logs into one document.

Each argument is TIER=LOGFILE=RC[=WHYFILE]: the tier's name, its console log,
the runner's verdict (exit status) and a file whose lines say why it failed.  KUnit suites printed by the kernel and the
suites the guest scripts print (scripts/guest/ktap.sh) are taken as they are;
every tier also gets a suite of its own, "tier:<name>", with one case that is
the runner's verdict (kernel warnings, timeouts and crashes fail it).  The
result is one KTAP document on stdout for tools/testing/kunit/kunit.py parse.
"""
import re
import sys

STAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
SUITE_START = re.compile(r'^ {4}KTAP version \d+$')
SUITE_NAME = re.compile(r'^ {4}# Subtest: (.+)$')
SUITE_END = re.compile(r'^(not ok|ok) \d+ (.*)$')
VERDICTS = {0: 'passed', 124: 'timed out', 125: 'kernel problem, crash or no verdict'}


def suites(lines):
    """Yield (name, body lines, result match) for each suite in the log."""
    cur = None
    for line in lines:
        if SUITE_START.match(line):
            cur = [line]
            continue
        if cur is None:
            continue
        end = SUITE_END.match(line)
        if end:
            name = None
            for ln in cur:
                m = SUITE_NAME.match(ln)
                if m:
                    name = m.group(1)
                    break
            yield name, cur, end
            cur = None
        elif line.startswith('    ') or line == '':
            cur.append(line)


def main(args):
    out = []
    for arg in args:
        tier, log, rc, *why_file = arg.split('=', 3)
        rc = int(rc)
        try:
            with open(log, errors='replace') as f:
                raw = f.read().splitlines()
        except OSError:
            raw = []
        lines = [STAMP.sub('', ln.rstrip('\r')) for ln in raw]
        for _, body, end in suites(lines):
            out.append((body, end.group(1), end.group(2)))
        why = VERDICTS.get(rc, f'exit status {rc}')
        body = ['    KTAP version 1', f'    # Subtest: tier:{tier}', '    1..1']
        if rc == 0:
            body.append('    ok 1 verdict')
            out.append((body, 'ok', f'tier:{tier}'))
        else:
            body.append(f'    # verdict: {why}')
            for path in why_file:
                try:
                    with open(path, errors='replace') as f:
                        body += [f'    # {ln.rstrip()}' for ln in f if ln.strip()]
                except OSError:
                    pass
            body.append('    not ok 1 verdict')
            out.append((body, 'not ok', f'tier:{tier}'))
    print('KTAP version 1')
    print(f'1..{len(out)}')
    for i, (body, status, rest) in enumerate(out, 1):
        print('\n'.join(body))
        print(f'{status} {i} {rest}')


if __name__ == '__main__':
    main(sys.argv[1:])
