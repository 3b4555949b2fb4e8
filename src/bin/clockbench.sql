-- Population of the clockbench scratch database (src/bin/clockbench.rs runs it in one go).
-- Fills the database from `clock_bench_params` (leads, stride, due, t0 = the run's now, rules
-- version, packet). The plan: lead n, and every 5th lead's assignment k = n/5 in a state by
-- k % stride: 0 = due (untouched 48–60 h), 1 and 2 = the other open states (acked; fresh;
-- late = ack breach recorded; escalated before; ack or disposition breach pending), 3 = the
-- 500 open MQLs of rep 1 (the queue rep), else closed (accepted, rejected, disqualified).
-- Deadlines: ack +6 h, disposition +72 h, escalation +48 h; the breaches and escalations due
-- before t0 are recorded as the clock would have. Open assignment = MQL lead; of the others
-- 2% are Disqualified and 0.1% MQLs waiting for review, which the clock must leave alone.
insert into reps (id, name, email, role, manager_id, countries, industries, created_at, updated_at)
select md5('clock-bench-manager-' || j)::uuid, 'Manager ' || j, 'manager' || j || '@us.example', 'manager',
       null, '[]', '[]', now(), now() from generate_series(1, 4) j
union all
select md5('clock-bench-rep-' || i)::uuid, 'Rep ' || i, 'rep' || i || '@us.example', 'rep',
       md5('clock-bench-manager-' || (1 + i % 4))::uuid, case when i % 3 = 0 then '["US", "CA"]' else '[]' end::jsonb,
       case when i % 4 = 0 then '["software"]' else '[]' end::jsonb, now(), now() from generate_series(1, 16) i;

create unlogged table clock_bench_plan (n bigint, id uuid, created timestamptz, k bigint, x float8, state text,
    rep int, assigned_at timestamptz, acknowledged_at timestamptz, disposed_at timestamptz, closed_at timestamptz);
