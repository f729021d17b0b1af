-- tokenbroker's first schema.
--
-- Secrets and tokens are only ever stored sealed (AES-256-GCM, see src/crypto): the bytea
-- columns `secrets` and `token` hold self-describing ciphertexts bound to their row and
-- column. Everything in plain columns is safe to show an admin.

-- Internal callers. Role 'admin' manages everything; 'service' fetches granted tokens.
create table principals (
    id          text primary key,
    role        text not null check (role in ('admin', 'service')),
    description text not null default '',
    created_at  timestamptz not null default now()
);

-- API keys, stored only as SHA-256 of the whole key; the key itself is shown once.
-- Revoked keys are kept (revoked_at set) so the audit trail can name them.
create table api_keys (
    id           text primary key,
    principal_id text not null references principals (id) on delete cascade,
    key_hash     bytea not null unique,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);
create index api_keys_principal on api_keys (principal_id);

-- Which connections a principal may fetch tokens for: an exact id or a 'prefix*'.
create table grants (
    principal_id text not null references principals (id) on delete cascade,
    pattern      text not null,
    created_at   timestamptz not null default now(),
    primary key (principal_id, pattern)
);

-- One vendor account for one environment. The row is also the refresh lock: a refresh
-- holds `select … for update` on it across the vendor call and the write of the result.
create table connections (
    id                       text primary key,
    provider                 text not null,
    description              text not null default '',
    config                   jsonb not null,
    -- Names of the secrets held in `secrets`, so views can list them without decrypting.
    secret_names             text[] not null,
    secrets                  bytea not null,
    status                   text not null default 'active'
                             check (status in ('active', 'disabled', 'needs_reauth')),
    -- Current token state (access token, refresh token, cookies), sealed; null when none.
    token                    bytea,
    token_obtained_at        timestamptz,
    token_expires_at         timestamptz,
    has_refresh_token        boolean not null default false,
    refresh_token_expires_at timestamptz,
    -- {at, code, detail} of the last failed vendor call; never holds a secret.
    last_error               jsonb,
    -- Bumped on every change of the row, so in-memory copies can tell they are stale.
    generation               bigint not null default 1,
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now()
);

-- Every admin change, written in the same transaction as the change itself.
create table audit_events (
    id            bigserial primary key,
    at            timestamptz not null default now(),
    principal_id  text,
    action        text not null,
    connection_id text,
    outcome       text not null,
    detail        jsonb not null default '{}'::jsonb
);
create index audit_events_connection on audit_events (connection_id, id);
create index audit_events_principal on audit_events (principal_id, id);
create index audit_events_action on audit_events (action, id);
