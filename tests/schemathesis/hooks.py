"""Schemathesis hooks for tests/schemathesis/run.sh.

Schemathesis reuses the ids it saw in earlier responses as path parameters,
so it would delete, narrow or rotate the very client whose token it sends.
The run names what must stay out of its reach (the admin client, its
Management API grant, the Management API resource server and the signing
key of the token); a request aimed at one of them goes to an id that does
not exist instead, which still exercises the operation (a 404).
"""

import os

import schemathesis

PROTECTED = {value for value in os.environ.get("SCHEMATHESIS_PROTECTED", "").split() if value}


@schemathesis.hook
def before_call(context, case, kwargs):
    for name, value in list((case.path_parameters or {}).items()):
        if isinstance(value, str) and value in PROTECTED:
            case.path_parameters[name] = "not-" + value
    query = case.query or {}
    for name, value in list(query.items()):
        if isinstance(value, str) and value in PROTECTED:
            query[name] = "not-" + value
