#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo, in the guest: an in-kernel TLS client (handshake_e2e.ko, shaped
# like SunRPC's) asks the handshake service for an x.509 handshake; tlshd
# does it in user space against a gnutls-serv echo server; the kernel then
# talks to the server through kTLS.  What a person should see in ten seconds.
. /mnt/src/tools/testing/e2e/pki.sh
. /mnt/src/tools/testing/e2e/peers.sh

ctl=/proc/handshake_e2e
spec=/mnt/ksrc/Documentation/netlink/specs/handshake.yaml
msg=hello-from-the-kernel
get() { sed -n "s/^$1=//p" /tmp/outcome | sed -n 1p; }

# Set-up, quietly.
pki_setup /tmp/pki > /tmp/pki.log 2>&1 || { cat /tmp/pki.log; exit 1; }
. /tmp/pki/serials
write_tlshd_conf /tmp/pki > /etc/tlshd.conf
sed -i 's/^loglevel=.*/loglevel=2/' /etc/tlshd.conf
gnutls-serv --echo -p 4433 --x509certfile=/tmp/pki/server.pem \
	--x509keyfile=/tmp/pki/server.key --x509cafile=/tmp/pki/ca.pem \
	> /tmp/serv.log 2>&1 &
tlshd -s -c /etc/tlshd.conf > /tmp/tlshd.log 2>&1 &
tlshd_pid=$!
# An observer on the service's multicast group, as user space sees it.
python3 -u /mnt/ksrc/tools/net/ynl/pyynl/cli.py --spec "$spec" --no-schema \
	--subscribe tlshd --duration 30 --output-json > /tmp/ynl.log 2>&1 &
ynl_pid=$!
wait_port 4433 && wait_tlshd "$tlshd_pid"
# The observer joins the group after loading the spec: nothing to wait on.
sleep 3

if [ -f /sys/module/handshake/initstate ]; then
	service="handshake.ko ($(cat /sys/module/handshake/initstate))"
else
	service="built into the kernel (the C reference)"
fi

# The story goes to a file of the run directory, which the host prints.
exec 5>&1 >/mnt/run/out/story
echo "kernel $(uname -r); handshake service: $service"
echo "agent: tlshd (ktls-utils) pid $tlshd_pid; TLS server: gnutls-serv --echo on 127.0.0.1:4433"
echo
echo "kernel client: connect 127.0.0.1:4433, tls_client_hello_x509(peername=localhost)"
echo "mode=client auth=x509 port=4433 peername=localhost cert=$CLIENT_CERT privkey=$CLIENT_KEY msg=$msg" > "$ctl"
cat "$ctl" > /tmp/outcome
sleep 1
kill $ynl_pid 2>/dev/null
wait $ynl_pid 2>/dev/null

ok() { printf '  %-18s %s\n' "$1" "$2"; }
if grep -q '"name": "ready"' /tmp/ynl.log; then
	ok "request queued" "READY $(grep -m1 '"ready"' /tmp/ynl.log | sed 's/.*"msg": //; s/}}$/}/') to the tlshd group"
else
	ok "request queued" "submit returned $(get submit) (no READY seen)"
fi
child=$(grep -m1 'Querying the handshake service' /tmp/tlshd.log | sed -n 's/^tlshd\[\([0-9]*\)\].*/\1/p')
if [ -n "$child" ]; then
	ok "agent accepted" "tlshd child $child took the socket (ACCEPT) and ran the handshake"
else
	ok "agent accepted" "no ACCEPT seen in tlshd's log"
fi
peer=$(get peerid)
desc=$( [ "${peer:-0}" -gt 0 ] && keyctl rdescribe "$peer" 2>/dev/null | cut -d';' -f1,5)
ok "handshake done" "status $(get status), peer id $peer${desc:+ ($desc)}"
ok "kTLS active" "$([ "$(get ktls)" = 1 ] && echo yes || echo NO) on the consumer's socket (tx $(get ktls_tx), rx $(get ktls_rx))"
if [ "$(get echo_match)" = 1 ]; then
	ok "message echoed" "\"$msg\" went out encrypted, came back decrypted (record type $(get record_type))"
else
	ok "message echoed" "NO (sent $(get sent), received $(get received))"
fi
ok "server saw" "$(grep -m1 'received cmd:' /tmp/serv.log || echo nothing)"
if [ "$(get alert_desc)" = 0 ]; then
	ok "closed" "close_notify sent by tls_handshake_close(); the server answered with close_notify"
else
	ok "closed" "tls_handshake_close() called"
fi
exec 1>&5 5>&-
cat /mnt/run/out/story

kill $tlshd_pid 2>/dev/null
[ "$(get status)" = 0 ] && [ "$(get ktls)" = 1 ] && [ "$(get echo_match)" = 1 ]
