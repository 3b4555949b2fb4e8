-- Nurture's daily sums (kind `nurture` in metrics_daily) are now added by the statements
-- that write the nurture log, each counting the rows it inserted in a CTE of its own
-- (`db::nurture::count_into_daily`), rather than by a statement trigger, which added a
-- PL/pgSQL call and a transition table to every ingest write that nurtured a lead. The sums
-- stay exact: both writers of the log count what they inserted, and the tests compare the
-- sums with metrics_daily_derived.
drop trigger nurture_log_to_daily on nurture_log;
drop function metrics_nurture_logged();

-- The per-row foreign-key checks of the two tables every ingest write appends to: each is a
-- query of its own on `leads` (SELECT ... FOR KEY SHARE) run per inserted row, the costliest
-- step of the write after the lead update (auto_explain: some 60 µs a row for the events).
-- Both tables are written only by statements that hold their lead's row lock (ingest's
-- write locks the leads it writes, the locking path and the other writers lock them first),
-- and a lead is deleted only in the transaction that created it, when none of its events
-- were stored (ingest's batch path), so it has neither events nor log rows. The tests check
-- that no row of either table lacks its lead after concurrent ingest.
alter table lead_events drop constraint lead_events_lead_id_fkey;
alter table nurture_log drop constraint nurture_log_lead_id_fkey;
