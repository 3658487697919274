#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, as root: end-to-end TLS handshakes between in-kernel
# consumers (handshake_e2e.ko), the handshake service, the real tlshd and
# real TLS peers (gnutls-serv, gnutls-cli) on 127.0.0.1.
#
# Every case checks both ends: what the kernel consumer saw (status, peer
# id, kTLS on its socket, data echoed, alerts) and what the user-space peer
# saw (the data, the session, a clean close_notify).
#
# $1: the agent, trixie (tlshd 1.0.0, configured by /etc/tlshd.conf) or sid
# (tlshd 1.4.0, configured by /etc/tlshd/config, which probes the kernel's
# capabilities when it starts).
. /mnt/src/scripts/guest/ktap.sh
. /mnt/src/tools/testing/e2e/pki.sh
. /mnt/src/tools/testing/e2e/peers.sh

agent=${1:-trixie}
conf=/etc/tlshd.conf
[ "$agent" = sid ] && conf=/etc/tlshd/config
ctl=/proc/handshake_e2e
spec=/mnt/ksrc/Documentation/netlink/specs/handshake.yaml
out=/tmp/e2e
mkdir -p "$out"

# e2e NAME CMD...: run one consumer command, keep its outcome in $out/NAME.
e2e() {
	local name=$1 before
	shift
	before=$(alive)
	echo "$*" > "$ctl" || return 1
	{ cat "$ctl"; echo "alive_before=$before"; } > "$out/$name"
}
# settled NAME: every socket that run made is destroyed within 5 s (its
# chained destructor ran, so the service restored or chained it properly).
alive() { sed -n 's/^sockets_alive=//p' "$ctl"; }
settled() {
	local before now i
	before=$(field "$1" alive_before)
	for i in $(seq 50); do
		now=$(alive)
		[ "$now" -le "$before" ] && return 0
		sleep 0.1
	done
	echo "$1: $((now - before)) consumer socket(s) of this run still alive"
	return 1
}
# field NAME KEY: a value from a consumer outcome.
field() { sed -n "s/^$2=//p" "$out/$1" | head -1; }
# expect NAME KEY VALUE: the outcome has KEY=VALUE.
expect() {
	local got
	got=$(field "$1" "$2")
	[ "$got" = "$3" ] && return 0
	echo "$1: $2 is '$got', expected '$3'"
	echo "outcome: $(tr '\n' ' ' < "$out/$1")"
	return 1
}
# The session went through and the consumer's data path worked.
expect_session() {
	expect "$1" submit 0 && expect "$1" status 0 && expect "$1" done_calls 1 &&
		expect "$1" ktls 1 && expect "$1" ktls_tx sw && expect "$1" ktls_rx sw &&
		expect "$1" record_type 23 && expect "$1" file_refs 1
}
# The peer id is a key tlshd made from the peer's certificate.
expect_cert_peerid() {
	local id desc
	id=$(field "$1" peerid)
	# tlshd 1.4.0, as a server, reports a verified client certificate as
	# peer id UINT_MAX and makes no key of it.
	if [ "$agent" = sid ] && [ "$(field "$1" mode)" = server ]; then
		[ "$id" = -1 ] || { echo "$1: peer id $id, tlshd 1.4.0 sends -1"; return 1; }
		return 0
	fi
	[ -n "$id" ] && [ "$id" -gt 0 ] || { echo "$1: no peer id ($id)"; return 1; }
	desc=$(keyctl rdescribe "$id") || { echo "$1: peer id $id is not a key"; return 1; }
	case $desc in
	"asymmetric;"*";TLS x509 $2") ;;
	*) echo "$1: peer id $id is '$desc'"; return 1 ;;
	esac
}
# A gnutls-serv log shows the message and no unclean end of the session.
peer_log_clean() {
	grep -q "received cmd: $2" "$1" || { echo "peer never got '$2':"; cat "$1"; return 1; }
	! grep -qE 'non-properly terminated|Error (in|while)|Fatal' "$1" || { echo "peer saw an error:"; cat "$1"; return 1; }
}

