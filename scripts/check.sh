#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: set up whatever is missing, then run every test tier and end
# with "N passed, N failed, N skipped". Non-zero exit on any failure.
#
#   scripts/check.sh              test kernel + handshake.ko (the module)
#   scripts/check.sh --reference  reference kernel (the in-tree C service)
#
# Each tier leaves its console or output log in build/results/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

flavour=test
[ "${1:-}" = --reference ] && flavour=reference
results=$TOP/build/results-$flavour
rm -rf "$results"
mkdir -p "$results"
t0=$(date +%s)
step() { say "[$(($(date +%s) - t0))s] $*"; }

step "prerequisites"
"$TOP"/scripts/prereqs.sh || die "prerequisites failed"
step "$flavour kernel"
kdir=$("$TOP"/scripts/kernel.sh "$flavour") || die "kernel build failed"
step "guest root"
"$TOP"/scripts/rootfs.sh >/dev/null || die "guest root failed"

tiers=()
# tier NAME RC LOG: record a tier's result for the report.
tier() { tiers+=("$1=$3=$2"); step "tier $1: $([ "$2" = 0 ] && echo passed || echo "FAILED ($2)")"; }

module=
if [ $flavour = test ] && [ -f "$TOP/Kbuild" ]; then
	step "building handshake.ko"
	make -C "$TOP" KDIR="$kdir" modules >"$results/build.log" 2>&1
	rc=$?
	[ $rc = 0 ] && module=$TOP/handshake.ko
	[ $rc = 0 ] || tail -30 "$results/build.log" >&2
fi

for t in "$TOP"/tools/testing/*/tier.sh; do
	name=$(basename "$(dirname "$t")")
	step "tier $name"
	KDIR=$kdir MODULE=$module FLAVOUR=$flavour RESULTS=$results \
		bash "$t" > "$results/$name.log" 2>"$results/$name.err"
	tier "$name" $? "$results/$name.log"
done

step "report"
"$TOP"/scripts/report.sh "$results/report" "${tiers[@]}"
rc=$?
say "results in $results ($(($(date +%s) - t0)) s)"
exit $rc
