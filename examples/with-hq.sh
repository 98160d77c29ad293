#!/usr/bin/env bash
# Runs an example POS against a real headquarters on this machine (127.0.0.1 only): development
# certificates, loyalty-hq on SQLite with the demo chain's rules and members, and the till's
# configuration, in a fresh folder that is removed afterwards; then COMMAND, run from the caller's
# folder with that configuration's path as its last argument; then headquarters stops. Exits with
# COMMAND's status.
# Usage: examples/with-hq.sh LOYALTY_HQ COMMAND [ARG...]
#   e.g. examples/with-hq.sh /usr/bin/loyalty-hq python3 examples/python/checkout.py
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 LOYALTY_HQ COMMAND [ARG...]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
hq=$(command -v "$1") || { echo "with-hq: no loyalty-hq at $1" >&2; exit 2; }
hq=$(cd "$(dirname "$hq")" && pwd)/$(basename "$hq")
shift
# shellcheck source=lib/hq.sh
source "$here/lib/hq.sh"
caller=$PWD
work=$(mktemp -d /tmp/loyalty-example.XXXXXX)
cleanup() {
  stop_hq
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"
{
  # The development PKI script: the source tree's, or the copy installed beside the examples.
  pki_script=$here/../packaging/dev-pki.sh
  [[ -f $pki_script ]] || pki_script=$here/lib/dev-pki.sh
  bash "$pki_script" pki S001
  cp "$here/demo/hq/hq.json" hq.json
  members_as_of_today "$here/demo/hq/members.csv" >members.csv
  start_hq
  "$hq" rules set --config hq.json "$here/demo/demo-chain.json"
  "$hq" members import --config hq.json members.csv
  configure "$here/demo/till/till.json" till.json "https://127.0.0.1:8443" "https://127.0.0.1:$port"
} >setup.log 2>&1 || { cat setup.log >&2; exit 1; }
cd "$caller"
set +e
"$@" "$work/till.json"
status=$?
set -e
exit $status
