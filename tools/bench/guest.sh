#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: one round of "make bench" on one service. hs_bench.ko is the
# kernel consumer, hs-agent the null agent (ACCEPT, DONE 0, close), tlshd
# the real one; each workload appends one JSON object per row to
# /mnt/run/out/rows.jsonl (scripts/bench.sh turns them into the report).
#
# usage: guest.sh SERVICE ROUND WORKLOADS HANDSHAKES
#   SERVICE     module (handshake.ko is in the files) or c (built in)
#   WORKLOADS   comma-separated: floor,closed,netns,backlog,slab,tlshd
#   HANDSHAKES  handshakes per closed-loop row, in all
set -u
files=/mnt/run/files
out=/mnt/run/out
ctl=/proc/hs_bench
service=$1 round=$2 workloads=$3 per_row=${4:-2000}
mkdir -p "$out" /tmp/bench
rows=$out/rows.jsonl
fail=0

say() { echo "bench: $*"; }
bad() { echo "bench: FAILED: $*"; fail=1; }
want() { case ",$workloads," in *",$1,"*) return 0 ;; esac; return 1; }

# row WORKLOAD JSON-FIELDS RESULT: one row, with the consumer's figures.
row() {
	printf '{"service":"%s","round":%s,"workload":"%s",%s,"result":%s}\n' \
		"$service" "$round" "$1" "$2" "$3" >> "$rows"
}

# The kernel's kmalloc memory in use, in bytes: objects in use times their
# size, over the general caches both services allocate from (not the
# reclaimable ones, which other activity moves).
slab_bytes() {
	awk '$1 ~ /^kmalloc-[0-9]+k?$/ { s += $2 * $4 } END { printf "%d\n", s }' /proc/slabinfo
}

# in_ns NS CMD...: run CMD in network namespace NS ("" is the initial one).
# nsenter executes CMD in its own process, so a CMD started in the
# background is the process $! names.
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then exec nsenter --net="/run/netns/$ns" "$@"; else exec "$@"; fi
}

