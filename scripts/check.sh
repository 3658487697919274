#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: set up whatever is missing, then run every test tier and end
# with "N passed, N failed, N skipped". Non-zero exit on any failure.
#
#   scripts/check.sh              test kernel + handshake.ko (the module)
#   scripts/check.sh --reference  reference kernel (the in-tree C service)
#   CHECK_TIERS="kunit netlink"   only these tiers (default: all)
#
# Each tier leaves its console or output log in build/results/.
set -uo pipefail
# Only make bench --inline-helpers builds with another compiler.
unset HS_LLVM
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
# The guest roots (debootstrap: mostly downloading and unpacking) are made
# beside the kernel builds, which leave a core idle at times.
roots=(trixie)
[ -z "${CHECK_TIERS:-}" ] || [[ " $CHECK_TIERS " == *" e2e-sid "* ]] && roots+=(sid)
step "guest roots (${roots[*]}), in the background"
for r in "${roots[@]}"; do
	("$TOP"/scripts/rootfs.sh "$r" >/dev/null 2>"$results/rootfs-$r.log"
	 echo $? > "$results/rootfs-$r.rc") &
done
# A run that stops early takes its background builds with it.
trap 'kill $(jobs -p) 2>/dev/null' EXIT
if [ $flavour = test ]; then
	# The minimal kernel (the build tier builds the module against it) is
	# prepared beside the test kernel, which leaves a core idle while it
	# compiles its Rust crates and links, and before the tiers, whose guests
	# it would otherwise slow down.
	step "minimal kernel, in the background"
	("$TOP"/scripts/kernel.sh minimal >/dev/null 2>"$results/minimal-kernel.log"
	 echo $? > "$results/minimal-kernel.rc") &
fi
step "$flavour kernel"
kdir=$("$TOP"/scripts/kernel.sh "$flavour") || die "kernel build failed"
if [ $flavour = test ]; then
	step "minimal kernel"
	while [ ! -s "$results/minimal-kernel.rc" ]; do sleep 1; done
	[ "$(cat "$results/minimal-kernel.rc")" = 0 ] ||
		{ tail -20 "$results/minimal-kernel.log" >&2; die "minimal kernel failed"; }
fi
step "guest roots"
for r in "${roots[@]}"; do
	while [ ! -s "$results/rootfs-$r.rc" ]; do sleep 1; done
	sed 's/\x1b\[[0-9;]*m//g' "$results/rootfs-$r.log" | grep '^==>' | tail -1 >&2
	[ "$(cat "$results/rootfs-$r.rc")" = 0 ] && continue
	tail -20 "$results/rootfs-$r.log" >&2
	# Without the sid root only the e2e-sid tier fails (sid is a moving
	# target: its archive is sometimes mid-transition).
	[ "$r" = sid ] || die "guest root $r failed"
	say "guest root sid failed: the e2e-sid tier will fail"
done

tiers=()

module=
kunit_module=
if [ $flavour = test ] && [ -f "$TOP/Kbuild" ]; then
	step "building handshake.ko"
	# (not "make modules": the prerequisites were just checked)
	make -C "$kdir" M="$TOP" "${KMAKE_FLAGS[@]}" modules >"$results/module-build.log" 2>&1
	rc=$?
	[ $rc = 0 ] && module=$TOP/handshake.ko
	[ $rc = 0 ] || tail -30 "$results/module-build.log" >&2
	# The same module with its KUnit suites, built from a copy of the
	# sources so that the two builds do not share objects, beside the
	# first tiers (the kunit and build tiers wait for it).
	step "building handshake.ko with its KUnit suites (in the background)"
	ktree=$TOP/build/kunit-module
	rm -rf "$ktree"
	source_copy "$ktree"
	# It takes one of the two slots of the tiers below while it runs.
	rm -f "$results/kunit-module-build.rc"
	(make -C "$kdir" M="$ktree" "${KMAKE_FLAGS[@]}" CONFIG_HANDSHAKE_RS_KUNIT_TEST=y modules \
		>"$results/kunit-module-build.log" 2>&1
	 echo $? > "$results/kunit-module-build.rc") &
	kunit_build=1
