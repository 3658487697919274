#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: a consumer module (hs_stress.ko) submits from several kernel
# threads at once and ends its requests every way a consumer can, while
# several agents (hs-agent) race ACCEPT and DONE, some answering with an
# error, some closing the socket without DONE, some killed mid-handshake
# and restarted. Meanwhile "rmmod handshake" is tried in a loop. Then every
# request must have ended exactly once and nothing may be left.
#
# usage: guest.sh THREADS SECONDS INFLIGHT AGENTS
. /mnt/src/scripts/guest/ktap.sh
files=/mnt/run/files
ctl=/proc/hs_stress
threads=${1:-4} seconds=${2:-20} inflight=${3:-8} agents=${4:-3}
mix=done_ok=6,done_err=2,close=1,die=1
out=/tmp/stress
mkdir -p "$out"

tcp_alloc() { awk '/^TCP:/ { for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1) }' /proc/net/sockstat; }
loaded() {
	local name _
	while read -r name _; do [ "$name" = "$1" ] && return 0; done < /proc/modules
	return 1
}
field() { sed -n "s/^$1=//p" "$out/result"; }

base_tcp=$(tcp_alloc)
# The default limit is 3 pending requests in a guest this small; 16 is
# still below the 32 the threads keep in flight, so the limit is reached.
insmod "$files/handshake.ko" pending_max=16 || exit 1
insmod "$files/hs_stress.ko" || exit 1

# Each agent slot restarts its agent when it dies (the "die" action kills
# it with SIGKILL while it holds a socket) until told to stop.
agent_slot() {
	local n=$1 run=0
	while [ ! -e "$out/stop" ]; do
		run=$((run + 1))
		echo "$run" > "$out/runs.$n"
		"$files/hs-agent" --mix "$mix" --seed $((n * 100000 + run)) \
			--seconds $((seconds + 60)) >> "$out/agent.$n" 2>> "$out/agent-err.$n"
		# Killed (137) is expected; anything else must not spin.
		case $? in 0|137) ;; *) sleep 0.5 ;; esac
	done
}
for n in $(seq "$agents"); do agent_slot "$n" & done

# Unloading is tried throughout. The consumer's link to the module's
# symbols alone refuses it; what matters is that every hooked socket holds
# the module (its reference count is above the consumer's one while
# requests live, and back to it once they are gone), and that it unloads
# once the load is gone.
refcnt() { local r; read -r r < /sys/module/handshake/refcnt 2>/dev/null && echo "$r" || echo 0; }
(refused=0 most=0 i=0
 while :; do
	# The count every 0.1 s, rmmod every 0.5 s.
	r=$(refcnt)
	[ "$r" -gt "$most" ] && most=$r && echo "$most" > "$out/refcnt-most"
	i=$((i + 1))
	if [ $((i % 5)) = 0 ]; then
		rmmod handshake 2>/dev/null && break
		refused=$((refused + 1))
	fi
	[ $i -gt 10000 ] && break
	sleep 0.1
 done
 echo "$refused" > "$out/rmmod-refused") &
unloader=$!

echo "start $threads $seconds $inflight" > "$ctl" || exit 1
for _ in $(seq $((seconds + 60))); do
	grep -qx 'running=0' "$ctl" && break
	sleep 1
done
: > "$out/stop"
pkill -TERM -x hs-agent
wait_agents() {
	local i
	for i in $(seq 50); do
		pgrep -x hs-agent > /dev/null || return 0
		sleep 0.2
	done
	pkill -KILL -x hs-agent
}
wait_agents
for n in $(seq "$agents"); do wait %"$n" 2>/dev/null; done
echo check > "$ctl"
cat "$ctl" > "$out/result"
# Sockets the agents held are released after their exit (RCU, deferred
# file release): give them a moment.
for _ in $(seq 50); do
	[ "$(sed -n 's/^sockets_alive=//p' "$ctl")" = 0 ] && break
	sleep 0.2
done
cat "$ctl" > "$out/result"
refcnt_drained=$(refcnt)
for _ in $(seq 10); do
	rmmod hs_stress && break
	sleep 0.2
done
stress_unloaded=yes
loaded hs_stress && stress_unloaded=no
for _ in $(seq 100); do
	kill -0 "$unloader" 2>/dev/null || break
	sleep 0.2
done
kill "$unloader" 2>/dev/null
wait "$unloader" 2>/dev/null

