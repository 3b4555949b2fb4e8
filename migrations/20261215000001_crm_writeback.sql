-- CRM write-back (issue 29 part 4): each lead's state (scores, stage, segment, reasons, owner)
-- written back to the CRMs that know the lead, through a coalescing outbox filled by triggers
-- in the transaction of the change.

-- The CRMs write-back is on for, written by the service at start from `[writeback.*]`. The
-- triggers read it first: with no row, they return at once and ingest pays nothing else.
create table crm_writeback_targets (
    crm         text not null,
    -- A change waits this long for more changes to the same lead, so a burst is one write.
    coalesce_window interval not null,
    updated_at  timestamptz not null,
    constraint crm_writeback_targets_pkey primary key (crm),
    constraint crm_writeback_targets_crm_known check (crm in ('hubspot', 'salesforce')),
    constraint crm_writeback_targets_window_positive check (coalesce_window >= interval '0')
);

-- The coalescing outbox: at most one row per (CRM, lead), "this lead's latest state is to be
-- written". A change to a lead that already has a row bumps `changes` and keeps `due_at`, so
-- many changes in the window become one write of the state as it is when the write is made.
create table crm_writes (
    crm              text not null,
    lead_id          uuid not null references leads (id),
    first_changed_at timestamptz not null,
    changed_at       timestamptz not null,
    -- Bumped by every change: the job deletes the row after a write only if it did not move
    -- during the call (a change during the call stays due). `changed_at` alone would not do:
    -- some writers of leads keep `updated_at`.
    changes          bigint not null default 1,
    due_at           timestamptz not null,
    attempts         integer not null default 0,
    -- When the row is next claimable: `due_at`, a backoff after a failure, or the end of a
    -- claim's lease.
    next_attempt_at  timestamptz not null,
    last_error       text,
    constraint crm_writes_pkey primary key (crm, lead_id),
    constraint crm_writes_crm_known check (crm in ('hubspot', 'salesforce'))
);

create index crm_writes_due_idx on crm_writes (crm, next_attempt_at);

-- What was last written to each CRM for each lead, as the CRM's field names and values: a
-- state equal to it is not written again, and the daily decay check compares against it.
create table crm_synced (
    crm          text not null,
    lead_id      uuid not null references leads (id),
    external_id  text not null,
    fields       jsonb not null,
    written_at   timestamptz not null,
    constraint crm_synced_pkey primary key (crm, lead_id),
    constraint crm_synced_crm_known check (crm in ('hubspot', 'salesforce'))
);

-- Records a CRM refused for good (a deleted contact, a value the field refuses): kept with
-- what was sent and why, until an operator replays them (back into `crm_writes`).
create table crm_write_failures (
    id           bigint generated always as identity,
    crm          text not null,
    lead_id      uuid not null references leads (id),
    external_id  text not null,
    code         text not null,
    message      text not null,
    fields       jsonb not null,
    failed_at    timestamptz not null,
    replayed_at  timestamptz,
    constraint crm_write_failures_pkey primary key (id),
    constraint crm_write_failures_crm_known check (crm in ('hubspot', 'salesforce'))
);

create index crm_write_failures_pending_idx on crm_write_failures (crm, failed_at)
    where replayed_at is null;

-- A lead's id in a system is found by its email and the system: this index replaces the one
-- on email alone (which every lookup by email still uses) and covers the id, so queueing a
-- write and reading the id to write to are index-only lookups, where the planner would
-- otherwise intersect the email index with the primary key's whole range of the system.
drop index lead_source_ids_email_idx;
create index lead_source_ids_email_idx on lead_source_ids (email, system) include (external_id);

-- Queues the leads `ids`, changed at `at` (one per lead), for every target CRM they have an id
-- in. Salesforce takes Lead ids (00Q…) only: a Contact has no lead Status to write. One
-- statement per target, so the plan is the small one it is (a join with the targets table
-- was estimated at hundreds of rows, costly enough for JIT compilation on every statement).
create function crm_writes_enqueue(ids uuid[], at timestamptz[]) returns void
language plpgsql as $$
declare
    t record;