fi
# kunit_module_built: wait for that build; set kunit_module when it worked.
kunit_module_built() {
	[ -n "${kunit_build:-}" ] || return 0
	while [ ! -s "$results/kunit-module-build.rc" ]; do sleep 1; done
	if [ "$(cat "$results/kunit-module-build.rc")" = 0 ]; then
		kunit_module=$ktree/handshake.ko
	else
		tail -30 "$results/kunit-module-build.log" >&2
	fi
	kunit_build=
}

# The agent the stress tier runs (a user-space Rust program; cached by cargo
# in HS_AGENT_TARGET, by default build/hs-agent).
step "building tools/hs-agent"
hs_agent=
target=${HS_AGENT_TARGET:-$TOP/build/hs-agent}
CARGO_TARGET_DIR=$target cargo build --release --locked \
	--manifest-path "$TOP/tools/hs-agent/Cargo.toml" >"$results/hs-agent-build.log" 2>&1 &&
	hs_agent=$target/release/hs-agent
[ -n "$hs_agent" ] || tail -30 "$results/hs-agent-build.log" >&2

# Tiers run two at a time (a guest mostly keeps one vCPU busy), the long
# ones first so that the rest fill in beside them (on 2 cores, warm:
# extensions 150 s, runner, consumers and e2e about 100 each, fuzz 90,
# kunit and agent 85, netns and stress 70, unload and faults 60, e2e-sid
# 55, netlink 50, build 35); kunit and build wait for the module with its
# KUnit suites, built beside the first tiers.
order=(extensions runner consumers e2e fuzz agent netns stress kunit build unload faults e2e-sid netlink)
for t in "$TOP"/tools/testing/*/tier.sh; do
	n=$(basename "$(dirname "$t")")
	[[ " ${order[*]} " == *" $n "* ]] || order+=("$n")
done
declare -A pids=()
for name in "${order[@]}"; do
	t=$TOP/tools/testing/$name/tier.sh
	[ -f "$t" ] || continue
	# CHECK_TIERS="a b" runs only those tiers.
	[ -z "${CHECK_TIERS:-}" ] || [[ " $CHECK_TIERS " == *" $name "* ]] || continue
	# The kunit and build tiers use the module with its KUnit suites.
	case $name in kunit | build) kunit_module_built ;; esac
	while [ "$(jobs -rp | wc -l)" -ge "${CHECK_JOBS:-2}" ]; do wait -n; done
	step "tier $name: started"
	(KDIR=$kdir MODULE=$module KUNIT_MODULE=$kunit_module HS_AGENT=$hs_agent \
		FLAVOUR=$flavour RESULTS=$results \
		bash "$t" > "$results/$name.log" 2>"$results/$name.err"
	 echo $? > "$results/$name.rc"
	 step "tier $name: $([ "$(cat "$results/$name.rc")" = 0 ] && echo passed || echo FAILED)") &
	pids[$name]=$!
done
wait
for name in "${order[@]}"; do
	[ -n "${pids[$name]:-}" ] || continue
	# The runner's verdict lines (and what follows them) say why a tier failed.
	sed 's/\x1b\[[0-9;]*m//g' "$results/$name.err" 2>/dev/null |
		grep -A6 'guest verdict: \(FAIL\|TIMEOUT\)' > "$results/$name.why"
	# Each tier declares the suites and cases it must produce, per flavour.
	plan=$TOP/tools/testing/$name/plan
	[ $flavour = reference ] && plan=$plan.reference
	tiers+=("$name=$results/$name.log=$(cat "$results/$name.rc" 2>/dev/null || echo 125)=$results/$name.why=$plan")
done

step "report (logs in $results)"
"$TOP"/scripts/report.sh "$results/report" "${tiers[@]}"
