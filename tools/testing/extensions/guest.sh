#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, as root, with handshake.ko loaded: what the module does
# beyond the C service, with the test consumer (hs_consumer.ko), the real
# tlshd where the case concerns it and the scripted agent elsewhere.
#
# usage: guest.sh DIR   (DIR holds hs_consumer.ko and the certificates; see
#                        tools/testing/agent/tier.sh)
. /mnt/src/scripts/guest/ktap.sh
. /mnt/src/tools/testing/agent/agent.sh
. /mnt/src/tools/testing/e2e/peers.sh
dir=$1
ksrc=/mnt/ksrc
ynl_cli=(python3 "$ksrc/tools/net/ynl/pyynl/cli.py" --no-schema)
tr=/sys/kernel/tracing
work=$(mktemp -d)
cd "$work" || exit 1
cp "$dir"/certs/ca.pem .

note() { echo "extensions: $*" > /dev/kmsg; echo "$*"; }
klog() { dmesg | grep "hs_consumer" | tail -n "${1:-20}"; }
# wait_klog PATTERN SECONDS: until the consumer logged PATTERN.
wait_klog() {
	local i
	for i in $(seq $(($2 * 10))); do
		klog | grep -q "$1" && return 0
		sleep 0.1
	done
	return 1
}
# The events of the handshake system since the last call, one event enabled.
trace_only() {
	echo 0 > "$tr/events/handshake/enable"
	echo > "$tr/trace"
	echo 1 > "$tr/events/handshake/$1/enable"
}
trace_lines() { grep -v '^#' "$tr/trace"; }
# agent_diag OP: the module's handshake-diag family (stats-get or
# request-get) through the running scripted agent, as the YNL CLI shows it
# with --output-json, in $diag_answer (call it in this shell).
agent_diag() {
	agent_ask diag "$1"
	diag_answer=${agent_answer#'{"diag": '}
	diag_answer=${diag_answer%'}'}
}

# Joining the tlshd group takes CAP_NET_ADMIN: an unprivileged process gets
# EPERM, hears no READY, and while it tries to listen a submit still finds
# no agent (-ESRCH) instead of queueing for nobody. (The C service lets it
# join, and the consumer then waits for its own timeout.)
unprivileged_listener() {
	dmesg -C
	local gid out
	gid=$(genl ctrl get name handshake | grep -oE 'ID-0x[0-9a-f]+ +name: tlshd' |
		grep -oE '0x[0-9a-f]+')
	[ -n "$gid" ] || { echo "no tlshd group"; return 1; }
	if out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
		"${ynl_cli[@]}" --spec "$ksrc/Documentation/netlink/specs/handshake.yaml" \
		--subscribe tlshd --sleep 1 2>&1); then
		echo "an unprivileged YNL CLI joined: $out"
		return 1
	fi
	echo "$out" | grep -q 'Operation not permitted' || { echo "wrong error: $out"; return 1; }
	# A listener that keeps its socket open while the consumer submits.
	setpriv --reuid=65534 --regid=65534 --clear-groups python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
s.bind((0, 0))
try:
    s.setsockopt(270, 1, int(sys.argv[1], 16))
    print("joined", flush=True)
except OSError as e:
    print("errno", e.errno, flush=True)
time.sleep(8)' "$gid" > listener.out &
	local listener=$! i
	for i in $(seq 50); do [ -s listener.out ] && break; sleep 0.1; done
	note "unprivileged listener: $(cat listener.out)"
	[ "$(cat listener.out)" = "errno 1" ] || { kill $listener; return 1; }
	! insmod "$dir/hs_consumer.ko" port=4433 2>/dev/null
	kill $listener
	wait $listener 2>/dev/null
	klog
	klog | grep -q 'submit -3$'
}

