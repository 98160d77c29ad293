# Headquarters on this machine (127.0.0.1 only), for the demo and the examples: sourced, not run.
# The caller sets $hq (the loyalty-hq binary) and works in its own folder, where hq.json, hq.log and
# hq.port live; start_hq sets $hq_pid and $port.
hq_pid=

# Whether process $1 still runs (a child that has exited but is not yet waited for does not).
running() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  read -r _ _ state _ <"/proc/$1/stat" || return 1
  [[ $state != Z ]]
}

# SIGTERM to headquarters, and wait (10 s at most) until it has stopped.
stop_hq() {
  [[ -n $hq_pid ]] || return 0
  kill -TERM "$hq_pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    running "$hq_pid" || break
    sleep 0.1
  done
  if running "$hq_pid"; then
    echo "headquarters did not stop on SIGTERM within 10 s; killing it" >&2
    kill -KILL "$hq_pid" 2>/dev/null || true
  fi
  wait "$hq_pid" 2>/dev/null || true
  hq_pid=
}

# Headquarters in the background, its log in hq.log; sets $port once it listens (10 s at most).
start_hq() {
  rm -f hq.port
  printf '$ loyalty-hq serve --config hq.json --port-file hq.port >>hq.log 2>&1 &\n'
  "$hq" serve --config hq.json --port-file hq.port >>hq.log 2>&1 &
  hq_pid=$!
  for ((i = 0; i < 100; i++)); do
    [[ -s hq.port ]] && break
    if ! running "$hq_pid"; then
      echo "headquarters did not start:" >&2
      cat hq.log >&2
      exit 1
    fi
    sleep 0.1
  done
  if [[ ! -s hq.port ]]; then
    echo "headquarters wrote no port within 10 s:" >&2
    cat hq.log >&2
    exit 1
  fi
  port=$(<hq.port)
  grep 'listening on' hq.log | tail -n 1
}

# The members file $1 with each last purchase moved as far before now as it lay before 2026-12-01,
# when the file was written: the offers its members get (a win-back after 180 days) stay the same
# whatever the day it runs.
members_as_of_today() {
  local shift=$(($(date +%s) - $(date -d 2026-12-01T00:00:00+08:00 +%s)))
  local line
  {
    IFS= read -r line
    printf '%s\n' "$line"
    while IFS=, read -r id name phone card birthday tier points purchases last; do
      [[ -n $last ]] && last=$(TZ=UTC-8 date -d "@$(($(date -d "$last" +%s) + shift))" -Iseconds)
      printf '%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$id" "$name" "$phone" "$card" "$birthday" "$tier" "$points" "$purchases" "$last"
    done
  } <"$1"
}

# Copies template $1 to $2 with text $3 replaced by $4, and checks that it was.
configure() {
  sed "s|$3|$4|" "$1" >"$2"
  if ! grep -qF "$4" "$2"; then
    echo "$1 has no $3 to replace" >&2
    exit 1
  fi
}
