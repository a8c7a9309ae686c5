#!/usr/bin/env bash
# idle-rss.sh BINARY... — the idle memory of an empty installation, binaries
# side by side in one run (a baseline build first): each is started on a
# fresh data directory with every face, HTTPS (local CA) and DNS on, left
# idle for IDLE seconds (default 5), and its /proc status read; ROUNDS rounds
# each (default 3). The network each server creates (named by the instance
# prefix its data file holds) is removed after it stops.
set -euo pipefail
idle=${IDLE:-5}
rounds=${ROUNDS:-3}
printf '%-28s %8s %8s %8s\n' binary VmRSS RssAnon RssFile
for bin in "$@"; do
  for _ in $(seq "$rounds"); do
    data=$(mktemp -d)
    PAAS_ADMIN_PASSWORD=idle-rss-check "$bin" serve --data "$data" --api 127.0.0.1:0 --http 127.0.0.1:0 \
      --https 127.0.0.1:0 --dns 127.0.0.1:0 >"$data.log" 2>&1 &
    pid=$!
    sleep "$idle"
    kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
    printf '%-28s %5s kB %5s kB %5s kB\n' "$(basename "$bin")" "$(kb VmRSS)" "$(kb RssAnon)" "$(kb RssFile)"
    kill "$pid"; wait "$pid" || true
    net=$(grep -ao 'paas-[0-9a-f]\{6\}' "$data/paas.db" | head -1 || true)
    [ -n "$net" ] && docker network rm "$net" >/dev/null 2>&1 || true
    rm -rf "$data" "$data.log"
  done
done
