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
# The reader is not waited for: daemons the script leaves behind may hold
# the FIFO open.
mkfifo /tmp/.console
(while IFS= read -r line; do printf '<6>%s\n' "$line" > /dev/kmsg; done < /tmp/.console) &
$sh /mnt/run/test.sh "$@" > /tmp/.console 2>&1
rc=$?
sleep 0.2
if grep -q handshake.kmemleak=1 /proc/cmdline; then
	# kmemleak reports objects unreferenced for more than 5 s.
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$leaks" ]; then
		echo handshake-kmemleak-found
		echo "$leaks"
	fi
fi
finish $rc
