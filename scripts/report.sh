#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: report.sh OUTDIR TIER=LOG=RC...
# Merge the tiers' KTAP (scripts/ktap-collect.py), parse it with the kernel's
# tools/testing/kunit/kunit.py, and end with "N passed, N failed, N skipped".
# Exits non-zero if anything failed, crashed or could not be parsed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
outdir=$1; shift
mkdir -p "$outdir"
python3 "$TOP/scripts/ktap-collect.py" "$@" > "$outdir/all.ktap"
kunit=$(ksrc_dir)/tools/testing/kunit/kunit.py
python3 "$kunit" parse "$outdir/all.ktap" > "$outdir/parse.txt" 2>&1 || true
grep -vE '^\[[0-9:]+\] *$' "$outdir/parse.txt" | sed 's/^\[[0-9:]*\] //' >&2 || true
line=$(grep -a 'Testing complete' "$outdir/parse.txt" | tail -1 || true)
count() { echo "$line" | grep -oE "$1: [0-9]+" | grep -oE '[0-9]+' || echo 0; }
passed=$(count passed)
failed=$(( $(count failed) + $(count crashed) + $(count errors) ))
skipped=$(count skipped)
[ -n "$line" ] || failed=$((failed + 1))
if [ "$failed" != 0 ]; then
	echo "failed cases:" >&2
	grep -a -E '\[(FAILED|CRASHED|ERROR)\]' "$outdir/parse.txt" | sed 's/^\[[0-9:]*\] /  /' >&2 || true
	# The reasons the failing cases gave ("# NAME: why" before "not ok N NAME"),
	# so that the last lines of a log say why, not only what.
	echo "why:" >&2
	awk '/^ *(ok|not ok) [0-9]+ / { if ($1 == "not") for (i = 1; i <= n; i++) print "  " why[i]; n = 0; next }
	     /^ *(KTAP version|1\.\.[0-9]|# Subtest:)/ { n = 0; next }
	     { sub(/^ */, ""); if ($0 != "") why[++n] = $0 }' "$outdir/all.ktap" | sed -n 1,40p >&2
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
