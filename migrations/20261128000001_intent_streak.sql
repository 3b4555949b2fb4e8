-- Where a lead's current streak of intent signals began: the first signal after the last gap
-- long enough to decay intent. A late signal at or after it adds its weight as it is, so
-- ingest needs the lead's event history only for a signal older than that (see
-- engine::intent). Null for leads stored before it was kept: their next late signal refolds
-- the history, which sets it. A nullable column without default changes no existing row.
alter table leads add column intent_streak_from timestamptz;
