#!/bin/sh
# Generate the TLS test PKI into directory $1 with the openssl command-line tool
# (a test-time tool only; nothing in Windrow links OpenSSL).
#
#   ca.crt/key            test CA ("CA1")
#   server.crt/key        signed by CA1, SAN DNS:localhost, IP:127.0.0.1
#   expired.crt/key       signed by CA1, valid only during 2020-01-01
#   client.crt/key        signed by CA1, clientAuth
#   other-ca.crt/key      an unrelated CA ("CA2")
#   other-client.crt/key  signed by CA2
#   mismatch.key          a key that belongs to none of the certificates
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

mkca() {
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

cat > server.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
X
cat > client.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
X

# sign NAME CA EXTFILE CN
sign() {
    newkey "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$4" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -sha256 \
        -days 365 -extfile "$3" -out "$1.crt" 2>/dev/null
}

mkca ca "Windrow Test CA"
mkca other-ca "Unrelated Test CA"
sign server ca server.ext localhost
sign client ca client.ext windrow-test-client
sign other-client other-ca client.ext windrow-other-client
newkey mismatch.key

# 'openssl x509 -req' in OpenSSL 3.0 cannot backdate, 'openssl ca' can: a
# minimal CA database signs a certificate that expired long ago.
mkdir -p cadb
: > cadb/index.txt
echo 1000 > cadb/serial
cat > cadb/ca.cnf <<X
[ca]
default_ca = testca
[testca]
dir = $dir/cadb
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
X
newkey expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
openssl ca -batch -config cadb/ca.cnf -notext -startdate 20200101000000Z \
    -enddate 20200102000000Z -extfile server.ext -in expired.csr -out expired.crt 2>/dev/null
# Keys are read by a broker that may drop privileges; they are throwaway test keys.
chmod 0644 ./*.key
