#!/usr/bin/env bash
# The shipped binary's memory at rest (README, "Measured figures"): a fresh
# SQLite data directory, a first start, a restart, then 1,000 users created
# through the Management API (16 at a time). Each step reads /proc/<pid>/status
# 5 s after the last request (the allocator was trimmed); the last step reads
# it again 185 s after (SQLite connections close 30 to 90 s after their last
# use, and the allocator is trimmed again).
#
#   cargo build --release --locked && scripts/idle-memory.sh target/release/switchyard
#
# It listens on 127.0.0.1:18443 and needs curl and python3.
set -euo pipefail

binary=${1:?usage: scripts/idle-memory.sh PATH/TO/switchyard}
port=18443
base=http://127.0.0.1:$port
secret=idle-memory-secret-0123456789
data=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

start() {
  "$binary" serve --data-dir "$data" --insecure-http --listen 127.0.0.1:$port \
    --issuer "$base/" --no-demo \
    --bootstrap-client-id idle-memory --bootstrap-client-secret "$secret" \
    >"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null && return
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$data/server.log" >&2
  exit 1
}

stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

status() {
  awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s %.1f MiB  ", $1, $2 / 1024 } END { print "" }' \
    "/proc/$pid/status"
}

memory() {
  sleep 5
  status
}

start
echo "first start:              $(memory)"
stop
start
echo "restart:                  $(memory)"

token=$(curl -sf -d client_id=idle-memory -d client_secret="$secret" \
  -d grant_type=client_credentials -d audience="$base/api/v2/" "$base/oauth/token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
api() {
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$2" "$base/api/v2/$1"
}
api connections '{"name":"Username-Password-Authentication","strategy":"auth0"}'
export -f api
export token base
failed=$(seq 1 1000 | xargs -P 16 -I{} bash -c \
  'api users "{\"connection\":\"Username-Password-Authentication\",\"email\":\"user{}@example.com\",\"password\":\"Correct-Horse-Battery-{}!\"}" || echo failed' |
  grep -c failed || true)
if [[ $failed -ne 0 ]]; then
  echo "$failed of the 1,000 users were not created" >&2
  exit 1
fi
echo "after 1,000 users:        $(memory)"
sleep 180
echo "and 3 minutes at rest:    $(status)"
