"""schemathesis hooks for clients/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

The fuzzer authenticates as principal `fuzz-admin`, and it learns that id from
GET /v1/principals. Deleting that principal (or revoking its key) would leave every later
request a 401 and the rest of the run testing nothing, so a DELETE aimed at it is aimed at
`fuzz-decoy` instead: an admin made for the purpose, so the request still names a real
principal and the checks still judge a real answer."""

import schemathesis

PROTECTED = "fuzz-admin"
DECOY = "fuzz-decoy"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    parameters = case.path_parameters or {}
    if case.method.upper() == "DELETE" and parameters.get("id") == PROTECTED:
        parameters["id"] = DECOY
