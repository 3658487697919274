# SPDX-License-Identifier: GPL-2.0
# For the test tiers (tools/testing/*/tier.sh), sourced. A tier gets KDIR,
# MODULE (handshake.ko, empty on the reference kernel or when it did not
# build), KUNIT_MODULE (the same built with CONFIG_HANDSHAKE_RS_KUNIT_TEST),
# HS_AGENT (tools/hs-agent's binary, empty when it did not build),
# FLAVOUR (test|reference) and RESULTS from scripts/check.sh, prints
# KTAP or a console log on stdout and exits with the runner's verdict.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$TOP/scripts/guest/ktap.sh"

# tier_no_module SUITE: report why handshake.ko is missing. A tree without
# the module skips; a module that did not build fails.
tier_no_module() {
	ktap_suite "$1" 1
	if [ -f "$TOP/Kbuild" ]; then
		ktap_fail module_built "handshake.ko did not build"
	else
		ktap_skip module_built "no module in this tree"
	fi
	ktap_end
}

# tier_skip SUITE WHY: a tier that does not apply to this flavour says so,
# as one skipped case, instead of passing silently.
tier_skip() {
	ktap_suite "$1" 1
	ktap_skip not_on_this_kernel "$2"
	ktap_end
}

# tier_tool SUITE NAME: sets $tool to NAME, a program of tools/hs-agent
# (built beside $HS_AGENT); reports its absence as SUITE's KTAP and fails.
tier_tool() {
	tool=$(dirname "${HS_AGENT:-/nonexistent}")/$2
	[ -x "$tool" ] && return 0
	ktap_suite "$1" 1
	ktap_fail agent_built "tools/hs-agent's $2 did not build"
	ktap_end
	return 1
}

# tier_build SUITE DIR FILE...: build the test modules of FILE... (C files
# and their Kbuild) in DIR against the tier's kernel, with handshake.ko's
# symbols when there is one. Reports a failure as SUITE's KTAP.
tier_build() {
	local suite=$1 dir=$2 extra=()
	shift 2
	mkdir -p "$dir"
	cp "$@" "$dir/"
	[ -n "$MODULE" ] && extra=(KBUILD_EXTRA_SYMBOLS="$(dirname "$MODULE")/Module.symvers")
	if ! make -C "$KDIR" M="$dir" "${KMAKE_FLAGS[@]}" "${extra[@]}" modules \
		> "$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		ktap_suite "$suite" 1
		ktap_fail test_modules_built "$(basename -a "$@" | tr '\n' ' ')did not build"
		ktap_end
		return 1
	fi
}

# tier_run NAME RUNNER-ARGS...: boot the guest, keep its console as
# $RESULTS/NAME.console and print it; returns the runner's verdict.
tier_run() {
	local name=$1 rc
	shift
	"$TOP/scripts/run-qemu.sh" --kernel "$KDIR" --log "$RESULTS/$name.console" "$@" >&2
	rc=$?
	cat "$RESULTS/$name.console"
	return $rc
}
