#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: hs-fuzz sends COUNT generated and damaged messages of the
# handshake family (as root, as nobody, as root of a user namespace) while
# hs_stress.ko keeps real requests pending and hs-agent accepts some of
# them. Then every request must have ended exactly once, nothing may be
# left, and a real tlshd handshake must still work.
#
# usage: guest.sh COUNT SEED
. /mnt/src/scripts/guest/ktap.sh
. /mnt/src/tools/testing/e2e/pki.sh
. /mnt/src/tools/testing/e2e/peers.sh
files=/mnt/run/files
ctl=/proc/hs_stress
count=${1:-100000} seed=${2:-1}
out=/tmp/fuzz
mkdir -p "$out"

tcp_alloc() { awk '/^TCP:/ { for (i = 2; i < NF; i++) if ($i == "alloc") print $(i + 1) }' /proc/net/sockstat; }
field() { sed -n "s/^$1=//p" "$out/result"; }
# word MODE KEY: a value of the fuzzer's line for MODE.
word() { sed -n "s/^mode=$1 .*\b$2=\([^ ]*\).*/\1/p" "$out/fuzz"; }

base_tcp=$(tcp_alloc)
insmod "$files/nvme-keyring.ko" || exit 1
insmod "$files/handshake.ko" || exit 1
insmod "$files/hs_stress.ko" || exit 1
insmod "$files/handshake_e2e.ko" || exit 1

# One agent answers some requests; the fuzzer's ACCEPTs race it for the rest.
"$files/hs-agent" --mix done_ok=2,done_err=1,close=1 --seed "$seed" > "$out/agent" 2> "$out/agent-err" &
agent=$!
# One thread with two requests in flight, until told to stop (more would
# take the fuzzer's share of the one vCPU).
echo "start 1 3600 2" > "$ctl" || exit 1
# Root's share of the messages, against that load.
"$files/hs-fuzz" --modes root --count $((count * 8 / 10)) --seed "$seed" \
	> "$out/fuzz" 2> "$out/fuzz-err"
fuzz_rc=$?
# The threads end the requests they have out (the agent still serving).
echo stop > "$ctl"
for _ in $(seq 100); do
	grep -qx 'running=0' "$ctl" && break
	sleep 0.2
done
# For the unprivileged modes, two requests that only a DONE or the final
# check ends, which the fuzzer accepts (the agent, stopped, stays a
# listener but takes none) and names in their DONEs: nothing else ends
# them, so those DONEs meet open requests. Root then sends them a DONE.
kill -STOP "$agent"
echo "hold 2" > "$ctl"
"$files/hs-fuzz" --modes user,userns --count $((count * 2 / 10)) --seed "$seed" --hold 2 \
	>> "$out/fuzz" 2>> "$out/fuzz-err"
rc=$?
[ $fuzz_rc -ge $rc ] || fuzz_rc=$rc
kill -CONT "$agent"
kill -TERM "$agent"
wait "$agent"
echo check > "$ctl"
for _ in $(seq 50); do
	[ "$(sed -n 's/^sockets_alive=//p' "$ctl")" = 0 ] && break
	sleep 0.2
done
cat "$ctl" > "$out/result"
rmmod hs_stress
cat "$out/fuzz" "$out/fuzz-err"
echo "fuzz: exit status $fuzz_rc; consumer: $(field submitted) requests, done $(field done)" \
	"(ok $(field done_ok), EIO $(field done_eio), EACCES $(field done_eacces), other $(field done_other))," \
	"cancel won $(field cancel_won)"

