#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "faults": the kernel's fault injection (fail-nth with failslab,
# limited to handshake.ko's text) on every allocation of
# the submit, READY, ACCEPT, DONE and namespace paths, N = 1, 2, ... until a
# path succeeds; each step must fail cleanly or end exactly once, and
# kmemleak must find nothing. The C service is built into the reference
# kernel: not compared there yet.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_faults "not yet compared on the reference kernel"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_faults; exit; }
tier_tool handshake_faults hs-step || exit 1
step=$tool
tier_tool handshake_faults hs-netns || exit 1
netns=$tool

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# With the netns tier's consumer, for namespaces dying under kmemleak.
echo 'obj-m := hs_fault.o hs_netns_last.o hs_netns.o' > "$tmp/Kbuild"
tier_build handshake_faults "$tmp/build" "$here/hs_fault.c" "$TOP"/tools/testing/netns/hs_netns*.[ch] \
	"$tmp/Kbuild" || exit 1
mkdir -p "$tmp/files"
cp "$MODULE" "$tmp"/build/*.ko "$HS_AGENT" "$step" "$netns" "$tmp/files/"
# Where the fault injection's stack filter looks, from the files here rather
# than from the guest's /proc/kallsyms: the module's executable
# sections that stay after init ("NAME SIZE"), and the two kmemleak
# functions that allocate its records (the kernel is not relocatable, so
# System.map has the addresses it runs at).
readelf -SW "$MODULE" | sed -n 's/^ *\[ *[0-9]*\] *//p' |
	awk '$7 ~ /X/ && $1 !~ /^\.init/ { print $1, $5 }' |
	while read -r name size; do
		# (a section of no size has no address in /sys/module)
		[ $((16#$size)) = 0 ] || echo "$name $((16#$size))"
	done > "$tmp/files/text-sections"
awk '$3 == "__create_object" { start = $1; next }
	start != "" && $3 == "__alloc_object" { found = 1; next }
	found && $1 > start { print start, $1; exit }' "$KDIR/System.map" > "$tmp/files/kmemleak-range"
RUN_FILES=$tmp/files tier_run faults --timeout 400 --kmemleak "$here/guest.sh"
