# SPDX-License-Identifier: GPL-2.0
# The scripted agent (agent.py) from guest shell scripts, sourced:
#   agent_start            start it; it has joined the tlshd group on return
#   agent_ask COMMAND      one command; its JSON answer in $agent_answer
#                          (call it in this shell, not in $(...))
#   agent_json KEY.PATH    prints a field of the answer: agent_json reply.sockfd
#   agent_stop             quit and wait for it
#   tlshd_conf CA          /etc/tlshd.conf for a client trusting $work/CA
#   start_tlshd CA         the real tlshd with it; logs to tlshd.log
#   stop_tlshd
# The family (its id and groups) is resolved at start: after the module is
# reloaded, restart the agent or have it resolve the family again
# (agent_ask reopen).

_agent_dir=$(dirname "${BASH_SOURCE[0]}")
_agent_pid=
agent_answer=

agent_start() {
	rm -f /tmp/agent.cmd /tmp/agent.reply
	mkfifo /tmp/agent.cmd /tmp/agent.reply
	python3 "$_agent_dir/agent.py" /mnt/ksrc/tools/net/ynl/pyynl \
		/mnt/ksrc/Documentation/netlink/specs/handshake.yaml \
		/tmp/agent.cmd /tmp/agent.reply &
	_agent_pid=$!
	exec 8</tmp/agent.reply
	read -r -t 60 agent_answer <&8 && [ "$agent_answer" = '{"ready": true}' ] ||
		{ echo "agent did not start"; return 1; }
	exec 9>/tmp/agent.cmd
}

agent_ask() {
	echo "$*" >&9
	read -r -t 90 agent_answer <&8 || agent_answer='{"error": "no answer"}'
}

agent_json() {
	python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$agent_answer" "$1"
}

agent_stop() {
	[ -n "$_agent_pid" ] || return 0
	agent_ask quit
	exec 9>&- 8<&-
	wait "$_agent_pid"
	_agent_pid=
}

# tlshd_conf CA: /etc/tlshd.conf for a client trusting $work/CA.
tlshd_conf() {
	cat > /etc/tlshd.conf <<CONF
[debug]
loglevel=1
tls=0
nl=0
[authenticate.client]
x509.truststore=$work/$1
CONF
}
start_tlshd() {
	tlshd_conf "$1"
	tlshd -s > tlshd.log 2>&1 &
	tlshd_pid=$!
	wait_tlshd "$tlshd_pid"
}
stop_tlshd() { kill "$tlshd_pid" 2>/dev/null; wait "$tlshd_pid" 2>/dev/null; }
