#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Tests of the test runner itself: it must pass what passes and fail, with a
# clear message, a failing KUnit case, a kernel warning, a leak, a failed
# leak scan, a module that does not load, a guest that hangs, a lockdep
# splat, an RCU stall, a KASAN report, a hung task, and a tier whose plan is
# not met. Uses a throwaway module built in a temporary directory. Prints
# KTAP on stdout.
#
# usage: selftest.sh KERNEL_BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
kdir=$1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/selftest_mod.c" "$tmp/selftest_plain.c"
cp "$here/selftest_mod.c" "$tmp/selftest_kunit.c"
cat > "$tmp/Kbuild" <<'KB'
obj-m := selftest_plain.o selftest_kunit.o
CFLAGS_selftest_kunit.o := -DSELFTEST_KUNIT
KB
make -s -C "$kdir" M="$tmp" "${KMAKE_FLAGS[@]}" modules >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log" >&2; echo "Bail out! cannot build the throwaway module"; exit 1; }

printf '#!/bin/sh\nexit 0\n' > "$tmp/pass.sh"
printf '#!/bin/sh\nexit 3\n' > "$tmp/exit3.sh"
printf '#!/bin/sh\necho guest is stuck; sleep 100000\n' > "$tmp/hang.sh"
printf '#!/bin/sh\numount /sys/kernel/debug\n' > "$tmp/nodebugfs.sh"
cat > "$tmp/root.sh" <<'SH'
#!/bin/bash
set -e
command -v tlshd gnutls-serv openssl keyctl ip python3
test -r /mnt/src/Makefile
python3 -c 'import yaml'
touch /etc/written-in-overlay
SH

# run NAME EXPECTED_STATUS EXPECTED_MESSAGE RUNNER_ARGS...: the runner exits
# with that status and says that; the console also shows $log_wants if set.
run() {
	local name=$1 want=$2 msg=$3 rc
	shift 3
	"$TOP/scripts/run-qemu.sh" --kernel "$kdir" --quiet --log "$tmp/$name.log" \
		"$@" >"$tmp/$name.out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ]; then
		ktap_fail "$name" "runner exited $rc, expected $want: $(tail -3 "$tmp/$name.out" | tr '\n' ' ')"
	elif [ -n "$msg" ] && ! grep -q "$msg" "$tmp/$name.out"; then
		ktap_fail "$name" "no '$msg' in the runner's output: $(tail -3 "$tmp/$name.out" | tr '\n' ' ')"
	elif [ -n "${log_wants:-}" ] && ! grep -q "$log_wants" "$tmp/$name.log"; then
		ktap_fail "$name" "no '$log_wants' on the guest's console"
	else
		ktap_ok "$name"
	fi
}

# The kernel's own reports of lock misuse and stalls, exactly as the kernel
# prints them, must each fail a run. The module is loaded by the script.
cat > "$tmp/insmod.sh" <<'SH'
#!/bin/sh
# A task blocked for 3 s is hung (the test kernel's own limit is 60 s),
# looked for every second.
echo 3 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/hung_task_check_interval_secs
# Each report is printed while insmod runs: the module's init makes it.
insmod "/mnt/run/files/selftest_plain.ko" "$@"
SH
mkdir -p "$tmp/files"
cp "$tmp/selftest_plain.ko" "$tmp/files/"

# report NAME MODE KERNEL_TEXT [SECONDS]: the run fails as a kernel problem,
# and the console shows the kernel's own text for it.
report() {
	local name=$1 mode=$2 text=$3 secs=${4:-30} rc
	RUN_FILES=$tmp/files "$TOP/scripts/run-qemu.sh" --kernel "$kdir" --quiet \
		--log "$tmp/$name.log" --initramfs --timeout 150 \
		--cmdline "rcupdate.rcu_cpu_stall_timeout=3 rcupdate.rcu_task_stall_timeout=750" \
		"$tmp/insmod.sh" "mode=$mode" "seconds=$secs" >"$tmp/$name.out" 2>&1
	rc=$?
	if [ "$rc" != 125 ] || ! grep -q "kernel reported a problem" "$tmp/$name.out"; then
		ktap_fail "$name" "runner exited $rc: $(tail -3 "$tmp/$name.out" | tr '\n' ' ')"
	elif ! grep -q "$text" "$tmp/$name.log"; then
		ktap_fail "$name" "failed, but the kernel did not print '$text'"
	else
		ktap_ok "$name"
	fi
}

