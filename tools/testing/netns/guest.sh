#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: network namespaces die with handshake requests pending and
# accepted in them. hs-netns makes each namespace in a child process that
# joins the tlshd group there, has hs_netns.ko submit requests on kernel
# sockets of that namespace, accepts some (each must be one of its own
# namespace's), sends DONE for some of those, and exits or is killed with
# the sockets in hand; several run at once. The consumer checks, when each
# namespace exits after the handshake module drained it, that every request
# ended exactly once: pending ones with -ETIMEDOUT from the drain, accepted
# ones with their DONE or a cancel that won. At the end every namespace has
# gone through its exit (which runs only once nothing holds it) and every
# consumer socket was destroyed. This guest runs without kmemleak, which
# would double what a namespace costs; the faults tier runs 30 such
# namespaces under it.
#
# usage: guest.sh COUNT PARALLEL SEED
. /mnt/src/scripts/guest/ktap.sh
files=/mnt/run/files
ctl=/proc/hs_netns
count=${1:-1000} parallel=${2:-4} seed=${3:-1}
out=/tmp/netns
mkdir -p "$out"

loaded() {
	local name _
	while read -r name _; do [ "$name" = "$1" ] && return 0; done < /proc/modules
	return 1
}
declare -A R
result() {
	local k v
	R=()
	while IFS='=' read -r k v; do R[$k]=$v; done < "$ctl"
}
# field KEY: a key=value of hs-netns's summary line.
field() { [[ $summary =~ (^| )$1=([^ ]*) ]] && echo "${BASH_REMATCH[2]}"; }

# hs_netns_last.ko first: its namespace exit, which runs the consumer's,
# then comes after the handshake module's, which has drained the namespace.
insmod "$files/hs_netns_last.ko" || exit 1
insmod "$files/handshake.ko" || exit 1
insmod "$files/hs_netns.ko" || exit 1
# Each pending request a namespace's exit ends is traced.
tr=/sys/kernel/tracing
echo 4096 > "$tr/buffer_size_kb"
echo > "$tr/trace"
echo 1 > "$tr/events/handshake/handshake_drained/enable" || exit 1
result
base=${R[nets_alive]}

"$files/hs-netns" --count "$count" --parallel "$parallel" --pending 3 --seed "$seed" \
	> "$out/summary" 2> "$out/err"
rc=$?
cat "$out/summary"
head -20 "$out/err"
summary=$(tail -1 "$out/summary")
# Namespaces are destroyed by a kernel worker, in batches, after their last
# process is gone.
t0=$SECONDS
for _ in $(seq 300); do
	result
	# (-le: a namespace dying while the consumer loaded counted at first)
	[ "${R[nets_alive]}" -le "$base" ] && break
	sleep 0.2
done
echo "namespaces alive: ${R[nets_alive]} (at the start: $base), $((SECONDS - t0)) s after the last one's processes"
cat "$ctl"

ktap_suite handshake_netns 5
bad() { ktap_fail "$1" "$2"; }

n=$(field namespaces)
if [ "$rc" = 0 ] && [ "$n" = "$count" ] && [ "$(field errors)" = 0 ] &&
	[ "${R[nets_with_requests]}" -ge "$count" ]; then
	ktap_ok namespaces_made_and_destroyed
else
	bad namespaces_made_and_destroyed "hs-netns exit $rc, $n of $count namespaces, errors $(field errors), $(head -1 "$out/err")"
fi

v=$(field isolation_violations)
if [ "$v" = 0 ]; then
	ktap_ok requests_isolated_by_namespace
else
	bad requests_isolated_by_namespace "${v:-no count}: $(grep -m1 'was given' "$out/err")"
fi

why=
[ "${R[done_timedout]}" = "$(field left_pending)" ] ||
	why="$why ${R[done_timedout]} timed out, $(field left_pending) left pending;"
for k in bad_twice bad_both bad_neither bad_counts bad_late_cancel bad_file_refs fate_missing \
	done_other submit_failed; do
	[ "${R[$k]}" = 0 ] || why="$why $k=${R[$k]};"
done
[ "${R[submitted]}" = "$(field submitted)" ] ||
	why="$why ${R[submitted]} submitted, $(field submitted) expected;"
drained=$(grep -c ' handshake_drained: ' "$tr/trace")
[ "$drained" = "${R[done_timedout]}" ] ||
	why="$why $drained handshake_drained events for ${R[done_timedout]} timed out;"
if [ -z "$why" ]; then ktap_ok pending_requests_timed_out_once; else bad pending_requests_timed_out_once "$why"; fi

why=
[ "${R[done_ok]}" = "$(field done)" ] || why="$why ${R[done_ok]} ta_done(0), $(field done) DONEs;"
# An accepted request whose agent went away without DONE ends either with
# ta_done(-EIO) (the module saw the agent's process gone) or with the
# consumer's cancel winning (the C service; or before the module looked).
[ "$((R[cancel_won] + R[done_agent_gone]))" = $(($(field accepted) - $(field done))) ] ||
	why="$why ${R[cancel_won]} cancels won and ${R[done_agent_gone]} agents gone, $(($(field accepted) - $(field done))) accepted without DONE;"
[ "${R[cancel_lost]}" = 0 ] || why="$why cancel_lost=${R[cancel_lost]};"
if [ -z "$why" ]; then ktap_ok accepted_requests_ended_with_their_sockets; else bad accepted_requests_ended_with_their_sockets "$why"; fi

why=
[ "${R[nets_alive]}" -le "$base" ] || why="$why $((R[nets_alive] - base)) namespaces left;"
[ "${R[sockets_alive]}" = 0 ] || why="$why ${R[sockets_alive]} consumer sockets left;"
rmmod hs_netns || why="$why hs_netns did not unload;"
rmmod hs_netns_last || why="$why hs_netns_last did not unload;"
for _ in $(seq 25); do
	rmmod handshake 2>/dev/null && break
	sleep 0.2
done
loaded handshake && why="$why handshake.ko did not unload;"
if [ -z "$why" ]; then ktap_ok no_namespace_or_module_left; else bad no_namespace_or_module_left "$why"; fi
ktap_end
