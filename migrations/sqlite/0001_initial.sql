-- tokenbroker's embedded schema: the same tables and rules as migrations/postgres, in SQLite.
--
-- Differences, each for a reason:
-- - Times are INTEGER milliseconds since the Unix epoch (UTC), bound from the broker: they
--   compare as numbers, whatever text format a driver would pick.
-- - JSON (config, last_error, detail, secret_names) is TEXT holding JSON.
-- - No change notifications: one process owns the file and makes every change itself.
-- Secrets and tokens are only ever stored sealed (AES-256-GCM, see src/crypto): the BLOB
-- columns `secrets` and `token` hold self-describing ciphertexts bound to their row and column.

-- Internal callers. Role 'admin' manages everything; 'service' fetches granted tokens.
create table principals (
    id          text primary key,
    role        text not null check (role in ('admin', 'service')),
    description text not null default '',
    created_at  integer not null
);

-- API keys, stored only as SHA-256 of the whole key; the key itself is shown once.
-- Revoked keys are kept (revoked_at set) so the audit trail can name them.
create table api_keys (
    id           text primary key,
    principal_id text not null references principals (id) on delete cascade,
    key_hash     blob not null unique,
    created_at   integer not null,
    expires_at   integer,
    revoked_at   integer
);
create index api_keys_principal on api_keys (principal_id);

-- Which connections a principal may fetch tokens for: an exact id or a 'prefix*'.
create table grants (
    principal_id text not null references principals (id) on delete cascade,
    pattern      text not null,
    created_at   integer not null,
    primary key (principal_id, pattern)
);

-- One vendor account for one environment.
create table connections (
    id                       text primary key,
    provider                 text not null,
    description              text not null default '',
    config                   text not null,
    -- JSON array of the names of the secrets held in `secrets`.
    secret_names             text not null,
    secrets                  blob not null,
    status                   text not null default 'active'
                             check (status in ('active', 'disabled', 'needs_reauth')),
    token                    blob,
    token_obtained_at        integer,
    token_expires_at         integer,
    has_refresh_token        integer not null default 0,
    refresh_token_expires_at integer,
    last_error               text,
    failure_count            integer not null default 0,
    retry_not_before         integer,
    last_used_at             integer,
    -- Bumped on every change of the row: the lease's writes compare-and-set on it.
    generation               integer not null default 1,
    created_at               integer not null,
    updated_at               integer not null
);
create index connections_due on connections (token_expires_at) where status = 'active';

-- A single-use refresh token about to be sent, committed before it is (see src/store/lease.rs).
create table refresh_attempts (
    connection_id text primary key,
    token_hash    blob not null,
    started_at    integer not null
);

-- Every admin change, written in the same transaction as the change itself.
create table audit_events (
    id            integer primary key autoincrement,
    at            integer not null,
    principal_id  text,
    action        text not null,
    connection_id text,
    outcome       text not null,
    detail        text not null default '{}'
);
create index audit_events_connection on audit_events (connection_id, id);
create index audit_events_principal on audit_events (principal_id, id);
create index audit_events_action on audit_events (action, id);
