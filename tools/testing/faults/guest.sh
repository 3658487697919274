#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: the kernel's fault injection aimed at the module's own
# allocations, one path at a time. A task's /proc/<tid>/fail-nth makes the
# Nth fault-injection point that task reaches fail; failslab counts only
# allocations whose stack passes through handshake.ko's text (the stack
# filter), including the GFP_KERNEL ones.
# For each path N = 1, 2, ... until a run injects nothing (the file still
# holds a count afterwards): the submit of each kind of hello, with
# GFP_KERNEL or GFP_ATOMIC (written to /proc/hs_fault by this shell itself,
# so that the fault count is its own), the agent's ACCEPT (plain, linking a
# keyring, growing the descriptor table), its DONE, and the creation of a
# network namespace (hs-step sets its own count just before the call).
#
# Each step must end cleanly: a failed submit leaves the socket's destructor
# and file reference count as they were and never hears; a request that was
# submitted ends exactly once (one ta_done, or a cancel that returned true);
# the agent's descriptor table is what it was. At the end every socket is
# gone, both modules unload, and the runner's kmemleak scan finds nothing.
. /mnt/src/scripts/guest/ktap.sh
files=/mnt/run/files
ctl=/proc/hs_fault
step=$files/hs-step
out=/tmp/faults
mkdir -p "$out"
EIO=5 ENOMEM=12 ESRCH=3

loaded() {
	local name _
	while read -r name _; do [ "$name" = "$1" ] && return 0; done < /proc/modules
	return 1
}

# (hs_netns_last.ko before the handshake module: see the last case)
insmod "$files/hs_netns_last.ko" || exit 1
insmod "$files/handshake.ko" || exit 1
insmod "$files/hs_fault.ko" || exit 1

# The module's text: its executable sections that stay after init (their
# sizes from the tier), where /sys/module says they are.
start= end=
while read -r name size; do
	read -r addr < "/sys/module/handshake/sections/$name" ||
		{ echo "no section $name of handshake.ko in /sys/module"; exit 1; }
	# Module addresses are above 2^63: negative to bash, in the same order.
	{ [ -z "$start" ] || [ $((addr)) -lt $((start)) ]; } && start=$addr
	{ [ -z "$end" ] || [ $((addr + size)) -gt $((end)) ]; } && end=$((addr + size))
done < "$files/text-sections"
[ -n "$start" ] || { echo "no text sections of handshake.ko"; exit 1; }
start=$(printf '0x%016x' $((start))) end=$(printf '0x%016x' $((end)))
echo "handshake.ko text: $start to $end"
# kmemleak records each allocation in an object it allocates under it:
# when that fails kmemleak takes one from its pool, so those points would
# only double the steps. The stack filter rejects stacks through the two
# functions that allocate it (kmemleak_alloc jumps to the first).
read -r kl_start kl_end < "$files/kmemleak-range"
[ -n "$kl_end" ] || { echo "no kmemleak allocation functions in System.map"; exit 1; }
echo "not counted: kmemleak 0x$kl_start to 0x$kl_end"
d=/sys/kernel/debug/failslab
echo N > "$d/ignore-gfp-wait" &&
	echo 32 > "$d/stacktrace-depth" &&
	echo "$start" > "$d/require-start" &&
	echo "$end" > "$d/require-end" &&
	echo "0x$kl_start" > "$d/reject-start" &&
	echo "0x$kl_end" > "$d/reject-end" &&
	echo 2 > "$d/verbose" || { echo "cannot set up failslab"; exit 1; }
# The module allocates no pages itself; the page allocations made under it
# (a slab's refill, KASAN's stack depot) come and go with the state of the
# caches, which would make the Nth point a different one from run to run.
# No order of page allocation counts.
echo 11 > /sys/kernel/debug/fail_page_alloc/min-order ||
	{ echo "cannot set up fail_page_alloc"; exit 1; }

# A listener that reads every READY and accepts nothing: submits find an
# agent, and only hs-step takes requests.
"$files/hs-agent" --listen > "$out/listener" 2> "$out/listener.err" &
listener=$!
for _ in $(seq 100); do
	read -r line < "$out/listener" && [ "$line" = listening ] && break
	sleep 0.1
done
[ "$line" = listening ] || { echo "the listener did not start"; cat "$out/listener.err"; exit 1; }

# An unprivileged keyring the agent may link (as the e2e tier's).
keyring=$(keyctl newring handshake-faults @u) && keyctl setperm "$keyring" 0x3f3f0000 ||
	{ echo "no keyring"; exit 1; }

