#!/usr/bin/env bash
# loyalty-loadgen against a real loyalty-hq on 127.0.0.1 (SQLite): a few stores' tills sell and sync
# for a few seconds, then the load generator's own check finds every sale in headquarters' database
# once. Usage: loadgen_check.sh LOYALTY_HQ LOYALTY_LOADGEN DEV_PKI_SH
set -euo pipefail
hq_bin=$1 loadgen=$2 pki_sh=$3
dir=$(mktemp -d /tmp/loyalty-loadgen.XXXXXX)
hq_pid=
cleanup() {
  [[ -n "$hq_pid" ]] && kill "$hq_pid" 2>/dev/null && wait "$hq_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
bash "$pki_sh" pki S0001 S0002 >/dev/null 2>&1
cat >hq.json <<'JSON'
{"listen": "127.0.0.1:0", "database": "hq.db",
 "tls": {"cert_file": "pki/hq.pem", "key_file": "pki/hq.key", "ca_file": "pki/ca.pem"},
 "code_key": "6c6f79616c74792d64656d6f2d636861696e2d6b65792d6e6f742d612d736563",
 "enrollment_key_file": "pki/hq-enroll-private.pem", "ledger": {"timer_seconds": 0}}
JSON
"$loadgen" --print-rules >rules.json
"$loadgen" --print-members 200 >members.csv
"$hq_bin" rules set --config hq.json rules.json >/dev/null
"$hq_bin" members import --config hq.json members.csv >/dev/null
"$hq_bin" serve --config hq.json --port-file port >hq.log 2>&1 &
hq_pid=$!
for _ in $(seq 1 100); do [[ -s port ]] && break; sleep 0.1; done
[[ -s port ]] || { cat hq.log; echo "loyalty-hq did not start"; exit 1; }
if ! "$loadgen" --url "https://127.0.0.1:$(cat port)" --pki pki --stores 2 --tills 3 --seconds 3 --interval-ms 300 \
     --sales 2 --members 200 --check-sqlite hq.db >report.json; then
  cat report.json hq.log
  echo "loadgen_check: the load generator's check failed"
  exit 1
fi
python3 - report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["sales_committed"] > 0, r
assert r["sales_acknowledged"] == r["sales_committed"], r
assert r["lost"] == 0 and r["doubled"] == 0 and r["left_queued"] == 0, r
assert r["hq_sales"] == r["sales_committed"], r
assert r["handshakes_full"] == 6, r  # one per till: the connection is kept alive
print("loadgen_check: %d sales from 6 tills, each once at headquarters" % r["sales_committed"])
PY
