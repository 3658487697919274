#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-mutants: proof that the test suite catches the known bugs of the
# C service (../Documentation/handshake-rs.rst, "Known bugs").
#
# Each tools/testing/mutants/NN-name.patch re-introduces one of them in the
# module's own terms. For each, in a scratch copy of the tree: apply it,
# build, run the tiers its "Tiers:" line names (scripts/check.sh with
# CHECK_TIERS), and name the cases that failed. A mutant that nothing
# catches is a missing test. Ends with "N of M mutants caught".
#
#   scripts/mutants.sh [NN...]   only the mutants with these numbers
set -uo pipefail
# Only make bench --inline-helpers builds with another compiler.
unset HS_LLVM
. "$(dirname "$0")/lib.sh"

"$TOP"/scripts/prereqs.sh >/dev/null || die "prerequisites failed"
"$TOP"/scripts/kernel.sh test >/dev/null || die "kernel build failed"
"$TOP"/scripts/rootfs.sh >/dev/null || die "guest root failed"

# The scratch copies share this tree's build of tools/hs-agent.
export HS_AGENT_TARGET=$TOP/build/hs-agent
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
caught=0 total=0
summary=()
for patch in "$TOP"/tools/testing/mutants/*.patch; do
	base=$(basename "$patch" .patch)
	num=${base%%-*}
	if [ $# -gt 0 ] && [[ " $* " != *" $num "* ]] && [[ " $* " != *" ${num#0} "* ]]; then
		continue
	fi
	total=$((total + 1))
	tiers=$(sed -n 's/^Tiers: //p' "$patch")
	tree=$scratch/$base
	source_copy "$tree"
	say "mutant $base: tiers $tiers"
	if ! (cd "$tree" && patch -p1 -s --no-backup-if-mismatch) < "$patch"; then
		summary+=("$base: the patch does not apply")
		continue
	fi
	# The tiers list the sources with git.
	(cd "$tree" && git init -q && git add -A && git -c user.name=mutant -c user.email=mutant@localhost commit -qm "$base")
	CHECK_TIERS="$tiers" "$tree/scripts/check.sh" > "$tree/check.log" 2>&1
	rc=$?
	# The failed cases, as SUITE.CASE, from the merged KTAP of the run.
	failed=$(awk '/^    # Subtest: / { sub(/^    # Subtest: /, ""); suite = $0; next }
		/^    not ok [0-9]+ / { sub(/^    not ok [0-9]+ /, ""); sub(/ # .*/, ""); print suite "." $0 }' \
		"$tree/build/results-test/report/all.ktap" 2>/dev/null | sort -u | tr '\n' ' ')
	if [ "$rc" != 0 ]; then
		caught=$((caught + 1))
		why=$(sed -n '/^why:/,$p' "$tree/check.log" | sed -n 2,3p | sed 's/^ *//' | tr '\n' ' ')
		summary+=("$base: caught by ${failed:-the build} ($why)")
	else
		summary+=("$base: NOT CAUGHT (tiers $tiers passed)")
	fi
	rm -rf "$tree"
done
printf '%s\n' "${summary[@]}"
echo "$caught of $total mutants caught"
[ "$caught" = "$total" ]
