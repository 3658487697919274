#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# First-stage init in the initramfs: mount the run directory, then either run
# stage 2 here (initramfs mode) or switch to the guest root, read-only over
# 9p with a tmpfs overlay so tests never change it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

mode=rootfs
for a in $(cat /proc/cmdline); do
	case $a in hsguest.mode=*) mode=${a#hsguest.mode=} ;; esac
done
if [ "$mode" = probe ]; then
	echo handshake-probe-ok
	reboot -f
fi

p9='trans=virtio,version=9p2000.L,msize=262144'
mkdir -p /mnt/run
mount -t 9p -o "$p9,cache=none" run /mnt/run || { echo "handshake-guest-setup-failed: 9p"; reboot -f; }
if [ "$mode" = initramfs ]; then
	exec /bin/sh /mnt/run/stage2
fi

mkdir -p /lower /upper /newroot
mount -t 9p -o "$p9,ro,cache=loose" root /lower &&
	mount -t tmpfs -o mode=0755 tmpfs /upper &&
	mkdir -p /upper/u /upper/w &&
	mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot ||
	{ echo "handshake-guest-setup-failed: root"; reboot -f; }
mkdir -p /newroot/mnt/run
mount --move /mnt/run /newroot/mnt/run
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh /mnt/run/stage2
