-- What the revenue and demand-state views read of opportunities and their leads, kept as
-- rows by triggers: which leads each opportunity belongs to, each opportunity with the lead
-- it is credited to, and each lead's latest openings and demand state in its funnel row.
-- Resolving them when read cost seconds at a million leads (docs/benchmarks.md).
-- `opportunity_leads_of` stays the one definition of a link; every write that may change
-- what these rows say evaluates its opportunities again (`opportunities_refresh`).
create table opportunity_lead_links (
    opportunity_id  uuid not null references opportunities (id) on delete cascade,
    lead_id         uuid not null references leads (id) on delete cascade,
    constraint opportunity_lead_links_pkey primary key (opportunity_id, lead_id)
);
create index opportunity_lead_links_lead_idx on opportunity_lead_links (lead_id, opportunity_id);

-- Each opportunity with the one lead it is credited to: the lead that became MQL first
-- before the opportunity opened, else its first lead to become MQL at all, else its first
-- lead; no lead when none is linked. The lead's facts are copied as they are now;
-- `marketing_sourced` says whether that lead was MQL before the opening. Once a view.
drop view opportunity_attribution;
create table opportunity_attribution (
    opportunity_id     uuid primary key references opportunities (id) on delete cascade,
    status             text not null,
    amount             numeric(18, 2),
    currency           text,
    opened_at          timestamptz not null,
    closed_at          timestamptz,
    lead_id            uuid references leads (id),
    mql_at             timestamptz,
    rep_id             uuid,
    account_tier       smallint,
    source             text,
    demand_state       text,
    marketing_sourced  boolean generated always as (coalesce(mql_at < opened_at, false)) stored
);
create index opportunity_attribution_opened_idx on opportunity_attribution (opened_at);
create index opportunity_attribution_closed_idx on opportunity_attribution (closed_at)
    where closed_at is not null;
create index opportunity_attribution_lead_idx on opportunity_attribution (lead_id)
    where lead_id is not null;

-- A lead's demand state, and its latest opportunity opening and latest among the won ("an
-- opportunity opened at or after t" is `last_opportunity_opened_at >= t`).
alter table lead_funnel
    add column demand_state text,
    add column last_opportunity_opened_at timestamptz,
    add column last_won_opportunity_opened_at timestamptz;

-- A link joins rows that two kinds of writer write: opportunities and their contacts (the
-- opportunity writer), and leads, their accounts and their CRM ids (ingest). Under read
-- committed neither sees the other's uncommitted rows, so each evaluates links only after a
-- lock that orders it after the other, in a statement that starts after the lock and so
-- sees what the other committed: opportunity writers take it exclusively, lead writers
-- shared. Lead writers need not wait for each other (a lead id's lead is committed before
-- the id, by its foreign key), except where two of them evaluate the same opportunity again
-- (new leads of one account): a second lock, exclusive, orders lead writers that evaluate
-- any. That is rare (a new lead that an opportunity names or whose account has one), and
-- one lock rather than one per opportunity keeps a bulk import inside the lock table.
create function opportunity_links_lock(exclusive boolean) returns void
language plpgsql as $$
begin
    if exclusive then
        perform pg_advisory_xact_lock(7362001);
    else
        perform pg_advisory_xact_lock_shared(7362001);
    end if;
end $$;