# tlshd restarts with a request pending: the scripted agent heard its READY
# and went away without accepting it. The real tlshd that starts next hears
# READY again when it joins the group, and the handshake completes.
ready_again() {
	dmesg -C
	agent_start || return 1
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 || { agent_stop; return 1; }
	agent_ask wait-ready
	[ "$(agent_json ready.handler-class)" = tlshd ] || { agent_stop; return 1; }
	agent_stop
	trace_only handshake_ready_again
	local t0 t1
	t0=$(date +%s%N)
	start_tlshd ca.pem
	wait_klog 'done status=' 30
	t1=$(date +%s%N)
	stop_tlshd
	note "completed $(((t1 - t0) / 1000000)) ms after tlshd started; $(trace_lines)"
	klog
	rmmod hs_consumer || return 1
	[ "$(klog | grep -c 'done status=')" = 1 ] || return 1
	klog | grep -q 'done status=0 ' || return 1
	trace_lines | grep -qE 'handshake_ready_again: .* 1$'
}

# An agent newer than the spec sends DONE with attributes the module does
# not know: the request completes with the status it carries, once, and the
# unknown attributes are traced. Known attributes are still validated
# strictly: with a malformed status the DONE is refused and the request
# stays as it was.
done_newer() {
	dmesg -C
	trace_only handshake_cmd_done_unknown_attrs
	agent_start || return 1
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 || { agent_stop; return 1; }
	agent_ask wait-ready
	agent_ask accept
	local fd bad good
	fd=$(agent_json reply.sockfd) || { agent_stop; return 1; }
	agent_ask done-newer "$fd" 0 bad
	bad=$(agent_json errno)
	agent_ask done-newer "$fd" 0
	good=$(agent_json errno)
	agent_ask close
	agent_stop
	note "DONE with a malformed status: $bad, well formed: $good; $(trace_lines)"
	klog
	rmmod hs_consumer || return 1
	[ "$bad" = 22 ] && [ "$good" = 0 ] || return 1
	[ "$(klog | grep -c 'done status=')" = 1 ] || return 1
	klog | grep -q 'done status=0 ' || return 1
	[ "$(trace_lines | grep -c 'handshake_cmd_done_unknown_attrs:')" = 1 ] || return 1
	trace_lines | grep -qE 'handshake_cmd_done_unknown_attrs: .* 2$'
}

# The policy the family reports (CTRL_CMD_GETPOLICY over every operation)
# is exactly upstream's: tolerating unknown DONE attributes adds nothing to
# it, so an agent that probes it learns what the module understands.
policy_dump() {
	local out
	out=$("${ynl_cli[@]}" --spec "$ksrc/Documentation/netlink/specs/nlctrl.yaml" \
		--dump getpolicy --json '{"family-name": "handshake"}' --output-json) ||
		return 1
	echo "$out"
	python3 - "$out" <<'PY'
import json, sys
msgs = json.loads(sys.argv[1])
ops, tables = {}, {}


def entries(value):
    return value if isinstance(value, list) else [value]


# The YNL library gives a type-value nest as its keys beside its attributes
# ({"op-id": 3, "do": 1}) or nested under them ({"3": {"do": 1}}).
for m in msgs:
    for op in entries(m.get('op-policy', [])):
        if 'op-id' in op:
            ops[op['op-id']] = {k: v for k, v in op.items() if k != 'op-id'}
        else:
            for cmd, pol in op.items():
                ops[int(cmd)] = pol
    for pol in entries(m.get('policy', [])):
        if 'policy-id' in pol:
            desc = {k: v for k, v in pol.items() if k not in ('policy-id', 'attr-id')}
            tables.setdefault(pol['policy-id'], {})[pol['attr-id']] = desc
        else:
            for idx, attrs in pol.items():
                for attr, desc in attrs.items():
                    tables.setdefault(int(idx), {})[int(attr)] = desc
print('operations', ops, 'policies', tables)
# ACCEPT (2) and DONE (3), each with a do policy and no dump policy.
assert sorted(ops) == [2, 3], ops
assert all(list(p) == ['do'] for p in ops.values()), ops
accept, done = tables[ops[2]['do']], tables[ops[3]['do']]
assert sorted(accept) == [2], accept
assert accept[2]['type'] == 'u32' and accept[2]['max-value-u'] == 2, accept
assert sorted(done) == [1, 2, 3], done
assert done[1]['type'] == 'u32' and done[1]['max-value-u'] == 4095, done
assert done[2]['type'] == 's32', done
assert done[3]['type'] == 'u32' and done[3]['max-value-u'] == 2**32 - 1, done
PY
}

