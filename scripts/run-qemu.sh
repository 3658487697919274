#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel in QEMU, load modules, run a test script in the guest, stream
# the console, and return the guest's verdict as the exit status.
#
# usage: run-qemu.sh [options] SCRIPT [ARGS...]
#   --kernel DIR      kernel build directory (default: the cached test kernel)
#   --module 'FILE.ko [PARAM=VALUE...]'
#                     insmod FILE.ko before the script (repeatable, in order)
#   --initramfs       run in a busybox initramfs instead of the guest root
#   --root NAME       the guest root: trixie (default) or sid (scripts/rootfs.sh)
#   --modules-tree DIR
#                     a module tree (DIR/lib/modules/VERSION) to mount,
#                     writable, as the guest's /lib/modules
#   --timeout SEC     kill the guest after SEC seconds (default 300)
#   --cpus N          guest CPUs (default 1: with two guests on two cores, a
#                     second vCPU makes a guest a third slower)
#   --mem MIB         guest memory (default 512: KASAN and kmemleak cost
#                     time in proportion to it)
#   --log FILE        also save the console to FILE
#   --quiet           do not stream the console, only save it
#   --cmdline ARGS    extra kernel command line
#   --kmemleak        after the script, scan for leaks; any leak fails the run
#                     (without it kmemleak is off: tracking every allocation
#                     makes each process start in the guest 40% slower)
#   --kunit           run the KUnit suites of the modules inserted
#   --kunit-boot GLOB run the built-in KUnit suites matching GLOB at boot
#                     (default: none)
#
# The script runs as root (init's child) in the guest, with bash when the
# guest root is used, busybox sh otherwise.  The repository is mounted
# read-only at /mnt/src, the kernel source (YNL specs and CLI) at /mnt/ksrc,
# the run directory (modules, script, outputs) at /mnt/run.  The script reports test results as KTAP (see guest/ktap.sh).
#
# Files in the directory $RUN_FILES, if set, are copied to /mnt/run/files.
#
# Exit status: the script's status; 124 on timeout; 125 when the guest
# crashed, the kernel warned (WARNING/BUG/Oops/lockdep/kmemleak/...), a module
# failed to load, or the guest ended without a verdict.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kunit_boot=no-built-in-suites kdir= initramfs=0 rootname=trixie modtree= timeout=300 cpus=1 mem=512 kmemleak=0 log= quiet=0 cmdline=
modules=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kdir=$2; shift 2 ;;
	--module) modules+=("$2"); shift 2 ;;
	--initramfs) initramfs=1; shift ;;
	--root) rootname=$2; shift 2 ;;
	--modules-tree) modtree=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--cmdline) cmdline+=" $2"; shift 2 ;;
	--kunit-boot) kunit_boot=$2; shift 2 ;;
	--kmemleak) kmemleak=1; cmdline+=" hsguest.kmemleak=1"; shift ;;
	--kunit) cmdline+=" hsguest.kunit=1"; shift ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "usage: run-qemu.sh [options] SCRIPT [ARGS...]"
script=$1; shift
[ -f "$script" ] || die "no such script: $script"
[ -n "$kdir" ] || kdir=$("$TOP"/scripts/kernel.sh test)
bzimage=$kdir/arch/x86/boot/bzImage
[ -f "$bzimage" ] || die "no kernel image in $kdir"

