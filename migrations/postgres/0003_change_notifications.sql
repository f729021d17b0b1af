-- Every replica keeps the hot path (API keys, grants, tokens) in memory. These triggers tell
-- all of them, at commit, what changed, on the channel 'tokenbroker':
--   'connection:<id>:<generation>'  a connection row changed (generation -1: deleted)
--   'auth'                          a principal, API key or grant changed
-- Replicas also re-check what they hold every few seconds, in case a notification is lost.

create function tokenbroker_notify_connection() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('tokenbroker', 'connection:' || old.id || ':-1');
    elsif tg_op = 'INSERT' or new.generation <> old.generation then
        -- Bookkeeping updates (last_used_at) keep the generation and notify no one.
        perform pg_notify('tokenbroker', 'connection:' || new.id || ':' || new.generation);
    end if;
    return null;
end $$;

create trigger connections_notify
    after insert or update or delete on connections
    for each row execute function tokenbroker_notify_connection();

create function tokenbroker_notify_auth() returns trigger
language plpgsql as $$
begin
    perform pg_notify('tokenbroker', 'auth');
    return null;
end $$;

create trigger principals_notify after insert or update or delete on principals
    for each statement execute function tokenbroker_notify_auth();
create trigger api_keys_notify after insert or update or delete on api_keys
    for each statement execute function tokenbroker_notify_auth();
create trigger grants_notify after insert or update or delete on grants
    for each statement execute function tokenbroker_notify_auth();
