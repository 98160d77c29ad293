#!/usr/bin/env bash
# loyalty-bench's sync and ledger figures on PostgreSQL: starts a throwaway cluster on 127.0.0.1
# (tests/support/pg_cluster.sh), runs loyalty-bench with --postgres=its URL and the arguments given,
# and stops the cluster.
#
#   tests/bench/pg_bench.sh [--build DIR] [loyalty-bench arguments]   # DIR: build/release by default
#   tests/bench/pg_bench.sh --sync-only --data=/work/bench
#   tests/bench/pg_bench.sh --ledger-only --data=/work/bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build/release
if [[ ${1:-} == --build ]]; then
  build=$2
  shift 2
fi
state=$(mktemp -u /tmp/loyalty-pg-bench.XXXXXX)
trap 'bash "$here/../support/pg_cluster.sh" stop "$state" >/dev/null 2>&1 || true' EXIT
bash "$here/../support/pg_cluster.sh" start "$state"
"$build/tests/bench/loyalty-bench" --postgres="$(cat "$state.url")" "$@"