agent_pids=()
# agents NS N [ARGS...]: start N null agents in namespace NS.
agents() {
	local ns=$1 n=$2 i
	shift 2
	for i in $(seq "$n"); do
		(in_ns "$ns" "$files/hs-agent" --mix done_ok=1 --seed "$i" --ready-wait 0 "$@" \
			>> /tmp/bench/agents.json 2>> /tmp/bench/agents.err) &
		agent_pids+=($!)
	done
}
# listeners NS: a program in the tlshd group that accepts nothing, so that
# submits find an agent while requests are to stay pending.
listeners() {
	(in_ns "$1" "$files/hs-agent" --listen > /tmp/bench/listen.out 2>&1) &
	agent_pids+=($!)
}
# Every agent must be gone before the next row: one left behind would
# serve it too.
stop_agents() {
	[ ${#agent_pids[@]} = 0 ] && return
	kill -TERM "${agent_pids[@]}" 2>/dev/null
	wait "${agent_pids[@]}" 2>/dev/null
	agent_pids=()
	! pgrep -x hs-agent > /dev/null || bad "agents still running: $(pgrep -x hs-agent | wc -l)"
}
# Agents join the group when they start; give them the time to.
settle() { sleep "${1:-0.5}"; }

# bench CMD...: a command to the consumer; a refusal fails the round.
bench() { echo "$*" > "$ctl" || { bad "'$*' refused"; return 1; }; }
result() { tr -d '\n' < "$ctl"; }
# ok_all EXPECTED: the run's requests all ended with status 0.
ok_all() {
	local r ok
	r=$(result)
	ok=$(echo "$r" | sed -n 's/.*"ok":\([0-9]*\).*/\1/p')
	[ "$ok" = "$1" ] || bad "$2: $ok of $1 handshakes succeeded: $r"
}

namespaces() {
	local i
	for i in $(seq "$1"); do [ -e "/run/netns/b$i" ] || ip netns add "b$i"; done
}

if [ "$service" = module ]; then
	insmod "$files/handshake.ko" || { echo "bench: FAILED: insmod handshake.ko"; exit 1; }
fi
insmod "$files/hs_bench.ko" || { echo "bench: FAILED: insmod hs_bench.ko"; exit 1; }
say "$service, round $round, $(nproc) CPUs, kernel $(uname -r)"

# A short closed loop first, not measured: caches, slabs and the agent's
# binary are warm for every row that follows.
agents "" 2
settle
bench add 2 100 && bench go && bench wait
stop_agents
bench reset

if want floor; then
	r=$("$files/hs-floor" --rounds 2000) || bad "hs-floor failed"
	row floor '"threads":1,"agents":1,"namespaces":1' "${r:-null}"
fi

# Closed loop: THREADS consumer threads making handshakes back to back
# against AGENTS null agents.
closed() {
	local threads=$1 nagents=$2 count=$((per_row / $1))
	agents "" "$nagents"
	settle
	bench add "$threads" "$count" && bench go && bench wait
	stop_agents
	ok_all $((threads * count)) "closed $threads/$nagents"
	row closed "\"threads\":$threads,\"agents\":$nagents,\"namespaces\":1" "$(result)"
	bench reset
}
if want closed; then
	for t in 1 2 4 8; do
		for a in 1 2 4 8; do closed "$t" "$a"; done
	done
fi

# Many namespaces: one consumer thread and one agent in each of N.
if want netns; then
	for n in 1 16 128; do
		namespaces "$n"
		count=$((per_row / n))
		[ "$count" -lt 32 ] && count=32
		for i in $(seq "$n"); do agents "b$i" 1; done
		settle 1
		for i in $(seq "$n"); do (in_ns "b$i" sh -c "echo add 1 $count > $ctl") ||
			bad "add in b$i refused"; done
		bench go && bench wait
		stop_agents
		ok_all $((n * count)) "netns $n"
		row netns "\"threads\":$n,\"agents\":$n,\"namespaces\":$n" "$(result)"
		bench reset
	done
fi

# drained WORKLOAD NAMESPACES PER AGENTS: PER requests pending at once in
# the initial namespace (NAMESPACES 0) or in each of NAMESPACES new ones,
# submitted together, then drained by AGENTS agents in each. The sockets
# are made first, so the kmalloc bytes read around the submit are the
# requests'. The throughput that counts is the drain's (first to last
# ta_done).
drained() {
	local workload=$1 n=$2 per=$3 nagents=$4 ns total before after
	local nss=("")
	if [ "$n" -gt 0 ]; then
		namespaces "$n"
		mapfile -t nss < <(seq -f 'b%g' "$n")
	fi
	total=$((${#nss[@]} * per))
	for ns in "${nss[@]}"; do listeners "$ns"; done
	settle 1
	for ns in "${nss[@]}"; do
		(in_ns "$ns" sh -c "echo hold $per > $ctl") || bad "hold $per in '$ns' refused"
	done
	sleep 1
	before=$(slab_bytes)
	bench go
	sleep 1
	after=$(slab_bytes)
	for ns in "${nss[@]}"; do agents "$ns" "$nagents"; done
	bench wait
	stop_agents
	ok_all "$total" "$workload $total"
	row "$workload" "\"pending\":$total,\"agents\":$((nagents * ${#nss[@]})),\"namespaces\":${#nss[@]},\"slab_before\":$before,\"slab_after\":$after,\"bytes_per_request\":$(((after - before) / total))" "$(result)"
	bench reset
}
# Backlog: 50 pending requests in one namespace, drained by 4 agents.
want backlog && drained backlog 0 50 4
# Slab memory per pending request: 32 namespaces with 50 each.
want slab && drained slab 32 50 1

# The real tlshd against gnutls-serv: anonymous (the server's certificate
# checked) and x509 (a client certificate from tlshd's configuration too).
if want tlshd; then
	. /mnt/src/tools/testing/e2e/pki.sh
	. /mnt/src/tools/testing/e2e/peers.sh
	cp -r "$files/pki" /tmp/pki
	write_tlshd_conf /tmp/pki > /etc/tlshd.conf
	gnutls-serv -p 4433 --x509cafile=/tmp/pki/ca.pem --x509certfile=/tmp/pki/server.pem \
		--x509keyfile=/tmp/pki/server.key > /tmp/bench/serv-anon.log 2>&1 &
	gnutls-serv -p 4436 --x509cafile=/tmp/pki/ca.pem --x509certfile=/tmp/pki/server.pem \
		--x509keyfile=/tmp/pki/server.key --require-client-cert \
		--verify-client-cert > /tmp/bench/serv-x509.log 2>&1 &
	wait_port 4433 && wait_port 4436 || bad "gnutls-serv did not start"
	tlshd -s -c /etc/tlshd.conf > /tmp/bench/tlshd.log 2>&1 &
	tlshd_pid=$!
	wait_tlshd "$tlshd_pid"
	tls_count=20
	for mode in anon:4433 x509:4436; do
		auth=${mode%:*} port=${mode#*:}
		bench add 2 $((tls_count / 2)) "$auth" "$port" localhost && bench go && bench wait
		ok_all "$tls_count" "tlshd $auth"
		row tlshd "\"auth\":\"$auth\",\"threads\":2,\"agents\":1,\"namespaces\":1" "$(result)"
		bench reset
	done
	kill "$tlshd_pid"
	wait "$tlshd_pid" 2>/dev/null
	[ $fail = 0 ] || tail -20 /tmp/bench/tlshd.log
fi

rmmod hs_bench || bad "rmmod hs_bench"
# The module alone can be given a deeper queue: 1000 pending requests in
# one namespace, drained by 4 agents.
if want backlog && [ "$service" = module ]; then
	rmmod handshake && insmod "$files/handshake.ko" pending_max=1000 &&
		insmod "$files/hs_bench.ko" || bad "reloading handshake.ko with pending_max=1000"
	drained backlog 0 1000 4
	rmmod hs_bench
fi
[ -s /tmp/bench/agents.err ] && { echo "agent errors:"; sort /tmp/bench/agents.err | uniq -c | head; }
mkdir -p "$out/logs" && cp /tmp/bench/* "$out/logs/" 2>/dev/null
say "round done, $(wc -l < "$rows") rows"
[ $fail = 0 ] && echo "handshake-bench-ok"
exit $fail
