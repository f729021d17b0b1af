// A real, certified OAuth 2.0 authorization server (panva's oidc-provider, pinned in
// package.json) for the interop tests in tests/it/interop. It listens on 127.0.0.1 only, on
// a port the OS picks, and prints one JSON line `{"port": N, "issuer": "…"}` on stdout once
// it serves. Settings come as JSON in AUTHSERVER_CONFIG (see `settings` below); the clients
// are oidc-provider client metadata, as the tests register them.
//
// Besides the provider's own endpoints (/token …) it serves two test-only routes, never seen
// by a broker in the tests:
//   POST /__test/seed {"client_id", "account_id"?, "scope"?}  → {"refresh_token", "expires_in"}
//        a consented grant and its first refresh token, as the consent flow would leave them;
//   GET  /__test/counters                                    → what the server saw (below);
//   GET  /__test/refresh-token?value=…                       → that refresh token's record
//        (iat, exp, iiat, rotations, consumed), to read lifetimes the answers do not state.
//
// It exits when its stdin closes, so a test process that dies takes it along.

import { randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const settings = {
  access_token_ttl: 4,
  client_credentials_ttl: 3600,
  refresh_token_ttl: 20,
  // true: every rotated refresh token lives the full refresh_token_ttl from its issue;
  // false: it inherits what was left of the one it replaced (a fixed chain lifetime).
  refresh_token_sliding: true,
  // Idle keep-alive sockets are closed after this. Long by default, so that the keep-alive race
  // happens only where a test's proxy makes it happen, deterministically.
  keep_alive_timeout_ms: 600_000,
  clients: [],
  ...JSON.parse(process.env.AUTHSERVER_CONFIG ?? '{}'),
};

const started = Date.now();
const counters = {
  // Every token request that reached the grant handler or failed there, by grant_type.
  token_requests: {},
  // Successful answers, by grant_type.
  token_success: {},
  // Refresh tokens consumed by a rotation (each successful refresh_token grant rotates).
  rotations: 0,
  // A rotated (consumed) refresh token presented again: the server revokes the whole grant.
  refresh_token_reuse: 0,
  grants_revoked: 0,
  invalid_grant: 0,
  invalid_client: 0,
  // A client assertion whose jti the server had already accepted.
  assertion_replays: 0,
  server_errors: 0,
};
// Every token request in order: {t_ms, grant_type, client_id, outcome, detail}.
const events = [];

function bump(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

function record(ctx, outcome, detail) {
  const grantType = ctx.oidc?.params?.grant_type ?? 'none';
  bump(counters.token_requests, grantType);
  if (outcome === 'ok') {
    bump(counters.token_success, grantType);
  }
  events.push({
    t_ms: Date.now() - started,
    grant_type: grantType,
    client_id: ctx.oidc?.client?.clientId ?? null,
    outcome,
    detail: detail ?? null,
  });
}

const server = http.createServer();
server.keepAliveTimeout = settings.keep_alive_timeout_ms;
server.headersTimeout = settings.keep_alive_timeout_ms + 1_000;
await new Promise((resolve) => {
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

function refreshTokenTtl(ctx) {
  const rotated = ctx?.oidc?.entities?.RotatedRefreshToken;
  if (!settings.refresh_token_sliding && rotated) {
    return Math.max(1, rotated.remainingTTL);
  }
  return settings.refresh_token_ttl;
}

const provider = new Provider(issuer, {
  clients: settings.clients,
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  scopes: ['openid', 'offline_access'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  // Rotation on every use, for every client (the default rotates confidential clients only
  // past 70% of the token's lifetime).
  rotateRefreshToken: true,
  ttl: {
    AccessToken: settings.access_token_ttl,
    ClientCredentials: settings.client_credentials_ttl,
    RefreshToken: refreshTokenTtl,
    Grant: 24 * 3600,
    Session: 24 * 3600,
    Interaction: 3600,
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // The default `renderError` answers HTML to a browser; the tests only speak JSON.
});

provider.on('grant.success', (ctx) => {
  if (ctx.oidc?.entities?.RotatedRefreshToken) {
    counters.rotations += 1;
  }
  record(ctx, 'ok');
});
provider.on('grant.error', (ctx, err) => {
  const detail = err.error_detail ?? err.error_description;
  if (err.error === 'invalid_grant') {
    counters.invalid_grant += 1;
    if (detail === 'refresh token already used') {
      counters.refresh_token_reuse += 1;
    }
  }
  if (err.error === 'invalid_client') {
    counters.invalid_client += 1;
    if (detail === 'client assertion tokens must only be used once') {
      counters.assertion_replays += 1;
    }
  }
  record(ctx, err.error ?? 'error', detail);
});
provider.on('grant.revoked', () => {
  counters.grants_revoked += 1;
});
provider.on('server_error', (ctx, err) => {
  counters.server_errors += 1;
  record(ctx, 'server_error', String(err?.message ?? err));
  process.stderr.write(`authserver: server_error: ${err?.stack ?? err}\n`);
});

async function seed({ client_id: clientId, account_id: accountId = 'user-1', scope = 'openid offline_access' }) {
  const client = await provider.Client.find(clientId);
  if (!client) {
    return [404, { error: `no client ${clientId}` }];
  }
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  const token = new provider.RefreshToken({
    accountId, client, grantId, scope, gty: 'authorization_code',
  });
  const value = await token.save();
  return [201, { refresh_token: value, expires_in: token.expiration }];
}

async function describeRefreshToken(value) {
  const token = await provider.RefreshToken.find(value, { ignoreExpiration: true });
  if (!token) {
    return [404, { error: 'no such refresh token (never issued, or destroyed)' }];
  }
  return [200, {
    iat: token.iat,
    exp: token.exp,
    iiat: token.iiat,
    rotations: token.rotations ?? 0,
    consumed: Boolean(token.consumed),
  }];
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function testRoute(req, res) {
  const url = new URL(req.url, issuer);
  let answer;
  try {
    if (req.method === 'POST' && url.pathname === '/__test/seed') {
      answer = await seed(await readJson(req));
    } else if (req.method === 'GET' && url.pathname === '/__test/counters') {
      answer = [200, { ...counters, events }];
    } else if (req.method === 'GET' && url.pathname === '/__test/refresh-token') {
      answer = await describeRefreshToken(url.searchParams.get('value') ?? '');
    } else {
      answer = [404, { error: 'no such test route' }];
    }
  } catch (err) {
    answer = [500, { error: String(err?.stack ?? err) }];
  }
  const [status, body] = answer;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/__test/')) {
    testRoute(req, res);
  } else {
    callback(req, res);
  }
});

process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
