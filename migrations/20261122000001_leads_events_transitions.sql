-- Accounts, leads, the event log and the transition log (DESIGN §1, §2).
-- Constraint names are stable: src/error.rs and src/db map them to responses.

create table accounts (
    id          uuid primary key,
    domain      text not null,
    name        text,
    created_at  timestamptz not null default now(),
    constraint accounts_domain_key unique (domain),
    constraint accounts_domain_lower check (domain = lower(domain))
);

create table leads (
    id                       uuid primary key,
    -- Normalised (trimmed, lower-case) by the service, so a plain unique index is
    -- case-insensitive uniqueness.
    email                    text not null,
    account_id               uuid references accounts (id),
    first_name               text,
    last_name                text,
    title                    text,
    company                  text,
    industry                 text,
    employee_count           bigint,
    annual_revenue           bigint,
    country                  text,
    -- field name -> occurred_at of the event its value came from (latest wins).
    profile_stamps           jsonb not null default '{}',
    lifecycle_stage          text not null default 'Lead',
    fit_score                integer not null default 0,
    fit_breakdown            jsonb not null default '[]',
    -- Intent as of the last signal; decay to "now" is applied on read.
    intent_at_last_activity  double precision not null default 0,
    last_activity_at         timestamptz,
    intent_signals           jsonb not null default '{}',
    rules_version            text not null,
    -- Bumped on every write: single-event ingest updates a lead only if nobody else has
    -- since it was read (optimistic concurrency, see src/db/ingest.rs).
    version                  bigint not null default 0,
    created_at               timestamptz not null,
    updated_at               timestamptz not null,
    constraint leads_email_key unique (email),
    constraint leads_email_normalised check (email = lower(btrim(email))),
    constraint leads_stage_check check (
        lifecycle_stage in ('Lead', 'MQL', 'SAL', 'SQL', 'Rejected', 'Disqualified')
    )
);

create index leads_account_idx on leads (account_id);
create index leads_stage_idx on leads (lifecycle_stage);

create table lead_events (
    id           bigint generated always as identity primary key,
    source       text not null,
    event_id     text not null,
    lead_id      uuid not null references leads (id),
    event_type   text not null,
    occurred_at  timestamptz not null,
    received_at  timestamptz not null,
    -- The canonical event as accepted, for replay and rescoring.
    payload      jsonb not null,
    constraint lead_events_source_event_id_key unique (source, event_id)
);

create index lead_events_lead_occurred_idx on lead_events (lead_id, occurred_at);

create table lead_transitions (
    id             bigint generated always as identity primary key,
    lead_id        uuid not null references leads (id),
    from_stage     text,
    to_stage       text not null,
    actor          text not null,
    reason         text not null,
    fit_score      integer not null,
    intent_score   double precision not null,
    rules_version  text not null,
    -- The event that caused a system transition, if any.
    event_row_id   bigint references lead_events (id),
    occurred_at    timestamptz not null
);

create index lead_transitions_lead_idx on lead_transitions (lead_id, occurred_at);
