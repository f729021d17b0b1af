-- Refresh safety: never reuse a single-use refresh token whose outcome is unknown, and do
-- not hammer a vendor that is failing.

-- A refresh with a single-use token is recorded here, committed, before the request is
-- sent. The refresh's own transaction deletes it when it commits the outcome. A row that is
-- still here on the next attempt (the process died, or its commit failed) means that token
-- may have been received by the vendor: it is treated as spent.
--
-- No foreign key on purpose: inserting a child row takes a KEY SHARE lock on the
-- connection row, which the refresh already holds FOR UPDATE from another session.
create table refresh_attempts (
    connection_id text primary key,
    -- SHA-256 of the refresh token that was about to be sent; never the token itself.
    token_hash    bytea not null,
    started_at    timestamptz not null default now()
);

alter table connections
    -- Consecutive failed vendor calls; reset by a success or new secrets.
    add column failure_count    integer not null default 0,
    -- No vendor call before this time (backoff with jitter, or the vendor's Retry-After).
    add column retry_not_before timestamptz,
    -- Last time a token was handed out (written in batches), for refresh-ahead.
    add column last_used_at     timestamptz;

create index connections_due on connections (token_expires_at) where status = 'active';