ktap_suite runner_selftest 17
run passing_script_passes 0 "guest verdict: PASS" --initramfs --timeout 120 "$tmp/pass.sh"
run script_status_is_the_verdict 3 "test script exited 3" --initramfs --timeout 120 "$tmp/exit3.sh"
run guest_root_has_the_tools 0 "guest verdict: PASS" --timeout 180 "$tmp/root.sh"
run kernel_warning_fails_the_run 125 "kernel reported a problem" --initramfs --timeout 120 \
	--module "$tmp/selftest_plain.ko mode=warn" "$tmp/pass.sh"
run module_load_failure_fails_the_run 125 "modload-failed" --initramfs --timeout 120 \
	--module "$tmp/selftest_plain.ko mode=fail" "$tmp/pass.sh"
run leak_fails_the_run 125 "kmemleak found leaks" --initramfs --timeout 120 --kmemleak \
	--module "$tmp/selftest_plain.ko mode=leak" "$tmp/pass.sh"
# (in the script, not before it)
log_wants="guest is stuck" run hung_guest_times_out 124 "TIMEOUT after 12s" --initramfs \
	--timeout 12 "$tmp/hang.sh"
# A problem before init is taken for a boot flake and booted once more; the
# second fails as usual (the kernel echoes its command line with a timestamp).
run boot_problem_before_init_is_booted_again_then_fails 125 "booting once more" --initramfs \
	--timeout 120 --cmdline "WARNING:" "$tmp/pass.sh"
run failed_kmemleak_scan_fails_the_run 125 "kmemleak scan could not run" --initramfs \
	--timeout 120 --kmemleak "$tmp/nodebugfs.sh"
report lockdep_splat_fails_the_run lockdep "possible circular locking dependency"
report rcu_stall_fails_the_run stall "detected stall" 8
report kasan_report_fails_the_run uaf "BUG: K[AF][A-Z]*: .*use-after-free"
report hung_task_fails_the_run hung "blocked for more than 3 seconds" 8

# A failing KUnit case must fail the report (and so make check).
run kunit_module_runs 0 "guest verdict: PASS" --initramfs --kunit --timeout 120 \
	--module "$tmp/selftest_kunit.ko" "$tmp/pass.sh"
if "$TOP/scripts/report.sh" "$tmp/report" "selftest=$tmp/kunit_module_runs.log=0" \
	>"$tmp/report.out" 2>&1; then
	ktap_fail failing_kunit_case_fails_the_report "report passed: $(tail -1 "$tmp/report.out")"
elif ! grep -qx "2 passed, 1 failed, 0 skipped" "$tmp/report.out" ||
     ! grep -q "selftest_fails_on_purpose" "$tmp/report.out"; then
	ktap_fail failing_kunit_case_fails_the_report "unexpected report: $(tail -4 "$tmp/report.out" | tr '\n' ' ')"
else
	ktap_ok failing_kunit_case_fails_the_report
fi

# A tier must produce what its plan declares: a missing suite, or one cut off
# before its end line, fails the report even when everything printed passed.
printf 'selftest_suite:\n\tone\nabsent_suite:\n\tanything\n' > "$tmp/plan"
printf '    KTAP version 1\n    # Subtest: selftest_suite\n    1..1\n    ok 1 one\nok 1 selftest_suite\n' \
	> "$tmp/complete.log"
printf '    KTAP version 1\n    # Subtest: selftest_suite\n    1..1\n    ok 1 one\n' > "$tmp/cut.log"
# plan_fails NAME LOG EXPECTED: the report fails and says why.
plan_fails() {
	if "$TOP/scripts/report.sh" "$tmp/report-$1" "selftest=$2=0=/dev/null=$tmp/plan" \
		>"$tmp/$1.out" 2>&1; then
		ktap_fail "$1" "report passed: $(tail -1 "$tmp/$1.out")"
	elif ! grep -q "$3" "$tmp/$1.out"; then
		ktap_fail "$1" "no '$3' in the report: $(tail -4 "$tmp/$1.out" | tr '\n' ' ')"
	else
		ktap_ok "$1"
	fi
}
plan_fails missing_suite_fails_the_report "$tmp/complete.log" "plan: missing suite absent_suite"
printf 'selftest_suite:\n\tone\n' > "$tmp/plan"
plan_fails unterminated_suite_fails_the_report "$tmp/cut.log" "plan: suite selftest_suite has no end line"
ktap_end
