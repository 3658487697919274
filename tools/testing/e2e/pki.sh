# SPDX-License-Identifier: GPL-2.0
# Sourced in the guest, and on the host by the e2e tier: credentials for
# the end-to-end tests and the demo.
#
# pki_setup DIR [FROM] makes, in DIR (copied from FROM, made by pki_files on
# the host, when given: openssl costs seconds per run in the emulator):
#   ca.pem/ca.key               the test CA (tlshd's trust store)
#   server.pem/server.key       CN=localhost, SAN DNS:localhost, IP:127.0.0.1
#   client.pem/client.key       CN=e2e-client, signed by the CA
#   conf-client.pem/.key        CN=e2e-conf-client, signed by the CA (the
#                               one tlshd's configuration names)
#   client.der/client.key.der   the same in DER, for the "user" keys
#   rogue-ca.pem, rogue-server.pem/.key
#                               a server certificate from an untrusted CA
#   psk.bin, psk.passwd         a 32-byte PSK and gnutls-serv's password file
#   serials                     shell assignments: KEYRING (the
#                               "handshake-e2e" keyring), PSK (a "psk" key
#                               named by PSK_IDENTITY), PSK_HEX,
#                               CLIENT_CERT/CLIENT_KEY (DER, "user" keys)
# pki_files DIR makes only the files (the host or the guest can run it).
# write_tlshd_conf DIR prints a tlshd.conf that uses them (the client
# certificate there is for hellos that name none).

# The PSK's identity (gnutls-serv's password file and the "psk" key).
PKI_PSK_IDENTITY=e2e-client

_pki_quiet() { "$@" > /dev/null 2>&1 || { echo "pki: failed: $*" >&2; return 1; }; }

# _pki_cert DIR NAME CN ISSUER
_pki_cert() {
	local d=$1 n=$2 cn=$3 ca=$4
	_pki_quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -subj "/CN=$cn" -keyout "$d/$n.key" -out "$d/$n.csr" &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$d/$n.ext" &&
	_pki_quiet openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.pem" \
		-CAkey "$d/$ca.key" -CAcreateserial -days 2 -extfile "$d/$n.ext" \
		-out "$d/$n.pem"
}

_pki_ca() {
	_pki_quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj "/CN=$2" -keyout "$1/$3.key" -out "$1/$3.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign
}

pki_files() {
	local d=$1 hex
	mkdir -p "$d"
	_pki_ca "$d" e2e-ca ca && _pki_ca "$d" e2e-rogue-ca rogue-ca &&
	_pki_cert "$d" server localhost ca && _pki_cert "$d" client e2e-client ca &&
	_pki_cert "$d" conf-client e2e-conf-client ca &&
	_pki_cert "$d" rogue-server localhost rogue-ca || return 1
	_pki_quiet openssl x509 -in "$d/client.pem" -outform DER -out "$d/client.der" &&
	_pki_quiet openssl pkey -in "$d/client.key" -outform DER -out "$d/client.key.der" ||
		return 1
	head -c 32 /dev/urandom > "$d/psk.bin"
	hex=$(od -An -tx1 "$d/psk.bin" | tr -d ' \n')
	echo "$PKI_PSK_IDENTITY:$hex" > "$d/psk.passwd"
}

pki_setup() {
	local d=$1 from=${2:-} kr psk cert key hex k
	mkdir -p "$d"
	if [ -n "$from" ]; then
		cp "$from"/* "$d"/ || return 1
	else
		pki_files "$d" || return 1
	fi

	PSK_IDENTITY=$PKI_PSK_IDENTITY
	hex=$(od -An -tx1 "$d/psk.bin" | tr -d ' \n')
	# Keys live in a keyring of root's user keyring. tlshd runs with a
	# session keyring of its own, so root (not only a possessor) needs
	# every permission on them.
	kr=$(keyctl newring handshake-e2e @u) &&
	psk=$(keyctl padd psk "$PSK_IDENTITY" "$kr" < "$d/psk.bin") &&
	cert=$(keyctl padd user e2e-client-cert "$kr" < "$d/client.der") &&
	key=$(keyctl padd user e2e-client-key "$kr" < "$d/client.key.der") ||
		return 1
	for k in "$kr" "$psk" "$cert" "$key"; do keyctl setperm "$k" 0x3f3f0000 || return 1; done
	cat > "$d/serials" <<S
KEYRING=$kr
PSK=$psk
PSK_IDENTITY=$PSK_IDENTITY
PSK_HEX=$hex
CLIENT_CERT=$cert
CLIENT_KEY=$key
S
}

write_tlshd_conf() {
	cat <<C
[debug]
loglevel=1
tls=0
nl=0

[authenticate]
keyrings=handshake-e2e

[authenticate.client]
x509.truststore=$1/ca.pem
x509.certificate=$1/conf-client.pem
x509.private_key=$1/conf-client.key

[authenticate.server]
x509.truststore=$1/ca.pem
x509.certificate=$1/server.pem
x509.private_key=$1/server.key
C
}
