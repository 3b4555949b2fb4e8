-- Invariants the write path used to keep by convention, kept by the schema instead.

-- 1. Every update of a lead moves its version on, whoever writes it and whichever columns it
-- sets: ingest's lead cache and its optimistic write check the version, so a writer that
-- forgot to bump it (two did: the owner set by assignment, the rejection reason) could leave
-- a cached copy looking current.
create function leads_next_version() returns trigger language plpgsql as $$
begin
    new.version := old.version + 1;
    return new;
end $$;

create trigger leads_next_version before update on leads
    for each row execute function leads_next_version();

-- 2. What the funnel groups by, as columns of the transition rather than text to parse: the
-- source of the event that created the lead, on its creation transition, and the
-- standardized reason of a rejection or a disqualification. Rewording a transition's reason
-- no longer moves a lead between groups.
alter table lead_transitions
    add column source text,
    add column reason_code text;

update lead_transitions set source = substring(reason from '^first event from (.+)$')
 where from_stage is null;
update lead_transitions set reason_code = substring(reason from 'Rejected_[A-Za-z]+')
 where to_stage = 'Rejected' and from_stage is distinct from 'Rejected';
update lead_transitions set reason_code = substring(reason from 'Disqualified_[A-Za-z]+')
 where to_stage = 'Disqualified' and from_stage is distinct from 'Disqualified';

alter table lead_transitions
    add constraint lead_transitions_stages_known check (
        to_stage in ('Lead', 'MQL', 'SAL', 'SQL', 'Rejected', 'Disqualified')
        and (from_stage is null
             or from_stage in ('Lead', 'MQL', 'SAL', 'SQL', 'Rejected', 'Disqualified'))),
    add constraint lead_transitions_source_on_creation check (
        source is null or from_stage is null),
    add constraint lead_transitions_reason_code_known check (
        reason_code is null
        or (to_stage = 'Rejected' and reason_code in (
                'Rejected_NotICP', 'Rejected_WrongTiming', 'Rejected_NoBudget',
                'Rejected_AlreadyInPipeline'))
        or (to_stage = 'Disqualified' and reason_code in (
                'Disqualified_Competitor', 'Disqualified_Size', 'Disqualified_Inactive',
                'Disqualified_NoSale', 'Disqualified_Student', 'Disqualified_JobSeeker',
                'Disqualified_Partner', 'Disqualified_OutOfICP')));
-- Entering a lead, a rejection or a disqualification names where it came from or why. Not
-- checked against rows written before the columns existed.
alter table lead_transitions
    add constraint lead_transitions_creation_has_source check (
        from_stage is not null or source is not null) not valid,
    add constraint lead_transitions_exit_has_reason_code check (
        to_stage not in ('Rejected', 'Disqualified')
        or from_stage is not distinct from to_stage
        or reason_code is not null) not valid;

alter table lead_events
    add constraint lead_events_type_known check (event_type in (
        'form_submission', 'demo_request', 'pricing_page_visit', 'comparison_page_visit',
        'content_download', 'email_open', 'email_click', 'webinar_attended', 'page_view',
        'profile_update', 'opt_out'));

