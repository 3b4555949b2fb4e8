-- Every writer passes `created_at` from the service clock, which tests and replays move;
-- without a default, a writer that forgets fails instead of stamping the database's time.
alter table accounts alter column created_at drop default;