tlshd_pid= tlshd_fds=
start_tlshd() {
	if [ "$agent" = sid ]; then
		tlshd -s >> /tmp/tlshd.log 2>&1 &
	else
		tlshd -s -c "$conf" >> /tmp/tlshd.log 2>&1 &
	fi
	tlshd_pid=$!
	wait_tlshd "$tlshd_pid"
	tlshd_fds=$(ls /proc/$tlshd_pid/fd | wc -l)
}
stop_tlshd() {
	[ -n "$tlshd_pid" ] || return 0
	pkill -KILL -P "$tlshd_pid" 2>/dev/null
	kill "$tlshd_pid" 2>/dev/null
	wait "$tlshd_pid" 2>/dev/null
	tlshd_pid=
}

pki_setup /tmp/pki /mnt/run/files/pki
mkdir -p "$(dirname "$conf")"
write_tlshd_conf /tmp/pki > "$conf"
. /tmp/pki/serials

peer_opts=(--echo --x509cafile=/tmp/pki/ca.pem)
# Echo servers.  4433: x.509; 4436: x.509 requiring a client certificate
# signed by the CA; 4434: PSK; 4435: a certificate from a CA tlshd does not
# trust.
gnutls-serv "${peer_opts[@]}" -p 4433 --x509certfile=/tmp/pki/server.pem \
	--x509keyfile=/tmp/pki/server.key > /tmp/serv-anon.log 2>&1 &
gnutls-serv "${peer_opts[@]}" -p 4436 --x509certfile=/tmp/pki/server.pem \
	--x509keyfile=/tmp/pki/server.key --require-client-cert \
	--verify-client-cert > /tmp/serv-x509.log 2>&1 &
gnutls-serv --echo -p 4434 --pskpasswd=/tmp/pki/psk.passwd \
	--priority NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK > /tmp/serv-psk.log 2>&1 &
gnutls-serv --echo -p 4435 --x509certfile=/tmp/pki/rogue-server.pem \
	--x509keyfile=/tmp/pki/rogue-server.key > /tmp/serv-rogue.log 2>&1 &
# 4437: for the cases where no handshake takes place.
gnutls-serv "${peer_opts[@]}" -p 4437 --x509certfile=/tmp/pki/server.pem \
	--x509keyfile=/tmp/pki/server.key > /tmp/serv-spare.log 2>&1 &
for p in 4433 4434 4435 4436 4437; do wait_port $p >/dev/null; done

shim_refcnt() { cat /sys/module/handshake_e2e/refcnt; }
svc_refcnt() { cat /sys/module/handshake/refcnt 2>/dev/null || echo builtin; }
svc_refs_at_start=$(svc_refcnt)

client_anon() {
	e2e anon mode=client auth=anon port=4433 peername=localhost msg=hello-anon || return 1
	expect_session anon && expect anon echo_match 1 &&
		expect anon alert_level 1 && expect anon alert_desc 0 &&
		expect anon peerid 0 &&
		peer_log_clean /tmp/serv-anon.log hello-anon && settled anon
}

# x509_session NAME CN CONSUMER-ARGS...: a client x.509 handshake with the
# peer on 4436, which requires a client certificate: the session works and
# the peer got the client certificate of subject CN=CN.
x509_session() {
	local name=$1 cn=$2
	shift 2
	e2e "$name" mode=client auth=x509 port=4436 peername=localhost msg="hello-$name" "$@" ||
		return 1
	expect_session "$name" && expect "$name" echo_match 1 &&
		expect "$name" alert_level 1 && expect "$name" alert_desc 0 &&
		expect_cert_peerid "$name" localhost &&
		peer_log_clean /tmp/serv-x509.log "hello-$name" &&
		{ grep -q "Subject: CN=$cn\$" /tmp/serv-x509.log ||
			{ echo "peer did not get the client certificate CN=$cn"; return 1; }; } &&
		settled "$name"
}

client_x509() { x509_session x509 e2e-client cert="$CLIENT_CERT" privkey="$CLIENT_KEY"; }

# A client hello that names no certificate: tlshd presents the one its
# configuration names (CN=e2e-conf-client, not the keyring's e2e-client).
client_x509_conf() { x509_session x509conf e2e-conf-client; }

# tlshd 1.4.0 cannot use a client certificate the kernel names (its key
# serials): it hands GnuTLS the certificate array offset by a count of
# post-quantum certificates it never loaded, GnuTLS refuses the request
# (-50), and the handshake fails as a refusal.
client_x509_kernel_cert_fails() {
	e2e x509kern mode=client auth=x509 port=4436 peername=localhost \
		cert="$CLIENT_CERT" privkey="$CLIENT_KEY" msg=never || return 1
	expect x509kern submit 0 && expect x509kern status -13 &&
		expect x509kern done_calls 1 && expect x509kern ktls 0 &&
		expect x509kern file_refs 1 && [ -z "$(field x509kern sent)" ] &&
		grep -q 'The request is invalid. (-50)' /tmp/tlshd.log ||
		{ echo "tlshd log:"; tail -5 /tmp/tlshd.log; return 1; }
	settled x509kern
}