# The flags genl shows for ACCEPT and DONE: 0xb is GENL_ADMIN_PERM, 0x1a
# GENL_UNS_ADMIN_PERM (with GENL_CMD_CAP_DO and GENL_CMD_CAP_HASPOL).
userns_caps() {
	genl ctrl get name handshake | grep -oE 'Capabilities \(0x[0-9a-f]+\)' | tr '\n' ' '
}

# Containers, opt-in: a tlshd with its own user and network namespaces (a
# container's root, with CAP_NET_ADMIN over its user namespace only) serves
# the consumers of its network namespace once the host sets that
# namespace's net.handshake.agent_userns to 1, which the container's root
# cannot do itself. Before, its ACCEPT is refused as upstream refuses it and
# the request times out; the family is upstream's to the bit. After the
# first opt-in the family reports ACCEPT and DONE as GENL_UNS_ADMIN_PERM
# until the module is unloaded, and the operations refuse on their own the
# root of another container, which did not opt in.
userns_agent() {
	dmesg -C
	local holder ctl tlshd_c serv_c out uns_accept uns_done
	local spec=$ksrc/Documentation/netlink/specs/handshake.yaml
	unshare --user --map-root-user --net sleep infinity &
	holder=$!
	for _ in $(seq 50); do
		[ "$(readlink "/proc/$holder/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.1
	done
	# in_ns: the host's root in the container's network namespace;
	# as_ctr: the container's root.
	in_ns() { nsenter -t "$holder" -n "$@"; }
	as_ctr() { nsenter -t "$holder" -U -n "$@"; }
	userns_done() {
		rmmod hs_consumer 2>/dev/null
		[ -n "$tlshd_c" ] && kill "$tlshd_c" 2>/dev/null && wait "$tlshd_c" 2>/dev/null
		[ -n "$serv_c" ] && kill "$serv_c" 2>/dev/null && wait "$serv_c" 2>/dev/null
		kill "$holder"
		wait "$holder" 2>/dev/null
		return "$1"
	}
	in_ns ip link set lo up || userns_done 1 || return 1
	in_ns sysctl -qw net.handshake.deadline_grace_ms=0 || userns_done 1 || return 1
	nsenter -t "$holder" -n gnutls-serv --echo --x509certfile="$dir/certs/server.pem" \
		--x509keyfile="$dir/certs/server.key" -p 4433 > serv-ctr.log 2>&1 &
	serv_c=$!
	in_ns bash -c ". /mnt/src/tools/testing/e2e/peers.sh; wait_port 4433" ||
		userns_done 1 || return 1
	# The container's root sets the namespace's other settings, not this one.
	ctl=$(in_ns sysctl -n net.handshake.agent_userns)
	as_ctr sysctl -qw net.handshake.pending_max=5 ||
		{ echo "the container's root cannot set pending_max"; userns_done 1; return 1; }
	out=$(as_ctr sysctl -w net.handshake.agent_userns=1 2>&1) &&
		{ echo "the container's root opted in: $out"; userns_done 1; return 1; }
	note "agent_userns in the container's namespace: $ctl; its root writing 1: $out"
	[ "$ctl" = 0 ] && [ "$(in_ns sysctl -n net.handshake.agent_userns)" = 0 ] ||
		userns_done 1 || return 1
	echo "$out" | grep -q 'Operation not permitted' || userns_done 1 || return 1
	# tlshd as the container's root; it has joined the tlshd group there.
	tlshd_conf ca.pem
	nsenter -t "$holder" -U -n tlshd -s > tlshd-ctr.log 2>&1 &
	tlshd_c=$!
	wait_tlshd "$tlshd_c"
	[ "$(userns_caps)" = 'Capabilities (0xb) Capabilities (0xb) ' ] ||
		{ echo "before the opt-in: $(userns_caps)"; userns_done 1; return 1; }
	# Not opted in: tlshd hears READY, its ACCEPT is refused (tlshd logs
	# the EPERM), the request stays pending until its deadline.
	in_ns insmod "$dir/hs_consumer.ko" port=4433 wait=0 timeout_ms=1500 here=1 ||
		userns_done 1 || return 1
	wait_klog 'done status=' 10
	rmmod hs_consumer
	klog
	note "not opted in: $(klog | grep -o 'done status=.*');" \
		"tlshd: $(grep -o 'nl_recvmsgs: .*' tlshd-ctr.log)"
	klog | grep -q 'done status=-110 ' || userns_done 1 || return 1
	[ "$(grep -c 'nl_recvmsgs: Operation not permitted' tlshd-ctr.log)" = 1 ] ||
		{ cat tlshd-ctr.log; userns_done 1; return 1; }
	# The host opts the namespace in: the container's tlshd completes the
	# next request, a handshake with data over kTLS.
	in_ns sysctl -qw net.handshake.agent_userns=1 || userns_done 1 || return 1
	note "after the opt-in: $(userns_caps)"
	[ "$(userns_caps)" = 'Capabilities (0x1a) Capabilities (0x1a) ' ] ||
		userns_done 1 || return 1
	dmesg -C
	in_ns insmod "$dir/hs_consumer.ko" port=4433 here=1 || userns_done 1 || return 1
	rmmod hs_consumer
	klog
	note "opted in: $(klog | grep -o 'done status=.*');" \
		"tlshd: $(grep -o 'Handshake with .*successful' tlshd-ctr.log)"
	klog | grep -q 'done status=0 ' && klog | grep -q 'echo "hello over ktls"' ||
		{ cat tlshd-ctr.log; userns_done 1; return 1; }
	# Another container, which did not opt in: the core now lets its root
	# through (GENL_UNS_ADMIN_PERM), and ACCEPT and DONE refuse it themselves
	# with the core's EPERM (not EAGAIN for nothing pending, nor ENOTSOCK).
	uns_accept=$(unshare --user --map-root-user --net "${ynl_cli[@]}" --spec "$spec" \
		--do accept --json '{"handler-class": 1}' 2>&1 | tail -1)
	uns_done=$(unshare --user --map-root-user --net "${ynl_cli[@]}" --spec "$spec" \
		--do done --json '{"status": 0, "sockfd": 0}' 2>&1 | tail -1)
	note "another container's root: ACCEPT $uns_accept; DONE $uns_done"
	[ "$uns_accept" = 'Netlink error: Operation not permitted' ] &&
		[ "$uns_done" = 'Netlink error: Operation not permitted' ] || userns_done 1 || return 1
	userns_done 0 || return 1
	# The loosened permission lasts until the module is unloaded.
	rmmod handshake && insmod "$dir/handshake.ko" || return 1
	note "reloaded: $(userns_caps)"
	[ "$(userns_caps)" = 'Capabilities (0xb) Capabilities (0xb) ' ]
}

# The limit of pending requests is a setting of each namespace,
# net.handshake.pending_max: it starts at the module's parameter (or, with
# 0, the C service's memory formula), takes effect for the next submit when
# written, and is the namespace's own. (The C service's limit is fixed.)
pending_max() {
	dmesg -C
	local def other
	def=$(sysctl -n net.handshake.pending_max) || return 1
	other=$(unshare -n sysctl -n net.handshake.pending_max) || return 1
	[ "$def" = "$other" ] || { echo "initial namespace $def, a new one $other"; return 1; }
	! sysctl -qw net.handshake.pending_max=0 2>/dev/null || { echo "0 was taken"; return 1; }
	! sysctl -qw net.handshake.pending_max=4097 2>/dev/null || { echo "4097 was taken"; return 1; }
	! setpriv --reuid=65534 --regid=65534 --clear-groups \
		sysctl -qw net.handshake.pending_max=9 2>/dev/null || { echo "nobody wrote it"; return 1; }
	sysctl -qw net.handshake.pending_max=1 || return 1
	other=$(unshare -n sysctl -n net.handshake.pending_max)
	[ "$other" = "$def" ] || { echo "a new namespace got $other"; return 1; }
	agent_start || return 1
	# One request pending: the second is refused, until the limit is raised.
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 || { agent_stop; return 1; }
	insmod "$dir/hs_consumer2.ko" port=4433 wait=0 2>/dev/null && { agent_stop; return 1; }
	sysctl -qw net.handshake.pending_max=2 || { agent_stop; return 1; }
	insmod "$dir/hs_consumer2.ko" port=4433 wait=0 || { agent_stop; return 1; }
	rmmod hs_consumer hs_consumer2
	agent_stop
	sysctl -qw net.handshake.pending_max="$def"
	klog
	[ "$(klog | grep -c 'submit ')" = 3 ] || return 1
	[ "$(klog | grep 'submit ' | awk '{print $NF}' | tr '\n' ' ')" = "0 -11 0 " ] || return 1
	# The module's parameter is the initial value of every namespace.
	rmmod handshake && insmod "$dir/handshake.ko" pending_max=7 || return 1
	def=$(sysctl -n net.handshake.pending_max)
	other=$(unshare -n sysctl -n net.handshake.pending_max)
	rmmod handshake && insmod "$dir/handshake.ko" || return 1
	note "with pending_max=7: $def here, $other in a new namespace"
	[ "$def" = 7 ] && [ "$other" = 7 ]
}

# The counters of the caller's namespace, from the module's own family
# handshake-diag with the YNL CLI and the repository's spec, count each
# outcome once: a submit refused for want of an agent, two requests accepted
# and completed by DONE (one successful with two attributes newer than the
# spec, one failed with EACCES), one whose ACCEPT reply failed, one
# cancelled while pending. A new
# namespace has counters of its own; an unprivileged caller gets EPERM.
stats() {
	"${ynl_cli[@]}" --spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
		--do stats-get --output-json
}
counters() {
	dmesg -C
	local before after fd out
	before=$(stats) || return 1
	insmod "$dir/hs_consumer.ko" port=4433 2>/dev/null && return 1
	agent_start || return 1
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 || { agent_stop; return 1; }
	agent_ask wait-ready
	agent_ask accept
	fd=$(agent_json reply.sockfd) || { agent_stop; return 1; }
	agent_ask done-newer "$fd" 0
	insmod "$dir/hs_consumer2.ko" port=4433 wait=0 || { agent_stop; return 1; }
	agent_ask wait-ready
	agent_ask accept
	fd=$(agent_json reply.sockfd) || { agent_stop; return 1; }
	agent_ask done "$fd" 13
	agent_ask close
	rmmod hs_consumer hs_consumer2
	# An ACCEPT whose reply cannot be made (the consumer's keyring does not
	# exist): the request completes with EIO.
	insmod "$dir/hs_consumer2.ko" port=4433 wait=0 keyring=2147483000 ||
		{ agent_stop; return 1; }
	agent_ask wait-ready
	agent_ask accept
	[ "$(agent_json error)" = 126 ] || { agent_stop; return 1; }
	rmmod hs_consumer2
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 || { agent_stop; return 1; }
	agent_ask wait-ready
	rmmod hs_consumer
	agent_diag stats-get
	after=$diag_answer
	agent_stop
	klog
	note "counters before: $before"
	note "counters after: $after"
	python3 - "$before" "$after" <<'PY' || return 1
import json, sys
b, a = (json.loads(x) for x in sys.argv[1:3])
def by_errno(s, key):
    return {e.get('errno', -1): e['count'] for e in s.get(key, [])}
def delta(key):
    return a[key] - b[key]
def delta_errnos(key):
    x, y = by_errno(b, key), by_errno(a, key)
    d = {k: y[k] - x.get(k, 0) for k in y}
    return {k: v for k, v in d.items() if v}
got = {k: delta(k) for k in ('submitted', 'accepted', 'cancelled', 'drained',
                             'unknown-done-attrs', 'accept-failed')}
assert got == {'submitted': 4, 'accepted': 2, 'cancelled': 1, 'drained': 0,
               'unknown-done-attrs': 2, 'accept-failed': 1}, got
assert delta_errnos('refused') == {3: 1}, delta_errnos('refused')
assert delta_errnos('done') == {0: 1, 13: 1}, delta_errnos('done')
assert a['pending'] == 0 and a['pending-max'] >= 1, a
PY
	out=$(unshare -n "${ynl_cli[@]}" --spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
		--do stats-get --output-json) || return 1
	echo "$out" | python3 -c 'import json, sys
s = json.load(sys.stdin)
assert s["submitted"] == 0 and "refused" not in s, s' || { echo "a new namespace: $out"; return 1; }
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "${ynl_cli[@]}" \
		--spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml --do stats-get 2>&1) &&
		{ echo "nobody read the counters: $out"; return 1; }
	echo "$out" | grep -q 'Operation not permitted' || { echo "nobody: $out"; return 1; }
}

