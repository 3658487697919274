#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Second-stage init (PID 1): basic mounts, load the modules under test, run
# the test script, print the verdict line the runner looks for, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /mnt/src /mnt/ksrc /run /tmp
# What udev would add: bash's process substitution needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for f in stdin:0 stdout:1 stderr:2; do
	[ -e "/dev/${f%:*}" ] || ln -s "/proc/self/fd/${f#*:}" "/dev/${f%:*}"
done
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose src /mnt/src
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose ksrc /mnt/ksrc
echo on > /proc/sys/kernel/printk_devkmsg
hostname handshake-guest 2>/dev/null
ip link set lo up 2>/dev/null || ifconfig lo up
# Built-in KUnit suites ran at boot under the runner's --kunit-boot glob.
# The suites of inserted modules run only when the runner says --kunit.
grep -q handshake.kunit=1 /proc/cmdline &&
	printf '*.*' > /sys/module/kunit/parameters/filter_glob
nonce=$(cat /mnt/run/nonce)
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
if grep -q handshake.kmemleak=1 /proc/cmdline; then
	# kmemleak reports an object older than 5 s that two scans in a row
	# found unreferenced and unchanged (a scan only checksums the objects
	# it finds unreferenced): wait until what the script left behind has
	# been torn down (deferred releases, RCU) and is 6 s old, then scan
	# twice. A scan that cannot run must not read as a clean one.
	sleep 6
	if echo scan > /sys/kernel/debug/kmemleak &&
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