insert into clock_bench_plan
with p as materialized (
    select n, k, x, c.t0, c.t0 - make_interval(mins => (c.leads - n)::int) as created,
           case when n % 5 = 0 then coalesce(case
             when k % c.stride = 0 and k / c.stride between 1 and c.due then 'due'
             when k % c.stride = 1 then (array['acked', 'ack_due', 'disp_due', 'acked', 'acked', 'acked'])[1 + k / c.stride % 10]
             when k % c.stride = 2 then (array['fresh', 'fresh', 'fresh', 'late', 'late', 'escalated', 'escalated'])[1 + k / c.stride % 10]
             when k % c.stride = 3 and k / c.stride between 1 and 500 then (array['acked', 'fresh', 'escalated', 'late'])[1 + k / c.stride % 4]
             end, (array['accepted', 'accepted', 'rejected', 'disqualified'])[1 + n % 4]) end as state,
           case when n % 5 > 0 then null when k % c.stride = 3 and k / c.stride between 1 and 500
                  or k % c.stride = 4 and k / c.stride between 1 and 1500 then 1 else 2 + k % 15 end as rep
      from generate_series(1, (select leads from clock_bench_params)) as n, clock_bench_params c,
           lateral (select n / 5 as k, ((n * 7919) % 1000)::float8 / 1000 as x) as g
), t as materialized (
    select p.*, case state
             when 'due' then t0 - interval '48 hours 1 minute' - x * interval '12 hours'
             when 'ack_due' then t0 - interval '6 hours 1 minute' - x * interval '4 hours'
             when 'disp_due' then t0 - interval '72 hours 1 minute' - x * interval '24 hours'
             when 'acked' then t0 - x * interval '70 hours'
             when 'fresh' then t0 - x * interval '5 hours'
             when 'late' then t0 - interval '6 hours 1 minute' - x * interval '41 hours'
             when 'escalated' then t0 - interval '49 hours' - x * interval '9 days'
             else created + (t0 - created) * x * 0.9 end as a
      from p
), u as materialized (
    select t.*, case state when 'disp_due' then a + x * interval '5 hours'
             when 'acked' then a + least(t0 - a, interval '8 hours') * x
             when 'accepted' then a + least((t0 - a) / 2, x * interval '10 hours')
             when 'rejected' then a + least((t0 - a) / 2, x * interval '10 hours') end as ack
      from t
), v as materialized (
    select u.*, case when state in ('accepted', 'rejected')
                     then ack + least((t0 - ack) / 2, (1 + 3 * x) * interval '1 day') end as disp
      from u
)
select n, (lpad(to_hex((extract(epoch from created) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 3)
           || substr('89ab', 1 + (n % 4)::int, 1) || substr(md5(n::text), 4, 15))::uuid,
       created, k, x, state, rep, a, ack, disp, coalesce(disp, case when state = 'disqualified' then a + (t0 - a) / 2 end)
  from v;

insert into leads (id, email, first_name, last_name, title, company, industry, employee_count, annual_revenue,
                   country, demand_state, derived_demand_state, profile_stamps, lifecycle_stage,
                   disqualified_reason, rejection_reason, fit_score, intent_at_last_activity, last_activity_at,
                   last_engaged_at, account_tier, review_missing, review_queued_at, owner_rep_id,
                   rules_version, version, created_at, updated_at, stage_changed_at)
select id, 'p' || n || '@company' || (n % 50000) || '.example',
       (array['Ana', 'Ben', 'Chen', 'Dana', 'Eli', 'Fatima', 'Gus', 'Hana'])[1 + n % 8], 'Lee' || (n % 997),
       (array['VP Marketing', 'Director of IT', 'Analyst', 'Head of Sales', 'CMO'])[1 + n % 5],
       'Company ' || (n % 50000), (array['software', 'saas', 'fintech', 'retail', 'healthcare'])[1 + n % 5],
       50 + n % 5000, (50 + n % 5000) * 150000, (array['US', 'GB', 'DE', 'CA', 'FR', 'BR', 'IN'])[1 + n % 7],
       (array['early', 'late', null])[1 + n % 3], (array['early', 'late'])[1 + n % 2],
       jsonb_build_object('title', created_at, 'industry', created_at, 'country', created_at), stage,
       case when stage = 'Disqualified' then coalesce(case when state is not null then 'Disqualified_Inactive' end,
            (array['Disqualified_Competitor', 'Disqualified_Student'])[1 + n % 2]) end,
       case when stage = 'Rejected' then (array['Rejected_NotICP', 'Rejected_NoBudget'])[1 + n % 2] end,
       case when state is null then n % 100 else 60 + n % 40 end,
       case when state is null then n % 80 else 50 + n % 50 end, activity, activity,
       case when waiting then null else 1 + n % 3 end, case when waiting then '["account_tier"]'::jsonb end,
       case when waiting then updated end, md5('clock-bench-rep-' || rep)::uuid, rules, n % 5, created_at, updated, updated
  from (select p.*, c.rules, case when state = 'accepted' then (array['SAL', 'SQL'])[1 + n % 2]
                         when state = 'rejected' then 'Rejected'
                         when state = 'disqualified' or n % 50 = 1 then 'Disqualified'
                         when state is not null or n % 997 = 3 then 'MQL' else 'Lead' end as stage,
               state is null and n % 997 = 3 as waiting, least(created, assigned_at - interval '1 day') as created_at,
               coalesce(closed_at, assigned_at, created + (c.t0 - created) * x / 2) as updated,
               coalesce(assigned_at - x * interval '20 hours', created + (c.t0 - created) * x) as activity
          from clock_bench_plan p, clock_bench_params c) l
 order by n;

insert into assignments (lead_id, rep_id, rule, assigned_at, packet, ack_due, disposition_due, escalate_at,
                         acknowledged_at, disposed_at, escalated_at, escalated_to, ack_breached_at,
                         disposition_breached_at, closed_at)
select id, md5('clock-bench-rep-' || rep)::uuid, (array['territory', 'round_robin', 'tier1_owner'])[1 + k % 3],
       assigned_at, packet, ack_due, disp_due, esc, acknowledged_at, disposed_at, case when escalated then esc end,
       case when escalated then md5('clock-bench-manager-' || (1 + rep % 4))::uuid end,
       case when state <> 'ack_due' and ack_due <= coalesce(acknowledged_at, closed_at, t0) then ack_due end,
       case when state <> 'disp_due' and disp_due <= coalesce(closed_at, t0) then disp_due end, closed_at
  from (select p.*, c.packet, c.t0, assigned_at + interval '6 hours' as ack_due,
               assigned_at + interval '72 hours' as disp_due, assigned_at + interval '48 hours' as esc,
               state <> 'due' and assigned_at + interval '48 hours' <= coalesce(acknowledged_at, closed_at, c.t0)
                 as escalated
          from clock_bench_plan p, clock_bench_params c where state is not null) a
 order by assigned_at;

insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, reason_code, fit_score,
                              intent_score, rules_version, occurred_at)
select a.lead_id, e.f, e.t, 'system', e.why,
       case e.t when 'Rejected' then coalesce(l.rejection_reason, 'Rejected_NotICP')
                when 'Disqualified' then coalesce(l.disqualified_reason, 'Disqualified_Inactive') end,
       l.fit_score, l.intent_at_last_activity, c.rules, e.at
  from assignments a join leads l on l.id = a.lead_id cross join clock_bench_params c
 cross join lateral (values ('Lead', 'MQL', 'MQL thresholds met', a.assigned_at),
                            ('MQL', 'MQL', 'escalated to the manager', a.escalated_at),
                            ('MQL', l.lifecycle_stage, 'closed', a.closed_at)) as e(f, t, why, at)
 where e.at is not null order by e.at;
insert into outbox (topic, recipient, payload, dedupe_key, created_at)
select e.topic, e.recipient, e.payload, e.topic || ':' || a.id, e.at
  from assignments a join leads l on l.id = a.lead_id join reps r on r.id = a.rep_id
  left join reps m on m.id = a.escalated_to
 cross join lateral (values
        ('rep.assigned', r.email, jsonb_build_object('assignment_id', a.id, 'lead_id', a.lead_id,
         'lead_email', l.email, 'rep_id', a.rep_id, 'packet', a.packet), a.assigned_at),
        ('manager.escalation', m.email, jsonb_build_object('assignment_id', a.id, 'lead_id', a.lead_id,
         'escalated_at', a.escalated_at), a.escalated_at)) as e(topic, recipient, payload, at)
 where e.at is not null order by e.at;

create table clock_bench_rows as
select a.id, a.lead_id, p.state as kind, r.manager_id
  from assignments a join clock_bench_plan p on p.id = a.lead_id join reps r on r.id = a.rep_id
 where p.state in ('due', 'ack_due', 'disp_due');
create table clock_bench_marks as
select (select coalesce(max(id), 0) from lead_transitions) t, (select coalesce(max(id), 0) from outbox) o;
drop table clock_bench_plan;
