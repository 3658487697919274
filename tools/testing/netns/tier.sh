#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "netns": network namespaces made and destroyed with handshake
# requests pending and accepted in them (tools/hs-agent's hs-netns and the
# consumer tools/testing/netns/hs_netns.c, whose namespace exit
# hs_netns_last.c runs after the handshake module's): every request ends
# exactly once, no request is seen from another namespace, no namespace or
# socket is left. Not on the reference kernel yet.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_netns "not yet compared on the reference kernel"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_netns; exit; }
tier_tool handshake_netns hs-netns || exit 1
netns=$tool

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'obj-m := hs_netns_last.o hs_netns.o' > "$tmp/Kbuild"
tier_build handshake_netns "$tmp/build" "$here"/hs_netns_last.[ch] "$here/hs_netns.c" "$tmp/Kbuild" ||
	exit 1
mkdir -p "$tmp/files"
cp "$MODULE" "$tmp/build/hs_netns_last.ko" "$tmp/build/hs_netns.ko" "$netns" "$tmp/files/"
# NETNS_SEED replays a run (the namespaces' choices depend only on it).
# Without kmemleak (it doubles what a namespace costs to make and destroy):
# the faults tier runs hs-netns under it.
RUN_FILES=$tmp/files tier_run netns --cpus 2 --timeout 500 "$here/guest.sh" \
	"${NETNS_COUNT:-1000}" 4 "${NETNS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
