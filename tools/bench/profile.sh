#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: where a handshake's time goes in the service, for
# "make bench BENCH_FLAGS=--profile" (scripts/bench.sh --profile). One
# consumer thread and one null agent make HANDSHAKES handshakes while the
# kernel's function profiler (ftrace) times the service's C functions and
# the kernel functions both services call; then 20 times as many while perf
# samples every CPU, which also sees the module's Rust functions. The
# profiles go to /mnt/run/out/profile-SERVICE.txt.
#
# usage: profile.sh SERVICE HANDSHAKES
set -u
files=/mnt/run/files
out=/mnt/run/out
ctl=/proc/hs_bench
service=$1 count=${2:-2000}
tr=/sys/kernel/tracing
mkdir -p "$out" /tmp/bench

[ "$service" = module ] && { insmod "$files/handshake.ko" || exit 1; }
insmod "$files/hs_bench.ko" || exit 1
mountpoint -q "$tr" || mount -t tracefs nodev "$tr"

# The service's own functions, and what both services call on the way.
{
	if [ "$service" = module ]; then
		echo ':mod:handshake'
	else
		grep -E '^(handshake_|tls_handshake_|tls_client_hello_|tls_server_hello_)' \
			"$tr/available_filter_functions" | cut -d' ' -f1
	fi
	for f in __kmalloc_cache_noprof __kmalloc_noprof kmem_cache_alloc_noprof kfree \
		kmem_cache_free genlmsg_multicast_allns netlink_broadcast netlink_unicast \
		genl_rcv_msg fd_install get_unused_fd_flags sockfd_lookup fput \
		__sys_sendmsg __sys_recvmsg sock_create_kern sock_alloc_file; do
		grep -qx "$f" <(cut -d' ' -f1 "$tr/available_filter_functions") && echo "$f"
	done
} > /tmp/bench/filter
cat /tmp/bench/filter > "$tr/set_ftrace_filter" 2>/dev/null ||
	while read -r f; do echo "$f" >> "$tr/set_ftrace_filter"; done < /tmp/bench/filter

"$files/hs-agent" --mix done_ok=1 --ready-wait 0 --seed 1 > /tmp/bench/agent.json 2>&1 &
agent=$!
sleep 0.5
# Warm up, then profile.
echo "add 1 200" > "$ctl" && echo go > "$ctl" && echo wait > "$ctl" && echo reset > "$ctl"
echo 1 > "$tr/function_profile_enabled"
echo "add 1 $count" > "$ctl" && echo go > "$ctl" && echo wait > "$ctl"
echo 0 > "$tr/function_profile_enabled"
result=$(tr -d '\n' < "$ctl")
# The stages of each request from the service's trace events (the same
# names in both services): submit, ACCEPT, DONE, completion, destruction.
echo reset > "$ctl"
echo > "$tr/trace"
echo 1 > "$tr/events/handshake/enable"
echo "add 1 500" > "$ctl" && echo go > "$ctl" && echo wait > "$ctl"
echo 0 > "$tr/events/handshake/enable"

# Sampling: perf on every CPU at 2 kHz (the guest samples at about its
# tick, 250 Hz per CPU, under emulation) around 20 times as many
# handshakes. The service's share of the samples, times the loop's wall
# time and the CPUs, is its CPU time per handshake.
pcount=$((count * 20))
echo reset > "$ctl"
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
t0=$(date +%s%N)
"$files/perf" record -a -F 2000 -q -o /tmp/bench/perf.data -- \
	sh -c "echo 'add 1 $pcount' > $ctl && echo go > $ctl && echo wait > $ctl" \
	2> /tmp/bench/perf.err || echo "perf record failed: $(tail -3 /tmp/bench/perf.err)"
t1=$(date +%s%N)
presult=$(tr -d '\n' < "$ctl")
"$files/perf" report -i /tmp/bench/perf.data --stdio --no-children --sort dso,sym \
	-q 2> /dev/null | sed 's/^ *//' > /tmp/bench/perf.txt
# Where the CPU goes, by process (the consumer's kernel threads, the
# agent, perf itself, the idle tasks), in us per handshake.
"$files/perf" report -i /tmp/bench/perf.data --stdio --no-children --sort comm \
	-q 2> /dev/null | sed 's/^ *//' | awk -v n="$pcount" -v ns=$((t1 - t0)) -v cpus="$(nproc)" '
	{ p = $1; sub(/%/, "", p); $1 = ""; sub(/^ /, "")
	  printf "  %6.2f%% %8.2f us/hs  %s\n", p, p / 100 * ns / 1e3 * cpus / n, $0 }' |
	head -12 > /tmp/bench/perf-comm
