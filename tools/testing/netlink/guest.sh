#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, as root: the handshake family as user space sees it.
. /mnt/src/scripts/guest/ktap.sh

spec=/mnt/ksrc/Documentation/netlink/specs/handshake.yaml
# The YNL CLI as a command line, so that wrappers that exec can run it too.
ynl_cli=(python3 /mnt/ksrc/tools/net/ynl/pyynl/cli.py --spec "$spec" --no-schema)
ynl() { "${ynl_cli[@]}" "$@"; }
# Run a command with a fresh TCP socket (no handshake request) as fd 9.
with_socket() {
	python3 -c 'import os, socket, sys
s = socket.socket()
os.dup2(s.fileno(), 9)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}
unpriv() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# expect_error ERRNO-TEXT CMD...: the command must fail with that error.
expect_error() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "succeeded, expected: $want: $out"
		return 1
	fi
	echo "$out" | grep -q "$want" || { echo "wrong error: $out"; return 1; }
}

family() {
	local out
	out=$(genl ctrl get name handshake) || return 1
	echo "$out"
	echo "$out" | grep -q 'Version: 0x1' || { echo "version is not 1"; return 1; }
	# Commands 2 (ACCEPT) and 3 (DONE) only, both admin-only do operations.
	local cmds
	cmds=$(echo "$out" | sed -n '/commands supported/,/multicast groups/p')
	[ "$(echo "$cmds" | grep -oE 'ID-0x[0-9a-f]+' | tr '\n' ' ')" = "ID-0x2 ID-0x3 " ] ||
		{ echo "unexpected commands"; return 1; }
	[ "$(echo "$cmds" | grep -c 'requires admin permission; can doit; has policy')" = 2 ] ||
		{ echo "unexpected capabilities"; return 1; }
	# Groups: none then tlshd, consecutive ids.
	local groups
	groups=$(echo "$out" | sed -n '/multicast groups/,$p' | grep -oE 'name: [a-z]+' | awk '{print $2}' | tr '\n' ' ')
	[ "$groups" = "none tlshd " ] || { echo "groups are '$groups'"; return 1; }
}

ynl_subscribes() {
	# Resolving the tlshd group by name proves the family and group exist.
	ynl --subscribe tlshd --sleep 1 >/dev/null
}

policy() {
	local accept done
	accept=$(ynl --policy --do accept --output-json) || return 1
	done=$(ynl --policy --do done --output-json) || return 1
	echo "accept: $accept"; echo "done: $done"
	python3 - "$accept" "$done" <<'PY'
import json, sys
accept, done = json.loads(sys.argv[1]), json.loads(sys.argv[2])
u32 = {'type': 'u32', 'min-value': 0, 'max-value': 2**32 - 1}
assert accept == {'handler-class': dict(u32, **{'max-value': 2})}, accept
assert done == {
    'status': dict(u32, **{'max-value': 4095}),
    'sockfd': {'type': 's32', 'min-value': -2**31, 'max-value': 2**31 - 1},
    'remote-auth': u32,
}, done
PY
}

# The module (not the C service, which is built in) has a last case. The
# runner inserted it from /mnt/run/modules (as NN-handshake.ko).
module=$(find /mnt/run/modules -name '*-handshake.ko' 2>/dev/null | head -1)
ktap_suite handshake_netlink $([ -n "$module" ] && echo 16 || echo 15)
ktap_check family_registered_with_ops_and_groups family
ktap_check ynl_cli_finds_family_and_tlshd_group ynl_subscribes
ktap_check policies_match_the_spec policy
ktap_check accept_with_nothing_pending_is_eagain \
	expect_error 'Resource temporarily unavailable' ynl --do accept --json '{"handler-class": 1}'
ktap_check done_on_a_socket_without_request_is_ebusy \
	expect_error 'Device or resource busy' with_socket "${ynl_cli[@]}" --do done --json '{"sockfd": 9, "status": 0}'
