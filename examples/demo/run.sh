#!/usr/bin/env bash
# The main demo: a till seeded from the bundled demo data checks members out while headquarters is
# out of reach; every sale waits, durable, in the till's outbox. Then the rules engine on its own.
# Usage: examples/demo/run.sh [BUILD_DIR]   (default: build/release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
till=$build/examples/till/loyalty-till
if [[ ! -x $till ]]; then
  echo "demo: $till is not built; run: cmake --workflow --preset release" >&2
  exit 1
fi

work=$(mktemp -d /tmp/loyalty-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pki"
# Development keys, made fresh for this run: headquarters' enrollment key pair, and TLS files that
# the till's configuration names (the sync with headquarters uses them).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/pki/hq-enroll-private.pem" 2>/dev/null
openssl pkey -in "$work/pki/hq-enroll-private.pem" -pubout -out "$work/pki/hq-enroll-public.pem"
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=loyalty demo CA" -days 2 \
  -keyout "$work/pki/ca.key" -out "$work/pki/ca.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=S001" -days 2 \
  -keyout "$work/pki/store.key" -out "$work/pki/store.pem" 2>/dev/null
cp "$here/till/till.json" "$work/till.json"
config=$work/till.json

step() { printf '\n=== %s\n' "$*"; }
run() {
  printf '$ loyalty-till %s\n' "$(echo "$*" | sed "s|$work/||g; s|$here/||g")"
  "$till" "$@"
}

echo "loyalty demo: store S001, till T01 of a fashion chain, with no connection to headquarters"
step "Seed the till: the chain's rules, and its member cache (phone and card numbers only as keyed hashes)"
run rules --config "$config" "$here/demo-chain.json"
run import --config "$config" "$here/till/demo-changes.json"

step "A member scans her card"
run lookup --config "$config" "LC-0001-2345" --at 2026-05-03T09:58:00+08:00

for sale in "$here"/till/sales/*.json; do
  step "Sale $(basename "$sale" .json)"
  run checkout --config "$config" "$sale"
done

step "The POS retries the first commit (it never saw the answer): the first result, no second sale"
run checkout --config "$config" "$here/till/sales/1-birthday.json"

step "A customer brings one scarf of receipt R-0002 back"
run refund --config "$config" --receipt R-0002 --refund-id F-0001 --line 2:1

step "The win-back member now: points pending until headquarters confirms them"
run lookup --config "$config" "13900139000" --at 2026-05-03T17:00:00+08:00

step "Everything waits in the outbox for headquarters"
run status --config "$config"

step "The rules engine on its own, on a worked scenario of the rule book"
run quote --rules "$here/demo-chain.json" --scenario "$here/03-winback-redeem.json" --format receipt
