-- Funnel metrics (issue 6). The metrics read narrow facts instead of re-deriving every lead's
-- path from the transition log on each request:
--
--   lead_funnel    one row per lead: the moments that place it in each cohort, its group keys;
--   metrics_daily  per UTC day, the sums of those facts per group, as signed deltas.
--
-- Both are kept exact and current by triggers, in the same transaction as the writes they
-- follow, so every writer (ingest, sales actions, the SLA clock, the sweeper, reinstatement,
-- and any later one such as rescoring) keeps them right without knowing they exist. The view
-- `lead_funnel_derived` recomputes lead_funnel from the raw tables, and `metrics_daily_derived`
-- metrics_daily from lead_funnel: tests and the benchmark compare each pair.

-- One row per lead: the moments that place it in each funnel cohort and the keys metrics
-- group by.
create table lead_funnel (
    lead_id           uuid primary key references leads (id),
    -- The lead's creation (leads.created_at): the "leads" cohort.
    created_at        timestamptz not null,
    -- The source of the event that created the lead (its "first event from …" transition).
    source            text,
    -- The lead's current tier, in step with leads.account_tier.
    account_tier      smallint,
    -- The lead's first assignment and its rep: what "by rep" means for the funnel.
    assignment_id     bigint,
    rep_id            uuid,
    -- The first time the lead became MQL (the MQL cohort), and the first time it reached
    -- each later stage.
    mql_at            timestamptz,
    -- When the first assignment was acknowledged (an accept or reject counts, as for the SLA).
    acknowledged_at   timestamptz,
    sal_at            timestamptz,
    sql_at            timestamptz,
    rejected_at       timestamptz,
    -- The standardized reason of that rejection.
    rejection_reason  text,
    -- Every disqualification and rejection (a lead can be disqualified, reinstated and
    -- disqualified again), oldest first, with their reasons at the same positions.
    disqualified_at       timestamptz[] not null default '{}',
    disqualified_reasons  text[] not null default '{}',
    rejections_at         timestamptz[] not null default '{}',
    rejection_reasons     text[] not null default '{}'
);

create index lead_funnel_created_idx on lead_funnel (created_at)
    include (rep_id, account_tier, source);
create index lead_funnel_mql_idx on lead_funnel (mql_at)
    include (rep_id, account_tier, source, acknowledged_at, sal_at, sql_at, rejected_at)
    where mql_at is not null;

-- The partial days at the ends of a period are read from the transition log.
create index lead_transitions_rejected_idx on lead_transitions (occurred_at) include (lead_id)
    where to_stage = 'Rejected';
create index lead_transitions_disqualified_idx on lead_transitions (occurred_at) include (lead_id)
    where to_stage = 'Disqualified';

-- The SLA view groups assignments by tier; copying the lead's tier here (kept in step like
-- lead_funnel's) spares a join per assignment.
alter table assignments add column account_tier smallint;
create index assignments_assigned_idx on assignments (assigned_at)
    include (rep_id, account_tier, ack_due, acknowledged_at, disposition_due, disposed_at,
             escalated_at, closed_at);