every_kind_sent() {
	local m k
	local sent=0 n
	for n in $(sed -n 's/^messages=\([0-9]*\).*/\1/p' "$out/fuzz"); do sent=$((sent + n)); done
	[ "$sent" -ge "$count" ] || { echo "$sent messages, fewer than $count"; return 1; }
	for m in root user userns; do
		[ "$(word $m sent)" -gt 0 ] || { echo "mode $m sent nothing"; return 1; }
		[ "$(word $m damaged)" -gt 0 ] || { echo "mode $m damaged nothing"; return 1; }
	done
	for k in handshake tcp udp unix netlink othernetns own devnull pipe directory closed bad; do
		[[ ",$(word root fd_kinds)" =~ ,$k:[1-9] ]] || { echo "no $k descriptor sent"; return 1; }
	done
	for k in 0 1 2 3 4 5 other; do
		[[ ",$(word root commands)" =~ ,$k:[1-9] ]] || { echo "command $k never sent"; return 1; }
	done
}
real_requests_served() {
	[ "$(word root accept_replies)" -gt 0 ] || { echo "the fuzzer accepted no request"; return 1; }
	[ "$(word root done_on_accepted)" -gt 0 ] || { echo "the fuzzer completed no request"; return 1; }
	[ "$(field done)" -gt 0 ] || { echo "no request was completed"; return 1; }
}
unprivileged_refused() {
	local m
	for m in user userns; do
		[ "$(word $m handshake_ok)" = 0 ] && [ "$(word $m accept_replies)" = 0 ] ||
			{ echo "mode $m: an operation went through"; return 1; }
		[[ ",$(word $m errno)" =~ ,EPERM:[1-9] ]] || { echo "mode $m: never EPERM"; return 1; }
		# Sound DONEs naming the two held sockets (open requests).
		[ "$(word $m done_on_accepted)" -gt 0 ] || { echo "mode $m: no DONE named an accepted socket"; return 1; }
		# An answer that could not be decoded might hide a success.
		[ "$(word $m undecoded)" = 0 ] || { echo "mode $m: $(word $m undecoded) answers not decoded"; return 1; }
	done
	grep -qx 'held=2 held_live=2' "$out/fuzz" ||
		{ echo "held requests: $(grep '^held=' "$out/fuzz"), expected held=2 held_live=2"; return 1; }
	[ "$(grep -c 'unprivileged_handshake_ok=0$' "$out/fuzz")" = 2 ]
}
fd_table_unchanged() {
	[ "$fuzz_rc" != 2 ] && [ "$(grep -c '^fd_table=unchanged' "$out/fuzz")" = 2 ] &&
		! grep -q '^fd_table=changed' "$out/fuzz"
}
each_request_ended_once() {
	[ "$(field checked)" = "$(field submitted)" ] ||
		{ echo "checked $(field checked) of $(field submitted)"; return 1; }
	[ "$(field bad_twice)$(field bad_both)$(field bad_neither)$(field lost)$(field bad_refused)" = 00000 ] ||
		{ echo "twice $(field bad_twice), both $(field bad_both), neither $(field bad_neither)," \
			"never heard $(field lost), heard after a failed submit $(field bad_refused)"; return 1; }
	[ $(($(field done) + $(field cancel_won))) = "$(field submitted)" ]
}
nothing_left() {
	[ "$(field sockets_alive)" = 0 ] || { echo "$(field sockets_alive) consumer sockets alive"; return 1; }
	[ "$(tcp_alloc)" = "$base_tcp" ] || { echo "TCP sockets: $base_tcp before, $(tcp_alloc) after"; return 1; }
	# Only handshake_e2e, still loaded, holds the module: no hooked socket is left.
	[ "$(cat /sys/module/handshake/refcnt)" = 1 ] ||
		{ echo "handshake module references: $(cat /sys/module/handshake/refcnt), expected 1"; return 1; }
	! pgrep -x 'hs-agent|hs-fuzz'
}
# The e2e tier's anonymous client case, once: tlshd and gnutls-serv.
tlshd_handshake() {
	local pid r
	pki_setup /tmp/pki "$files/pki" > /dev/null || return 1
	write_tlshd_conf /tmp/pki > /etc/tlshd.conf
	gnutls-serv --echo --x509cafile=/tmp/pki/ca.pem -p 4433 --x509certfile=/tmp/pki/server.pem \
		--x509keyfile=/tmp/pki/server.key > /tmp/serv.log 2>&1 &
	wait_port 4433 || return 1
	tlshd -s -c /etc/tlshd.conf > /tmp/tlshd.log 2>&1 &
	pid=$!
	wait_tlshd "$pid"
	echo "mode=client auth=anon port=4433 peername=localhost msg=hello-after-fuzz" > /proc/handshake_e2e
	r=$(cat /proc/handshake_e2e)
	kill "$pid"
	pkill gnutls-serv
	for k in submit=0 status=0 done_calls=1 ktls=1 echo_match=1; do
		grep -qx "$k" <<< "$r" || { echo "after fuzzing: expected $k in: $(tr '\n' ' ' <<< "$r")"; return 1; }
	done
}

ktap_suite handshake_fuzz 7
ktap_check every_command_fd_kind_and_mode_sent every_kind_sent
ktap_check real_requests_accepted_and_completed_meanwhile real_requests_served
ktap_check unprivileged_senders_refused unprivileged_refused
ktap_check fuzzer_fd_table_unchanged fd_table_unchanged
ktap_check each_request_ended_exactly_once each_request_ended_once
ktap_check no_socket_file_or_agent_left nothing_left
ktap_check real_tlshd_handshake_afterwards tlshd_handshake
ktap_end
