#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# After the KUnit suites ran at insmod: run them again through debugfs while
# a request of the e2e consumer is pending in init_net (announced to the
# scripted agent, which holds it), then let the agent take and complete that
# request; it must end normally, as if the suites had not run. Last, the
# module must unload.
[ "$1" = reference ] && exit 0
. /mnt/src/scripts/guest/ktap.sh
. /mnt/src/tools/testing/agent/agent.sh
. /mnt/src/tools/testing/e2e/peers.sh
SUITES="handshake_api handshake_tls handshake_lifetime handshake_genl handshake_genl_attrs"
PORT=7777
work=$(mktemp -d)

echo_server() {
	python3 -c '
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
def serve(c):
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$PORT" &
	echo_pid=$!
	wait_port "$PORT"
}

# A client handshake whose request waits in init_net's queue: the agent has
# joined the tlshd group and saw READY, but has not accepted. Its timeout
# keeps the kernel's deadline (timeout plus grace) beyond the suites' run.
request_pending() {
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	echo_server || return 1
	agent_start || return 1
	echo "mode=client auth=anon port=$PORT timeout=120000 wait=60000 io=5000 msg=live-request" \
		> /proc/handshake_e2e &
	consumer_pid=$!
	agent_ask wait-ready
	echo "$agent_answer" | grep -q '"ready"' || { echo "no READY: $agent_answer"; return 1; }
}

# Every suite again, its KTAP kept out of the console (the host already
# parsed the run at insmod): each must pass.
suites_pass_again() {
	local s level rc=0
	level=$(awk '{print $1}' /proc/sys/kernel/printk)
	dmesg -n 1
	for s in $SUITES; do
		echo run > "/sys/kernel/debug/kunit/$s/run"
		cat "/sys/kernel/debug/kunit/$s/results" > "$work/$s.ktap"
	done
	dmesg -n "$level"
	for s in $SUITES; do
		if ! grep -q "^ok [0-9]* $s\$" "$work/$s.ktap" || grep -q 'not ok' "$work/$s.ktap"; then
			echo "$s: $(grep -m3 'not ok\|# .*:' "$work/$s.ktap" | tr '\n' ' ')"
			rc=1
		fi
	done
	return $rc
}

# The agent accepts the request the consumer submitted before the suites
# ran, and reports success: the consumer gets status 0 once.
request_completes_normally() {
	local fd out
	agent_ask accept
	fd=$(agent_json reply.sockfd) || { echo "accept: $agent_answer"; return 1; }
	agent_ask done "$fd" 0
	wait "$consumer_pid"
	out=$(cat /proc/handshake_e2e)
	echo "$out" | grep -qx 'status=0' && echo "$out" | grep -qx 'done_calls=1' &&
		echo "$out" | grep -qx 'echo_match=1' || { echo "$out" | head -20; return 1; }
}

unloads() {
	agent_ask close
	agent_stop
	kill "$echo_pid" 2>/dev/null
	rmmod handshake_e2e && rmmod handshake
}

# The race cases (handshake_lifetime) need a second CPU to race on (they
# check themselves that some rounds ran their sides on different CPUs).
two_cpus() {
	[ "$(grep -c '^processor' /proc/cpuinfo)" -ge 2 ] ||
		{ echo "$(grep -c '^processor' /proc/cpuinfo) CPU online"; return 1; }
}

# step NAME FUNCTION: one case, run in this shell (the agent, the echo server
# and the consumer's write outlive it), its output kept for the reason.
step() {
	if "$2" > "$work/$1.out" 2>&1; then
		ktap_ok "$1"
	else
		ktap_fail "$1" "$(tail -3 "$work/$1.out" | tr '\n' ' ')"
	fi
}

ktap_suite handshake_kunit_live 5
step guest_has_two_cpus two_cpus
step request_pending_in_init_net request_pending
step suites_pass_again_meanwhile suites_pass_again
step pending_request_completes_normally request_completes_normally
step module_unloads_after_kunit unloads
ktap_end
