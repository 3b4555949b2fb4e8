-- Disqualification, suppression, segmentation and the manual review queue (issue 3).

-- The tiered account list: Tier 1 named accounts, Tier 2, Tier 3 (DESIGN §2, Segmentation).
alter table accounts
    add column tier         smallint,
    add column owner_email  text,
    add column updated_at   timestamptz,
    add constraint accounts_tier_check check (tier between 1 and 3);

alter table leads
    -- The standardized reason while the lead is Disqualified (see config/rules.toml).
    add column disqualified_reason  text,
    -- Reasons an ops user overruled by reinstating the lead: those rules no longer apply to it.
    add column exempt_reasons       jsonb not null default '[]',
    -- The latest email open or intent signal (occurred_at): the inactivity clock.
    add column last_engaged_at      timestamptz,
    -- The first opt-out from sales contact, if any.
    add column opted_out_at         timestamptz,
    -- Since when the reported company size has been below the ICP floor.
    add column below_size_since     timestamptz,
    -- The demand state the MAP sent (a profile field, latest wins) ...
    add column demand_state         text,
    -- ... and the one derived from behaviour, used when the MAP sent none.
    add column derived_demand_state text,
    -- The account's tier (or the configured default), copied so routing needs no join.
    add column account_tier         smallint,
    -- While the lead waits in the manual review queue: what it lacks, and since when.
    add column review_missing       jsonb,
    add column review_queued_at     timestamptz,
    add constraint leads_disqualified_reason_check check (
        (lifecycle_stage = 'Disqualified') = (disqualified_reason is not null)
    ),
    add constraint leads_account_tier_check check (account_tier between 1 and 3);

-- The suppression list, newest first, optionally by reason.
create index leads_suppressed_idx on leads (disqualified_reason, updated_at desc)
    where lifecycle_stage = 'Disqualified';

-- The inactivity clock as a real column: PostgreSQL keeps statistics on columns but not on
-- the expressions of partial indexes, and without them it guessed a third of all leads were
-- due and walked the whole table (see the sweeper benchmark in the README).
alter table leads add column engagement_clock timestamptz
    generated always as (coalesce(last_engaged_at, created_at)) stored;

-- The sweeper's two time-based rules look only at leads still in play.
create index leads_inactive_sweep_idx on leads (engagement_clock)
    where lifecycle_stage in ('Lead', 'MQL');
create index leads_size_sweep_idx on leads (below_size_since)
    where lifecycle_stage in ('Lead', 'MQL') and below_size_since is not null;

create index leads_review_idx on leads (review_queued_at) where review_missing is not null;

-- Every resolution of a review item: who supplied what.
create table lead_reviews (
    id            bigint generated always as identity primary key,
    lead_id       uuid not null references leads (id),
    missing       jsonb not null,
    queued_at     timestamptz not null,
    resolved_at   timestamptz not null,
    resolved_by   text not null,
    demand_state  text,
    account_tier  smallint,
    note          text
);

create index lead_reviews_lead_idx on lead_reviews (lead_id);

-- Who may receive nurture and who may be handed to sales. Later issues build on these; a
-- disqualified lead is in neither, and a lead waiting for review is not handed off.
create view nurture_candidates as
    select * from leads
     where lifecycle_stage = 'Lead'
       and coalesce(demand_state, derived_demand_state) is not null
       and account_tier is not null;

create view handoff_candidates as
    select * from leads
     where lifecycle_stage = 'MQL'
       and review_missing is null;