begin
    for t in select crm, coalesce_window from crm_writeback_targets loop
        insert into crm_writes as w
            (crm, lead_id, first_changed_at, changed_at, due_at, next_attempt_at)
        select distinct on (c.id)
               t.crm, c.id, c.at, c.at, c.at + t.coalesce_window, c.at + t.coalesce_window
          from unnest(ids, at) as c(id, at)
          join leads l on l.id = c.id
         where exists (select 1 from lead_source_ids s
                        where s.email = l.email and s.system = t.crm
                          and (t.crm <> 'salesforce' or s.external_id like '00Q%'))
         order by c.id, c.at desc
        on conflict (crm, lead_id) do update
           set changed_at = greatest(w.changed_at, excluded.changed_at),
               changes = w.changes + 1;
    end loop;
end;
$$;

create function crm_writes_leads_inserted() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from crm_writeback_targets) then
        return null;
    end if;
    perform crm_writes_enqueue(array(select id from new_leads order by id),
                               array(select updated_at from new_leads order by id));
    return null;
end;
$$;

-- The columns written back: a change to any other column (profile stamps, nurture, …) writes
-- nothing. Intent is `intent_at_last_activity` as of `last_activity_at`; its decay without
-- events is the daily job's (src/jobs/crm_writeback/decay.rs).
create function crm_writes_leads_updated() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from crm_writeback_targets) then
        return null;
    end if;
    perform crm_writes_enqueue(array_agg(n.id), array_agg(n.updated_at))
       from new_leads n join old_leads o on o.id = n.id
      where (o.fit_score, o.intent_at_last_activity, o.last_activity_at, o.lifecycle_stage,
             o.demand_state, o.derived_demand_state, o.account_tier, o.disqualified_reason,
             o.rejection_reason, o.owner_rep_id)
            is distinct from
            (n.fit_score, n.intent_at_last_activity, n.last_activity_at, n.lifecycle_stage,
             n.demand_state, n.derived_demand_state, n.account_tier, n.disqualified_reason,
             n.rejection_reason, n.owner_rep_id)
     having count(*) > 0;
    return null;
end;
$$;

-- A lead that just got an id in a CRM: its state goes to that CRM.
create function crm_writes_source_ids() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from crm_writeback_targets) then
        return null;
    end if;
    perform crm_writes_enqueue(array_agg(l.id), array_agg(n.recorded_at))
       from new_ids n join leads l on l.email = n.email
      where n.system in ('hubspot', 'salesforce')
     having count(*) > 0;
    return null;
end;
$$;

-- Transition tables rule out column lists (`update of …`): the function compares the columns.
create trigger leads_crm_writes_on_insert after insert on leads
    referencing new table as new_leads
    for each statement execute function crm_writes_leads_inserted();

create trigger leads_crm_writes_on_update after update on leads
    referencing old table as old_leads new table as new_leads
    for each statement execute function crm_writes_leads_updated();

create trigger lead_source_ids_crm_writes_on_insert after insert on lead_source_ids
    referencing new table as new_ids
    for each statement execute function crm_writes_source_ids();

create trigger lead_source_ids_crm_writes_on_update after update on lead_source_ids
    referencing new table as new_ids
    for each statement execute function crm_writes_source_ids();

-- The owner is written as the rep's email: a rep whose email changes has their leads written
-- again. Rare, so per row, as the reps' other trigger.
create function crm_writes_rep_email() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from crm_writeback_targets) then
        return null;
    end if;
    perform crm_writes_enqueue(array_agg(l.id), array_agg(new.updated_at))
       from leads l where l.owner_rep_id = new.id
     having count(*) > 0;
    return null;
end;
$$;

create trigger reps_crm_writes_on_email after update of email on reps
    for each row when (old.email is distinct from new.email)
    execute function crm_writes_rep_email();

-- Intent as the engine computes it for `now` (src/engine/decay.rs `decay_factor`, then
-- `IntentState::score_at`'s rounding to hundredths), rounded to the whole points written to a
-- CRM. A test (tests/api/crm_writeback.rs) checks it agrees with the engine.
create function crm_intent_score(at_last_activity double precision, last_activity_at timestamptz,
                                 now timestamptz, half_life_days integer, continuous boolean)
returns numeric language sql immutable as $$
    select round(round((at_last_activity * case
        when last_activity_at is null or now <= last_activity_at then 1.0::double precision
        when continuous then power(0.5::double precision,
            trunc(extract(epoch from now - last_activity_at))::double precision
                / 86400.0 / half_life_days)
        else power(0.5::double precision,
            floor(trunc(extract(epoch from now - last_activity_at)) / (half_life_days * 86400)))
    end * 100.0)::numeric) / 100)
$$;
