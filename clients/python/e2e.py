"""Drives a real broker through a client generated from openapi/openapi.json by
openapi-python-client: principal, key, grant, connection, list, token from the fake vendor,
a rejected token reported and replaced. Run by clients/run-e2e.sh, which starts the broker
and the fake vendor and sets the environment."""

import os
import sys
import time

from tokenbroker_client import AuthenticatedClient
from tokenbroker_client.api.connections import create_connection, delete_connection, list_connections
from tokenbroker_client.api.principals import create_key, create_principal, delete_principal, list_grants, put_grant
from tokenbroker_client.api.tokens import get_token, refresh_token
from tokenbroker_client.models import (
    ConnectionStatus,
    CreateConnection,
    CreateConnectionConfig,
    CreateConnectionProvider,
    CreateConnectionSecrets,
    CreatePrincipal,
    KeyCreated,
    Problem,
    RefreshRequest,
    Role,
    TokenResponse,
)

CHECKS = 0


def check(ok, what, detail=None):
    global CHECKS
    if not ok:
        raise AssertionError(f"{what}: {detail!r}" if detail is not None else what)
    CHECKS += 1


def env(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set (clients/run-e2e.sh sets it)")
    return value


def main():
    base_url = env("BROKER_URL")
    run_id = env("RUN_ID")
    service_id = f"py-svc-{run_id}"
    connection_id = f"py-conn-{run_id}"
    admin = AuthenticatedClient(base_url=base_url, token=env("ADMIN_KEY"), raise_on_unexpected_status=True)

    r = create_principal.sync_detailed(
        client=admin, body=CreatePrincipal(id=service_id, role=Role.SERVICE, description="Python e2e")
    )
    check(r.status_code == 201 and r.parsed.id == service_id, "create principal", r.content)

    # The optional body as JSON null (the generated client cannot leave it out: it would
    # serialize its UNSET marker): the same as no body, a key that never expires.
    r = create_key.sync_detailed(service_id, client=admin, body=None)
    check(r.status_code == 201 and isinstance(r.parsed, KeyCreated), "create key", r.content)
    check(r.parsed.api_key.startswith("tbk_") and r.parsed.expires_at is None, "key shape", r.content)
    service_key = r.parsed.api_key

    r = put_grant.sync_detailed(service_id, "py-conn-*", client=admin)
    check(r.status_code == 204, "put grant", r.content)
    r = list_grants.sync_detailed(service_id, client=admin)
    check(r.parsed.grants == ["py-conn-*"], "list grants", r.content)

    config = CreateConnectionConfig.from_dict(
        {"token_url": env("VENDOR_TOKEN_URL"), "grant_type": "client_credentials", "client_id": "e2e-client"}
    )
    secrets = CreateConnectionSecrets.from_dict({"client_secret": "e2e-secret"})
    r = create_connection.sync_detailed(
        client=admin,
        body=CreateConnection(
            id=connection_id,
            provider=CreateConnectionProvider.OAUTH2,
            description="fake vendor on loopback",
            config=config,
            secrets=secrets,
        ),
    )
    check(r.status_code == 201 and r.parsed.secrets == ["client_secret"], "create connection", r.content)
    check(b"e2e-secret" not in r.content, "no secret value in the view")

    r = list_connections.sync_detailed(client=admin)
    mine = [c for c in r.parsed.connections if c.id == connection_id]
    check(len(mine) == 1 and mine[0].status == ConnectionStatus.ACTIVE, "list connections", r.content)

    service = AuthenticatedClient(base_url=base_url, token=service_key, raise_on_unexpected_status=True)
    r = get_token.sync_detailed(connection_id, client=service, min_ttl=60)
    check(r.status_code == 200 and isinstance(r.parsed, TokenResponse), "get token", r.content)
    first = r.parsed.access_token
    check(first.startswith("tok-"), "token from the fake vendor", first)
    check(r.parsed.headers["Authorization"] == f"Bearer {first}", "headers", r.content)
    check(r.headers.get("cache-control") == "no-store", "Cache-Control: no-store", dict(r.headers))

    # A token younger than TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS is not replaced yet: the
    # generated client sees the typed 429 and the Retry-After to wait for.
    r = refresh_token.sync_detailed(connection_id, client=service, body=RefreshRequest(rejected_access_token=first))
    check(r.status_code == 429 and isinstance(r.parsed, Problem) and r.parsed.code == "rate_limited", "429 for a young token", r.content)
    retry_after = int(r.headers.get("retry-after", "0"))
    check(1 <= retry_after <= 2, "Retry-After", dict(r.headers))
    time.sleep(retry_after)

    r = refresh_token.sync_detailed(connection_id, client=service, body=RefreshRequest(rejected_access_token=first))
    check(r.status_code == 200 and r.parsed.access_token != first, "rejected token replaced", r.content)
    replaced = r.parsed.access_token
    r = get_token.sync_detailed(connection_id, client=service)
    check(r.parsed.access_token == replaced, "the new token is current", r.content)

    # Reporting the old token again calls no vendor: the current one comes back.
    r = refresh_token.sync_detailed(connection_id, client=service, body=RefreshRequest(rejected_access_token=first))
    check(r.status_code == 200 and r.parsed.access_token == replaced, "stale report answered with the current token")

    # Problems are parsed too: a service may not list connections.
    r = list_connections.sync_detailed(client=service)
    check(r.status_code == 403 and isinstance(r.parsed, Problem) and r.parsed.code == "forbidden", "403", r.content)

    check(delete_connection.sync_detailed(connection_id, client=admin).status_code == 204, "delete connection")
    check(delete_principal.sync_detailed(service_id, client=admin).status_code == 204, "delete principal")
    print(f"python e2e: {CHECKS} passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"python e2e FAILED after {CHECKS} checks: {err}", file=sys.stderr)
        sys.exit(1)