# The kernel owns a deadline for every request: the consumer's timeout plus
# net.handshake.deadline_grace_ms. A request nobody accepts completes with
# ETIMEDOUT once, then; the consumer's later cancel finds it done.
deadline_pending() {
	dmesg -C
	local grace t0 t1
	grace=$(sysctl -n net.handshake.deadline_grace_ms) || return 1
	sysctl -qw net.handshake.deadline_grace_ms=0 || return 1
	trace_only handshake_timed_out
	agent_start || return 1
	t0=$(date +%s%N)
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 timeout_ms=600 || { agent_stop; return 1; }
	wait_klog 'done status=' 10
	t1=$(date +%s%N)
	sleep 1
	rmmod hs_consumer
	agent_stop
	sysctl -qw net.handshake.deadline_grace_ms="$grace"
	klog
	note "pending request completed $(((t1 - t0) / 1000000)) ms after a submit with a 600 ms timeout; $(trace_lines)"
	[ "$(trace_lines | grep -c 'handshake_timed_out:')" = 1 ] || return 1
	[ "$(klog | grep -c 'done status=')" = 1 ] || return 1
	klog | grep -q 'done status=-110 ' || return 1
	klog | grep -q 'exit cancel=0'
}

# The same for an accepted request whose agent never answers: ETIMEDOUT
# once; the agent's late DONE is then taken as a DONE after a cancel is
# (answered 0, the consumer not called again).
deadline_accepted() {
	dmesg -C
	local grace fd before after
	grace=$(sysctl -n net.handshake.deadline_grace_ms) || return 1
	sysctl -qw net.handshake.deadline_grace_ms=0 || return 1
	agent_start || return 1
	agent_diag stats-get
	before=$diag_answer
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 timeout_ms=1500 || { agent_stop; return 1; }
	agent_ask wait-ready
	agent_ask accept
	fd=$(agent_json reply.sockfd) || { agent_stop; return 1; }
	wait_klog 'done status=' 10
	agent_ask done "$fd" 0
	local late=$agent_answer
	agent_ask close
	agent_diag stats-get
	after=$diag_answer
	agent_stop
	rmmod hs_consumer
	sysctl -qw net.handshake.deadline_grace_ms="$grace"
	klog
	note "late DONE: $late"
	[ "$late" = '{}' ] || return 1
	[ "$(klog | grep -c 'done status=')" = 1 ] || return 1
	klog | grep -q 'done status=-110 ' || return 1
	python3 - "$before" "$after" <<'PY'
import json, sys
b, a = (json.loads(x) for x in sys.argv[1:3])
assert a['timed-out'] - b['timed-out'] == 1, (b, a)
assert a['accepted'] - b['accepted'] == 1, (b, a)
PY
}

