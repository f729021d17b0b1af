// Drives a real broker through a client generated from openapi/openapi.json
// (openapi-typescript types + openapi-fetch): every call below is type-checked against the
// document by `tsc`, and every answer is checked here. Run by clients/run-e2e.sh, which
// starts the broker and the fake vendor and sets the environment.
import createClient from "openapi-fetch";
import type { paths } from "./generated/schema.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (clients/run-e2e.sh sets it)`);
  return value;
}

let checks = 0;
function check(ok: boolean, what: string, detail?: unknown): void {
  if (!ok) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  checks += 1;
}

const baseUrl = env("BROKER_URL");
const vendorTokenUrl = env("VENDOR_TOKEN_URL");
const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${env("ADMIN_KEY")}` } });
const suffix = env("RUN_ID");
const serviceId = `ts-svc-${suffix}`;
const connectionId = `ts-conn-${suffix}`;

async function main(): Promise<void> {
  const principal = await admin.POST("/v1/principals", {
    body: { id: serviceId, role: "service", description: "TypeScript e2e" },
  });
  check(principal.response.status === 201 && principal.data?.id === serviceId, "create principal", principal.error);

  // The body is optional: none at all is a key that never expires.
  const key = await admin.POST("/v1/principals/{id}/keys", { params: { path: { id: serviceId } } });
  check(key.response.status === 201 && !!key.data?.api_key.startsWith("tbk_"), "create key", key.error);
  check(key.data?.expires_at == null, "a key without expires_at never expires", key.data);

  const grant = await admin.PUT("/v1/principals/{id}/grants/{pattern}", {
    params: { path: { id: serviceId, pattern: "ts-conn-*" } },
  });
  check(grant.response.status === 204, "put grant", grant.error);
  const grants = await admin.GET("/v1/principals/{id}/grants", { params: { path: { id: serviceId } } });
  check(JSON.stringify(grants.data?.grants) === JSON.stringify(["ts-conn-*"]), "list grants", grants.data);

  const created = await admin.POST("/v1/connections", {
    body: {
      id: connectionId,
      provider: "oauth2",
      description: "fake vendor on loopback",
      config: { token_url: vendorTokenUrl, grant_type: "client_credentials", client_id: "e2e-client" },
      secrets: { client_secret: "e2e-secret" },
    },
  });
  check(created.response.status === 201, "create connection", created.error);
  check(JSON.stringify(created.data?.secrets) === JSON.stringify(["client_secret"]), "secret names only", created.data);

  const list = await admin.GET("/v1/connections");
  check(!!list.data?.connections.some((c) => c.id === connectionId && c.status === "active"), "list connections", list.data);

  const service = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key.data!.api_key}` } });
  const first = await service.GET("/v1/connections/{id}/token", {
    params: { path: { id: connectionId }, query: { min_ttl: 60 } },
  });
  check(first.response.status === 200 && !!first.data?.access_token.startsWith("tok-"), "get token", first.error);
  check(first.data?.headers["Authorization"] === `Bearer ${first.data?.access_token}`, "headers", first.data);
  check(first.response.headers.get("cache-control") === "no-store", "Cache-Control: no-store");

  const again = await service.GET("/v1/connections/{id}/token", { params: { path: { id: connectionId } } });
  check(again.data?.access_token === first.data?.access_token, "a cached token is answered again", again.data);

  // A token younger than TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS is not replaced yet: the
  // typed 429 and its Retry-After say how long to wait.
  const report = () =>
    service.POST("/v1/connections/{id}/token/refresh", {
      params: { path: { id: connectionId } },
      body: { rejected_access_token: first.data!.access_token },
    });
  const early = await report();
  check(early.response.status === 429 && early.error?.code === "rate_limited", "429 for a young token", early.error);
  const retryAfter = Number(early.response.headers.get("retry-after"));
  check(retryAfter >= 1 && retryAfter <= 2, "Retry-After", retryAfter);
  await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
  const refreshed = await report();
  check(refreshed.response.status === 200, "report a rejected token", refreshed.error);
  check(refreshed.data?.access_token !== first.data?.access_token, "a new token replaces the rejected one", refreshed.data);
  const current = await service.GET("/v1/connections/{id}/token", { params: { path: { id: connectionId } } });
  check(current.data?.access_token === refreshed.data?.access_token, "the new token is the current one", current.data);

  // Errors are typed too: a service may not list connections.
  const denied = await service.GET("/v1/connections");
  check(denied.response.status === 403 && denied.error?.code === "forbidden", "403 problem", denied.error);

  const removed = await admin.DELETE("/v1/connections/{id}", { params: { path: { id: connectionId } } });
  check(removed.response.status === 204, "delete connection", removed.error);
  const gone = await admin.DELETE("/v1/principals/{id}", { params: { path: { id: serviceId } } });
  check(gone.response.status === 204, "delete principal", gone.error);
  console.log(`typescript e2e: ${checks} passed, 0 failed`);
}

main().catch((err: unknown) => {
  console.error(`typescript e2e FAILED after ${checks} checks: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
