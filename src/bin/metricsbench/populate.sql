-- Population of the metricsbench scratch database, from `metrics_bench_params` (leads, t_end =
-- the run's fixed now, rules version). Events are added afterwards by `events.sql`, in chunks.
--
-- The plan: lead n is created at t_end − 365 days + n/leads of the year (ids in time order,
-- as Uuid::now_v7 gives them). Its first source is hubspot 40%, salesforce 30%, segment 20%,
-- marketo 10%. 5% use free mail (no account, no tier); the others belong to one of 50,000
-- accounts (Tier 1 5%, Tier 2 25%, Tier 3 70%). 30% become MQL 0–14 days after creation and
-- are assigned at once to one of 40 reps (under 5 managers), with ack due 4 h and disposition
-- 48 h later. Of the MQLs 40% are accepted (SAL; 40% of those qualified to SQL 1–20 days
-- later), 33% rejected (NotICP 40%, WrongTiming 30%, NoBudget 20%, AlreadyInPipeline 10%), 7%
-- never touched, 20% left open; 80–90% of the touched ones were acknowledged first, within
-- 6 min – 8 h. Any MQL untouched 48 h after assignment was escalated, as the SLA clock would.
-- 36% of the others are disqualified 1 h – 180 days after creation (eight reasons).
-- Nothing happens after t_end: a step due later has not happened yet, nor have its sequels.

-- Compiling these one-off expressions would take longer than running them.
set jit = off;

create unlogged table metrics_bench_plan as
with p as (select * from metrics_bench_params),
base as (
    select n, p.t_end, p.rules,
           p.t_end - interval '365 days' + (n - 1) * (interval '365 days' / p.leads)
               + (n * 7919 % 3600) * interval '1 second' as created,
           (array['hubspot', 'hubspot', 'hubspot', 'hubspot', 'salesforce', 'salesforce',
                  'salesforce', 'segment', 'segment', 'marketo'])[1 + (n * 31 % 10)::int] as source,
           n % 20 = 7 as free_mail, 1 + n % 50000 as account, 1 + (n * 11 % 40)::int as rep,
           n % 10 in (0, 3, 6) as mql, (n / 10) * 40503 % 100 as o, (n / 10) * 7793 % 1000 as h,
           (n / 10) * 97 % 100 as q, (n / 10) * 31 % 10 as rr, n * 13 % 1000 as d, n * 7 % 100 as dr,
           1 + (n * 53 % 19)::int as events
      from generate_series(1, (select leads from metrics_bench_params)) as n, p
),
wish as (
    select b.*,
           case when o < 40 then 'sal' when o < 73 then 'rejected' when o < 80 then 'untouched'
                else 'open' end as fate,
           case when mql then created + make_interval(hours => (n * 17 % 336)::int, mins => (n * 13 % 60)::int) end as mql0
      from base b
),
steps as (
    select w.*,
           case when mql0 is not null and (fate = 'sal' and h < 900 or fate = 'rejected' and h < 800
                                            or fate = 'open' and h < 850)
                then mql0 + make_interval(mins => (6 + n * 23 % 474)::int) end as ack0
      from wish w
),
later as (
    select s.*,
           case when fate = 'sal' then coalesce(ack0, mql0) + make_interval(mins => (120 + n * 29 % 5640)::int) end as sal0,
           case when fate = 'rejected' then coalesce(ack0, mql0) + make_interval(mins => (60 + n * 37 % 5700)::int) end as rej0,
           case when not mql and d < 362 then created + make_interval(hours => (1 + n * 41 % 4320)::int) end as dq0
      from steps s
),
happened as (
    select l.*,
           case when mql0 <= t_end then mql0 end as mql_at,
           case when mql0 <= t_end and ack0 <= t_end then ack0 end as ack_at,
           case when mql0 <= t_end and sal0 <= t_end then sal0 end as sal_at,
           case when mql0 <= t_end and rej0 <= t_end then rej0 end as rej_at,
           case when dq0 <= t_end then dq0 end as dq_at
      from later l
)
select n, t_end, rules, created, source, events, rep,
       (lpad(to_hex((extract(epoch from created) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(n::text), 1, 3) || substr('89ab', 1 + (n % 4)::int, 1)
        || substr(md5(n::text), 4, 15))::uuid as id,
       case when free_mail then null else account end as account,
       case when free_mail then null when account % 20 = 0 then 1 when account % 20 <= 5 then 2 else 3 end::smallint as tier,
       mql_at, ack_at, sal_at,
       case when sal_at is not null and q < 40
                 and sal_at + make_interval(days => (1 + n * 43 % 20)::int) <= t_end
            then sal_at + make_interval(days => (1 + n * 43 % 20)::int) end as sql_at,
       rej_at,
       case when rej_at is not null then (array['Rejected_NotICP', 'Rejected_NotICP', 'Rejected_NotICP',
            'Rejected_NotICP', 'Rejected_WrongTiming', 'Rejected_WrongTiming', 'Rejected_WrongTiming',
            'Rejected_NoBudget', 'Rejected_NoBudget', 'Rejected_AlreadyInPipeline'])[1 + rr::int] end as rej_reason,
       -- The clock escalates an MQL nobody touched within 48 h of its assignment.
       case when mql_at + interval '48 hours' <= t_end
                 and coalesce(least(ack_at, sal_at, rej_at), 'infinity') > mql_at + interval '48 hours'
            then mql_at + interval '48 hours' end as esc_at,
       dq_at,
       case when dq_at is not null then (case when dr < 40 then 'Disqualified_Inactive'
            when dr < 55 then 'Disqualified_Size' when dr < 65 then 'Disqualified_Competitor'
            when dr < 75 then 'Disqualified_Student' when dr < 85 then 'Disqualified_NoSale'
            when dr < 90 then 'Disqualified_JobSeeker' when dr < 95 then 'Disqualified_Partner'
            else 'Disqualified_OutOfICP' end) end as dq_reason
  from happened;

alter table metrics_bench_plan add column stage text;
update metrics_bench_plan set stage = case when sql_at is not null then 'SQL' when sal_at is not null then 'SAL'
    when rej_at is not null then 'Rejected' when mql_at is not null then 'MQL'
    when dq_at is not null then 'Disqualified' else 'Lead' end;

insert into accounts (id, domain, name, tier, created_at)
select md5('mb-account-' || k)::uuid, 'company' || k || '.example', 'Company ' || k,
       case when k % 20 = 0 then 1 when k % 20 <= 5 then 2 else 3 end, p.t_end - interval '400 days'
  from generate_series(1, 50000) as k, metrics_bench_params p;

insert into reps (id, name, email, role, manager_id, created_at, updated_at)
select md5('mb-manager-' || m)::uuid, 'Manager ' || m, 'manager' || m || '@us.example', 'manager', null,
       p.t_end - interval '400 days', p.t_end - interval '400 days'
  from generate_series(1, 5) as m, metrics_bench_params p;
insert into reps (id, name, email, role, manager_id, created_at, updated_at)
select md5('mb-rep-' || r)::uuid, 'Rep ' || r, 'rep' || r || '@us.example', 'rep',
       md5('mb-manager-' || (1 + r % 5))::uuid, p.t_end - interval '400 days', p.t_end - interval '400 days'
  from generate_series(1, 40) as r, metrics_bench_params p;

insert into leads (id, email, account_id, first_name, last_name, title, company, industry, employee_count,
                   annual_revenue, country, lifecycle_stage, disqualified_reason, rejection_reason,
                   fit_score, intent_at_last_activity, last_activity_at, derived_demand_state, account_tier,
                   owner_rep_id, rules_version, version, created_at, updated_at, stage_changed_at)
select id, 'mb' || n || case when account is null then '@gmail.com' else '@company' || account || '.example' end,
       case when account is not null then md5('mb-account-' || account)::uuid end,
       (array['Ana', 'Ben', 'Chen', 'Dana', 'Eli', 'Fatima', 'Gus', 'Hana'])[1 + (n % 8)::int], 'Lee' || n % 997,
       (array['VP Marketing', 'Director of IT', 'Analyst', 'Head of Sales', 'CMO'])[1 + (n % 5)::int],
       'Company ' || coalesce(account, 0), (array['software', 'saas', 'fintech', 'retail', 'healthcare'])[1 + (n % 5)::int],
       50 + n % 5000, (50 + n % 5000) * 150000, (array['US', 'GB', 'DE', 'CA', 'FR'])[1 + (n % 5)::int],
       stage, case when stage = 'Disqualified' then dq_reason end,
       case when stage = 'Rejected' then rej_reason end, 70, 50, created,
       (array['early', 'late'])[1 + (n % 2)::int], tier,
       case when mql_at is not null then md5('mb-rep-' || rep)::uuid end, rules, 1, created,
       greatest(created, mql_at, ack_at, sal_at, sql_at, rej_at, esc_at, dq_at),
       coalesce(dq_at, rej_at, sql_at, sal_at, mql_at, created)
  from metrics_bench_plan order by n;

insert into assignments (lead_id, rep_id, rule, assigned_at, packet, ack_due, disposition_due, escalate_at,
                         acknowledged_at, disposed_at, escalated_at, escalated_to, closed_at, account_tier)
select id, md5('mb-rep-' || rep)::uuid, 'round_robin', mql_at, p.packet, mql_at + interval '4 hours',
       mql_at + interval '48 hours', mql_at + interval '48 hours', coalesce(ack_at, sal_at, rej_at),
       coalesce(sal_at, rej_at), esc_at, case when esc_at is not null then md5('mb-manager-' || (1 + rep % 5))::uuid end,
       coalesce(sal_at, rej_at), tier
  from metrics_bench_plan, metrics_bench_params p
 where mql_at is not null order by mql_at;

insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, source, reason_code,
                              fit_score, intent_score, rules_version, occurred_at)
select id, e.f, e.t, e.actor, e.why, e.source, e.code, 70, 50, rules, e.at
  from metrics_bench_plan
 cross join lateral (values
        (null, 'Lead', 'system', 'first event from ' || source, source, null, created),
        ('Lead', 'MQL', 'system', 'fit 70 ≥ 60 and intent 50 ≥ 40', null, null, mql_at),
        ('MQL', 'MQL', 'rep:' || md5('mb-rep-' || rep)::uuid, 'acknowledged', null, null, ack_at),
        ('MQL', 'MQL', 'system', 'escalated to Manager ' || (1 + rep % 5) || ': untouched 48 h after assignment to Rep ' || rep, null, null, esc_at),
        ('MQL', 'SAL', 'rep:' || md5('mb-rep-' || rep)::uuid, 'accepted: interest confirmed (fit 70, intent 50)', null, null, sal_at),
        ('SAL', 'SQL', 'rep:' || md5('mb-rep-' || rep)::uuid, 'qualified: budget, authority, need and timing confirmed', null, null, sql_at),
        ('MQL', 'Rejected', 'rep:' || md5('mb-rep-' || rep)::uuid, rej_reason || ': not now', null, rej_reason, rej_at),
        ('Lead', 'Disqualified', 'system', dq_reason || ' by disqualify[0]: benchmark rule', null, dq_reason, dq_at)
    ) as e(f, t, actor, why, source, code, at)
 where e.at is not null
 order by e.at;

-- Nurture: every lead with a tier is enrolled a minute after creation (first touch); every
-- other one of those engages two days later (one asset on); each leaves on MQL or on
-- disqualification. (Its workflow: its demand state and tier.)
insert into nurture_log (lead_id, kind, workflow, enrollment, step, asset_id, channel, reason, at)
select id, e.kind, 'Nurture_' || (array['early', 'late'])[1 + (n % 2)::int] || '_' || tier, 1,
       e.step, e.asset, e.channel, e.why, e.at
  from metrics_bench_plan
 cross join lateral (values
        ('enrolled', 0, 'welcome-email', 'email', 'segmented', created + interval '1 minute'),
        ('advanced', 1, 'routing-report', 'email', 'content_engaged',
         case when n % 2 = 0 then created + interval '2 days' end),
        ('exited', 0, null, null, 'MQL', mql_at),
        ('exited', 0, null, null, 'Disqualified', dq_at)
    ) as e(kind, step, asset, channel, why, at)
 where tier is not null and e.at is not null and e.at <= t_end
 order by e.at;


-- Opportunities: three in four MQLs (n % 4 <> 3) get one, opened 1–30 days after the MQL (so
-- every one is marketing-sourced), 10,000–99,000 USD in one of four stages; a quarter won and
-- a quarter lost 10–59 days after opening, the rest open. Those not opened by t_end do not
-- exist; a closing after t_end has not happened. Each has its creation event, its closing if
-- any, and its lead as contact by email.
create unlogged table metrics_bench_opps as
select k, lead_id, email, opened, amount, stage, close_date,
       case when fate <> 'open' and closes <= t_end then fate else 'open' end as status,
       case when fate <> 'open' and closes <= t_end then closes end as closed_at
  from (select row_number() over (order by n) as k, p.id as lead_id, p.t_end,
               'mb' || n || case when p.account is null then '@gmail.com'
                                 else '@company' || p.account || '.example' end as email,
               p.mql_at + make_interval(days => (1 + n * 19 % 30)::int) as opened,
               ((n * 37 % 90) + 10) * 1000 as amount,
               (array['Prospecting', 'Qualification', 'Needs Analysis', 'Negotiation/Review'])[1 + (n * 3 % 4)::int] as stage,
               (array['won', 'lost', 'open', 'open'])[1 + (n / 4 * 7 % 4)::int] as fate,
               p.mql_at + make_interval(days => (1 + n * 19 % 30 + 10 + n * 23 % 50)::int) as closes,
               (p.mql_at + make_interval(days => (1 + n * 19 % 30 + 10 + n * 23 % 50)::int))::date as close_date
          from metrics_bench_plan p
         where p.mql_at is not null and n % 4 <> 3) o
 where opened <= t_end;

insert into opportunities (id, source, external_id, name, amount, currency, stage, status, opened_at,
                           closed_at, close_date, last_event_at, updated_at)
select md5('mb-opp-' || k)::uuid, 'crm', 'O' || k, 'Deal ' || k, amount, 'USD',
       case status when 'won' then 'Closed Won' when 'lost' then 'Closed Lost' else stage end,
       status, opened, closed_at, close_date, coalesce(closed_at, opened), coalesce(closed_at, opened)
  from metrics_bench_opps order by k;

insert into opportunity_contacts (opportunity_id, email)
select md5('mb-opp-' || k)::uuid, email from metrics_bench_opps order by k;

insert into opportunity_events (source, event_id, opportunity_id, event_type, occurred_at, payload, received_at)
select 'crm', e.id, md5('mb-opp-' || k)::uuid, e.kind, e.at,
       jsonb_build_object('event_id', e.id, 'source', 'crm', 'event_type', e.kind,
                          'occurred_at', e.at, 'opportunity', e.facts), e.at
  from metrics_bench_opps
 cross join lateral (values
        ('o' || k || '-new', 'opportunity_created', opened,
         jsonb_build_object('id', 'O' || k, 'money', jsonb_build_object('amount', amount::text, 'currency', 'USD'),
                            'stage', stage, 'close_date', close_date, 'contacts', jsonb_build_array(jsonb_build_object('email', email)))),
        ('o' || k || '-' || status, case status when 'won' then 'opportunity_closed_won' else 'opportunity_closed_lost' end,
         closed_at, jsonb_build_object('id', 'O' || k))
    ) as e(id, kind, at, facts)
 where e.at is not null
 order by e.at;

-- Spend: the year's total by month, and each tier's for the last 90 days.
insert into marketing_spend (id, first_day, last_day, segment_by, segment, amount, currency, recorded_at)
select md5('mb-spend-' || m)::uuid, (p.t_end - make_interval(months => m))::date,
       (p.t_end - make_interval(months => m - 1))::date - 1, 'total', null, 100000, 'USD', p.t_end
  from generate_series(1, 12) as m, metrics_bench_params p;
insert into marketing_spend (id, first_day, last_day, segment_by, segment, amount, currency, recorded_at)
select md5('mb-spend-tier-' || t)::uuid, (p.t_end - interval '90 days')::date, p.t_end::date,
       'tier', t::text, 50000 * t, 'USD', p.t_end
  from generate_series(1, 3) as t, metrics_bench_params p;

reset jit;
