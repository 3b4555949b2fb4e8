-- Behaviour-triggered nurture (issue 5): where each lead is in its workflow, and the log of
-- every enrollment, move, advance, trigger and exit with the touch it sent.

-- engine::NurtureState: workflow, step, enrollment count, recent trigger signals.
alter table leads add column nurture jsonb not null default '{}';

create table nurture_log (
    id          bigint generated always as identity primary key,
    lead_id     uuid not null references leads (id),
    kind        text not null
                check (kind in ('enrolled', 'moved', 'advanced', 'triggered', 'exited')),
    workflow    text not null,
    -- The lead's enrollment count and position after this record.
    enrollment  int not null,
    step        smallint not null,
    -- The touch sent with it, if any.
    asset_id    text,
    channel     text,
    reason      text not null,
    -- The owner rep told about it (email), if any.
    notified    text,
    at          timestamptz not null
);

-- A touch is sent once per lead, enrollment and step, whatever retries the writes see.
create unique index nurture_log_touch_once on nurture_log (lead_id, enrollment, step)
    where asset_id is not null;
create index nurture_log_lead_idx on nurture_log (lead_id, id);
-- The nurture metrics count a period's rows per workflow from this index alone.
create index nurture_log_at_idx on nurture_log (at) include (workflow, kind, reason, asset_id);