ktap_check done_on_a_non_socket_fd_is_enotsock \
	expect_error 'Socket operation on non-socket' ynl --do done --json '{"sockfd": 0, "status": 0}'
ktap_check done_without_sockfd_is_einval \
	expect_error 'Invalid argument' ynl --do done --json '{"status": 0}'
ktap_check done_status_over_max_is_erange \
	expect_error 'Numerical result out of range' ynl --do done --json '{"sockfd": 0, "status": 4096}'
ktap_check accept_unprivileged_is_eperm \
	expect_error 'Operation not permitted' unpriv "${ynl_cli[@]}" --do accept --json '{"handler-class": 1}'
ktap_check done_unprivileged_is_eperm \
	expect_error 'Operation not permitted' unpriv "${ynl_cli[@]}" --do done --json '{"sockfd": 0, "status": 0}'

tlshd_waits() {
	tlshd -s > /tmp/tlshd.log 2>&1 &
	local pid=$!
	sleep 3
	kill -0 $pid || { echo "tlshd exited: $(cat /tmp/tlshd.log)"; return 1; }
	kill $pid; wait $pid 2>/dev/null
	! grep -qiE 'error|fail' /tmp/tlshd.log || { cat /tmp/tlshd.log; return 1; }
}
ktap_check tlshd_starts_and_waits tlshd_waits

# Handler class out of range is refused by the policy (max 2).
ktap_check accept_class_over_max_is_erange \
	expect_error 'Numerical result out of range' ynl --do accept --json '{"handler-class": 3}'
# The extended ack names the missing attribute (GENL_REQ_ATTR_CHECK).
ktap_check accept_without_class_names_it \
	expect_error "'miss-type': 'handler-class'" ynl --do accept --json '{}'
ktap_check done_without_sockfd_names_it \
	expect_error "'miss-type': 'sockfd'" ynl --do done --json '{"status": 0}'

# The headers are checked as for any new family: a reserved field or
# reserved flag bits set fail with EINVAL and say so. (The module checks
# them itself for ACCEPT and DONE, since it has the core parse DONE
# liberally; the answers must be the C service's.)
headers() {
	local raw=/mnt/src/tools/testing/netlink/rawhdr.py got c
	for c in accept done; do
		got=$(python3 "$raw" $c 1 0)
		[ "$got" = "EINVAL genlmsghdr.reserved field is not 0" ] ||
			{ echo "$c with a reserved field: $got"; return 1; }
		got=$(python3 "$raw" $c 0 0x100)
		[ "$got" = "EINVAL ambiguous or reserved bits set in nlmsg_flags" ] ||
			{ echo "$c with a reserved flag: $got"; return 1; }
	done
	# The same messages with clean headers get as far as the operation.
	got=$(python3 "$raw" accept 0 0)
	[ "$got" = "EAGAIN " ] || { echo "clean accept: $got"; return 1; }
	got=$(python3 "$raw" done 0 0)
	[ "$got" = "EBADF " ] || { echo "clean done: $got"; return 1; }
}
ktap_check headers_checked_as_for_new_families headers

# Resolving the family loads the module: generic netlink asks modprobe for
# the family's alias (MODULE_ALIAS_GENL_FAMILY) when it does not know it.
family_autoloads() {
	local dir
	dir=/lib/modules/$(uname -r)/extra
	rmmod handshake || return 1
	! genl ctrl get name handshake >/dev/null 2>&1 ||
		{ echo "family still there, or loaded without depmod"; return 1; }
	mkdir -p "$dir" && cp "$module" "$dir/handshake.ko" && depmod -a || return 1
	genl ctrl get name handshake >/dev/null ||
		{ echo "resolving the family did not load the module"; return 1; }
	grep -q '^handshake ' /proc/modules || { echo "handshake is not loaded"; return 1; }
	echo "alias: $(modinfo -F alias handshake)"
}
if [ -n "$module" ]; then
	ktap_check family_autoloads family_autoloads
fi
ktap_end
