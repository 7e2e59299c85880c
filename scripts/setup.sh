#!/usr/bin/env bash
# Installs what building (and testing) Switchyard needs on Debian 12. Idempotent and fast
# (well under a second) when everything is already present, so every script runs it first.
#
#   scripts/setup.sh build   # build deps only (default)
#   scripts/setup.sh test    # build + test deps, and `npm ci` in tests/peers when needed
set -euo pipefail

group=${1:-build}
case "$group" in
  build | test) ;;
  -h | --help)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [build|test]" >&2
    exit 2
    ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)

# libclang-dev: samael's bindgen; libxmlsec1-openssl: needed at run time too; curl, jq: the
# README's Management API commands.
build_pkgs=(pkg-config libssl-dev libxml2-dev libxmlsec1-dev libxmlsec1-openssl libclang-dev clang xmlsec1 curl jq)
# postgresql: server binaries for scripts/postgres.sh; chromium: browser tests (playwright-core);
# python3-venv: the venv Schemathesis is installed into (tests/schemathesis/run.sh);
# dnsmasq-base: the DNS server on loopback that serves discovery domains' TXT records (the
# binary alone, no system service).
test_pkgs=(postgresql chromium python3-venv dnsmasq-base)

wanted=("${build_pkgs[@]}")
if [[ $group == test ]]; then
  wanted+=("${test_pkgs[@]}")
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${wanted[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  if ((EUID == 0)); then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup.sh: missing Debian packages: ${missing[*]}" >&2
    echo "setup.sh: not root and no sudo; install them with:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  # apt's own output is the progress: what it fetches, how much, each package set up.
  apt_opts=(-o DPkg::Lock::Timeout=300)
  echo "==> setup.sh: missing Debian packages: ${missing[*]}" >&2
  echo "==> setup.sh: apt-get update (the package lists: seconds to a minute; waits up to 5 min for another apt to finish)" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
  echo "==> setup.sh: apt-get install (\"Need to get\" below is the download; on a fresh machine a few minutes)" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y \
    --no-install-recommends "${missing[@]}"
  still=()
  for pkg in "${missing[@]}"; do
    installed "$pkg" || still+=("$pkg")
  done
  if ((${#still[@]} > 0)); then
    echo "setup.sh: still missing after apt-get install: ${still[*]}" >&2
    exit 1
  fi
fi

if [[ $group == test ]]; then
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "setup.sh: package postgresql is installed but no /usr/lib/postgresql/*/bin/initdb exists" >&2
    exit 1
  fi

  peers=$repo/tests/peers
  # npm writes node_modules/.package-lock.json on every install; it is our freshness marker.
  marker=$peers/node_modules/.package-lock.json
  if [[ ! -e $marker || $peers/package-lock.json -nt $marker ]]; then
    for tool in node npm; do
      if ! command -v "$tool" >/dev/null 2>&1; then
        echo "setup.sh: '$tool' not found; Node.js 20+ with npm is needed for tests/peers" >&2
        exit 1
      fi
    done
    echo "==> setup.sh: npm ci in tests/peers (the test peers: ≈ 240 packages, 84 MB; 25 s on the project machine)" >&2
    (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$marker"
  fi
fi
