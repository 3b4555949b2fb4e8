-- MQL → SAL handoff: reps, assignments with their context packet and SLA clock, the outbox
-- (issue 4).

create table reps (
    id          uuid primary key,
    name        text not null,
    email       text not null,
    role        text not null,
    manager_id  uuid references reps (id),
    -- Territory: ISO country codes and industries (lower case); empty = any.
    countries   jsonb not null default '[]',
    industries  jsonb not null default '[]',
    active      boolean not null default true,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    constraint reps_email_key unique (email),
    constraint reps_email_normalised check (email = lower(btrim(email))),
    constraint reps_role_check check (role in ('rep', 'manager')),
    constraint reps_not_own_manager check (manager_id is distinct from id)
);

-- Round robin: one cursor per pool of reps, bumped under a row lock so that concurrent
-- assignments take consecutive turns.
create table assignment_cursors (
    pool  text primary key,
    turn  bigint not null default 0
);

create table assignments (
    id                       bigint generated always as identity primary key,
    lead_id                  uuid not null references leads (id),
    rep_id                   uuid not null references reps (id),
    -- How the rep was chosen: tier1_owner, territory, round_robin.
    rule                     text not null,
    assigned_at              timestamptz not null,
    -- The context packet the rep gets: trigger, hypothesis, checks, touches, opener, SLA.
    packet                   jsonb not null,
    ack_due                  timestamptz not null,
    disposition_due          timestamptz not null,
    escalate_at              timestamptz not null,
    acknowledged_at          timestamptz,
    disposed_at              timestamptz,
    escalated_at             timestamptz,
    escalated_to             uuid references reps (id),
    ack_breached_at          timestamptz,
    disposition_breached_at  timestamptz,
    -- When the lead left this rep's hands (accepted, rejected, disqualified).
    closed_at                timestamptz
);

create unique index assignments_open_lead_key on assignments (lead_id) where closed_at is null;
create index assignments_rep_open_idx on assignments (rep_id, ack_due) where closed_at is null;
-- The SLA clock's three claims.
create index assignments_escalation_idx on assignments (escalate_at)
    where acknowledged_at is null and disposed_at is null and escalated_at is null
      and closed_at is null;
create index assignments_ack_breach_idx on assignments (ack_due)
    where acknowledged_at is null and disposed_at is null and ack_breached_at is null
      and closed_at is null;
create index assignments_disposition_breach_idx on assignments (disposition_due)
    where disposed_at is null and disposition_breached_at is null and closed_at is null;

alter table leads
    add column owner_rep_id      uuid references reps (id),
    -- Set while the lead is Rejected: one of the closed list of rejection reasons.
    add column rejection_reason  text;

create index leads_owner_idx on leads (owner_rep_id);
-- MQLs that may be waiting for a rep: the SLA clock checks them every tick.
create index leads_waiting_idx on leads (updated_at, id)
    where lifecycle_stage = 'MQL' and review_missing is null;

-- MQLs ready for handoff that no rep holds yet (no active rep could take them).
create view unassigned_mqls as
    select l.* from leads l
     where l.lifecycle_stage = 'MQL' and l.review_missing is null
       and not exists (select 1 from assignments a where a.lead_id = l.id and a.closed_at is null);

-- Side effects leave through here, written in the business transaction (delivery is a later
-- issue). `dedupe_key` makes a repeated write of the same message a no-op.
create table outbox (
    id               bigint generated always as identity primary key,
    topic            text not null,
    recipient        text not null,
    payload          jsonb not null,
    dedupe_key       text not null,
    created_at       timestamptz not null,
    attempts         integer not null default 0,
    next_attempt_at  timestamptz,
    delivered_at     timestamptz,
    constraint outbox_dedupe_key unique (dedupe_key)
);

create index outbox_pending_idx on outbox (id) where delivered_at is null;
