#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build a guest root into the cache, or reuse it. The guest mounts it
# read-only over 9p with a tmpfs overlay, so tests never change it. Prints
# its path on stdout.
#   scripts/rootfs.sh [trixie]   Debian trixie: tlshd 1.0.0, TLS peers, the
#                                NFS server and client, nvme-cli
#   scripts/rootfs.sh sid        Debian sid: tlshd 1.4.0 (the e2e-sid tier)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:-trixie}
GUEST_PKGS=ktls-utils,gnutls-bin,openssl,keyutils,iproute2,kmod,python3,python3-yaml,ca-certificates,util-linux,procps,psmisc
case $flavour in
trixie) GUEST_PKGS+=,nfs-kernel-server,nfs-common,rpcbind,nvme-cli ;;
sid) ;;
*) die "unknown guest root $flavour" ;;
esac

root=$(rootfs_dir "$flavour")
mkdir -p "$CACHE"
# One build of a root at a time: a second run waits for the first (which
# may outlive the run that started it) and then uses what it made.
exec 9>"$root.lock"
flock 9
if [ -f "$root/.done" ]; then
	cache_used "$root"
	say "guest root $flavour: cached in $root"
	echo "$root"
	exit 0
fi
# Roots of the layout before flavours (rootfs-KEY) go when unused for a week.
find "$CACHE" -maxdepth 1 -regextype posix-extended -regex '.*/rootfs-[0-9a-f]{16}' \
	-mtime +7 -exec rm -rf {} + 2>/dev/null || true
say "guest root $flavour: debootstrap into $root (about 2 min)"
rm -rf "$root" "$root.tmp"
start=$(date +%s)
log=$CACHE/debootstrap-$flavour.log
debootstrap --variant=minbase --include="$GUEST_PKGS" "$flavour" "$root.tmp" \
	http://deb.debian.org/debian >"$log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 15
	kill -0 $pid 2>/dev/null || break
	printf '  [%4ds] debootstrap %s: %s\n' $(($(date +%s) - start)) "$flavour" \
		"$(grep -E '^I: ' "$log" | tail -1 | cut -c1-60)" >&2
done
wait $pid || { tail -20 "$log" >&2; die "debootstrap $flavour failed"; }

# Small fixed settings; the tests add their own files in the overlay.
echo "handshake-guest" > "$root.tmp/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > "$root.tmp/etc/hosts"
rm -rf "$root.tmp"/var/cache/apt/archives/*.deb "$root.tmp"/var/lib/apt/lists/*
mv "$root.tmp" "$root"
touch "$root/.done"
cache_used "$root"
say "guest root $flavour: done in $(($(date +%s) - start)) s ($(du -sh "$root" | cut -f1))"
echo "$root"
