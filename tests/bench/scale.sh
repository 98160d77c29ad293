#!/usr/bin/env bash
# Headquarters at chain scale, measured: S stores x T tills (loyalty-loadgen, real mutual TLS) against
# loyalty-hq on this machine's loopback only.
#
#   tests/bench/scale.sh [--storage postgres|sqlite] [--instances N] [--stores 300] [--tills 10]
#                        [--seconds 120] [--interval-ms 30000] [--sales 2] [--kill-at SECONDS]
#                        [--idle-seconds 120] [--read-workers 2] [--build build/release] [--out FILE]
#
# postgres: a throwaway cluster (tests/support/pg_cluster.sh), N instances behind HAProxy in TCP
# mode (mutual TLS end to end, round robin; the instances share one ticket key, so that a till
# resumes its session at any of them). sqlite: one instance, the tills straight to it. --kill-at: SIGKILL the last
# instance that many seconds into the load (the tills go on through the others). The tills start
# seeded (following the changes feed from where it ends, as tills seeded from a snapshot of the
# members do), then pull every change at each sync. --idle-seconds: headquarters closes a connection
# idle that long (limits.timeout_seconds): below the interval, every sync reconnects and resumes its
# TLS session. --read-workers: workers.reads of each instance. Prints the load
# generator's report; exits non-zero when a sale was lost or doubled.
set -euo pipefail
storage=postgres instances=2 stores=300 tills=10 seconds=120 interval=30000 sales=2 kill_at= out= idle=120 reads=2
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build/release
while [[ $# -gt 0 ]]; do
  case $1 in
    --storage) storage=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --stores) stores=$2; shift 2 ;;
    --tills) tills=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --interval-ms) interval=$2; shift 2 ;;
    --sales) sales=$2; shift 2 ;;
    --kill-at) kill_at=$2; shift 2 ;;
    --idle-seconds) idle=$2; shift 2 ;;
    --read-workers) reads=$2; shift 2 ;;
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "scale: unknown argument $1" >&2; exit 2 ;;
  esac
done
hq_bin=$build/sync/hq/loyalty-hq
loadgen=$build/tests/bench/loyalty-loadgen
[[ -x $hq_bin && -x $loadgen ]] || { echo "scale: build loyalty-hq and loyalty-loadgen first ($build)" >&2; exit 2; }
[[ $storage == sqlite ]] && instances=1
if [[ $storage == postgres ]] && ! command -v haproxy >/dev/null; then
  echo "scale: HAProxy is not installed (apt-get install haproxy)" >&2
  exit 2
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d /tmp/loyalty-scale.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ $storage == postgres ]] && bash "$root/tests/support/pg_cluster.sh" stop "$dir/pg" >/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

echo "scale: certificates for $stores stores" >&2
store_ids=()
for ((s = 1; s <= stores; s++)); do store_ids+=("$(printf 'S%04d' "$s")"); done
bash "$root/packaging/dev-pki.sh" pki "${store_ids[@]}" >/dev/null

openssl rand -hex 80 >ticket.key
members=$((stores * 50))
"$loadgen" --print-rules >rules.json
"$loadgen" --print-members "$members" >members.csv

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
storage_json='"database": "hq.db"'
check=(--check-sqlite "$dir/hq.db")
if [[ $storage == postgres ]]; then
  bash "$root/tests/support/pg_cluster.sh" start "$dir/pg" >&2
  url=$(cat "$dir/pg.url")
  psql "$url/postgres" -qc "CREATE DATABASE scale" >/dev/null
  storage_json="\"storage\": {\"kind\": \"postgres\", \"url\": \"$url/scale\"}"
  check=(--check-postgres "$url/scale")
fi
ports=()
for ((i = 1; i <= instances; i++)); do
  port=$(free_port)
  ports+=("$port")
  cat >"hq$i.json" <<JSON
{"listen": "127.0.0.1:$port", $storage_json,
 "tls": {"cert_file": "pki/hq.pem", "key_file": "pki/hq.key", "ca_file": "pki/ca.pem", "ticket_key_file": "ticket.key"},
 "code_key": "6c6f79616c74792d64656d6f2d636861696e2d6b65792d6e6f742d612d736563",
 "enrollment_key_file": "pki/hq-enroll-private.pem",
 "threads": 2, "workers": {"batches": 4, "reads": $reads},
 "limits": {"timeout_seconds": $idle, "handshakes_per_address": 100000, "connections": 60000},
 "ledger": {"timer_seconds": 0}}
JSON
done
"$hq_bin" rules set --config hq1.json rules.json >/dev/null
"$hq_bin" members import --config hq1.json members.csv >/dev/null
for ((i = 1; i <= instances; i++)); do
  "$hq_bin" serve --config "hq$i.json" >"hq$i.log" 2>&1 &
  pids+=($!)
done
for ((i = 1; i <= instances; i++)); do
  for _ in $(seq 1 100); do grep -q listening "hq$i.log" && break; sleep 0.1; done
done
target=${ports[0]}
if [[ $storage == postgres ]]; then
  target=$(free_port)
  {
    echo "global"
    echo "  maxconn $(( $(ulimit -n) / 2 - 100 ))"
    echo "defaults"
    echo "  mode tcp"
    echo "  timeout connect 5s"
    echo "  timeout client 300s"
    echo "  timeout server 300s"
    echo "frontend tills"
    echo "  bind 127.0.0.1:$target"
    echo "  default_backend hq"
    echo "backend hq"
    echo "  balance roundrobin"
    for ((i = 1; i <= instances; i++)); do echo "  server hq$i 127.0.0.1:${ports[$((i - 1))]} check inter 1s fall 2 rise 2"; done
  } >haproxy.cfg
  haproxy -f haproxy.cfg >haproxy.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $target), 1)" 2>/dev/null && break
    sleep 0.1
  done
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then
    cat haproxy.log >&2
    echo "scale: HAProxy did not start" >&2
    exit 1
  fi
fi
if [[ -n $kill_at ]]; then
  victim=${pids[$((instances - 1))]}
  (sleep "$kill_at"; kill -9 "$victim" 2>/dev/null; echo "scale: SIGKILL instance $instances at ${kill_at}s" >&2) &
fi
echo "scale: $((stores * tills)) tills, $storage, $instances instance(s), ${seconds}s" >&2
set +e
"$loadgen" --url "https://127.0.0.1:$target" --pki pki --stores "$stores" --tills "$tills" --seconds "$seconds" \
  --interval-ms "$interval" --sales "$sales" --members "$members" "${check[@]}" --seeded --json report.json
rc=$?
set -e
[[ -n $out ]] && cp report.json "$out"
for ((i = 1; i <= instances; i++)); do
  echo "--- hq$i.log (last lines)" >&2
  tail -3 "hq$i.log" >&2
done
exit $rc
