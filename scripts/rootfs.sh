#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest root (Debian trixie with tlshd and TLS peers) into the
# cache, or reuse it. The guest mounts it read-only over 9p with a tmpfs
# overlay, so tests never change it. Prints its path on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GUEST_PKGS=ktls-utils,gnutls-bin,openssl,keyutils,iproute2,kmod,python3,python3-yaml,ca-certificates,util-linux,procps,psmisc

root=$(rootfs_dir)
if [ -f "$root/.done" ]; then
	cache_used "$root"
	say "guest root: cached in $root"
	echo "$root"
	exit 0
fi
say "guest root: debootstrap trixie into $root (about 2 min)"
rm -rf "$root" "$root.tmp"
start=$(date +%s)
debootstrap --variant=minbase --include="$GUEST_PKGS" trixie "$root.tmp" \
	http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 15
	kill -0 $pid 2>/dev/null || break
	printf '  [%4ds] debootstrap: %s\n' $(($(date +%s) - start)) \
		"$(grep -E '^I: ' "$CACHE/debootstrap.log" | tail -1 | cut -c1-60)" >&2
done
wait $pid || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }

# Small fixed settings; the tests add their own files in the overlay.
echo "handshake-guest" > "$root.tmp/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > "$root.tmp/etc/hosts"
rm -rf "$root.tmp"/var/cache/apt/archives/*.deb "$root.tmp"/var/lib/apt/lists/*
mv "$root.tmp" "$root"
touch "$root/.done"
cache_used "$root"
say "guest root: done in $(($(date +%s) - start)) s ($(du -sh "$root" | cut -f1))"
echo "$root"
