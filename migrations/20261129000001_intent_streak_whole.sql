-- Whether a lead's intent streak began with its first signal, so that nothing decayed is
-- carried into it: a late signal shortly before such a streak only starts it earlier, and
-- ingest needs no history for it (see engine::intent). False, i.e. unknown, for leads stored
-- before it was kept: their next signal before the streak refolds the history, which sets it.
-- A constant default changes no stored row.
alter table leads add column intent_streak_whole boolean not null default false;
