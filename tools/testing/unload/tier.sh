#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "unload": insert and remove handshake.ko 60 times, with requests
# pending or held by an agent on some iterations; no warning, no leak.
# The C reference is built in: nothing to unload there.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_unload "the C service is built in"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_unload; exit; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'obj-m := hs_pending.o' > "$tmp/Kbuild"
tier_build handshake_unload "$tmp/build" "$here/hs_pending.c" "$tmp/Kbuild" || exit 1
# The modules go in as files of the run directory, not through --module:
# the test loads and unloads them itself.
mkdir -p "$tmp/files"
cp "$MODULE" "$tmp/build/hs_pending.ko" "$tmp/files/"
RUN_FILES=$tmp/files tier_run unload --timeout 600 --kmemleak "$here/guest.sh"