# Lines: "PCT% DSO [k] SYMBOL". The module's functions are those of its
# object; the C service's are named after it in the kernel's.
if [ "$service" = module ]; then
	own='$2 == "[handshake]"'
else
	own='$2 == "[kernel.kallsyms]" && $4 ~ /^(handshake_|tls_handshake_|tls_client_hello|tls_server_hello)/'
fi
awk -v n="$pcount" -v ns=$((t1 - t0)) -v cpus="$(nproc)" '
	{ p = $1; sub(/%/, "", p); total += p }
	'"$own"' { mine += p; if (k < 25) top[k++] = $0 }
	$4 ~ /^(do_idle|default_idle|pv_native_safe_halt|native_safe_halt|cpuidle_idle_call|default_idle_call|acpi_safe_halt)$/ ||
		$4 ~ /^(arch_cpu_idle|poll_idle|intel_idle|mwait_idle|cpu_idle_poll)/ { idle += p }
	END {
		printf "perf: %d handshakes in %.2f s, %d CPUs; idle %.1f%% of the samples\n", n, ns / 1e9, cpus, idle
		printf "perf: the service'"'"'s own code: %.2f%% of the samples, %.2f us of CPU per handshake\n", mine, mine / 100 * ns / 1e3 * cpus / n
		print "perf: its functions (share of all samples):"
		for (i = 0; i < k; i++) print "  " top[i]
	}' /tmp/bench/perf.txt > /tmp/bench/perf-summary
{
	echo "result $presult"
	cat /tmp/bench/perf-summary
	echo "perf: CPU by process:"
	cat /tmp/bench/perf-comm
	echo "perf: every function (share of all samples), the first 40:"
	head -40 /tmp/bench/perf.txt | sed 's/^/  /'
} > /tmp/bench/perf-report

kill -TERM "$agent"
wait "$agent"
awk '
	/handshake_(submit|cmd_accept|cmd_done|complete|destruct):/ {
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^[0-9]+\.[0-9]+:$/) t = substr($i, 1, length($i) - 1) * 1e6
			if ($i ~ /^handshake_/) ev = substr($i, 1, length($i) - 1)
			if ($i ~ /^sk=/) sk = $i
		}
		if (ev == "handshake_submit") { sub_t[sk] = t; next }
		if (!(sk in sub_t)) next
		if (ev == "handshake_cmd_accept") { acc[sk] = t; n1++; s1 += t - sub_t[sk] }
		if (ev == "handshake_cmd_done" && sk in acc) { dn[sk] = t; n2++; s2 += t - acc[sk] }
		if (ev == "handshake_complete" && sk in dn) { cp[sk] = t; n3++; s3 += t - dn[sk] }
		if (ev == "handshake_destruct" && sk in cp) { n4++; s4 += t - cp[sk]; delete sub_t[sk] }
	}
	END {
		printf "stages (mean us over %d requests):", n1
		printf " submit->ACCEPT %.1f, ACCEPT->DONE %.1f, DONE->complete %.1f, complete->destruct %.1f\n",
			s1 / (n1 ? n1 : 1), s2 / (n2 ? n2 : 1), s3 / (n3 ? n3 : 1), s4 / (n4 ? n4 : 1)
	}' "$tr/trace" > /tmp/bench/stages

# Per function over every CPU: calls and total time (with the time of the
# functions it calls), per handshake.
cat "$tr"/trace_stat/function* | awk -v n="$count" '
	$1 == "Function" || $1 ~ /^-/ || NF < 4 { next }
	{ t = $3; u = $4; if (u == "us") t *= 1000; else if (u == "ms") t *= 1e6
	  calls[$1] += $2; ns[$1] += t }
	END { for (f in calls) printf "%10.0f %8.2f %s\n", ns[f] / n, calls[f] / n, f }' |
	sort -rn > /tmp/bench/profile
{
	echo "service $service: $count handshakes, 1 consumer thread, 1 null agent"
	echo "result $result"
	cat /tmp/bench/stages
	echo "    ns/hs  calls/hs function (time includes the functions it calls)"
	head -60 /tmp/bench/profile
	echo
	cat /tmp/bench/perf-report
} > "$out/profile-$service.txt"
cat "$out/profile-$service.txt"
echo "handshake-bench-ok"