# tlshd's child is killed in the middle of a handshake (a server that
# accepts the connection and never answers keeps it busy): the consumer
# hears EIO within a second of the kill, long before its own 30 s timeout
# or the deadline.
agent_death() {
	dmesg -C
	local silent child t0 t1 ms before after
	python3 -c 'import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 4434))
s.listen(4)
held = []
while True:
    held.append(s.accept()[0])' &
	silent=$!
	wait_port 4434 || { kill $silent; return 1; }
	before=$(stats) || return 1
	trace_only handshake_agent_died
	start_tlshd ca.pem
	insmod "$dir/hs_consumer.ko" port=4434 wait=0 timeout_ms=30000 ||
		{ stop_tlshd; kill $silent; return 1; }
	for _ in $(seq 100); do
		child=$(pgrep -P "$tlshd_pid" | head -1)
		[ -n "$child" ] && break
		sleep 0.1
	done
	[ -n "$child" ] || { echo "no tlshd child"; stop_tlshd; kill $silent; return 1; }
	sleep 0.5
	# Both moments by the kernel's clock: a mark in its log right before the
	# kill, and the consumer's line.
	echo "extensions: killing tlshd child $child" > /dev/kmsg
	kill -9 "$child"
	wait_klog 'done status=' 10
	ms=$(dmesg | awk -F'[][]' '/extensions: killing tlshd child/ { t0 = $2 }
		/hs_consumer: done status=/ { t1 = $2 }
		END { if (t0 && t1) printf "%d", (t1 - t0) * 1000; else print 99999 }')
	stop_tlshd
	kill $silent
	rmmod hs_consumer
	after=$(stats) || return 1
	klog
	note "agent death: the consumer heard after $ms ms; $(trace_lines)"
	[ "$(trace_lines | grep -c 'handshake_agent_died:')" = 1 ] || return 1
	trace_lines | grep -qE "handshake_agent_died: .* $child\$" || return 1
	echo "# agent_death_fails_fast: consumer completed $ms ms after tlshd's child was killed"
	[ "$(klog | grep -c 'done status=')" = 1 ] || return 1
	klog | grep -q 'done status=-5 ' || return 1
	[ "$ms" -lt 1000 ] || return 1
	python3 - "$before" "$after" <<'PY'
import json, sys
b, a = (json.loads(x) for x in sys.argv[1:3])
assert a['agent-died'] - b['agent-died'] == 1, (b, a)
PY
}

# The requests of the caller's namespace, dumped from the module's family
# handshake-diag (request-get) with the YNL CLI: two consumers' requests
# pending, then the older one accepted by the scripted agent (with the
# agent's pid), then completed by its DONE while its consumer still holds
# the socket, then none once the consumers released their sockets. Each is
# shown with its consumer (the module of its callback), peer name, timeout,
# authentication and deadline. Another namespace sees none of them; an
# unprivileged caller gets EPERM.
requests() {
	"${ynl_cli[@]}" --spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
		--dump request-get --output-json
}
dump_requests() {
	dmesg -C
	local pending accepted completed after other fd out agent
	agent_start || return 1
	agent=$_agent_pid
	insmod "$dir/hs_consumer.ko" port=4433 wait=0 peername=server.example \
		timeout_ms=60000 || { agent_stop; return 1; }
	insmod "$dir/hs_consumer2.ko" port=4433 wait=0 timeout_ms=0 ||
		{ rmmod hs_consumer; agent_stop; return 1; }
	pending=$(requests)
	other=$(unshare -n "${ynl_cli[@]}" \
		--spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
		--dump request-get --output-json)
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "${ynl_cli[@]}" \
		--spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
		--dump request-get 2>&1)
	agent_ask wait-ready
	agent_ask accept
	fd=$(agent_json reply.sockfd)
	agent_diag request-get
	accepted=$diag_answer
	agent_ask done "$fd" 0
	agent_diag request-get
	completed=$diag_answer
	agent_ask close
	rmmod hs_consumer hs_consumer2
	# The sockets are destroyed once TCP is done with them.
	for _ in 1 2 3 4 5; do
		agent_diag request-get
		after=$diag_answer
		[ "$after" = '[]' ] && break
		sleep 1
	done
	agent_stop
	note "pending: $pending"
	note "accepted: $accepted"
	note "completed: $completed"
	note "after release: $after; another namespace: $other; nobody: $out"
	echo "$out" | grep -q 'Operation not permitted' || return 1
	python3 - "$pending" "$accepted" "$completed" "$after" "$other" "$agent" \
		"$(sysctl -n net.handshake.deadline_grace_ms)" \
		"$(sysctl -n net.handshake.default_timeout_ms)" <<'PY'
import json, sys
pending, accepted, completed, after, other = (json.loads(x) for x in sys.argv[1:6])
agent, grace, default = (int(x) for x in sys.argv[6:9])
assert after == [] and other == [], (after, other)
# Live requests come first, in the order of their submits, then completed ones.
for dump in (pending, accepted, completed):
    assert len(dump) == 2, dump
    by = {r['consumer']: r for r in dump}
    first, second = by['hs_consumer'], by['hs_consumer2']
    for r in dump:
        assert r['handler-class'] == 'tlshd' and r['auth-mode'] == 'unauth', r
        assert r['callback'] == 'hs_consumer_done', r
    assert first['peername'] == 'server.example', first
    assert second['peername'] == 'localhost', second
    assert first['timeout-ms'] == 60000 and second['timeout-ms'] == 0, dump
    assert 0 <= second['age-ms'] <= first['age-ms'], dump
    assert second['state'] == 'pending' and 'agent-pid' not in second, second
    # The deadline is the consumer's timeout, or the namespace's default, plus
    # the grace, from the submit: age and time left add up to it.
    assert abs(second['age-ms'] + second['deadline-ms'] - (default + grace)) <= 2, second
order = [[r['consumer'] for r in d] for d in (pending, accepted, completed)]
assert order == [['hs_consumer', 'hs_consumer2']] * 2 + [['hs_consumer2', 'hs_consumer']], order
first = [d[order[i].index('hs_consumer')] for i, d in enumerate((pending, accepted, completed))]
assert [r['state'] for r in first] == ['pending', 'accepted', 'completed'], first
assert 'agent-pid' not in first[0] and 'agent-pid' not in first[2], first
assert first[1]['agent-pid'] == agent, (first[1], agent)
for r in first[:2]:
    assert abs(r['age-ms'] + r['deadline-ms'] - (60000 + grace)) <= 2, r
assert 'deadline-ms' not in first[2], first[2]
PY
}

ktap_suite handshake_extensions 11
gnutls-serv --echo --x509certfile="$dir/certs/server.pem" \
	--x509keyfile="$dir/certs/server.key" -p 4433 > serv.log 2>&1 &
wait_port 4433
ktap_check unprivileged_listener_does_not_count unprivileged_listener
ktap_check ready_resent_when_agent_joins ready_again
ktap_check done_with_unknown_attribute_completes done_newer
ktap_check policy_dump_is_exact policy_dump
ktap_check pending_max_per_namespace pending_max
ktap_check dump_lists_pending_and_accepted dump_requests
ktap_check counters_count_each_outcome counters
ktap_check deadline_completes_pending_once deadline_pending
ktap_check deadline_completes_accepted_once deadline_accepted
ktap_check agent_death_fails_fast agent_death
ktap_check userns_agent_opt_in userns_agent
ktap_end
