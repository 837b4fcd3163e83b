#!/bin/sh
# make-certs.sh DIR - certificates for the emulator's HTTPS tests, made at
# test time with the openssl command (nothing is committed):
#
#   ca.pem, ca-key.pem                   a test CA
#   server.pem, server-key.pem           127.0.0.1 and localhost, signed by the CA
#   self-signed.pem, self-signed-key.pem 127.0.0.1 and localhost, self-signed
#                                        (untrusted: fails verification)
#   wrong-host.pem, wrong-host-key.pem   signed by the CA, but only for
#                                        wrong-host.invalid (fails the host check)
#
# EC P-256 keys (fast to make), valid for 30 days.
set -eu

dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

# An empty config keeps the system's openssl.cnf defaults out of the result.
printf '[req]\ndistinguished_name = dn\n[dn]\n' > openssl.cnf
export OPENSSL_CONF="$PWD/openssl.cnf"

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# selfsign NAME SUBJECT EXTENSIONS...: a self-signed certificate NAME.pem.
selfsign() {
	name=$1 subject=$2
	shift 2
	newkey "$name-key.pem"
	openssl req -new -x509 -key "$name-key.pem" -out "$name.pem" -days 30 -subj "$subject" \
		-config openssl.cnf "$@"
}

# casign NAME SUBJECT SAN: a server certificate NAME.pem signed by the CA.
casign() {
	name=$1 subject=$2 san=$3
	newkey "$name-key.pem"
	openssl req -new -key "$name-key.pem" -out "$name.csr" -subj "$subject" -config openssl.cnf
	printf '%s\n' \
		"basicConstraints = critical, CA:FALSE" \
		"keyUsage = critical, digitalSignature" \
		"extendedKeyUsage = serverAuth" \
		"subjectKeyIdentifier = hash" \
		"authorityKeyIdentifier = keyid" \
		"subjectAltName = $san" > "$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
		-out "$name.pem" -days 30 -sha256 -extfile "$name.ext" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

selfsign ca "/CN=csms-tagd test CA" \
	-addext "basicConstraints = critical, CA:TRUE" \
	-addext "keyUsage = critical, keyCertSign, cRLSign" \
	-addext "subjectKeyIdentifier = hash"
casign server "/CN=127.0.0.1" "IP:127.0.0.1, DNS:localhost"
casign wrong-host "/CN=wrong-host.invalid" "DNS:wrong-host.invalid"
selfsign self-signed "/CN=127.0.0.1" \
	-addext "basicConstraints = critical, CA:FALSE" \
	-addext "subjectAltName = IP:127.0.0.1, DNS:localhost"
rm -f openssl.cnf ca.srl
chmod 0644 ./*.pem
chmod 0600 ./*-key.pem
