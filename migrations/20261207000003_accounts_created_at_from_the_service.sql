-- Every writer passes `created_at` from the service clock (ingest's account creation took the
-- database's `now()` from this default, unlike everything else); without the default a writer
-- that forgets fails instead of stamping another clock's time.
alter table accounts alter column created_at drop default;
