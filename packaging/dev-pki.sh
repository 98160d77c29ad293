#!/usr/bin/env bash
# Development PKI for loyalty: a chain CA, headquarters' TLS certificate for localhost, 127.0.0.1 and
# ::1, one client certificate per store (its store id as the subject CN), and headquarters'
# enrollment key pair. For development and demos only: real chains issue these from their own PKI.
# Usage: packaging/dev-pki.sh DIR STORE_ID...   e.g. packaging/dev-pki.sh /tmp/pki S001 S002
# Existing files in DIR are kept, so stores can be added later; the CA key stays in DIR.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 DIR STORE_ID..." >&2
  exit 2
fi
dir=$1
shift
days=${LOYALTY_PKI_DAYS:-825}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

if [[ ! -f ca.pem ]]; then
  key ca.key
  openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/O=loyalty development/CN=loyalty development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
  echo "dev-pki: made the chain CA: $dir/ca.pem"
fi

# sign NAME CN EXTENSIONS: NAME.key and NAME.pem signed by the CA
sign() {
  local name=$1 cn=$2 ext=$3
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/O=loyalty development/CN=$cn" -out "$name.csr"
  printf '%b\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

if [[ ! -f hq.pem ]]; then
  sign hq localhost "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
  echo "dev-pki: made headquarters' certificate for localhost, 127.0.0.1 and ::1: $dir/hq.pem"
fi

if [[ ! -f hq-enroll-private.pem ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out hq-enroll-private.pem 2>/dev/null
  chmod 600 hq-enroll-private.pem
  openssl pkey -in hq-enroll-private.pem -pubout -out hq-enroll-public.pem
  echo "dev-pki: made headquarters' enrollment key pair: $dir/hq-enroll-public.pem goes to the tills"
fi

for store in "$@"; do
  if [[ ! $store =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
    echo "dev-pki: a store id is 1..32 letters, digits, '-' or '_': $store" >&2
    exit 2
  fi
  if [[ ! -f store-$store.pem ]]; then
    sign "store-$store" "$store" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
    echo "dev-pki: made store $store's client certificate: $dir/store-$store.pem"
  fi
done