client_psk() {
	e2e psk mode=client auth=psk port=4434 peername=localhost \
		peerid="$PSK" keyring="$KEYRING" msg=hello-psk || return 1
	expect_session psk && expect psk echo_match 1 && expect psk peerid "$PSK" &&
		expect psk alert_level 1 && expect psk alert_desc 0 &&
		peer_log_clean /tmp/serv-psk.log hello-psk &&
		{ grep -q "PSK authentication. Connected as '$PSK_IDENTITY'" /tmp/serv-psk.log ||
			{ echo "peer did not see the PSK identity"; cat /tmp/serv-psk.log; return 1; }; } &&
		settled psk
}

# server_run NAME PORT CONSUMER-ARGS -- PEER-ARGS: the kernel listens, a
# gnutls-cli connects, sends a line, expects it back and sees the close.
server_run() {
	local name=$1 port=$2 pid
	shift 2
	local cargs=() pargs=()
	while [ "$1" != -- ]; do cargs+=("$1"); shift; done
	shift
	pargs=("$@")
	e2e "$name" mode=server port="$port" wait=15000 "${cargs[@]}" &
	pid=$!
	wait_port "$port" || { wait $pid; return 1; }
	# gnutls-cli's input stays open until the kernel has closed the
	# session (or 6 s), so that the close comes from the kernel's side.
	(echo "hello-$name"
	 for _ in $(seq 60); do
		grep -q 'Peer has closed' "/tmp/cli-$name.log" 2>/dev/null && break
		sleep 0.1
	 done) | timeout 20 gnutls-cli -p "$port" "${pargs[@]}" > "/tmp/cli-$name.log" 2>&1
	wait $pid || return 1
	expect_session "$name" && expect "$name" message "hello-$name" &&
		grep -qx "hello-$name" "/tmp/cli-$name.log" &&
		grep -q 'Peer has closed the GnuTLS connection' "/tmp/cli-$name.log" ||
		{ echo "peer log:"; cat "/tmp/cli-$name.log"; return 1; }
	settled "$name"
}

server_x509() {
	server_run srvx509 5433 auth=x509 -- --x509cafile=/tmp/pki/ca.pem \
		--x509certfile=/tmp/pki/client.pem --x509keyfile=/tmp/pki/client.key \
		localhost || return 1
	grep -q 'Handshake was completed' /tmp/cli-srvx509.log &&
		expect_cert_peerid srvx509 localhost
}

server_psk() {
	server_run srvpsk 5434 auth=psk keyring="$KEYRING" -- \
		--pskusername="$PSK_IDENTITY" --pskkey="$PSK_HEX" \
		--priority NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK 127.0.0.1 || return 1
	expect srvpsk peerid "$PSK" &&
		grep -q "PSK authentication. Connected as '$PSK_IDENTITY'" /tmp/cli-srvpsk.log
}

wrong_ca() {
	e2e rogue mode=client auth=anon port=4435 peername=localhost msg=never || return 1
	expect rogue submit 0 && expect rogue status -13 && expect rogue done_calls 1 &&
		expect rogue ktls 0 && expect rogue file_refs 1 &&
		[ -z "$(field rogue sent)" ] ||
		{ echo "data path used after a failed handshake"; return 1; }
	! grep -q 'received cmd' /tmp/serv-rogue.log ||
		{ echo "the rogue peer got data"; return 1; }
	settled rogue
}

no_tlshd() {
	e2e nolistener mode=client auth=anon port=4437 peername=localhost || return 1
	expect nolistener submit -3 && expect nolistener ktls 0 &&
		expect nolistener file_refs 1 && [ -z "$(field nolistener done_calls)" ] &&
		settled nolistener
}

