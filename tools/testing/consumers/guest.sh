#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, as root: the kernel's real TLS consumers through the
# handshake service and the real tlshd, on loopback. knfsd exports a tmpfs
# that the NFS client mounts over TLS (SunRPC's client and server hellos,
# x.509); an NVMe/TCP target on a loop device takes a host's connection
# over TLS 1.3 with a PSK (NVMe's client and server PSK hellos).
#
# $1: test (handshake.ko, installed in /lib/modules and loaded by the
# consumers' dependencies) or reference (the C service, built in).
. /mnt/src/scripts/guest/ktap.sh
. /mnt/src/tools/testing/e2e/peers.sh

flavour=${1:-test}
pki=/tmp/pki
mkdir -p "$pki" /srv/export /mnt/nfs
cp /mnt/run/files/pki/* "$pki"/
log=/tmp/tlshd.log
hostnqn=nqn.2014-08.org.nvmexpress:uuid:0b8d6a3e-4c5f-4d2e-9a61-3f0c2b7e5d10
subnqn=nqn.2026-11.org.example:handshake-consumers

# note LINE: a figure or fact for the log, printed after the suite.
note() { echo "$*" >> /tmp/notes; }
# ms: milliseconds since boot.
ms() { local up; read -r up _ < /proc/uptime; echo $((${up%.*} * 1000 + 10#${up#*.} * 10)); }

# tlshd.conf: the NFS server's certificate, the trust store for both ends,
# and (for mtls) the client certificate named $1 (default: client); with
# $2, tlshd waits $2 seconds after each handshake before its DONE.
tlshd_conf() {
	cat <<C
[debug]
loglevel=1
tls=0
nl=0
delay_done=${2:-0}

[authenticate]
keyrings=.nvme

[authenticate.client]
x509.truststore=$pki/ca.pem
x509.certificate=$pki/${1:-client}.pem
x509.private_key=$pki/${1:-client}.key

[authenticate.server]
x509.truststore=$pki/ca.pem
x509.certificate=$pki/server.pem
x509.private_key=$pki/server.key
C
}
start_tlshd() {
	tlshd_conf "$@" > /etc/tlshd.conf
	tlshd -s -c /etc/tlshd.conf >> "$log" 2>&1 &
	echo $! > /tmp/tlshd.pid
	wait_tlshd "$(cat /tmp/tlshd.pid)"
}
stop_tlshd() {
	local pid
	pid=$(cat /tmp/tlshd.pid 2>/dev/null) || return 0
	pkill -KILL -P "$pid" 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	[ ! -d "/proc/$pid" ] || echo "tlshd $pid did not die"
	rm -f /tmp/tlshd.pid
}
# started KIND: how many handshakes of KIND (Client or Server) tlshd began;
# succeeded: how many it finished; logged TEXT: how many lines say TEXT.
logged() { grep -c "$1" "$log"; }
started() { logged "$1 x.509 truststore is"; }
succeeded() { logged 'was successful'; }
# refused_promptly WHAT STATUS MS: a mount or connect failed by itself
# (not by the 60 s timeout) within 10 s.
refused_promptly() {
	[ "$2" != 0 ] || { echo "$1 succeeded"; return 1; }
	[ "$2" != 124 ] || { echo "$1 hung until the timeout"; return 1; }
	[ "$3" -lt 10000 ] || { echo "$1 took $3 ms to fail"; return 1; }
}

# modules: the consumers load by name; on the test kernel handshake.ko
# comes in as their dependency, and only then.
modules() {
	# Every symbol of every module resolves, the consumers' tls_* ones to
	# handshake.ko on the test kernel (the kernel's build left them open).
	local unknown
	unknown=$(depmod -ae -F /lib/modules/System.map 2>&1) || return 1
	[ -z "$unknown" ] || { echo "depmod: $unknown"; return 1; }
	if [ "$flavour" = test ]; then
		[ ! -d /sys/module/handshake ] || { echo "handshake.ko loaded before any consumer"; return 1; }
		# (modinfo's "depends" is empty: modpost did not know handshake.ko)
		modprobe --show-depends sunrpc | grep -q '/handshake\.ko ' ||
			{ echo "depmod: sunrpc does not need handshake.ko: $(modprobe --show-depends sunrpc)"; return 1; }
	fi
	modprobe -a nfsd nfsv4 nvmet-tcp nvme-tcp loop || return 1
	if [ "$flavour" = test ]; then
		local m
		for m in sunrpc nvme_tcp nvmet_tcp; do
			[ -e "/sys/module/handshake/holders/$m" ] ||
				{ echo "$m does not hold handshake.ko: $(ls /sys/module/handshake/holders)"; return 1; }
		done
		modinfo -F filename handshake
	fi
}

nfs_server() {
	mount -t tmpfs -o size=16m tmpfs /srv/export &&
	echo "from the server" > /srv/export/server-file &&
	mount -t nfsd nfsd /proc/fs/nfsd &&
	echo 10 > /proc/fs/nfsd/nfsv4gracetime && echo 10 > /proc/fs/nfsd/nfsv4leasetime &&
	echo "/srv/export *(rw,insecure,no_root_squash,no_subtree_check,fsid=0,xprtsec=$1)" > /etc/exports &&
	rpcbind -w && rpc.mountd -N 3 && rpc.nfsd -N 3 4 && exportfs -ra || return 1
	# Nothing to reclaim: end the grace period now if nfsd lets us.
	echo Y > /proc/fs/nfsd/v4_end_grace 2>/dev/null || true
}
nfs_mount() { timeout 60 mount -t nfs4 -o "vers=4.1,retry=0$1" localhost:/ /mnt/nfs; }

nfs_plain_refused() {
	local out
	out=$(nfs_mount "" 2>&1) && { umount /mnt/nfs; echo "mounted without TLS"; return 1; }
	echo "$out" | grep -qi 'not permitted\|access denied' || { echo "mount: $out"; return 1; }
}

nfs_tls() {
	local c0 s0 ok0 t0
	c0=$(started Client) s0=$(started Server) ok0=$(succeeded) t0=$(ms)
	nfs_mount ",xprtsec=tls" || return 1
	note "NFS mount with xprtsec=tls: $(($(ms) - t0)) ms"
	grep -q 'xprtsec=tls' /proc/mounts || { echo "no xprtsec=tls in $(grep nfs /proc/mounts)"; return 1; }
	[ "$(cat /mnt/nfs/server-file)" = "from the server" ] || { echo "client read: $(cat /mnt/nfs/server-file)"; return 1; }
	echo "from the client" > /mnt/nfs/client-file && sync
	[ "$(cat /srv/export/client-file)" = "from the client" ] || { echo "server has: $(cat /srv/export/client-file)"; return 1; }
	umount /mnt/nfs || return 1
	[ "$(started Client)" -gt "$c0" ] && [ "$(started Server)" -gt "$s0" ] &&
		[ "$(succeeded)" -ge $((ok0 + 2)) ] ||
		{ echo "tlshd did not log a client and a server handshake:"; tail -20 "$log"; return 1; }
}

# mtls: the export takes only clients with a certificate its tlshd trusts;
# a TLS mount without one is refused, an mtls mount works.
nfs_mtls() {
	sed -i 's/xprtsec=tls)/xprtsec=mtls)/' /etc/exports && exportfs -ra && exportfs -f ||
		return 1
	local t0 rc v0
	t0=$(ms)
	nfs_mount ",xprtsec=tls" 2>/tmp/mount.err
	rc=$?
	[ $rc = 0 ] && umount /mnt/nfs
	refused_promptly "a TLS mount (no client certificate) of an mtls export" $rc $(($(ms) - t0)) ||
		return 1
	note "NFS mount with xprtsec=tls of an mtls export: $(cat /tmp/mount.err)"
	t0=$(ms) v0=$(logged 'The peer offered 1 certificate')
	nfs_mount ",xprtsec=mtls" || return 1
	note "NFS mount with xprtsec=mtls: $(($(ms) - t0)) ms"
	[ "$(cat /mnt/nfs/client-file)" = "from the client" ] &&
		echo "mtls" > /mnt/nfs/mtls-file && sync &&
		[ "$(cat /srv/export/mtls-file)" = mtls ] || { echo "I/O over mtls failed"; return 1; }
	umount /mnt/nfs || return 1
	# Both ends checked a certificate: the client the server's (as for
	# tls), the server the client's.
	[ "$(logged 'The peer offered 1 certificate')" -ge $((v0 + 2)) ] ||
		{ echo "the server never saw a client certificate"; tail -20 "$log"; return 1; }
}

# A client certificate from a CA the server does not trust: the mount fails.
nfs_mtls_untrusted() {
	local n0
	n0=$(logged 'The certificate is NOT trusted')
	stop_tlshd
	start_tlshd rogue-server
	# (another address than before, so that no NFS client is reused)
	if timeout 60 mount -t nfs4 -o vers=4.1,retry=0,xprtsec=mtls 127.0.0.1:/ /mnt/nfs 2>/tmp/mount.err; then
		umount /mnt/nfs
		echo "mounted with an untrusted client certificate"
		return 1
	fi
	note "NFS mount with an untrusted client certificate: $(cat /tmp/mount.err)"
	[ "$(logged 'The certificate is NOT trusted')" -gt "$n0" ] ||
		{ echo "the server's tlshd did not refuse the certificate"; return 1; }
	stop_tlshd
	start_tlshd
	# The export takes TLS mounts again, for the cases below.
	sed -i 's/xprtsec=mtls)/xprtsec=tls)/' /etc/exports && exportfs -ra && exportfs -f
}

nvme_target() {
	local loop
	grep -q configfs /proc/mounts || mount -t configfs none /sys/kernel/config || return 1
	truncate -s 32M /tmp/nvme.img && loop=$(losetup -f --show /tmp/nvme.img) || return 1
	echo "$loop" > /tmp/loopdev
	nvme gen-tls-key --hostnqn "$hostnqn" --subsysnqn "$subnqn" --hmac 1 --identity 1 --insert \
		> /tmp/psk.out || { cat /tmp/psk.out; return 1; }
	cd /sys/kernel/config/nvmet || return 1
	mkdir "subsystems/$subnqn" && echo 1 > "subsystems/$subnqn/attr_allow_any_host" &&
	mkdir "subsystems/$subnqn/namespaces/1" &&
	echo "$loop" > "subsystems/$subnqn/namespaces/1/device_path" &&
	echo 1 > "subsystems/$subnqn/namespaces/1/enable" &&
	mkdir ports/1 && echo tcp > ports/1/addr_trtype && echo ipv4 > ports/1/addr_adrfam &&
	echo 127.0.0.1 > ports/1/addr_traddr && echo 4420 > ports/1/addr_trsvcid &&
	echo tls1.3 > ports/1/addr_tsas &&
	ln -s "/sys/kernel/config/nvmet/subsystems/$subnqn" "ports/1/subsystems/$subnqn" || return 1
	note "nvme gen-tls-key: $(tr '\n' ' ' < /tmp/psk.out)"
}
# ctrl: the host's controller of our subsystem (nvmeN), if any.
ctrl() {
	local c
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$subnqn" ] && { basename "$c"; return 0; }
	done
	return 1
}
nvme_connect() {
	timeout 60 nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$subnqn" --hostnqn "$hostnqn" --tls "$@"
}

nvme_tls() {
	local c t0 key dev
	t0=$(ms)
	nvme_connect || return 1
	note "NVMe/TCP connect with TLS: $(($(ms) - t0)) ms"
	c=$(ctrl) || { echo "no controller for $subnqn"; return 1; }
	[ "$(cat /sys/class/nvme/$c/state)" = live ] || { echo "$c is $(cat /sys/class/nvme/$c/state)"; return 1; }
	key=$(cat /sys/class/nvme/$c/tls_key 2>/dev/null)
	[ -n "$key" ] && [ "$key" != 0 ] || { echo "$c has no tls_key ($key)"; return 1; }
	note "$c: tls_key $key: $(keyctl rdescribe "0x$key" 2>/dev/null || keyctl rdescribe "$key")"
	dev=/dev/${c}n1
	for _ in $(seq 200); do [ -b "$dev" ] && break; sleep 0.1; done
	[ -b "$dev" ] || { echo "no $dev"; ls /dev/nvme*; return 1; }
	head -c 4096 /dev/urandom > /tmp/block
	dd if=/tmp/block of="$dev" bs=4096 seek=7 count=1 oflag=direct status=none || return 1
	cmp <(dd if="$dev" bs=4096 skip=7 count=1 iflag=direct status=none) /tmp/block ||
		{ echo "read back differs"; return 1; }
	cmp <(dd if="$(cat /tmp/loopdev)" bs=4096 skip=7 count=1 iflag=direct status=none) /tmp/block ||
		{ echo "the target's disk does not have the block"; return 1; }
	nvme disconnect -n "$subnqn" || return 1
}

# The target's PSK for our host and subsystem, as a key serial.
target_psk() {
	local k
	for k in $(keyctl rlist %:.nvme); do
		case $(keyctl rdescribe "$k") in
		"psk;"*"$hostnqn $subnqn"*) echo "$k"; return 0 ;;
		esac
	done
	return 1
}
# A host that names a PSK with the target's identity and other bytes (in a
# keyring of its own): the handshake fails and no controller is made.
nvme_wrong_psk() {
	local good desc ring wrong t0 used0 failed0
	used0=$(logged 'Using psk identity') failed0=$(logged 'failed')
	good=$(target_psk) || { echo "no PSK for $hostnqn in .nvme: $(keyctl show %:.nvme)"; return 1; }
	desc=$(keyctl rdescribe "$good")
	ring=$(keyctl newring wrong-psk @u) &&
		wrong=$(head -c 32 /dev/urandom | keyctl padd psk "${desc#*;*;*;*;}" "$ring") &&
		keyctl setperm "$ring" 0x3f3f0000 && keyctl setperm "$wrong" 0x3f3f0000 || return 1
	t0=$(ms)
	if nvme_connect --tls_key="$wrong" > /tmp/connect.err 2>&1; then
		nvme disconnect -n "$subnqn"
		echo "connected with a wrong PSK"
		return 1
	fi
	note "NVMe/TCP connect with a wrong PSK: failed after $(($(ms) - t0)) ms: $(tr '\n' ' ' < /tmp/connect.err)"
	! ctrl > /dev/null || { echo "a controller was left: $(ctrl)"; return 1; }
	# The connect got as far as a handshake with that identity, which failed.
	[ "$(logged 'Using psk identity')" -gt "$used0" ] && [ "$(logged 'failed')" -gt "$failed0" ] &&
		grep -q "Using psk identity ${desc##*;}" "$log" ||
		{ echo "no failed handshake with the wrong PSK:"; tail -8 "$log"; return 1; }
}

# No tlshd: a mount and a connect fail at once, with the consumer's error;
# once tlshd runs, the same succeed.
no_tlshd() {
	local t0 rc took
	stop_tlshd
	t0=$(ms)
	nfs_mount ",xprtsec=tls" 2>/tmp/mount.err
	rc=$? took=$(($(ms) - t0))
	[ $rc = 0 ] && umount /mnt/nfs
	refused_promptly "the NFS mount without tlshd" $rc $took || return 1
	grep -q 'No such process' /tmp/mount.err || { echo "mount: $(cat /tmp/mount.err)"; return 1; }
	note "NFS mount without tlshd: failed after $took ms: $(cat /tmp/mount.err)"
	t0=$(ms)
	nvme_connect > /tmp/connect.err 2>&1
	rc=$? took=$(($(ms) - t0))
	[ $rc = 0 ] && nvme disconnect -n "$subnqn"
	refused_promptly "the NVMe/TCP connect without tlshd" $rc $took || return 1
	note "NVMe/TCP connect without tlshd: failed after $took ms: $(tr '\n' ' ' < /tmp/connect.err)"
	start_tlshd
	t0=$(ms)
	nfs_mount ",xprtsec=tls" && [ "$(cat /mnt/nfs/server-file)" = "from the server" ] &&
		umount /mnt/nfs || { echo "the mount failed once tlshd ran"; return 1; }
	nvme_connect > /tmp/connect.err 2>&1 && nvme disconnect -n "$subnqn" > /dev/null ||
		{ echo "the connect failed once tlshd ran: $(cat /tmp/connect.err)"; return 1; }
	note "after tlshd started: NFS mount and NVMe/TCP connect in $(($(ms) - t0)) ms"
}

# What an administrator sees of a mount stuck in its handshake (the module's
# handshake-diag family, read with the YNL CLI): SunRPC's client request,
# accepted by a child of tlshd, named by its consumer and callback.
# (SunRPC gives up after 10 s and tries again, on a new connection whose
# handshake tlshd holds the same way: a late look sees that one.)
held_requests() {
	local out i
	for i in 1 2 3; do
		out=$(python3 /mnt/ksrc/tools/net/ynl/pyynl/cli.py --no-schema \
			--spec /mnt/src/Documentation/netlink/specs/handshake-diag.yaml \
			--dump request-get --output-json) || return 1
		note "requests of a mount held by tlshd: $out"
		python3 - "$out" "$(pgrep -P "$(cat /tmp/tlshd.pid)" | tr '\n' ' ')" <<'PY' && return 0
import json, sys
reqs, children = json.loads(sys.argv[1]), {int(p) for p in sys.argv[2].split()}
client = [r for r in reqs if r.get('callback') == 'xs_tls_handshake_done'
          and r['state'] == 'accepted']
assert len(client) == 1, reqs
r = client[0]
assert r['consumer'] == 'sunrpc', r
# xprtsec=tls: an anonymous client hello, with no timeout from SunRPC.
assert r['auth-mode'] == 'unauth' and r['handler-class'] == 'tlshd', r
assert r['peername'] == 'localhost' and r['timeout-ms'] == 0, r
assert r['agent-pid'] in children, (r, children)
PY
		sleep 1
	done
	return 1
}

# tlshd dies while it holds the mount's handshake (it was told to wait 30 s
# before its DONE): the mount fails within NFS's own handshake timeout (10 s)
# and its retry, which finds no tlshd; a mount after tlshd restarts works.
tlshd_killed() {
	local t0 mpid rc i took held=
	stop_tlshd
	start_tlshd client 30
	t0=$(ms)
	nfs_mount ",xprtsec=tls" 2>/tmp/mount.err &
	mpid=$!
	# A child of tlshd has the handshake done and waits before its DONE.
	for i in $(seq 100); do
		grep -q 'delaying 30 second' "$log" && { held=1; break; }
		sleep 0.2
	done
	[ -n "$held" ] || { echo "tlshd never took the handshake"; wait $mpid; return 1; }
	if [ "$flavour" = test ] && ! held_requests; then
		stop_tlshd
		wait $mpid
		return 1
	fi
	stop_tlshd
	wait $mpid
	rc=$? took=$(($(ms) - t0))
	note "NFS mount with tlshd killed in its handshake: status $rc after $took ms: $(cat /tmp/mount.err)"
	[ $rc = 0 ] && { umount /mnt/nfs; echo "mounted though tlshd died before DONE"; return 1; }
	[ $rc != 124 ] || { echo "the mount hung"; return 1; }
	[ "$took" -lt 30000 ] || { echo "the mount took $took ms"; return 1; }
	start_tlshd
	nfs_mount ",xprtsec=tls" && umount /mnt/nfs ||
		{ echo "no mount after tlshd restarted"; return 1; }
}

# Everything stops and unloads: the consumers first, then the service; no
# TCP socket is left (the runner then scans for leaks).
teardown() {
	local c=/sys/kernel/config/nvmet m
	! grep -q ' /mnt/nfs ' /proc/mounts || umount /mnt/nfs || return 1
	nvme disconnect-all
	rm -f "$c/ports/1/subsystems/$subnqn" && rmdir "$c/ports/1" &&
		echo 0 > "$c/subsystems/$subnqn/namespaces/1/enable" &&
		rmdir "$c/subsystems/$subnqn/namespaces/1" "$c/subsystems/$subnqn" &&
		losetup -d "$(cat /tmp/loopdev)" || { echo "the NVMe target did not go"; return 1; }
	rpc.nfsd 0 && exportfs -ua && pkill -x rpc.mountd; pkill -x rpcbind
	umount /proc/fs/nfsd && umount /srv/export || return 1
	stop_tlshd
	# The consumers and what they brought, users first (rpcsec_gss_krb5
	# came by request, not as a dependency); handshake.ko stays.
	for m in nfsv4 nfs nfsd rpcsec_gss_krb5 auth_rpcgss lockd grace sunrpc \
		nvme_tcp nvme_fabrics nvme nvme_core nvmet_tcp nvmet nvme_keyring loop; do
		[ ! -d "/sys/module/$m" ] || rmmod "$m" ||
			{ echo "$m does not unload (refcnt $(cat /sys/module/$m/refcnt))"; lsmod; return 1; }
	done
	if [ "$flavour" = test ]; then
		[ -z "$(ls /sys/module/handshake/holders)" ] ||
			{ echo "handshake.ko is still held by $(ls /sys/module/handshake/holders)"; return 1; }
		rmmod handshake && [ ! -d /sys/module/handshake ] || return 1
	fi
	for i in $(seq 50); do
		awk '$1 ~ /^TCP6?:$/ && $3 != 0 { n++ } END { exit n > 0 }' /proc/net/sockstat /proc/net/sockstat6 && break
		sleep 0.1
	done
	awk '$1 ~ /^TCP6?:$/ && $3 != 0 { n++ } END { exit n > 0 }' /proc/net/sockstat /proc/net/sockstat6 ||
		{ echo "TCP sockets left: $(grep TCP /proc/net/sockstat /proc/net/sockstat6)"; return 1; }
}

ktap_suite consumers 12
ktap_check consumers_load_by_name modules
ktap_check nfs_server_started nfs_server tls
start_tlshd
ktap_check nfs_mount_without_tls_refused nfs_plain_refused
ktap_check nfs_tls_mount_reads_and_writes nfs_tls
ktap_check nfs_mtls_mount_needs_a_trusted_client_certificate nfs_mtls
ktap_check nfs_mtls_untrusted_client_certificate_refused nfs_mtls_untrusted
ktap_check nvme_target_with_tls_and_psk nvme_target
ktap_check nvme_tls_connect_reads_and_writes nvme_tls
ktap_check nvme_wrong_psk_refused nvme_wrong_psk
ktap_check no_tlshd_fails_promptly_then_works no_tlshd
ktap_check tlshd_killed_in_nfs_handshake_does_not_hang tlshd_killed
ktap_check teardown_unloads_everything teardown
ktap_end
rc=$?
sed 's/^/# /' /tmp/notes
[ $rc = 0 ] || for f in "$log" /tmp/mount.err /tmp/connect.err; do
	[ -f "$f" ] && { echo "--- $f"; cat "$f"; }
done | sed 's/^/# /'
exit $rc
