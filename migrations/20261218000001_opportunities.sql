-- Opportunities and their outcomes, as the CRMs report them, and the marketing spend the
-- ops team records: what the backward metrics (docs/http-api.md, "Revenue") are read from.

-- One row per opportunity, keyed by the reporting system and its id. The row is the fold of
-- the opportunity's events (src/domain/opportunity.rs), rewritten whole on each new event,
-- so the order events arrive in does not matter.
create table opportunities (
    id              uuid primary key,
    source          text not null,
    external_id     text not null,
    name            text,
    amount          numeric(18, 2),
    currency        text,
    stage           text,
    status          text not null,
    -- When the opportunity was opened in the CRM.
    opened_at       timestamptz not null,
    -- When it was won or lost; null while open.
    closed_at       timestamptz,
    -- The expected (or actual) close date the CRM shows.
    close_date      date,
    -- The account it belongs to, when the CRM names its domain.
    account_domain  text,
    -- The occurrence time of the latest event folded in.
    last_event_at   timestamptz not null,
    updated_at      timestamptz not null,
    constraint opportunities_source_key unique (source, external_id),
    constraint opportunities_status_known check (status in ('open', 'won', 'lost')),
    constraint opportunities_closed_when_won_or_lost check ((status = 'open') = (closed_at is null)),
    constraint opportunities_amount_not_negative check (amount >= 0),
    constraint opportunities_amount_has_currency check ((amount is null) = (currency is null)),
    constraint opportunities_currency_iso check (currency ~ '^[A-Z]{3}$'),
    constraint opportunities_domain_lower check (account_domain = lower(account_domain))
);
create index opportunities_opened_idx on opportunities (opened_at);
create index opportunities_closed_idx on opportunities (closed_at) where closed_at is not null;
create index opportunities_domain_idx on opportunities (account_domain)
    where account_domain is not null;

-- Every event received about an opportunity; a redelivery (same source and event id) is
-- not stored again.
create table opportunity_events (
    source          text not null,
    event_id        text not null,
    opportunity_id  uuid not null references opportunities (id),
    event_type      text not null,
    occurred_at     timestamptz not null,
    -- The event in the canonical schema, as the fold reads it.
    payload         jsonb not null,
    received_at     timestamptz not null,
    constraint opportunity_events_pkey primary key (source, event_id),
    constraint opportunity_events_type_known check (event_type in (
        'opportunity_created', 'opportunity_stage_changed',
        'opportunity_closed_won', 'opportunity_closed_lost'))
);
create index opportunity_events_opportunity_idx on opportunity_events (opportunity_id);

-- The people an opportunity belongs to, as the CRM named them: by email, or by the CRM's
-- id for the contact or lead. Resolved to leads when read (opportunity_leads), so a lead that
-- arrives after its opportunity is linked all the same.
create table opportunity_contacts (
    opportunity_id  uuid not null references opportunities (id),
    email           text,
    system          text,
    external_id     text,
    constraint opportunity_contacts_one_way check (
        (email is not null and system is null and external_id is null)
        or (email is null and system is not null and external_id is not null)),
    constraint opportunity_contacts_email_normalised check (email = lower(btrim(email)))
);
create unique index opportunity_contacts_key on opportunity_contacts
    (opportunity_id, coalesce(email, ''), coalesce(system, ''), coalesce(external_id, ''));
create index opportunity_contacts_email_idx on opportunity_contacts (email)
    where email is not null;
create index opportunity_contacts_crm_idx on opportunity_contacts (system, external_id)
    where email is null;

-- Each opportunity's leads: its contacts that are leads, or, when it names no contact that
-- is, the leads of its account. A lead named twice (by email and by CRM id) appears twice.
create view opportunity_contact_leads as
select c.opportunity_id, l.id as lead_id
  from opportunity_contacts c
  join leads l on l.email = c.email
union all
select c.opportunity_id, l.id
  from opportunity_contacts c
  join lead_source_ids s on s.system = c.system and s.external_id = c.external_id
  join leads l on l.email = s.email;

create view opportunity_leads as
select opportunity_id, lead_id from opportunity_contact_leads
union all
select o.id, l.id
  from opportunities o
  join accounts a on a.domain = o.account_domain
  join leads l on l.account_id = a.id
 where not exists (select 1 from opportunity_contact_leads b where b.opportunity_id = o.id);

-- Each opportunity with the one lead it is credited to: the lead that became MQL first
-- before the opportunity opened, else its first lead to become MQL at all, else its first
-- lead. `marketing_sourced` says whether that lead was MQL before the opening. Unlinked
-- opportunities are here too, with no lead.
create view opportunity_attribution as
select distinct on (o.id)
       o.id as opportunity_id, o.status, o.amount, o.currency, o.opened_at, o.closed_at,
       f.lead_id, f.mql_at, f.rep_id, f.account_tier, f.source,
       coalesce(l.demand_state, l.derived_demand_state) as demand_state,
       coalesce(f.mql_at < o.opened_at, false) as marketing_sourced
  from opportunities o
  left join opportunity_leads ol on ol.opportunity_id = o.id
  left join lead_funnel f on f.lead_id = ol.lead_id
  left join leads l on l.id = ol.lead_id
 order by o.id, (f.mql_at < o.opened_at) desc nulls last, f.mql_at nulls last,
          l.created_at nulls last, l.id;

-- Marketing spend as the ops team records it: an amount spent on a segment over a span of
-- days (both ends included). CAC divides it, spread evenly over its days, by the won deals.
create table marketing_spend (
    id           uuid primary key,
    first_day    date not null,
    last_day     date not null,
    -- What the spend bought: `total`, or a segment of a grouping (`tier` 1–3, a `source`,
    -- a `demand_state`).
    segment_by   text not null,
    segment      text,
    amount       numeric(18, 2) not null,
    currency     text not null,
    note         text,
    recorded_at  timestamptz not null,
    constraint marketing_spend_days_ordered check (first_day <= last_day),
    constraint marketing_spend_grouping_known check (
        segment_by in ('total', 'tier', 'source', 'demand_state')),
    constraint marketing_spend_segment_named check ((segment_by = 'total') = (segment is null)),
    constraint marketing_spend_amount_not_negative check (amount >= 0),
    constraint marketing_spend_currency_iso check (currency ~ '^[A-Z]{3}$')
);
create index marketing_spend_days_idx on marketing_spend (first_day, last_day);