# The upstream YNL CLI as the only listener: it sees READY for class tlshd.
# Nobody accepts, so the consumer's wait expires and its cancel wins.
ynl_ready() {
	local pid i
	python3 -u /mnt/ksrc/tools/net/ynl/pyynl/cli.py --spec "$spec" --no-schema \
		--subscribe tlshd --duration 40 --output-json > /tmp/ynl.log 2>&1 &
	pid=$!
	# Submitting fails with ESRCH until the CLI has joined the group.
	for i in $(seq 60); do
		e2e ynl mode=client auth=anon port=4437 peername=localhost wait=2000 || break
		[ "$(field ynl submit)" = -3 ] || break
		sleep 0.5
	done
	sleep 1
	kill $pid 2>/dev/null; wait $pid 2>/dev/null
	expect ynl submit 0 && expect ynl timed_out 1 && expect ynl cancel 1 &&
		expect ynl cancel_again 0 && expect ynl done_calls 0 &&
		expect ynl file_refs 1 && settled ynl || return 1
	python3 - /tmp/ynl.log <<'PY'
import json, sys
msgs = []
for line in open(sys.argv[1]):
    try:
        msgs.append(json.loads(line))
    except ValueError:
        pass
ready = [m for m in msgs if m.get('name') == 'ready']
assert ready, 'no READY notification: %r' % open(sys.argv[1]).read()
assert all(m['msg'].get('handler-class') in ('tlshd', 1) for m in ready), ready
PY
}

# tlshd takes the request (ACCEPT), then dies before DONE: the consumer's
# own timeout fires, its cancel wins, and everything is released.
tlshd_killed() {
	local pid child i
	# A peer that accepts TCP and never speaks TLS keeps tlshd's child busy.
	python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 4440)); s.listen(4)
c = [s.accept() for _ in range(1)]
time.sleep(60)' &
	local silent=$!
	wait_port 4440 || return 1
	start_tlshd
	e2e killed mode=client auth=anon port=4440 peername=localhost \
		timeout=60000 wait=6000 &
	pid=$!
	# ACCEPT happened once tlshd's child holds the consumer's socket.
	child=
	for i in $(seq 100); do
		child=$(pgrep -o -P "$tlshd_pid")
		[ -n "$child" ] && ls -l /proc/$child/fd 2>/dev/null | grep -q socket && break
		child=
		sleep 0.1
	done
	[ -n "$child" ] || { echo "tlshd never accepted"; kill $silent; wait $pid; return 1; }
	stop_tlshd
	wait $pid
	kill $silent 2>/dev/null; wait $silent 2>/dev/null
	expect killed submit 0 && expect killed ktls 0 && expect killed file_refs 1 || return 1
	if [ "$(svc_refcnt)" = builtin ]; then
		# The C service never hears of it: the consumer's wait expires and
		# its cancel wins, with no callback.
		expect killed timed_out 1 && expect killed cancel 1 &&
			expect killed cancel_again 0 && expect killed done_calls 0 || return 1
	else
		# The module sees the accepting process gone and completes the
		# request with EIO, once, before the consumer's wait expires.
		expect killed status -5 && expect killed done_calls 1 || return 1
	fi
	settled killed
}

