#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: 24 rounds of insmod/rmmod handshake.ko. Every fourth round
# plain; the others with a consumer (hs_pending.ko) whose request is
#   1: pending when the consumer goes (it cancels), then the module goes;
#   2: accepted by the agent, which still holds the socket when the
#      consumer goes: the module must stay until the agent closes it;
#   3: accepted, the agent closes the socket first, then both modules go.
. /mnt/src/scripts/guest/ktap.sh
files=/mnt/run/files
hs=$files/handshake.ko
consumer=$files/hs_pending.ko
rounds=${1:-24}

# One agent serves every round: the family, and so its id and groups, is new
# with every insmod, so the agent resolves it again in each round that needs
# it (starting a Python agent per round costs more than the round).
. /mnt/src/tools/testing/agent/agent.sh
accepted() { agent_ask accept; [[ $agent_answer == '{"reply"'* ]]; }

# (Builtins only: a process started in these guests costs 0.1 s or more.)
loaded() {
	local name _
	while read -r name _; do [ "$name" = "$1" ] && return 0; done < /proc/modules
	return 1
}
tcp_alloc() { awk '/^TCP:/ { for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1) }' /proc/net/sockstat; }
base_tcp=$(tcp_alloc)

fail() { echo "round $i: $*"; failures=$((failures + 1)); }
failures=0
plain=0 pending=0 held=0 closed=0
agent_up=0
for i in $(seq 1 "$rounds"); do
	insmod "$hs" || { fail "insmod handshake"; break; }
	if [ $((i % 4)) != 0 ]; then
		if [ $agent_up = 0 ]; then
			agent_start || { fail "agent did not start"; break; }
			agent_up=1
		else
			agent_ask reopen
			[ "$agent_answer" = '{}' ] || { fail "agent reopen: $agent_answer"; break; }
		fi
	fi
	case $((i % 4)) in
	1)
		insmod "$consumer" || fail "consumer submit failed"
		rmmod handshake 2>/dev/null && fail "handshake removed under its consumer"
		rmmod hs_pending || fail "rmmod consumer"
		pending=$((pending + 1))
		;;
	2)
		insmod "$consumer" || fail "consumer submit failed"
		accepted || fail "accept: $agent_answer"
		rmmod hs_pending || fail "rmmod consumer"
		# The agent still holds the socket, hooked by the module.
		rmmod handshake 2>/dev/null && fail "handshake removed while a socket it hooks lives"
		agent_ask close
		held=$((held + 1))
		;;
	3)
		insmod "$consumer" || fail "consumer submit failed"
		accepted || fail "accept: $agent_answer"
		agent_ask close
		rmmod hs_pending || fail "rmmod consumer"
		closed=$((closed + 1))
		;;
	*)
		plain=$((plain + 1))
		;;
	esac
	# Socket release may be deferred (RCU, work): give it a moment.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		rmmod handshake 2>/dev/null && break
		sleep 0.2
	done
	loaded handshake && { fail "handshake cannot be removed"; break; }
	[ $failures -gt 5 ] && break
done
[ $agent_up = 1 ] && agent_stop

ktap_suite handshake_unload 3
if [ $failures = 0 ] && [ "$i" = "$rounds" ]; then
	ktap_ok "insmod_rmmod_${rounds}_rounds"
else
	ktap_fail "insmod_rmmod_${rounds}_rounds" "$failures failures, stopped at round $i"
fi
echo "rounds: $plain plain, $pending pending at consumer exit, $held held by the agent, $closed closed by the agent"
if [ $pending -gt 0 ] && [ $held -gt 0 ] && [ $closed -gt 0 ]; then
	ktap_ok rounds_with_requests_in_every_state
else
	ktap_fail rounds_with_requests_in_every_state "$pending/$held/$closed"
fi
sleep 1
now_tcp=$(tcp_alloc)
if [ "$now_tcp" = "$base_tcp" ]; then
	ktap_ok no_tcp_socket_left
else
	ktap_fail no_tcp_socket_left "TCP sockets allocated: $base_tcp before, $now_tcp after"
fi
ktap_end