# result [FILE]: the KEY=VALUE lines of a consumer's file (hs_fault's by
# default) in R.
declare -A R
result() {
	local k v
	R=()
	while IFS='=' read -r k v; do R[$k]=$v; done < "${1:-$ctl}"
}
# json KEY LINE: a value of hs-step's JSON line (a number, true/false or null).
json() { [[ $2 =~ \"$1\":(-?[0-9]+|true|false|null) ]] && echo "${BASH_REMATCH[1]}"; }

bad=0
why=
fail() { bad=$((bad + 1)); why="$why; n=$n: $*"; echo "  n=$n: $*"; }

# The request of a step ended exactly once, as its agent's answer says:
# DONE went through: one ta_done with that status; ACCEPT failed after the
# request was taken: one ta_done with -EIO; otherwise (still pending, or DONE
# failed) the cancel at "end" won and nothing was heard.
check_ending() {
	local accept=$1 done=$2
	result
	local calls=${R[last_done_calls]} status=${R[last_status]} won=${R[last_cancel_won]}
	if [ "$calls" = 1 ] && [ "$won" = 0 ]; then
		if [ "$accept" = 0 ] && [ "$done" = 0 ]; then
			[ "$status" = 0 ] || fail "ta_done status $status after DONE 0"
		elif [ "$accept" != 0 ]; then
			[ "$status" = -$EIO ] || fail "ta_done status $status after a failed ACCEPT"
		fi
	elif [ "$calls" = 0 ] && [ "$won" = 1 ]; then
		[ "$accept" = 0 ] && [ "$done" = 0 ] && fail "no ta_done after DONE 0"
	else
		fail "ended wrongly: ta_done $calls times, cancel won $won"
	fi
}

# The agent's descriptors after the step are those before it.
check_fds() {
	[ "$(json fds_same "$1")" = true ] || fail "agent descriptors changed: $1"
}

# submit_path KIND GFP: the Nth point of the submit (and READY) fails.
submit_path() {
	local kind=$1 gfp=$2 left line accept done
	n=1 points=0 absorbed=0 bad=0 why=
	while [ $n -le 64 ]; do
		echo "$n" > /proc/self/fail-nth
		echo "submit $kind $gfp" > "$ctl"
		wrote=$?
		read -r left < /proc/self/fail-nth
		echo 0 > /proc/self/fail-nth
		[ $wrote = 0 ] || { fail "the consumer refused the command"; break; }
		result
		local ret=${R[last_submit]}
		echo "submit $kind $gfp n=$n: left=$left submit=$ret" >> "$out/steps"
		if [ "$ret" != 0 ]; then
			[ "$left" = 0 ] || fail "submit failed ($ret) with no fault injected"
			[ "${R[last_destructor_same]}" = 1 ] || fail "failed submit changed sk_destruct"
			[ "${R[last_fcount_same]}" = 1 ] || fail "failed submit changed the file's count"
			case $ret in -$ENOMEM | -$ESRCH) ;; *) fail "submit failed with $ret" ;; esac
			echo end > "$ctl"
			result
			[ "${R[last_done_calls]}" = 0 ] || fail "a refused request heard ta_done"
		else
			[ "$left" = 0 ] && absorbed=$((absorbed + 1)) &&
				echo "  n=$n: a fault was injected and the submit went through"
			line=$("$step" --done 0 2>&1) || fail "hs-step: $line"
			accept=$(json accept "$line") done=$(json done "$line")
			[ "$accept" = 0 ] && [ "$done" = 0 ] ||
				fail "ACCEPT and DONE after a submit that worked: $line"
			check_fds "$line"
			echo end > "$ctl"
			check_ending "$accept" "$done"
		fi
		[ "$left" = 0 ] || break
		points=$((points + 1))
		n=$((n + 1))
	done
	[ $n -le 64 ] || fail "more than 64 fault points"
}

# agent_path WHICH KIND KEYRING [hs-step options] [hs-step options]: the Nth point of ACCEPT or DONE
# fails (the options say which: --fail-accept or --fail-done is added).
agent_path() {
	local which=$1 kind=$2 keyring=$3 line accept done injected grow=0 peer=
	shift 3
	[[ " $* " == *" --fill-fd-table "* ]] && grow=1
	[[ " $* " =~ \ --peer\ ([0-9]+) ]] && peer=${BASH_REMATCH[1]}
	n=1 points=0 absorbed=0 bad=0 why=
	while [ $n -le 64 ]; do
		echo "submit $kind kernel $keyring" > "$ctl"
		result
		[ "${R[last_submit]}" = 0 ] || { fail "submit without faults: ${R[last_submit]}"; break; }
		line=$("$step" "--fail-$which" "$n" --done 0 "$@" 2>&1) || fail "hs-step: $line"
		echo "$which $kind n=$n: $line" >> "$out/steps"
		accept=$(json accept "$line") done=$(json done "$line")
		injected=$(json "injected_$which" "$line")
		check_fds "$line"
		case $which in
		accept) [ "$accept" = 0 ] || [ "$injected" = true ] ||
			fail "ACCEPT failed ($accept) with no fault injected"
			[ "$accept" != 0 ] || [ "$done" = 0 ] || fail "DONE failed ($done)" ;;
		done) [ "$accept" = 0 ] || fail "ACCEPT failed: $line"
			[ "$done" = 0 ] || [ "$injected" = true ] ||
			fail "DONE failed ($done) with no fault injected" ;;
		esac
		if [ "$injected" = true ] && [ "$accept" = 0 ] && [ "${done:-0}" = 0 ]; then
			absorbed=$((absorbed + 1))
			echo "  n=$n: a fault was injected and the $which went through"
		fi
		# With the descriptor table full, an ACCEPT that went through grew it.
		if [ "$grow" = 1 ] && [ "$accept" = 0 ]; then
			[[ $line =~ \"fd_table_size\":\[([0-9]+),([0-9]+)\] ]] &&
				[ "${BASH_REMATCH[2]}" -gt "${BASH_REMATCH[1]}" ] ||
				fail "the descriptor table did not grow: $line"
		fi
		# A failed ACCEPT that took the request completes it (-EIO) at
		# once; one that did not must have left it pending for the next.
		if [ "$accept" != 0 ]; then
			result
			if [ "${R[last_done_calls]}" = 0 ]; then
				line=$("$step" --done 0 2>&1) || fail "hs-step: $line"
				echo "$which $kind n=$n, again: $line" >> "$out/steps"
				check_fds "$line"
				accept=$(json accept "$line") done=$(json done "$line")
				[ "$accept" = 0 ] ||
					fail "the request was neither completed nor left pending: $line"
			fi
		fi
		# The consumer heard the peer identity DONE carried.
		if [ "$which" = done ] && [ "$done" = 0 ] && [ -n "$peer" ]; then
			result
			[ "${R[last_peerid]}" = "$peer" ] ||
				fail "ta_done peer id ${R[last_peerid]}, DONE sent $peer"
		fi
		echo end > "$ctl"
		check_ending "$accept" "$done"
		[ "$injected" = true ] || break
		points=$((points + 1))
		n=$((n + 1))
	done
	[ $n -le 64 ] || fail "more than 64 fault points"
}

netns_path() {
	local line ret
	n=1 points=0 absorbed=0 bad=0 why=
	while [ $n -le 64 ]; do
		line=$("$step" --fail-netns "$n" 2>&1) || fail "hs-step: $line"
		echo "netns n=$n: $line" >> "$out/steps"
		ret=$(json unshare "$line")
		[ "$(json injected "$line")" = true ] || {
			[ "$ret" = 0 ] || fail "unshare failed ($ret) with no fault injected"
			break
		}
		[ "$ret" = 0 ] || [ "$ret" = $ENOMEM ] || fail "unshare: errno $ret"
		[ "$ret" = 0 ] && absorbed=$((absorbed + 1))
		points=$((points + 1))
		n=$((n + 1))
	done
	[ $n -le 64 ] || fail "more than 64 fault points"
}

# path_case NAME MIN PATH...: a path passes when every step ended cleanly
# and at least MIN faults were injected (a path the filter never reaches
# proves nothing, unless it is meant to allocate nothing).
total=0
path_case() {
	local name=$1 min=$2
	shift 2
	local t0=$SECONDS
	"$@"
	total=$((total + points))
	echo "$name: $points fault points ($((points - absorbed)) failed the call, $absorbed absorbed), $((SECONDS - t0)) s"
	if [ $bad != 0 ]; then
		ktap_fail "$name" "$bad bad steps$why"
	elif [ $points -lt "$min" ]; then
		ktap_fail "$name" "$points faults injected, expected at least $min"
	else
		ktap_ok "$name"
	fi
}

ktap_suite handshake_faults 14
path_case submit_client_anon_gfp_kernel 1 submit_path client_anon kernel
path_case submit_client_anon_gfp_atomic 1 submit_path client_anon atomic
path_case submit_client_x509 1 submit_path client_x509 kernel
path_case submit_client_psk_gfp_atomic 1 submit_path client_psk atomic
path_case submit_server_x509 1 submit_path server_x509 kernel
path_case submit_server_psk 1 submit_path server_psk kernel
path_case accept_anon 1 agent_path accept client_anon 0
anon_points=$points
path_case accept_linking_a_keyring 1 agent_path accept client_psk "$keyring"
# The agent's descriptor table full: the socket's descriptor grows it, three
# more allocations (the table, its array and its bitmaps) than the same
# ACCEPT makes otherwise.
path_case accept_growing_the_descriptor_table $((anon_points + 3)) agent_path accept client_anon 0 --fill-fd-table
path_case done_with_a_peer_identity 0 agent_path done client_psk 0 --peer "$keyring"
path_case namespace_creation 1 netns_path
echo "fault points exercised: $total"

# Not fault injection: 30 network namespaces of the netns tier, each dying
# with requests pending and accepted in it, under this guest's kmemleak
# (which the netns tier's 1000 go without).
netns_dying() {
	local summary k nctl=/proc/hs_netns
	insmod "$files/hs_netns.ko" || return 1
	summary=$("$files/hs-netns" --count 30 --parallel 4 --pending 3 --seed 1 2>&1 | tail -1)
	echo "$summary"
	for _ in $(seq 100); do
		result "$nctl"
		[ "${R[nets_alive]}" = 1 ] && [ "${R[sockets_alive]}" = 0 ] && break
		sleep 0.2
	done
	cat "$nctl"
	rmmod hs_netns || return 1
	[[ $summary =~ namespaces=30\  ]] && [[ $summary =~ \ isolation_violations=0\ errors=0\ died_badly=0 ]] &&
		[[ $summary =~ left_pending=([0-9]+) ]] && [ "${R[done_timedout]}" = "${BASH_REMATCH[1]}" ] &&
		[ "${R[nets_alive]}" = 1 ] && [ "${R[sockets_alive]}" = 0 ] && [ "${R[submitted]}" = 90 ] &&
		[ "$((R[done_ok] + R[done_timedout] + R[done_agent_gone] + R[cancel_won]))" = 90 ] ||
		return 1
	for k in bad_twice bad_both bad_neither bad_counts bad_late_cancel bad_file_refs \
		fate_missing done_other cancel_lost; do
		[ "${R[$k]}" = 0 ] || return 1
	done
}
ktap_check namespaces_died_with_requests netns_dying

kill "$listener"
wait "$listener"
cat "$out/listener"
# Every socket gone (the agents' references are released after they exit)
# before the requests are checked and freed: a late ta_done must find them.
for _ in $(seq 50); do
	result
	[ "${R[sockets_alive]}" = 0 ] && break
	sleep 0.2
done
echo check > "$ctl"
cat "$ctl"
result
n=end
bad=0 why=
[ "${R[checked]}" = $((R[submitted] + R[refused])) ] ||
	fail "checked ${R[checked]} of ${R[submitted]} + ${R[refused]}"
for k in bad_twice bad_both bad_neither bad_refused; do
	[ "${R[$k]}" = 0 ] || fail "$k=${R[$k]}"
done
echo "requests: ${R[submitted]} submitted, ${R[refused]} refused at submit, ${R[done]} ta_done, ${R[cancel_won]} cancelled"
if [ $bad = 0 ]; then ktap_ok every_request_ended_exactly_once; else ktap_fail every_request_ended_exactly_once "$why"; fi

bad=0 why=
[ "${R[sockets_alive]}" = 0 ] || fail "${R[sockets_alive]} consumer sockets left"
for _ in $(seq 10); do
	rmmod hs_fault 2>/dev/null && break
	sleep 0.2
done
loaded hs_fault && fail "hs_fault did not unload"
for _ in $(seq 25); do
	rmmod handshake 2>/dev/null && break
	sleep 0.2
done
loaded handshake && fail "handshake.ko did not unload"
rmmod hs_netns_last || fail "hs_netns_last did not unload"
if [ $bad = 0 ]; then ktap_ok nothing_left; else ktap_fail nothing_left "$why"; fi
# The runner's kmemleak scan and its check for kernel problems follow.
ktap_end