-- Evaluates opportunities `opps` again (their links, credits, and their leads' dates), for
-- a writer holding the lock above: exclusively, or shared by a lead writer (`from_leads`).
create function opportunities_refresh(opps uuid[], from_leads boolean) returns void
language plpgsql as $$
declare
    touched uuid[];
begin
    if cardinality(opps) = 0 then
        return;
    end if;
    if from_leads then
        perform pg_advisory_xact_lock(7362002);
    end if;
    touched := array(select lead_id from opportunity_lead_links where opportunity_id = any(opps));
    delete from opportunity_lead_links k
     where k.opportunity_id = any(opps)
       and not exists (select 1 from opportunity_leads_of(k.opportunity_id) as x(id)
                        where x.id = k.lead_id);
    insert into opportunity_lead_links (opportunity_id, lead_id)
    select o, x.id from unnest(opps) o, opportunity_leads_of(o) as x(id)
    on conflict do nothing;
    touched := touched
        || array(select lead_id from opportunity_lead_links where opportunity_id = any(opps));

    insert into opportunity_attribution as a
           (opportunity_id, status, amount, currency, opened_at, closed_at,
            lead_id, mql_at, rep_id, account_tier, source, demand_state)
    select o.id, o.status, o.amount, o.currency, o.opened_at, o.closed_at,
           best.lead_id, best.mql_at, best.rep_id, best.account_tier, best.source,
           best.demand_state
      from opportunities o
      left join lateral (
            select f.lead_id, f.mql_at, f.rep_id, f.account_tier, f.source, f.demand_state
              from opportunity_lead_links k
              join lead_funnel f on f.lead_id = k.lead_id
             where k.opportunity_id = o.id
             order by (f.mql_at < o.opened_at) desc nulls last, f.mql_at nulls last,
                      f.created_at, f.lead_id
             limit 1) best on true
     where o.id = any(opps)
    on conflict (opportunity_id) do update
       set status = excluded.status, amount = excluded.amount, currency = excluded.currency,
           opened_at = excluded.opened_at, closed_at = excluded.closed_at,
           lead_id = excluded.lead_id, mql_at = excluded.mql_at, rep_id = excluded.rep_id,
           account_tier = excluded.account_tier, source = excluded.source,
           demand_state = excluded.demand_state;

    update lead_funnel f
       set last_opportunity_opened_at = d.last_opened,
           last_won_opportunity_opened_at = d.last_won
      from (select t.lead_id, max(o.opened_at) as last_opened,
                   max(o.opened_at) filter (where o.status = 'won') as last_won
              from unnest(touched) as t(lead_id)
              left join opportunity_lead_links k on k.lead_id = t.lead_id
              left join opportunities o on o.id = k.opportunity_id
             group by t.lead_id) d
     where f.lead_id = d.lead_id
       and (f.last_opportunity_opened_at, f.last_won_opportunity_opened_at)
           is distinct from (d.last_opened, d.last_won);
end $$;

-- The opportunities whose links leads `ids` may change: those naming them as contacts (by
-- email or a CRM id), those of their accounts, and those they are linked to already.
create function opportunities_near_leads(ids uuid[]) returns setof uuid
language sql stable as $$
    select c.opportunity_id from leads l join opportunity_contacts c on c.email = l.email
     where l.id = any(ids)
    union
    select c.opportunity_id from leads l
      join lead_source_ids s on s.email = l.email
      join opportunity_contacts c
        on c.email is null and c.system = s.system and c.external_id = s.external_id
     where l.id = any(ids)
    union
    select o.id from leads l
      join accounts a on a.id = l.account_id
      join opportunities o on o.account_domain = a.domain
     where l.id = any(ids)
    union
    select opportunity_id from opportunity_lead_links where lead_id = any(ids)
$$;

-- The opportunity side: opportunities written (`changed` holds their ids as `id`) and
-- contacts written or removed (`changed` holds `opportunity_id`).
create function opportunity_links_of_opportunities() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(true);
    perform opportunities_refresh(array(select distinct id from changed), false);
    return null;
end $$;

create function opportunity_links_of_contacts() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(true);
    perform opportunities_refresh(array(select distinct opportunity_id from changed), false);
    return null;
end $$;

create trigger opportunities_links_on_insert after insert on opportunities
    referencing new table as changed
    for each statement execute function opportunity_links_of_opportunities();
create trigger opportunities_links_on_update after update on opportunities
    referencing new table as changed
    for each statement execute function opportunity_links_of_opportunities();
create trigger opportunity_contacts_links_on_insert after insert on opportunity_contacts
    referencing new table as changed
    for each statement execute function opportunity_links_of_contacts();
create trigger opportunity_contacts_links_on_update after update on opportunity_contacts
    referencing new table as changed
    for each statement execute function opportunity_links_of_contacts();
create trigger opportunity_contacts_links_on_delete after delete on opportunity_contacts
    referencing old table as changed
    for each statement execute function opportunity_links_of_contacts();

-- The lead side: new leads (`changed` holds their rows), and a lead whose email or
-- account changes (no writer changes them today).
create function opportunity_links_of_new_leads() returns trigger
language plpgsql as $$
begin
    if not exists (select 1 from changed) then
        return null;
    end if;
    perform opportunity_links_lock(false);
    perform opportunities_refresh(array(
        select opportunities_near_leads(array(select id from changed))), true);
    return null;
end $$;

create function opportunity_links_of_lead() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(false);
    perform opportunities_refresh(array(select opportunities_near_leads(array[new.id])), true);
    return null;
end $$;

-- Named to fire after leads_to_funnel: credits read the new leads' funnel rows.
create trigger leads_to_opportunities after insert on leads
    referencing new table as changed
    for each statement execute function opportunity_links_of_new_leads();
create trigger leads_to_opportunities_on_identity after update of email, account_id on leads
    for each row when (old.email is distinct from new.email
                       or old.account_id is distinct from new.account_id)
    execute function opportunity_links_of_lead();

-- A CRM id tied to a lead, or moved to another (a merge): the opportunities naming it.
create function opportunity_links_of_source_ids() returns trigger
language plpgsql as $$
begin
    if not exists (select 1 from changed) then
        return null;
    end if;
    perform opportunity_links_lock(false);
    perform opportunities_refresh(array(
        select distinct c.opportunity_id from changed s
          join opportunity_contacts c
            on c.email is null and c.system = s.system and c.external_id = s.external_id), true);
    return null;
end $$;

create trigger lead_source_ids_links_on_insert after insert on lead_source_ids
    referencing new table as changed
    for each statement execute function opportunity_links_of_source_ids();
create trigger lead_source_ids_links_on_update after update on lead_source_ids
    referencing new table as changed
    for each statement execute function opportunity_links_of_source_ids();

-- An account's domain names the opportunities it has (no writer changes it today).
create function opportunity_links_of_account() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(false);
    perform opportunities_refresh(array(
        select id from opportunities where account_domain in (old.domain, new.domain)), true);
    return null;
end $$;

create trigger accounts_links_on_domain after update of domain on accounts
    for each row when (old.domain is distinct from new.domain)
    execute function opportunity_links_of_account();

-- The facts of a lead that attribution copies, all in its funnel row: when it became MQL,
-- its first rep, its tier, its source and its demand state.
create function opportunities_of_funnel() returns trigger
language plpgsql as $$
declare
    -- The leads whose facts changed: their old and new facts differ, so both stay in a union
    -- (set-based, where joining the two transition tables by lead would not be).
    changed uuid[] := array(
        select lead_id
          from (select lead_id, mql_at, rep_id, account_tier, source, demand_state from new_funnel
                union
                select lead_id, mql_at, rep_id, account_tier, source, demand_state from old_funnel) f
         group by lead_id
        having count(*) > 1);
begin
    if cardinality(changed) = 0 then
        return null;
    end if;
    perform opportunity_links_lock(false);
    perform opportunities_refresh(array(
        select distinct opportunity_id from opportunity_lead_links
         where lead_id = any(changed)), true);
    return null;
end $$;

create trigger lead_funnel_to_opportunities after update on lead_funnel
    referencing old table as old_funnel new table as new_funnel
    for each statement execute function opportunities_of_funnel();

-- A lead's demand state kept in its funnel row, as its tier is (leads_tier_to_metrics).
create function funnel_of_demand_state() returns trigger
language plpgsql as $$
begin
    update lead_funnel set demand_state = coalesce(new.demand_state, new.derived_demand_state)
     where lead_id = new.id;
    return null;
end $$;

create trigger leads_demand_state_to_funnel
    after update of demand_state, derived_demand_state on leads
    for each row
    when (coalesce(old.demand_state, old.derived_demand_state)
          is distinct from coalesce(new.demand_state, new.derived_demand_state))
    execute function funnel_of_demand_state();

create or replace function metrics_leads_inserted() returns trigger language plpgsql as $$
begin
    if not exists (select from new_leads) then
        return null;
    end if;
    insert into lead_funnel (lead_id, created_at, account_tier, demand_state)
    select id, created_at, account_tier, coalesce(demand_state, derived_demand_state)
      from new_leads;
    return null;
end $$;

-- What lead_funnel must hold, recomputed: the new columns too.
create or replace view lead_funnel_derived as
select l.id as lead_id, l.created_at, t.source, l.account_tier, a.id as assignment_id,
       a.rep_id, t.mql_at, a.acknowledged_at, t.sal_at, t.sql_at, t.rejected_at,
       t.rejection_reason, coalesce(t.disqualified_at, '{}') as disqualified_at,
       coalesce(t.disqualified_reasons, '{}') as disqualified_reasons,
       coalesce(t.rejections_at, '{}') as rejections_at,
       coalesce(t.rejection_reasons, '{}') as rejection_reasons,
       coalesce(l.demand_state, l.derived_demand_state) as demand_state,
       o.last_opened as last_opportunity_opened_at,
       o.last_won as last_won_opportunity_opened_at
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
         order by lead_id, id) a on a.lead_id = l.id
  left join (
        select k.lead_id, max(op.opened_at) as last_opened,
               max(op.opened_at) filter (where op.status = 'won') as last_won
          from opportunity_lead_links k join opportunities op on op.id = k.opportunity_id
         group by k.lead_id) o on o.lead_id = l.id;

drop function lead_opportunities_of(uuid);

-- What exists already. A demand state adds nothing to metrics_daily, and every
-- opportunity is evaluated below: the funnel's update triggers would only cost time here.
drop index lead_funnel_mql_idx;
alter table lead_funnel disable trigger lead_funnel_to_daily_on_update,
                        disable trigger lead_funnel_to_opportunities;
update lead_funnel f set demand_state = coalesce(l.demand_state, l.derived_demand_state)
  from leads l
 where l.id = f.lead_id and coalesce(l.demand_state, l.derived_demand_state) is not null;
alter table lead_funnel enable trigger lead_funnel_to_daily_on_update,
                        enable trigger lead_funnel_to_opportunities;
do $$
begin
    perform opportunity_links_lock(true);
    perform opportunities_refresh(array(select id from opportunities), false);
end $$;

-- The MQL cohort's read, index-only, whatever it is grouped by (built after the rows).
create index lead_funnel_mql_idx on lead_funnel (mql_at)
    include (rep_id, account_tier, source, acknowledged_at, sal_at, sql_at, rejected_at,
             demand_state, last_opportunity_opened_at)
    where mql_at is not null;
