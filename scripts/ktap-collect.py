#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Merge the KTAP suites found in test-tier console logs into one document.

Each argument is TIER=LOGFILE=RC[=WHYFILE[=PLANFILE]]: the tier's name, its
console log, the runner's verdict (exit status), a file whose lines say why
it failed and the tier's plan.  KUnit suites printed by the kernel and the
suites the guest scripts print (scripts/guest/ktap.sh) are taken as they are;
every tier also gets a suite of its own, "tier:<name>", whose first case is
the runner's verdict (kernel warnings, timeouts and crashes fail it) and
whose second, with a PLANFILE, is the plan: the tier must produce exactly the
suites and cases the plan declares, each suite with its end line.  A plan
names a suite on a line of its own ("SUITE:"), then each of its cases on an
indented line; lines starting with "#" are comments.  The result
is one KTAP document on stdout for tools/testing/kunit/kunit.py parse.

    ktap-collect.py --plan LOGFILE   prints the plan of a tier's log as it is
"""
import re
import sys

STAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
SUITE_START = re.compile(r'^ {4}KTAP version \d+$')
SUITE_NAME = re.compile(r'^ {4}# Subtest: (.+)$')
SUITE_END = re.compile(r'^(not ok|ok) \d+ (.*)$')
CASE = re.compile(r'^ {4}(?:not ok|ok) \d+ (.*?)(?: # .*)?$')
VERDICTS = {0: 'passed', 124: 'timed out', 125: 'kernel problem, crash or no verdict'}


def suites(lines):
    """Yield (name, body lines, result match or None if unterminated) for each suite."""
    cur = None

    def named(body):
        for ln in body:
            m = SUITE_NAME.match(ln)
            if m:
                return m.group(1)
        return None

    for line in lines:
        if SUITE_START.match(line):
            if cur is not None:
                yield named(cur), cur, None
            cur = [line]
            continue
        if cur is None:
            continue
        end = SUITE_END.match(line)
        if end:
            yield named(cur), cur, end
            cur = None
        elif line.startswith('    ') or line == '':
            cur.append(line)
    if cur is not None:
        yield named(cur), cur, None


def read_plan(path):
    """{suite: [cases]} from a plan file."""
    plan, suite = {}, None
    with open(path) as f:
        for raw in f:
            ln = raw.rstrip()
            if not ln.strip() or ln.lstrip().startswith('#'):
                continue
            if ln[0] in ' \t':
                if suite is None:
                    raise OSError(f'{path}: a case before any suite')
                plan[suite].append(ln.strip())
                continue
            suite = ln.rstrip(':').strip()
            plan[suite] = []
    return plan


def plan_problems(plan, found):
    """What differs between a plan and the suites found: [(suite, [cases], ended)]."""
    problems = []
    seen = {}
    for name, cases, ended in found:
        if name in seen:
            problems.append(f'suite {name} printed twice')
        seen[name] = (cases, ended)
    for suite, cases in plan.items():
        if suite not in seen:
            problems.append(f'missing suite {suite}')
            continue
        got, ended = seen[suite]
        if not ended:
            problems.append(f'suite {suite} has no end line')
        for c in cases:
            if c not in got:
                problems.append(f'missing case {suite}.{c}')
        for c in got:
            if c not in cases:
                problems.append(f'undeclared case {suite}.{c}')
    for name in seen:
        if name not in plan:
            problems.append(f'undeclared suite {name}')
    return problems


def main(args):
    out = []
    for arg in args:
        tier, log, rc, *files = arg.split('=', 4)
        why_files = files[:1]
        plan_file = files[1] if len(files) > 1 else None
        rc = int(rc)
        try:
            with open(log, errors='replace') as f:
                raw = f.read().splitlines()
        except OSError:
            raw = []
        lines = [STAMP.sub('', ln.rstrip('\r')) for ln in raw]
        found = []
        for name, body, end in suites(lines):
            cases = [m.group(1) for m in map(CASE.match, body) if m]
            found.append((name, cases, end is not None))
            if end is not None:
                out.append((body, end.group(1), end.group(2)))
        why = VERDICTS.get(rc, f'exit status {rc}')
        cases = []
        if rc == 0:
            cases.append(['    ok 1 verdict'])
        else:
            body = [f'    # verdict: {why}']
            for path in why_files:
                try:
                    with open(path, errors='replace') as f:
                        body += [f'    # {ln.rstrip()}' for ln in f if ln.strip()]
                except OSError:
                    pass
            cases.append(body + ['    not ok 1 verdict'])
        if plan_file is not None:
            try:
                problems = plan_problems(read_plan(plan_file), found)
            except OSError:
                problems = [f'no plan {plan_file}']
            if problems:
                cases.append([f'    # plan: {p}' for p in problems[:20]] + ['    not ok 2 plan'])
            else:
                cases.append(['    ok 2 plan'])
        failed = any(c[-1].startswith('    not ok') for c in cases)
        body = ['    KTAP version 1', f'    # Subtest: tier:{tier}', f'    1..{len(cases)}']
        for c in cases:
            body += c
        out.append((body, 'not ok' if failed else 'ok', f'tier:{tier}'))
    print('KTAP version 1')
    print(f'1..{len(out)}')
    for i, (body, status, rest) in enumerate(out, 1):
        print('\n'.join(body))
        print(f'{status} {i} {rest}')


def print_plan(log):
    """The plan of a tier's log as it is: a start for a new tier's plan file."""
    with open(log, errors='replace') as f:
        lines = [STAMP.sub('', ln.rstrip('\r')) for ln in f.read().splitlines()]
    for name, body, _ in suites(lines):
        print(f'{name}:')
        for m in map(CASE.match, body):
            if m:
                print(f'\t{m.group(1)}')


if __name__ == '__main__':
    if sys.argv[1:2] == ['--plan']:
        print_plan(sys.argv[2])
    else:
        main(sys.argv[1:])
