#!/usr/bin/env bash
# The main demo, end to end on this machine (127.0.0.1 only): headquarters (loyalty-hq, on SQLite)
# publishes the chain's rules and its members; store S001's till (loyalty-till, over libloyalty)
# syncs, sells online, sells on while headquarters is down, and catches up once it is back. Then the
# rules engine on its own.
# Usage: examples/demo/run.sh [BUILD_DIR]   (default: build/release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/release}
till=$build/examples/till/loyalty-till
hq=$build/sync/hq/loyalty-hq
for binary in "$till" "$hq"; do
  if [[ ! -x $binary ]]; then
    echo "demo: $binary is not built; run: cmake --workflow --preset release" >&2
    exit 1
  fi
done
till=$(cd "$(dirname "$till")" && pwd)/loyalty-till
hq=$(cd "$(dirname "$hq")" && pwd)/loyalty-hq

work=$(mktemp -d /tmp/loyalty-demo.XXXXXX)
# shellcheck source=../lib/hq.sh
source "$here/../lib/hq.sh"

cleanup() {
  stop_hq
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"

step() { printf '\n=== %s\n' "$*"; }
# A command as a person would type it in the demo's folder.
echo_command() {
  local arg words=()
  for arg in "$@"; do
    [[ $arg == *[[:space:]]* ]] && arg="\"$arg\""
    words+=("$arg")
  done
  printf '$ %s\n' "${words[*]}" | sed -e "s|$work/||g" -e "s|$root/||g"
}
run_till() {
  echo_command loyalty-till "$@"
  "$till" "$@" 2>&1
}
run_hq() {
  echo_command loyalty-hq "$@"
  "$hq" "$@" 2>&1
}
# The store's time (+08:00, the chain's zone), $1 seconds from now.
store_time() { TZ=UTC-8 date -d "@$(($(date +%s) + ${1:-0}))" -Iseconds; }

# Sale script $1 of examples/demo/till/sales/, stamped with the sale's time $2 ("at"), checked out.
sale() {
  mkdir -p sales
  sed '1s/^{/{"at": "'"$2"'", /' "$here/till/sales/$1.json" >"sales/$1.json"
  run_till checkout --config till.json "sales/$1.json"
}

echo "loyalty demo: headquarters of a fashion chain and till T01 of its store S001, both on this machine"

step "Development certificates: the chain's CA, headquarters' TLS certificate and enrollment key pair, store S001's client certificate"
printf '$ packaging/dev-pki.sh pki S001\n'
bash "$root/packaging/dev-pki.sh" pki S001

step "Headquarters starts on SQLite, publishes the chain's rules and imports its members with their purchase history"
cp "$here/hq/hq.json" hq.json
members_as_of_today "$here/hq/members.csv" >members.csv
start_hq
run_hq rules set --config hq.json "$here/demo-chain.json"
cat members.csv
run_hq members import --config hq.json members.csv
step "Headquarters issues a single-use coupon to member M-5001: CNY 20 off a spend of CNY 100"
run_hq coupons issue --config hq.json --member M-5001 --kind amount --value 2000 --min-spend 10000 --code WELCOME-20

step "The till's first sync with headquarters (https://127.0.0.1:$port): the rules and the members come down"
configure "$here/till/till.json" till.json "https://127.0.0.1:8443" "https://127.0.0.1:$port"
run_till sync --config till.json

step "A member scans her card: her points and what the till may offer her"
run_till lookup --config till.json LC-0001-2345

# The sale scripts are examples/demo/till/sales/*.json; each is checked out from a copy stamped with
# the sale's time ("at"), the store's time now or later.
step "Sale 1, online: she gives her phone number instead; she has bought 12 times before, so her Gold card's discount"
sale 1-gold-card "$(store_time)"
step "Sale 2, online: a Black card member with an eco bag (double points on the eco line)"
sale 2-green-bonus "$(store_time)"

step "The next sync: headquarters applies both sales and sends the members' new records back"
run_till sync --config till.json
run_till lookup --config till.json LC-0001-2345

step "Headquarters goes down (SIGTERM)"
printf '$ kill -TERM %s\n' "$hq_pid"
stop_hq
tail -n 2 hq.log
# Two hours later by the sales' clock: the till has not synced for longer than the rules'
# redeem.offline_after_minutes (15), so it is offline and redemptions are capped by
# redeem.offline_daily_limit_points (2000 per member a day).
offline_at=$(store_time 7201)

step "Two hours later ($offline_at), still no headquarters: the till says it is offline"
run_till lookup --config till.json LC-0001-2345 --at "$offline_at"

step "Sale 3, offline: she asks to pay with 3000 points; offline the rules allow 2000 per member a day"
sale 3-redeem-over-offline-limit "$offline_at"
step "Sale 4, offline: a member back after half a year gets the win-back offer, and pays with 2000 points, within the offline allowance"
sale 4-redeem-offline "$offline_at"
step "Sale 5, offline: a customer enrolls at the till and gets the first-purchase offer"
sale 5-enroll-first-purchase "$offline_at"
step "Sale 6, offline: the Black card member uses the coupon headquarters issued him"
sale 6-coupon-offline "$offline_at"

step "The POS retries the commit of sale 4 (it never saw the answer): the first result, no second sale"
sale 4-redeem-offline "$offline_at"

step "A customer brings one scarf of receipt R-0003 back"
run_till refund --config till.json --receipt R-0003 --refund-id F-0001 --line 2:1

step "The till tries to sync: headquarters is down, so everything waits in the outbox"
if run_till sync --config till.json; then
  echo "demo: the sync succeeded with headquarters down" >&2
  exit 1
fi
run_till status --config till.json

step "Headquarters is back on the same port; the till syncs: every sale, the enrollment and the refund applied"
configure "$here/hq/hq.json" hq.json '"127.0.0.1:0"' "\"127.0.0.1:$port\""
start_hq
run_till sync --config till.json
run_till status --config till.json
run_till lookup --config till.json LC-0001-2345
run_till lookup --config till.json "137 1234 5678"

step "Headquarters' view of the members: tiers, points, purchases, the member enrolled at the till (names masked)"
run_hq members list --config hq.json

step "Headquarters' ledger for one member: every sale re-checked with the engine, points in lots that expire, the coupon used"
run_hq member --config hq.json M-5001

step "The operator's view: each store's last sync, the till's backlog and clock, and what is flagged (the demo dated its offline sales two hours ahead)"
run_hq stores --config hq.json
run_hq flags --config hq.json

step "The rules engine on its own, on a worked scenario of the rule book"
run_till quote --rules "$here/demo-chain.json" --scenario "$here/03-winback-redeem.json" --format receipt

step "Headquarters stops"
printf '$ kill -TERM %s\n' "$hq_pid"
stop_hq
tail -n 2 hq.log
