-- Most events change a lead's scores and activity but none of its indexed columns, so its
-- update can be a heap-only (HOT) update that writes no index entry. Two indexed columns
-- used to change on every event and made every update rewrite all ten of the lead's index
-- entries: `updated_at` (the SLA clock's waiting queue, the suppression list) and
-- `engagement_clock` (the inactivity sweep). They stay, unindexed, and the indexes move to
-- columns that change rarely.

-- When the lead entered its current stage: the waiting queue is oldest MQL first and the
-- suppression list newest disqualification first. Set by the lead writes, which know when
-- the stage changes.
alter table leads add column stage_changed_at timestamptz;
update leads set stage_changed_at = updated_at;
alter table leads alter column stage_changed_at set not null;

drop index leads_waiting_idx;
create index leads_waiting_idx on leads (stage_changed_at, id)
    where lifecycle_stage = 'MQL' and review_missing is null;

drop index leads_suppressed_idx;
create index leads_suppressed_idx on leads (disqualified_reason, stage_changed_at desc)
    where lifecycle_stage = 'Disqualified';

-- The inactivity sweep reads candidates by the UTC hour of the clock, which changes at most
-- once an hour per lead, and checks the exact clock on each.
alter table leads add column engagement_hour timestamp
    generated always as (date_trunc('hour', coalesce(last_engaged_at, created_at) at time zone 'UTC')) stored;
drop index leads_inactive_sweep_idx;
create index leads_inactive_sweep_idx on leads (engagement_hour)
    where lifecycle_stage in ('Lead', 'MQL');

-- Room on each page for the new version of a row, which a HOT update needs. A lead row is
-- about 1 KB, so a page keeps about two updates' worth free. It applies to pages filled from
-- now on; a row on a page already full moves to such a page at its next non-HOT update.
alter table leads set (fillfactor = 70);
