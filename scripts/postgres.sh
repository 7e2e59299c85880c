#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: a fresh cluster in a temp dir, listening on
# 127.0.0.1 on a free port, fsync off, with database switchyard_test.
#
# Sourced (as scripts/test.sh does):
#   source scripts/postgres.sh
#   trap pg_stop EXIT
#   pg_start                     # sets and exports PG_URL, PG_PORT, PG_DIR
#   export SWITCHYARD_TEST_POSTGRES_URL=$PG_URL
#
# Executed:
#   scripts/postgres.sh run -- CMD [ARGS...]   # start, run CMD with SWITCHYARD_TEST_POSTGRES_URL set, stop
#   eval "$(scripts/postgres.sh start)"        # start; prints `export ...` lines (PG_DIR, PG_URL, ...)
#   scripts/postgres.sh stop [PG_DIR]          # stop and delete (PG_DIR defaults to $PG_DIR)
#
# As root the server runs as the `postgres` user (initdb refuses root); otherwise as the caller.
# Functions don't change the caller's shell options, and pg_stop may be called any number of times.

PG_DB_NAME=${PG_DB_NAME:-switchyard_test}

# Prints the newest installed server bin dir, e.g. /usr/lib/postgresql/15/bin.
_pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -z $dir || ! -x $dir/initdb ]]; then
    echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql (run scripts/setup.sh test)" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

# Runs a command as the user that owns the cluster.
_pg_as() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Prints a free TCP port on 127.0.0.1.
_pg_free_port() {
  local port
  if command -v python3 >/dev/null 2>&1 &&
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) &&
    [[ -n $port ]]; then
    printf '%s\n' "$port"
    return 0
  fi
  # Fallback: probe random high ports with bash's /dev/tcp (connection refused = free).
  local i
  for i in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  echo "postgres.sh: found no free port" >&2
  return 1
}

# Starts the server; on success sets and exports PG_DIR, PG_PORT, PG_URL (and PG_BIN).
# On failure it prints the server log, cleans up and returns 1.
pg_start() {
  if [[ -n ${PG_DIR:-} && -d ${PG_DIR:-} ]]; then
    echo "postgres.sh: already running (PG_DIR=$PG_DIR)" >&2
    return 1
  fi
  local bin dir port attempt started=""
  bin=$(_pg_bindir) || return 1
  if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
    echo "postgres.sh: running as root but there is no 'postgres' user (is package postgresql installed?)" >&2
    return 1
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-pg.XXXXXX") || return 1
  # initdb can't run as root, and the cluster's owner must be able to enter the temp dir itself.
  if ((EUID == 0)); then
    chown postgres:postgres "$dir" || { rm -rf "$dir"; return 1; }
  fi
  PG_DIR=$dir
  PG_BIN=$bin
  export PG_DIR PG_BIN

  if ! _pg_as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$dir/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    pg_stop
    return 1
  fi

  for attempt in 1 2 3 4 5; do
    port=$(_pg_free_port) || break
    if _pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
    # The port may have been taken between picking and binding: try another.
    echo "postgres.sh: start on port $port failed (attempt $attempt)" >&2
  done
  if [[ -z $started ]]; then
    echo "postgres.sh: PostgreSQL did not start; server log:" >&2
    tail -n 30 "$dir/log" >&2 2>/dev/null || true
    pg_stop
    return 1
  fi

  if ! _pg_as "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$PG_DB_NAME" >"$dir/createdb.log" 2>&1; then
    echo "postgres.sh: createdb $PG_DB_NAME failed:" >&2
    cat "$dir/createdb.log" >&2
    pg_stop
    return 1
  fi

  PG_PORT=$port
  PG_URL="postgres://postgres@127.0.0.1:$port/$PG_DB_NAME"
  export PG_PORT PG_URL
  echo "postgres.sh: PostgreSQL $(basename "$(dirname "$bin")") ready at $PG_URL (data in $dir)" >&2
}

# Stops the server started by pg_start (or the one in $1) and deletes its directory.
# Safe to call when nothing is running, and more than once.
pg_stop() {
  local dir=${1:-${PG_DIR:-}}
  [[ -n $dir ]] || return 0
  if [[ -d $dir ]]; then
    local bin=${PG_BIN:-}
    [[ -n $bin ]] || bin=$(_pg_bindir 2>/dev/null) || bin=""
    if [[ -n $bin && -f $dir/data/postmaster.pid ]]; then
      _pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        _pg_as "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
  fi
  if [[ $dir == "${PG_DIR:-}" ]]; then
    unset PG_DIR PG_PORT PG_URL PG_BIN
  fi
  return 0
}

_pg_main() {
  set -euo pipefail
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    start)
      pg_start
      printf 'export PG_DIR=%q PG_BIN=%q PG_PORT=%q PG_URL=%q SWITCHYARD_TEST_POSTGRES_URL=%q\n' \
        "$PG_DIR" "$PG_BIN" "$PG_PORT" "$PG_URL" "$PG_URL"
      ;;
    stop)
      pg_stop "${1:-${PG_DIR:-}}"
      ;;
    run)
      [[ ${1:-} == -- ]] && shift
      if (($# == 0)); then
        echo "usage: $0 run -- CMD [ARGS...]" >&2
        return 2
      fi
      trap pg_stop EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      pg_start
      export SWITCHYARD_TEST_POSTGRES_URL=$PG_URL
      local rc=0
      "$@" || rc=$?
      return "$rc"
      ;;
    *)
      echo "usage: $0 start | stop [PG_DIR] | run -- CMD [ARGS...]   (or: source $0; pg_start; pg_stop)" >&2
      return 2
      ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  _pg_main "$@"
  exit $?
fi
