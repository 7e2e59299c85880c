"""Schemathesis hooks for tests/schemathesis/run.sh.

Generated ids rarely name anything, so most requests for `/users/{id}` and
the like would only ever meet a 404: half of the path parameters are
replaced by ids of the demo tenant (`SCHEMATHESIS_KNOWN`, a JSON file of
lists by collection), so that the handlers' own logic is reached too.

Schemathesis also reuses the ids it saw in earlier responses as path
parameters, so it would delete, narrow or rotate the very client whose token
it sends. The run names what must stay out of its reach
(`SCHEMATHESIS_PROTECTED`: the admin client, its Management API grant, the
Management API resource server and the signing key of the token); a request
aimed at one of them goes to an id that does not exist instead, which still
exercises the operation (a 404).
"""

import json
import os
import random

import schemathesis

PROTECTED = {value for value in os.environ.get("SCHEMATHESIS_PROTECTED", "").split() if value}

with open(os.environ["SCHEMATHESIS_KNOWN"], encoding="utf-8") as known_file:
    KNOWN = json.load(known_file)

# Which collection a path parameter other than `{id}` names (`{id}` names
# the collection before it in the path).
COLLECTION_OF = {
    "user_id": "users",
    "connection_id": "connections",
    "grant_id": "client-grants",
    "name": "organization-names",
}

# Seeded: a run is repeatable with its `--seed`.
CHOICE = random.Random(1)


def known_ids(path, name):
    parts = path.split("/")
    placeholder = "{" + name + "}"
    if placeholder not in parts:
        return []
    if name == "id":
        collection = parts[parts.index(placeholder) - 1]
    else:
        collection = COLLECTION_OF.get(name, "")
    return KNOWN.get(collection, [])


def protect(values):
    for name, value in list(values.items()):
        if isinstance(value, str) and value in PROTECTED:
            values[name] = "not-" + value


@schemathesis.hook
def before_call(context, case, kwargs):
    path_parameters = case.path_parameters or {}
    for name in list(path_parameters):
        ids = known_ids(case.operation.path, name)
        if ids and CHOICE.random() < 0.5:
            path_parameters[name] = CHOICE.choice(ids)
    protect(path_parameters)
    protect(case.query or {})