# tlshd 1.4.0 probes the kernel when it starts: two DONEs naming no socket
# (sockfd -1), one with a session tag (a DONE attribute the kernel's spec
# does not have), one with a remote peer id. It takes a successful send for
# "supported" and drains the answer without looking at it, so it reports
# both capabilities as supported whatever the kernel says.
capabilities_logged() {
	local i
	# What this tier asserts of the agent is what 1.4.0 does; a newer sid
	# must be looked at, not taken for a kernel problem.
	grep -q 'Built from ktls-utils 1.4.0 ' /tmp/tlshd.log ||
		{ echo "the sid root has another tlshd: $(grep -m1 'Built from' /tmp/tlshd.log)"; return 1; }
	for i in $(seq 50); do
		grep -q 'Kernel capabilities:' /tmp/tlshd.log && break
		sleep 0.1
	done
	grep -q 'Kernel capabilities: session_tags=supported remote_peerids=supported$' /tmp/tlshd.log ||
		{ echo "tlshd logged: $(grep 'Kernel capabilities' /tmp/tlshd.log)"; return 1; }
}
# The same probes, replayed with an acknowledgement.
# The C service refuses the session-tag probe whole (EINVAL: attribute 4 is
# beyond its policy); the module tolerates attributes newer than the spec
# and gets as far as the bad descriptor (EBADF), as for the other probe.
probes_answered() {
	local got want="session_tags EINVAL remote_peerids EBADF "
	[ "$(svc_refcnt)" = builtin ] || want="session_tags EBADF remote_peerids EBADF "
	got=$(python3 /mnt/src/tools/testing/e2e/probe.py | tr '\n' ' ') || return 1
	[ "$got" = "$want" ] || { echo "probe answers: $got, expected $want"; return 1; }
}
# After its probes tlshd holds no socket but its netlink ones, and the
# service holds no more module references than before tlshd started (a
# request pins one).
probes_leave_no_socket() {
	local fd ino
	[ "$(svc_refcnt)" = "$svc_refs_at_start" ] ||
		{ echo "service refcnt $(svc_refcnt), was $svc_refs_at_start"; return 1; }
	for fd in /proc/$tlshd_pid/fd/*; do
		ino=$(readlink "$fd")
		case $ino in socket:*) ;; *) continue ;; esac
		ino=${ino#socket:[}
		ino=${ino%]}
		awk -v i="$ino" '$NF == i { f = 1 } END { exit !f }' /proc/net/netlink ||
			{ echo "tlshd holds socket $ino, not a netlink one"; return 1; }
	done
}

# tlshd's children are gone and the daemon holds no more descriptors than
# when it started: no consumer socket is left in user space.
tlshd_clean() {
	local i
	for i in $(seq 50); do
		[ -z "$(pgrep -P "$tlshd_pid")" ] && break
		sleep 0.1
	done
	[ -z "$(pgrep -P "$tlshd_pid")" ] || { echo "tlshd children left"; return 1; }
	[ "$(ls /proc/$tlshd_pid/fd | wc -l)" = "$tlshd_fds" ] ||
		{ echo "tlshd fds: $(ls -l /proc/$tlshd_pid/fd)"; return 1; }
}

# After everything: no socket of ours is alive, nobody holds the consumer
# module, the service's module count is back where it was, and the
# consumer unloads. (kmemleak then looks at what is left: tier.sh.)
nothing_leaks() {
	local alive i
	for i in $(seq 100); do
		alive=$(sed -n 's/^sockets_alive=//p' "$ctl")
		[ "$alive" = 0 ] && [ "$(shim_refcnt)" = 0 ] && break
		sleep 0.1
	done
	[ "$alive" = 0 ] || { echo "sockets still alive: $alive"; return 1; }
	[ "$(shim_refcnt)" = 0 ] || { echo "consumer module refcnt $(shim_refcnt)"; return 1; }
	[ "$(svc_refcnt)" = "$svc_refs_at_start" ] ||
		{ echo "service refcnt $(svc_refcnt), was $svc_refs_at_start"; return 1; }
	rmmod handshake_e2e || { echo "consumer module does not unload"; return 1; }
}

cases=11
[ "$agent" = sid ] && cases=13
suite=handshake_e2e
[ "$agent" = sid ] && suite=handshake_e2e_sid
ktap_suite $suite $cases
# No agent yet: the first cases run without tlshd.
# (Not with the sid agent: these two run no tlshd at all.)
if [ "$agent" = trixie ]; then
	ktap_check no_tlshd_is_esrch_at_submit no_tlshd
	ktap_check ynl_cli_sees_ready_for_tlshd_class ynl_ready
fi
start_tlshd
if [ "$agent" = sid ]; then
	ktap_check tlshd_logs_kernel_capabilities capabilities_logged
	ktap_check capability_probes_answered probes_answered
	ktap_check capability_probes_leave_no_socket probes_leave_no_socket
fi
ktap_check client_anon_handshake_and_echo client_anon
if [ "$agent" = sid ]; then
	ktap_check client_x509_config_cert_handshake_and_echo client_x509_conf
	ktap_check client_x509_kernel_cert_fails_in_tlshd client_x509_kernel_cert_fails
else
	ktap_check client_x509_mutual_handshake_and_echo client_x509
fi
ktap_check client_psk_handshake_and_echo client_psk
ktap_check server_x509_handshake_and_echo server_x509
ktap_check server_psk_handshake_and_echo server_psk
ktap_check wrong_ca_is_eacces_without_data_path wrong_ca
ktap_check tlshd_keeps_no_consumer_socket tlshd_clean
stop_tlshd
ktap_check tlshd_killed_after_accept_ends_the_request_once tlshd_killed
pkill gnutls-serv
ktap_check nothing_leaks nothing_leaks
ktap_end
rc=$?
for f in /tmp/tlshd.log /tmp/serv-*.log /tmp/cli-*.log /tmp/ynl.log "$out"/*; do echo "--- $f"; cat "$f"; done | sed 's/^/# /'
exit $rc
