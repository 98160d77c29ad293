#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, its own port on
# 127.0.0.1 only, trust authentication for the test user, no other listener. As root it runs the
# server as Debian's `postgres` user (PostgreSQL refuses to run as root).
#
#   pg_cluster.sh start STATE   # STATE gets the cluster's directory and its URL (STATE.url)
#   pg_cluster.sh stop STATE
set -euo pipefail

action=${1:?start or stop}
state=${2:?a state file}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "pg_cluster: PostgreSQL's server is not installed (apt-get install postgresql)" >&2
  exit 1
fi
as=()
if [[ $(id -u) == 0 ]]; then as=(runuser -u postgres --); fi

case "$action" in
  start)
    if [[ -f "$state" ]]; then "$0" stop "$state" || true; fi
    dir=$(mktemp -d /tmp/loyalty-pg.XXXXXX)
    chmod 700 "$dir"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U loyalty -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    for attempt in $(seq 1 20); do
      port=$((20000 + RANDOM % 20000))
      if "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
           -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=256MB" \
           start >/dev/null 2>&1; then
        echo "$dir" >"$state"
        echo "postgresql://loyalty@127.0.0.1:$port" >"$state.url"
        echo "pg_cluster: started on 127.0.0.1:$port ($dir)"
        exit 0
      fi
    done
    cat "$dir/server.log" >&2 || true
    echo "pg_cluster: the server did not start" >&2
    exit 1
    ;;
  stop)
    [[ -f "$state" ]] || exit 0
    dir=$(cat "$state")
    if [[ -d "$dir/data" ]]; then "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    rm -f "$state" "$state.url"
    echo "pg_cluster: stopped"
    ;;
  *)
    echo "pg_cluster: start or stop" >&2
    exit 2
    ;;
esac