-- What lead_funnel must hold, from the raw tables. Reasons are matched anywhere in the
-- transition's text (`Rejected_NoBudget: note`), so a prefix added by a later writer still
-- classifies.
create view lead_funnel_derived as
select l.id as lead_id, l.created_at, t.source, l.account_tier, a.id as assignment_id,
       a.rep_id, t.mql_at, a.acknowledged_at, t.sal_at, t.sql_at, t.rejected_at,
       t.rejection_reason, coalesce(t.disqualified_at, '{}') as disqualified_at,
       coalesce(t.disqualified_reasons, '{}') as disqualified_reasons,
       coalesce(t.rejections_at, '{}') as rejections_at,
       coalesce(t.rejection_reasons, '{}') as rejection_reasons
  from leads l
  left join (
        select lead_id,
               min(substring(reason from '^first event from (.+)$'))
                   filter (where from_stage is null) as source,
               min(occurred_at) filter (where to_stage = 'MQL' and from_stage is distinct from 'MQL') as mql_at,
               min(occurred_at) filter (where to_stage = 'SAL' and from_stage is distinct from 'SAL') as sal_at,
               min(occurred_at) filter (where to_stage = 'SQL' and from_stage is distinct from 'SQL') as sql_at,
               min(occurred_at) filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected') as rejected_at,
               (array_agg(substring(reason from 'Rejected_[A-Za-z]+') order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'))[1]
                   as rejection_reason,
               coalesce(array_agg(occurred_at order by occurred_at, id)
                   filter (where to_stage = 'Disqualified' and from_stage is distinct from 'Disqualified'), '{}')
                   as disqualified_at,
               coalesce(array_agg(substring(reason from 'Disqualified_[A-Za-z]+') order by occurred_at, id)
                   filter (where to_stage = 'Disqualified' and from_stage is distinct from 'Disqualified'), '{}')
                   as disqualified_reasons,
               coalesce(array_agg(occurred_at order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'), '{}')
                   as rejections_at,
               coalesce(array_agg(substring(reason from 'Rejected_[A-Za-z]+') order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'), '{}')
                   as rejection_reasons
          from lead_transitions
         group by lead_id) t on t.lead_id = l.id
  left join (
        select distinct on (lead_id) lead_id, id, rep_id, acknowledged_at
          from assignments
         order by lead_id, id) a on a.lead_id = l.id;

-- A new lead gets its row at once, so every lead is in the "leads" cohort.
create function metrics_leads_inserted() returns trigger language plpgsql as $$
begin
    insert into lead_funnel (lead_id, created_at, account_tier)
    select id, created_at, account_tier from new_leads;
    return null;
end $$;

create trigger leads_to_funnel after insert on leads
    referencing new table as new_leads
    for each statement execute function metrics_leads_inserted();

-- A tier change (account list import, review) moves the lead's numbers with it.
create function metrics_tier_changed() returns trigger language plpgsql as $$
begin
    update lead_funnel set account_tier = new.account_tier where lead_id = new.id;
    update assignments set account_tier = new.account_tier where lead_id = new.id;
    return null;
end $$;

create trigger leads_tier_to_metrics after update of account_tier on leads
    for each row when (old.account_tier is distinct from new.account_tier)
    execute function metrics_tier_changed();

-- Stage changes: the first time into MQL, SAL, SQL and Rejected, and the creating source.
-- Set-based per statement: ingest writes a whole group's transitions in one statement.
create function metrics_transitions_inserted() returns trigger language plpgsql as $$
begin
    update lead_funnel f
       set source = coalesce(f.source, n.source),
           mql_at = coalesce(f.mql_at, n.mql_at),
           sal_at = coalesce(f.sal_at, n.sal_at),
           sql_at = coalesce(f.sql_at, n.sql_at),
           rejection_reason = case when f.rejected_at is null then n.rejection_reason
                                   else f.rejection_reason end,
           rejected_at = coalesce(f.rejected_at, n.rejected_at),
           disqualified_at = f.disqualified_at || n.disqualified_at,
           disqualified_reasons = f.disqualified_reasons || n.disqualified_reasons,
           rejections_at = f.rejections_at || n.rejections_at,
           rejection_reasons = f.rejection_reasons || n.rejection_reasons
      from (select lead_id,
                   min(substring(reason from '^first event from (.+)$'))
                       filter (where from_stage is null) as source,
                   min(occurred_at) filter (where to_stage = 'MQL') as mql_at,
                   min(occurred_at) filter (where to_stage = 'SAL') as sal_at,
                   min(occurred_at) filter (where to_stage = 'SQL') as sql_at,
                   min(occurred_at) filter (where to_stage = 'Rejected') as rejected_at,
                   (array_agg(substring(reason from 'Rejected_[A-Za-z]+') order by occurred_at, id)
                       filter (where to_stage = 'Rejected'))[1] as rejection_reason,
                   coalesce(array_agg(occurred_at order by occurred_at, id)
                       filter (where to_stage = 'Disqualified'), '{}') as disqualified_at,
                   coalesce(array_agg(substring(reason from 'Disqualified_[A-Za-z]+') order by occurred_at, id)
                       filter (where to_stage = 'Disqualified'), '{}') as disqualified_reasons,
                   coalesce(array_agg(occurred_at order by occurred_at, id)
                       filter (where to_stage = 'Rejected'), '{}') as rejections_at,
                   coalesce(array_agg(substring(reason from 'Rejected_[A-Za-z]+') order by occurred_at, id)
                       filter (where to_stage = 'Rejected'), '{}') as rejection_reasons
              from new_transitions
             -- Acknowledgements and escalations (MQL → MQL) place nobody in a cohort.
             where from_stage is null
                or (to_stage in ('MQL', 'SAL', 'SQL', 'Rejected', 'Disqualified')
                    and from_stage is distinct from to_stage)
             group by lead_id) n
     where f.lead_id = n.lead_id;
    return null;
end $$;

create trigger lead_transitions_to_funnel after insert on lead_transitions
    referencing new table as new_transitions
    for each statement execute function metrics_transitions_inserted();

-- An assignment carries its lead's tier; the first one of a lead gives the funnel its rep.
create function metrics_assignment_tier() returns trigger language plpgsql as $$
begin
    if new.account_tier is null then
        select account_tier into new.account_tier from leads where id = new.lead_id;
    end if;
    return new;
end $$;

create trigger assignments_tier before insert on assignments
    for each row execute function metrics_assignment_tier();

create function metrics_assignments_inserted() returns trigger language plpgsql as $$
begin
    update lead_funnel f
       set assignment_id = a.id, rep_id = a.rep_id, acknowledged_at = a.acknowledged_at
      from (select distinct on (lead_id) lead_id, id, rep_id, acknowledged_at
              from new_assignments order by lead_id, id) a
     where f.lead_id = a.lead_id and f.assignment_id is null;
    return null;
end $$;

create trigger assignments_to_funnel after insert on assignments
    referencing new table as new_assignments
    for each statement execute function metrics_assignments_inserted();

create function metrics_assignment_acknowledged() returns trigger language plpgsql as $$
begin
    update lead_funnel set acknowledged_at = new.acknowledged_at
     where lead_id = new.lead_id and assignment_id = new.id;
    return null;
end $$;

create trigger assignments_ack_to_funnel after update of acknowledged_at on assignments
    for each row when (old.acknowledged_at is null and new.acknowledged_at is not null)
    execute function metrics_assignment_acknowledged();

-- metrics_daily: per UTC day, kind and grouping, the sums the views read for whole days.
-- `dim` is the grouping (total, rep, tier, source) and `key` the group (rep id, tier digit,
-- source; null: none). Kinds: `lead` (n = leads created), `mql` (n = MQLs, with how many of
-- them reached SAL and SQL or were rejected), `dq` and `rejection` (n = events, by reason).
-- Writers only append signed deltas, so concurrent writers never wait for each other on a
-- hot row; the `metrics_fold` job folds each day's deltas into one row per group (`folded`).
create table metrics_daily (
    day       date not null,
    kind      text not null,
    dim       text not null,
    key       text,
    reason    text,
    n         bigint not null,
    sals      bigint not null,
    sqls      bigint not null,
    rejected  bigint not null,
    folded    boolean not null default false
);

create index metrics_daily_read_idx on metrics_daily (dim, day);
create index metrics_daily_unfolded_idx on metrics_daily (day) where not folded;

-- What one lead_funnel row adds to metrics_daily: one row per kind it is in, per grouping.
create function metrics_contributions(
    created_at timestamptz, mql_at timestamptz, sal_at timestamptz, sql_at timestamptz,
    rejected_at timestamptz, rep_id uuid, account_tier smallint, source text,
    disqualified_at timestamptz[], disqualified_reasons text[],
    rejections_at timestamptz[], rejection_reasons text[])
returns table (day date, kind text, dim text, key text, reason text, n int, sals int, sqls int, rejected int)
language sql stable as $$
    select c.day, c.kind, g.dim, g.key, c.reason, c.n, c.sals, c.sqls, c.rejected
      from (select (created_at at time zone 'UTC')::date as day, 'lead' as kind, null::text as reason,
                   1 as n, 0 as sals, 0 as sqls, 0 as rejected
            union all
            select (mql_at at time zone 'UTC')::date, 'mql', null, 1, (sal_at is not null)::int,
                   (sql_at is not null)::int, (rejected_at is not null)::int
             where mql_at is not null
            union all
            select (d.at at time zone 'UTC')::date, 'dq', d.reason, 1, 0, 0, 0
              from unnest(disqualified_at, disqualified_reasons) as d(at, reason)
            union all
            select (r.at at time zone 'UTC')::date, 'rejection', r.reason, 1, 0, 0, 0
              from unnest(rejections_at, rejection_reasons) as r(at, reason)) c
     cross join lateral (values ('total', null::text), ('rep', rep_id::text),
                                ('tier', account_tier::text), ('source', source)) as g(dim, key)
     -- Rejections are only ever read by reason and week.
     where c.kind <> 'rejection' or g.dim = 'total'
$$;

-- What metrics_daily must sum to, from lead_funnel.
create view metrics_daily_derived as
select c.day, c.kind, c.dim, c.key, c.reason, sum(c.n) as n, sum(c.sals) as sals,
       sum(c.sqls) as sqls, sum(c.rejected) as rejected
  from lead_funnel f
 cross join lateral metrics_contributions(f.created_at, f.mql_at, f.sal_at, f.sql_at, f.rejected_at,
           f.rep_id, f.account_tier, f.source, f.disqualified_at, f.disqualified_reasons,
           f.rejections_at, f.rejection_reasons) c
 group by 1, 2, 3, 4, 5;

create function metrics_funnel_inserted() returns trigger language plpgsql as $$
begin
    insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
    select c.day, c.kind, c.dim, c.key, c.reason, sum(c.n), sum(c.sals), sum(c.sqls), sum(c.rejected)
      from new_funnel f
     cross join lateral metrics_contributions(f.created_at, f.mql_at, f.sal_at, f.sql_at,
               f.rejected_at, f.rep_id, f.account_tier, f.source, f.disqualified_at,
               f.disqualified_reasons, f.rejections_at, f.rejection_reasons) c
     group by 1, 2, 3, 4, 5;
    return null;
end $$;

create trigger lead_funnel_to_daily_on_insert after insert on lead_funnel
    referencing new table as new_funnel
    for each statement execute function metrics_funnel_inserted();

-- A changed row takes back what its old version added and adds the new one's; groups whose
-- sums do not move (an acknowledgement, a new assignment id) write nothing.
create function metrics_funnel_updated() returns trigger language plpgsql as $$
begin
    insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
    select c.day, c.kind, c.dim, c.key, c.reason, sum(f.sign * c.n), sum(f.sign * c.sals),
           sum(f.sign * c.sqls), sum(f.sign * c.rejected)
      from (select 1 as sign, * from new_funnel union all select -1, * from old_funnel) f
     cross join lateral metrics_contributions(f.created_at, f.mql_at, f.sal_at, f.sql_at,
               f.rejected_at, f.rep_id, f.account_tier, f.source, f.disqualified_at,
               f.disqualified_reasons, f.rejections_at, f.rejection_reasons) c
     group by 1, 2, 3, 4, 5
    having sum(f.sign * c.n) <> 0 or sum(f.sign * c.sals) <> 0 or sum(f.sign * c.sqls) <> 0
        or sum(f.sign * c.rejected) <> 0;
    return null;
end $$;

create trigger lead_funnel_to_daily_on_update after update on lead_funnel
    referencing old table as old_funnel new table as new_funnel
    for each statement execute function metrics_funnel_updated();

-- Existing data. The triggers above already hold their tables' locks, so no write can slip
-- between this copy and them.
insert into lead_funnel select * from lead_funnel_derived;
update metrics_daily set folded = true;
update assignments a set account_tier = l.account_tier from leads l where l.id = a.lead_id;