cat "$out/result"
submitted=$(field submitted)
elapsed=$(field elapsed_ms)
# One JSON line per agent run (a killed one prints it just before).
# num KEY LINE: a number of a JSON line (bash only: processes are slow here).
num() { [[ $2 =~ \"$1\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0; }
runs=0 accepted=0 ok=0 err=0 closed=0 killed=0
for n in $(seq "$agents"); do
	runs=$((runs + $(cat "$out/runs.$n")))
	while read -r line; do
		accepted=$((accepted + $(num accepted "$line")))
		ok=$((ok + $(num done_ok "$line")))
		err=$((err + $(num done_err "$line")))
		closed=$((closed + $(num closed "$line")))
		[[ $line == *'"died":true'* ]] && killed=$((killed + 1))
	done < <(grep '^{' "$out/agent.$n")
done
echo "stress: $submitted requests in $((elapsed / 1000)).$((elapsed % 1000 / 100)) s," \
	"$((submitted * 1000 / (elapsed + 1))) per second; $threads threads with $inflight" \
	"in flight each, $agents agents"
echo "stress: consumer saw done $(field done) (ok $(field done_ok), EIO $(field done_eio)," \
	"EACCES $(field done_eacces), other $(field done_other)), cancel won $(field cancel_won)," \
	"cancel too late $(field cancel_lost) (ta_done then came); submit refused EAGAIN $(field submit_eagain)," \
	"ESRCH $(field submit_esrch), other $(field submit_other)"
echo "stress: $runs agent runs accepted $accepted, done ok $ok, done with an error $err," \
	"closed without DONE $closed; $killed killed holding a socket"
echo "stress: rmmod handshake refused $(cat "$out/rmmod-refused" 2>/dev/null) times;" \
	"module references at most $(cat "$out/refcnt-most" 2>/dev/null), $refcnt_drained once drained"
grep -h '"errors"' "$out"/agent.* | sed 's/.*"errors":\({[^}]*}\).*/agent errors: \1/' | sort | uniq -c
sort "$out"/agent-err.* | uniq -c | sort -rn | head -5

every_way_exercised() {
	local k
	for k in ending_wait ending_cancel ending_timer ending_close gfp_kernel gfp_nofs \
		 gfp_atomic done_ok done_eacces cancel_won cancel_lost submit_eagain; do
		[ "$(field $k)" -gt 0 ] || { echo "$k is 0"; return 1; }
	done
	[ "$closed" -gt 0 ] || { echo "no agent closed without DONE"; return 1; }
	[ "$killed" -gt 0 ] || { echo "no agent was killed"; return 1; }
}
# Only the outcomes the agents chose, only the errors submit may give, and
# no agent saw an error from the kernel (105: its own receive queue full).
nothing_unexpected() {
	[ "$(field done_other)" = 0 ] || { echo "ta_done with another status $(field done_other) times"; return 1; }
	[ "$(field submit_other)" = 0 ] || { echo "submit failed otherwise $(field submit_other) times"; return 1; }
	! grep -h '"errors"' "$out"/agent.* | grep -v '"errors":{}' | grep -v '"errors":{"105":[0-9]*}'
}
each_request_ended_once() {
	[ "$(field checked)" = "$submitted" ] || { echo "checked $(field checked) of $submitted"; return 1; }
	[ "$(field bad_twice)$(field bad_both)$(field bad_neither)$(field lost)$(field bad_refused)" = 00000 ] ||
		{ echo "twice $(field bad_twice), both $(field bad_both), neither $(field bad_neither)," \
			"never heard $(field lost), heard after a failed submit $(field bad_refused)"; return 1; }
}
counts_add_up() {
	[ $(($(field done) + $(field cancel_won))) = "$submitted" ] ||
		{ echo "done $(field done) + cancelled $(field cancel_won) != submitted $submitted"; return 1; }
	[ $(($(field done_ok) + $(field done_eio) + $(field done_eacces) + $(field done_other))) = "$(field done)" ]
}
nothing_left() {
	[ "$(field sockets_alive)" = 0 ] || { echo "$(field sockets_alive) consumer sockets alive"; return 1; }
	[ "$stress_unloaded" = yes ] || { echo "hs_stress did not unload"; return 1; }
	[ -n "$base_tcp" ] && [ "$(tcp_alloc)" = "$base_tcp" ] ||
		{ echo "TCP sockets: $base_tcp before, $(tcp_alloc) after"; return 1; }
	! pgrep -x hs-agent
}
hooked_sockets_hold_the_module() {
	local most
	most=$(cat "$out/refcnt-most" 2>/dev/null || echo 0)
	[ "$most" -gt 1 ] || { echo "module references at most $most under load"; return 1; }
	[ "$refcnt_drained" = 1 ] || { echo "$refcnt_drained module references once drained"; return 1; }
	! loaded handshake || { echo "handshake did not unload after the load"; return 1; }
}

ktap_suite handshake_stress 6
ktap_check every_ending_gfp_and_agent_fate_exercised every_way_exercised
ktap_check each_request_ended_exactly_once each_request_ended_once
ktap_check submitted_equals_done_plus_cancelled counts_add_up
ktap_check no_unexpected_status_or_error nothing_unexpected
ktap_check no_socket_file_or_agent_left nothing_left
ktap_check hooked_sockets_hold_the_module_until_unload hooked_sockets_hold_the_module
ktap_end