mkdir -p "$CACHE/runs"
run=$(mktemp -d "$CACHE/runs/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
mkdir -p "$run/modules" "$run/out"
i=0
for spec in "${modules[@]}"; do
	m=${spec%% *}
	params=
	[ "$m" = "$spec" ] || params=${spec#* }
	[ -f "$m" ] || die "no such module: $m"
	i=$((i + 1))
	name=$(printf %02d $i)-$(basename "$m")
	cp "$m" "$run/modules/$name"
	echo "$name $params" >> "$run/modules/list"
done
cp "$script" "$run/test.sh"
if [ -n "${RUN_FILES:-}" ]; then cp -r "$RUN_FILES" "$run/files"; fi
printf '%q ' "$@" > "$run/args"
cp /bin/busybox "$run/busybox"
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cp "$TOP/scripts/guest/init-stage2.sh" "$run/stage2"
echo "$nonce" > "$run/nonce"

# The initramfs: busybox and a first-stage init that either switches to the
# guest root (9p, read-only, with a tmpfs overlay) or runs stage 2 in place.
mkdir -p "$run/initrd/bin" "$run/initrd/dev" "$run/initrd/proc" \
	"$run/initrd/sys" "$run/initrd/mnt" "$run/initrd/tmp"
cp /bin/busybox "$run/initrd/bin/busybox"
cp "$TOP/scripts/guest/init-stage1.sh" "$run/initrd/init"
chmod +x "$run/initrd/init"
(cd "$run/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$run/initrd.gz"

# CPUs as sockets of one core: SeaBIOS lists only the first CPU of each
# socket in the MP table, so "-smp 2" (two cores of one socket) boots with
# one CPU.
qemu=(qemu-system-x86_64 -smp "$cpus,sockets=$cpus,cores=1,threads=1" -m "$mem" -nographic -no-reboot -nic none
      -kernel "$bzimage" -initrd "$run/initrd.gz"
      -virtfs "local,path=$run,mount_tag=run,security_model=none"
      -virtfs "local,path=$TOP,mount_tag=src,security_model=none,readonly=on"
      -virtfs "local,path=$(ksrc_dir),mount_tag=ksrc,security_model=none,readonly=on")
if [ $initramfs = 0 ]; then
	root=$("$TOP"/scripts/rootfs.sh "$rootname")
	qemu+=(-virtfs "local,path=$root,mount_tag=root,security_model=none,readonly=on")
fi
if [ -n "$modtree" ]; then
	[ -d "$modtree/lib/modules" ] || die "no lib/modules in $modtree"
	qemu+=(-virtfs "local,path=$modtree/lib/modules,mount_tag=modules,security_model=none")
	cmdline+=" hsguest.modules=1"
fi
[ $kmemleak = 1 ] || cmdline+=" kmemleak=off"
# (The runner's own options are "hsguest.*": a "handshake.*" option would
# be handed to handshake.ko as a module parameter when it loads.)
append="console=ttyS0 panic=-1 oops=panic loglevel=7 hsguest.mode=$([ $initramfs = 1 ] && echo initramfs || echo rootfs) kunit.filter_glob=$kunit_boot $cmdline"

# KVM hangs on some hosts (nested virtualisation): probe once with a short
# timeout and fall back to software emulation.
# Without 5-level paging, which "max" offers and the kernel then uses: the
# emulator walks one page-table level less (guests run about 7% faster).
accel=(-accel tcg -cpu max,la57=off)
probe=$CACHE/kvm-probe-$(uname -r)-$(qemu-system-x86_64 --version | sed -n 1p | tr -dc '0-9.')
if [ "${HANDSHAKE_KVM:-auto}" != no ] && [ -w /dev/kvm ]; then
	if [ ! -f "$probe" ]; then
		# No pipefail here: grep -q leaves as soon as it matches, and the
		# SIGPIPE qemu may then get must not turn a working KVM into "no".
		if (set +o pipefail; timeout 15 qemu-system-x86_64 -accel kvm -cpu host -m 256 \
			-nographic -no-reboot -kernel "$bzimage" -initrd "$run/initrd.gz" \
			-append "console=ttyS0 panic=-1 hsguest.mode=probe" \
			2>/dev/null </dev/null | grep -q 'handshake-probe-ok'); then
			echo kvm > "$probe"
		else
			echo tcg > "$probe"
		fi
	fi
	[ "$(cat "$probe")" = kvm ] && accel=(-accel kvm -cpu host)
fi

console=$run/console.log
# Kernel problems: only lines the kernel printed (they carry a timestamp).
problems='^\[ *[0-9]+\.[0-9]+\] .*(------------\[ cut here \]|WARNING:|BUG:|Oops|Kernel panic|general protection fault|kernel BUG|UBSAN:|suspected memory leak|possible circular locking|possible recursive locking|inconsistent lock state|refcount_t:|list_add corruption|list_del corruption|stack-protector|detected stalls on CPUs|self-detected stall|rcu_.* detected stall|blocked for more than [0-9]+ seconds|hung_task)'
boot() {
	[ -n "$log" ] && : > "$log"
	say "booting $(basename "$kdir") ($([ $initramfs = 1 ] && echo initramfs || echo guest root), ${accel[1]}, timeout ${timeout}s): $(basename "$script")"
	set +e
	if [ $quiet = 1 ]; then
		timeout -k 5 "$timeout" "${qemu[@]}" "${accel[@]}" -append "$append" \
			</dev/null >"$console" 2>&1
		rc=$?
	else
		timeout -k 5 "$timeout" "${qemu[@]}" "${accel[@]}" -append "$append" \
			</dev/null 2>&1 | tee "$console" | sed -u 's/\r$//'
		rc=${PIPESTATUS[0]}
	fi
	set -e
	tr -d '\r' < "$console" > "$console.clean"
	[ -n "$log" ] && cp "$console.clean" "$log"
	return 0
}
# A problem the kernel reports while it boots, before it starts init, comes
# before anything under test has run (no module is loaded yet): a rare
# emulator or early-boot flake (an interrupt during CPU identification, for
# one). Such a boot is tried once more, saying so, unless a problem was also
# reported after init; a second one fails the run as usual. Not with
# built-in KUnit suites, which run before init.
boot_flake() {
	local last init
	[ "$kunit_boot" = no-built-in-suites ] || return 1
	last=$(grep -n -E "$problems" "$console.clean" | tail -1 | cut -d: -f1)
	[ -n "$last" ] || return 1
	init=$(grep -n -m1 'Run /init as init process' "$console.clean" | cut -d: -f1)
	[ -z "$init" ] || [ "$last" -lt "$init" ]
}
boot
if boot_flake; then
	printf '\033[1m==> the kernel reported a problem while booting, before init (nothing under test had run):\033[0m\n' >&2
	grep -m3 -E "$problems" "$console.clean" | sed 's/^/    /' >&2
	printf '\033[1m==> booting once more\033[0m\n' >&2
	boot
fi
# Keep what the guest wrote to /mnt/run/out for the caller.
if [ -n "${RUN_OUT:-}" ]; then mkdir -p "$RUN_OUT" && cp -r "$run/out/." "$RUN_OUT/"; fi

verdict() { printf '\033[1m==> guest verdict: %s\033[0m\n' "$*" >&2; }
if [ $rc = 124 ] || [ $rc = 137 ]; then
	verdict "TIMEOUT after ${timeout}s (guest hung?)"
	exit 124
fi
if grep -q "^handshake-kmemleak-scan-failed" "$console.clean"; then
	verdict "FAIL: the kmemleak scan could not run (is kmemleak on, debugfs mounted?)"
	exit 125
fi
if grep -q "^handshake-console-lost" "$console.clean"; then
	verdict "FAIL: the guest's last output did not reach the console"
	exit 125
fi
if grep -q "^handshake-kmemleak-found" "$console.clean"; then
	verdict "FAIL: kmemleak found leaks:"
	# One process reads the whole log: with pipefail, a "| head" would give
	# the writer a SIGPIPE and this script its status instead of 125.
	awk '/^unreferenced object/ { n = 13 } n > 0 && shown < 24 { print "    " $0; n--; shown++ }' \
		"$console.clean" >&2
	exit 125
fi
bad=$(grep -m5 -E "$problems" "$console.clean" || true)
if [ -n "$bad" ]; then
	verdict "FAIL: kernel reported a problem:"
	echo "$bad" | sed 's/^/    /' >&2
	exit 125
fi
if grep -q "^handshake-modload-failed" "$console.clean"; then
	verdict "FAIL: $(grep -m1 '^handshake-modload-failed' "$console.clean")"
	exit 125
fi
exitline=$(grep -a "^handshake-guest-exit $nonce " "$console.clean" | tail -1 || true)
if [ -z "$exitline" ]; then
	verdict "FAIL: guest ended without a verdict (qemu status $rc)"
	exit 125
fi
status=${exitline##* }
if [ "$status" = 0 ]; then verdict "PASS"; else verdict "FAIL: test script exited $status"; fi
exit "$status"