create or replace view lead_funnel_derived as
select l.id as lead_id, l.created_at, t.source, l.account_tier, a.id as assignment_id,
       a.rep_id, t.mql_at, a.acknowledged_at, t.sal_at, t.sql_at, t.rejected_at,
       t.rejection_reason, coalesce(t.disqualified_at, '{}') as disqualified_at,
       coalesce(t.disqualified_reasons, '{}') as disqualified_reasons,
       coalesce(t.rejections_at, '{}') as rejections_at,
       coalesce(t.rejection_reasons, '{}') as rejection_reasons
  from leads l
  left join (
        select lead_id,
               min(source) filter (where from_stage is null) as source,
               min(occurred_at) filter (where to_stage = 'MQL' and from_stage is distinct from 'MQL') as mql_at,
               min(occurred_at) filter (where to_stage = 'SAL' and from_stage is distinct from 'SAL') as sal_at,
               min(occurred_at) filter (where to_stage = 'SQL' and from_stage is distinct from 'SQL') as sql_at,
               min(occurred_at) filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected') as rejected_at,
               (array_agg(reason_code order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'))[1]
                   as rejection_reason,
               coalesce(array_agg(occurred_at order by occurred_at, id)
                   filter (where to_stage = 'Disqualified' and from_stage is distinct from 'Disqualified'), '{}')
                   as disqualified_at,
               coalesce(array_agg(reason_code order by occurred_at, id)
                   filter (where to_stage = 'Disqualified' and from_stage is distinct from 'Disqualified'), '{}')
                   as disqualified_reasons,
               coalesce(array_agg(occurred_at order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'), '{}')
                   as rejections_at,
               coalesce(array_agg(reason_code order by occurred_at, id)
                   filter (where to_stage = 'Rejected' and from_stage is distinct from 'Rejected'), '{}')
                   as rejection_reasons
          from lead_transitions
         group by lead_id) t on t.lead_id = l.id
  left join (
        select distinct on (lead_id) lead_id, id, rep_id, acknowledged_at
          from assignments
         order by lead_id, id) a on a.lead_id = l.id;

create or replace function metrics_transitions_inserted() returns trigger language plpgsql as $$
begin
    if not exists (select from new_transitions) then
        return null;
    end if;
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
                   min(source) filter (where from_stage is null) as source,
                   min(occurred_at) filter (where to_stage = 'MQL') as mql_at,
                   min(occurred_at) filter (where to_stage = 'SAL') as sal_at,
                   min(occurred_at) filter (where to_stage = 'SQL') as sql_at,
                   min(occurred_at) filter (where to_stage = 'Rejected') as rejected_at,
                   (array_agg(reason_code order by occurred_at, id)
                       filter (where to_stage = 'Rejected'))[1] as rejection_reason,
                   coalesce(array_agg(occurred_at order by occurred_at, id)
                       filter (where to_stage = 'Disqualified'), '{}') as disqualified_at,
                   coalesce(array_agg(reason_code order by occurred_at, id)
                       filter (where to_stage = 'Disqualified'), '{}') as disqualified_reasons,
                   coalesce(array_agg(occurred_at order by occurred_at, id)
                       filter (where to_stage = 'Rejected'), '{}') as rejections_at,
                   coalesce(array_agg(reason_code order by occurred_at, id)
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

-- 3. Nurture's daily sums come from the log's own trigger again, so that every writer of the
-- log keeps them exact without knowing they exist.
create function metrics_nurture_logged() returns trigger language plpgsql as $$
begin
    if not exists (select from new_rows) then
        return null;
    end if;
    insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
    select (r.at at time zone 'UTC')::date, 'nurture', 'workflow', r.workflow, c.what, count(*), 0, 0, 0
      from new_rows r
     cross join lateral (values (r.kind),
                                (case when r.asset_id is not null then 'touch' end),
                                (case when r.kind = 'exited' and r.reason = 'MQL' then 'exited_to_mql' end))
           as c(what)
     where c.what is not null
     group by 1, 4, 5;
    return null;
end $$;

create trigger nurture_log_to_daily after insert on nurture_log
    referencing new table as new_rows
    for each statement execute function metrics_nurture_logged();

-- 4. A folded day holds one row per group: the fold replaces a day's deltas by their sums,
-- and two folded rows of one group would mean a fold ran twice over the same deltas.
create unique index metrics_daily_folded_key on metrics_daily (day, kind, dim, key, reason)
    nulls not distinct where folded;

-- 5. The lead write (src/db/lead_write.rs) stores an event only with its lead's new state;
-- if an event it planned as new turns out stored by a concurrent write of another lead, it
-- fails under this named condition, undoing everything, so the caller plans again.
create function lead_write_conflict(events_planned bigint, events_stored bigint)
returns int language plpgsql as $$
begin
    raise exception using errcode = 'LR001',
        message = 'an event planned as new was stored meanwhile',
        detail = format('%s events planned, %s stored', events_planned, events_stored);
end $$;

-- 6. The lead write is one statement for every writer, so it inserts into leads, accounts,
-- lead_transitions, nurture_log and outbox whether or not it has rows for them, and each
-- insert fires its statement triggers. A trigger with nothing to do returns at once, rather
-- than run its statements (and, for the funnel, the triggers of the funnel's own empty
-- update) over empty transition tables. And the check for subscribers is PL/pgSQL, whose
-- query plan is kept, rather than a SQL function called from PL/pgSQL, planned afresh each
-- call (pg_stat_user_functions put the triggers that call it at 70 to 120 µs a call).
create or replace function lead_topic_wanted(topic text) returns boolean language plpgsql stable as $$
begin
    return exists (select 1 from webhook_endpoints e where e.enabled and topic = any (e.topics));
end $$;

create or replace function metrics_leads_inserted() returns trigger language plpgsql as $$
begin
    if not exists (select from new_leads) then
        return null;
    end if;
    insert into lead_funnel (lead_id, created_at, account_tier)
    select id, created_at, account_tier from new_leads;
    return null;
end $$;

create or replace function metrics_funnel_updated() returns trigger language plpgsql as $$
begin
    if not exists (select from new_funnel) then
        return null;
    end if;
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

create or replace function outbox_leads_created() returns trigger language plpgsql as $$
begin
    if not exists (select from new_leads) or not lead_topic_wanted('lead.scored') then
        return null;
    end if;
    -- A lead written before its first evaluation (both scores 0) has not been scored.
    perform outbox_lead_scored(array(
        select n.id from new_leads n
         where n.fit_score <> 0 or n.intent_at_last_activity <> 0));
    return null;
end $$;

create or replace function crm_writes_leads_inserted() returns trigger language plpgsql as $$
begin
    if not exists (select from new_leads) or not exists (select 1 from crm_writeback_targets) then
        return null;
    end if;
    perform crm_writes_enqueue(array(select id from new_leads order by id),
                               array(select updated_at from new_leads order by id));
    return null;
end $$;

create or replace function outbox_lead_stage_changed() returns trigger language plpgsql as $$
begin
    if not exists (select from new_transitions) or not lead_topic_wanted('lead.stage_changed') then
        return null;
    end if;
    insert into outbox (topic, recipient, payload, dedupe_key, created_at)
    select 'lead.stage_changed', coalesce(r.email, ''),
           jsonb_build_object(
               'lead_id', t.lead_id, 'lead_email', l.email,
               'from_stage', t.from_stage, 'to_stage', t.to_stage,
               'actor', t.actor, 'reason', t.reason,
               'fit_score', t.fit_score, 'intent_score', t.intent_score,
               'rules_version', t.rules_version, 'owner_rep_id', l.owner_rep_id,
               'occurred_at', t.occurred_at),
           'lead.stage_changed:' || t.id, t.occurred_at
      from new_transitions t
      join leads l on l.id = t.lead_id
      left join reps r on r.id = l.owner_rep_id
     where t.from_stage is distinct from t.to_stage
    on conflict (dedupe_key) do nothing;
    return null;
end $$;

create or replace function outbox_fan_out() returns trigger language plpgsql as $$
begin
    if not exists (select from new_messages) then
        return null;
    end if;
    insert into deliveries (message_id, endpoint_id, next_attempt_at, created_at)
    select n.id, e.id, n.created_at, n.created_at
      from new_messages n
      join webhook_endpoints e
        on e.enabled and n.topic = any (e.topics)
       and (e.recipient is null or e.recipient = n.recipient)
    on conflict on constraint deliveries_message_endpoint_key do nothing;
    if found then
        perform pg_notify('outbox_deliveries', '');
    end if;
    return null;
end $$;
