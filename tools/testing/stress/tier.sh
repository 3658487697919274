#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "stress": a consumer submitting from several kernel threads at once
# (tools/testing/stress/hs_stress.c) against several racing agents
# (tools/hs-agent), with rmmod tried throughout; every request must end
# exactly once and nothing may be left. The C reference is built in and
# cannot be unloaded, so its run skips only that case.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_stress "not yet compared on the reference kernel"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_stress; exit; }
tier_tool handshake_stress hs-agent || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'obj-m := hs_stress.o' > "$tmp/Kbuild"
tier_build handshake_stress "$tmp/build" "$here/hs_stress.c" "$tmp/Kbuild" || exit 1
mkdir -p "$tmp/files"
cp "$MODULE" "$tmp/build/hs_stress.ko" "$HS_AGENT" "$tmp/files/"
# 4 threads with 8 requests in flight each for 20 s, against 3 agents.
RUN_FILES=$tmp/files tier_run stress --cpus 2 --timeout 400 --kmemleak "$here/guest.sh" 4 "${STRESS_SECONDS:-20}" 8 3
