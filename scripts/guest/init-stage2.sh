#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Second-stage init (PID 1): basic mounts, load the modules under test, run
# the test script, print the verdict line the runner looks for, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb
# The Python programs under test (the YNL CLI, the scripted agent) live on
# read-only mounts: their bytecode goes to /tmp, compiled once per boot
# instead of at every start.
export PYTHONPYCACHEPREFIX=/tmp/pycache
# Every program started here costs about 0.1 s in the emulated guest (KASAN,
# lockdep), so this init uses shell builtins where it can and one mount -a.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/kmsg ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /mnt/src /mnt/ksrc /run /tmp /etc
p9=trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose
# Both the guest root and the initramfs have a writable /etc.
printf '%s\n' \
	"devpts /dev/pts devpts defaults 0 0" \
	"tmpfs /tmp tmpfs defaults 0 0" \
	"tmpfs /run tmpfs defaults 0 0" \
	"tmpfs /dev/shm tmpfs defaults 0 0" \
	"debugfs /sys/kernel/debug debugfs defaults 0 0" \
	"tracefs /sys/kernel/tracing tracefs defaults 0 0" \
	"src /mnt/src 9p $p9 0 0" \
	"ksrc /mnt/ksrc 9p $p9 0 0" > /etc/fstab
mount -a
[ -d /mnt/src/scripts ] || echo "handshake-guest-setup-failed: the repository (9p) is not mounted"
# What udev would add: bash's process substitution needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for f in stdin:0 stdout:1 stderr:2; do
	[ -e "/dev/${f%:*}" ] || ln -s "/proc/self/fd/${f#*:}" "/dev/${f%:*}"
done
echo on > /proc/sys/kernel/printk_devkmsg
echo handshake-guest > /proc/sys/kernel/hostname
ip link set lo up 2>/dev/null || ifconfig lo up
# Built-in KUnit suites ran at boot under the runner's --kunit-boot glob.
# The suites of inserted modules run only when the runner says --kunit.
read -r cmdline < /proc/cmdline
case " $cmdline " in
*" hsguest.kunit=1 "*) printf '*.*' > /sys/module/kunit/parameters/filter_glob ;;
esac
# The runner's --modules-tree: the kernel's modules, as a system has them.
case " $cmdline " in
*" hsguest.modules=1 "*)
	mkdir -p /lib/modules
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 modules /lib/modules ;;
esac
kmemleak=0
case " $cmdline " in *" hsguest.kmemleak=1 "*) kmemleak=1 ;; esac
read -r nonce < /mnt/run/nonce
finish() {
	echo "handshake-guest-exit $nonce $1"
	sync
	/mnt/run/busybox reboot -f
}
if [ -f /mnt/run/modules/list ]; then
	while read -r m params; do
		# shellcheck disable=SC2086
		insmod "/mnt/run/modules/$m" $params ||
			{ echo "handshake-modload-failed $m"; finish 125; }
	done < /mnt/run/modules/list
fi
cd /mnt/run
sh=/bin/sh
[ -x /bin/bash ] && sh=/bin/bash
eval "set -- $(cat /mnt/run/args)"
# The script's output goes to the console through /dev/kmsg, line by line,
# so that it never splits a line the kernel prints (KUnit's KTAP included).
# Daemons the script leaves behind may hold the FIFO open, so the reader
# never sees its end: instead this init keeps a write end of its own (fd 3),
# writes a marker after the script, and waits until the reader has passed
# it, so that no line of the script is lost to the reboot.
mkfifo /tmp/.console
exec 3<>/tmp/.console
(while IFS= read -r line; do
	if [ "$line" = "handshake-console-end $nonce" ]; then
		: > /tmp/.console-flushed
		continue
	fi
	printf '<6>%s\n' "$line" > /dev/kmsg
done < /tmp/.console) &
$sh /mnt/run/test.sh "$@" > /tmp/.console 2>&1
rc=$?
echo "handshake-console-end $nonce" >&3
i=0
while [ ! -e /tmp/.console-flushed ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -e /tmp/.console-flushed ] || echo "handshake-console-lost"
if [ $kmemleak = 1 ]; then
	# kmemleak reports an object older than 5 s that two scans in a row
	# found unreferenced and unchanged (a scan only checksums the objects
	# it finds unreferenced): give what the script left behind a second to
	# be torn down (deferred releases, RCU), scan, and scan again once it
	# is 6 s old (a transient object the first scan saw is gone or
	# referenced by then; a scan takes some 3 s here). A scan that cannot
	# run must not read as a clean one.
	sleep 1
	read -r up _ < /proc/uptime
	start=${up%%.*}
	if echo scan > /sys/kernel/debug/kmemleak &&
		read -r up _ < /proc/uptime &&
		{ left=$((start + 5 - ${up%%.*})); [ $left -le 0 ] || sleep $left; } &&
		echo scan > /sys/kernel/debug/kmemleak &&
		leaks=$(cat /sys/kernel/debug/kmemleak); then
		if [ -n "$leaks" ]; then
			echo handshake-kmemleak-found
			echo "$leaks"
		fi
	else
		echo handshake-kmemleak-scan-failed
	fi
fi
finish $rc
