#!/usr/bin/env bash
# Schemathesis against a live Switchyard: the Management API's OpenAPI
# document must describe every answer (status, body, content type) to the
# positive and negative requests it generates, and no request may get a 5xx.
#
#   tests/schemathesis/run.sh [SWITCHYARD_BINARY]
#
# The binary defaults to the debug build of the cargo target dir. Schemathesis
# goes into a venv in the target dir (installed from PyPI on first use), never
# into the checkout. Fails (never skips) when it cannot run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
binary=${1:-$target/debug/switchyard}
version=4.32.5
venv=$target/schemathesis-$version

fail() {
  echo "schemathesis: $*" >&2
  exit 1
}

[[ -x $binary ]] || fail "no switchyard binary at $binary (build it first)"

if [[ ! -x $venv/bin/schemathesis ]]; then
  echo "==> schemathesis: installing schemathesis==$version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed (scripts/setup.sh test installs python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" ||
    fail "pip install schemathesis==$version failed"
fi
py=$venv/bin/python

work=$(mktemp -d)
server=
cleanup() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=https://localhost:$port
admin_id=schemathesis-admin
admin_secret=$("$py" -c 'import secrets; print(secrets.token_urlsafe(32))')

"$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --no-demo-idp \
  --bootstrap-client-id "$admin_id" --bootstrap-client-secret "$admin_secret" \
  >"$work/server.log" 2>&1 &
server=$!

# Waits for the server, takes a Management API token and names what the
# fuzzing must not touch: the admin client, its grant, the Management API
# resource server (by id and identifier) and the token's signing key.
export BASE=$base ADMIN_ID=$admin_id ADMIN_SECRET=$admin_secret CERT=$work/data/tls/cert.pem SERVER_PID=$server
export SCHEMATHESIS_KNOWN=$work/known.json KNOWN=$work/known.json
"$py" - >"$work/session" <<'PY' || { cat "$work/server.log" >&2; fail "the server did not come up or refused the admin token"; }
import base64, json, os, time
import requests

base, cert = os.environ["BASE"], os.environ["CERT"]
for _ in range(300):
    try:
        if requests.get(base + "/readyz", verify=cert, timeout=2).ok:
            break
    except (requests.RequestException, OSError):
        pass
    if os.waitpid(int(os.environ["SERVER_PID"]), os.WNOHANG) != (0, 0):
        raise SystemExit("the server exited")
    time.sleep(0.1)
else:
    raise SystemExit("the server was not ready in 30 s")
audience = base + "/api/v2/"
token = requests.post(base + "/oauth/token", verify=cert, data={
    "grant_type": "client_credentials", "client_id": os.environ["ADMIN_ID"],
    "client_secret": os.environ["ADMIN_SECRET"], "audience": audience}).json()["access_token"]
auth = {"Authorization": "Bearer " + token}
grants = requests.get(base + "/api/v2/client-grants", params={"client_id": os.environ["ADMIN_ID"]},
                      headers=auth, verify=cert).json()
apis = requests.get(base + "/api/v2/resource-servers", headers=auth, verify=cert).json()
kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
protected = [os.environ["ADMIN_ID"], kid, audience] + [g["id"] for g in grants] \
    + [a["id"] for a in apis if a["identifier"] == audience]
# The demo tenant's ids, for hooks.py to aim some requests at resources that exist.
known = {}
for collection, key in [("organizations", "id"), ("users", "user_id"), ("connections", "id"),
                        ("clients", "client_id"), ("roles", "id"), ("resource-servers", "id"),
                        ("client-grants", "id")]:
    items = requests.get(f"{base}/api/v2/{collection}", headers=auth, verify=cert).json()
    known[collection] = [i[key] for i in items if i[key] not in protected]
known["organization-names"] = [
    o["name"] for o in requests.get(base + "/api/v2/organizations", headers=auth, verify=cert).json()]
with open(os.environ["KNOWN"], "w") as out:
    json.dump(known, out)
print(token)
print(" ".join(protected))
print(" ".join(sorted(s for g in grants if g["audience"] == audience for s in g["scope"])))
PY
token=$(sed -n 1p "$work/session")
export SCHEMATHESIS_PROTECTED
SCHEMATHESIS_PROTECTED=$(sed -n 2p "$work/session")
[[ -n $token && -n $SCHEMATHESIS_PROTECTED ]] || fail "no token or no protected ids"

export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH=$repo/tests/schemathesis
# An empty working directory: no stray schemathesis.toml is read.
mkdir "$work/run"
cd "$work/run"
status=0
"$venv/bin/schemathesis" run "$base/api/v2/openapi.json" \
  --tls-verify "$CERT" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
  --mode all \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --workers 1 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --generation-database none \
  --no-color \
  --report ndjson --report-dir "$work/report" || status=$?
if ((status != 0)); then
  echo "schemathesis: failed (exit $status); the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
  exit "$status"
fi

# A run whose token stopped working part-way would have met nothing but
# (documented) 401s from then on: the token, its client and its grant with
# every scope must have come through.
export TOKEN=$token SCOPES
SCOPES=$(sed -n 3p "$work/session")
"$py" - <<'PY' || fail "the run locked its own client out (see above)"
import os
import requests

base, cert, admin = os.environ["BASE"], os.environ["CERT"], os.environ["ADMIN_ID"]
auth = {"Authorization": "Bearer " + os.environ["TOKEN"]}
client = requests.get(f"{base}/api/v2/clients/{admin}", headers=auth, verify=cert)
grants = requests.get(base + "/api/v2/client-grants", params={"client_id": admin}, headers=auth, verify=cert)
if not client.ok or not grants.ok:
    raise SystemExit(f"after the run: client {client.status_code} {client.text}; grants {grants.status_code} {grants.text}")
scopes = sorted(s for g in grants.json() if g["audience"] == base + "/api/v2/" for s in g["scope"])
if " ".join(scopes) != os.environ["SCOPES"]:
    raise SystemExit(f"after the run the admin grant holds {scopes}, not {os.environ['SCOPES']}")
print(f"schemathesis: the admin client, its grant ({len(scopes)} scopes) and its token came through")
PY
