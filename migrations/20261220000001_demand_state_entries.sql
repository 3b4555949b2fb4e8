-- The demand-state view counts, per state, the leads that entered it in a period (each lead
-- once, at its first entry there) and what they did after. Answering that from the
-- transitions meant de-duplicating a period's entries and joining each to its lead's funnel
-- row, which read every funnel row for a 90-day period. Each entry now carries both answers,
-- kept by triggers, so each read of the view is one index-only range read:
--   previous_entry_at  when the lead last entered the same state before this entry (ordered by
--                      time, then id), so "first entry in the period" is a filter;
--   mql_at, last_opportunity_opened_at, last_won_opportunity_opened_at
--                      the lead's funnel dates, copied from lead_funnel.
-- Only entries count: rows with a state, from a signal other than `history`.

alter table lead_demand_state_transitions
    add column previous_entry_at timestamptz,
    add column mql_at timestamptz,
    add column last_opportunity_opened_at timestamptz,
    add column last_won_opportunity_opened_at timestamptz;

-- A new entry: its predecessor, the lead's funnel dates, and the entry after it (rows can
-- arrive out of time order: a behaviour state is stamped with the activity that earned it).
-- The funnel row is read `for share`, so a writer updating it concurrently (an opportunity
-- writer, or a lead writer refreshing another lead's opportunities) either commits first (and
-- this reads its dates) or waits for this insert (and its trigger below then sees this row).
-- The links lock is taken shared first, as every funnel write takes it, so that holding the
-- row never waits on an opportunity writer holding the lock. Entries of one lead are written
-- under its lead row's lock.
create function demand_state_entry_fill() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(false);
    select f.mql_at, f.last_opportunity_opened_at, f.last_won_opportunity_opened_at
      into new.mql_at, new.last_opportunity_opened_at, new.last_won_opportunity_opened_at
      from lead_funnel f where f.lead_id = new.lead_id
       for share;
    if new.to_state is null or new.signal = 'history' then
        return new;
    end if;
    select t.occurred_at into new.previous_entry_at
      from lead_demand_state_transitions t
     where t.lead_id = new.lead_id and t.to_state = new.to_state and t.signal <> 'history'
       and (t.occurred_at, t.id) < (new.occurred_at, new.id)
     order by t.occurred_at desc, t.id desc
     limit 1;
    update lead_demand_state_transitions t
       set previous_entry_at = new.occurred_at
     where t.id = (select s.id from lead_demand_state_transitions s
                    where s.lead_id = new.lead_id and s.to_state = new.to_state
                      and s.signal <> 'history'
                      and (s.occurred_at, s.id) > (new.occurred_at, new.id)
                    order by s.occurred_at, s.id
                    limit 1)
       and (t.previous_entry_at is null or t.previous_entry_at < new.occurred_at);
    return new;
end $$;

create trigger demand_state_entry_fill before insert on lead_demand_state_transitions
    for each row execute function demand_state_entry_fill();

create function lead_funnel_to_demand_state_entries() returns trigger
language plpgsql as $$
begin
    update lead_demand_state_transitions t
       set mql_at = new.mql_at,
           last_opportunity_opened_at = new.last_opportunity_opened_at,
           last_won_opportunity_opened_at = new.last_won_opportunity_opened_at
     where t.lead_id = new.lead_id
       and (t.mql_at, t.last_opportunity_opened_at, t.last_won_opportunity_opened_at)
           is distinct from
           (new.mql_at, new.last_opportunity_opened_at, new.last_won_opportunity_opened_at);
    return null;
end $$;

create trigger lead_funnel_to_demand_state_entries_on_insert after insert on lead_funnel
    for each row
    when (new.mql_at is not null or new.last_opportunity_opened_at is not null
          or new.last_won_opportunity_opened_at is not null)
    execute function lead_funnel_to_demand_state_entries();
create trigger lead_funnel_to_demand_state_entries_on_update
    after update of mql_at, last_opportunity_opened_at, last_won_opportunity_opened_at
    on lead_funnel
    for each row
    when ((old.mql_at, old.last_opportunity_opened_at, old.last_won_opportunity_opened_at)
          is distinct from
          (new.mql_at, new.last_opportunity_opened_at, new.last_won_opportunity_opened_at))
    execute function lead_funnel_to_demand_state_entries();

with entries as (
    select t.id, f.mql_at, f.last_opportunity_opened_at, f.last_won_opportunity_opened_at,
           case when t.to_state is not null and t.signal <> 'history' then
                lag(t.occurred_at) over (
                    partition by t.lead_id, t.to_state, t.signal = 'history'
                    order by t.occurred_at, t.id)
           end as previous_entry_at
      from lead_demand_state_transitions t
      left join lead_funnel f on f.lead_id = t.lead_id)
update lead_demand_state_transitions t
   set previous_entry_at = e.previous_entry_at, mql_at = e.mql_at,
       last_opportunity_opened_at = e.last_opportunity_opened_at,
       last_won_opportunity_opened_at = e.last_won_opportunity_opened_at
  from entries e
 where e.id = t.id
   and (e.previous_entry_at, e.mql_at, e.last_opportunity_opened_at,
        e.last_won_opportunity_opened_at) is distinct from (null, null, null, null);

-- Both reads of the demand-state view (moves and entries) from one index; the period read of
-- the old one fetched each row's signal from the table.
drop index lead_demand_state_transitions_occurred_idx;
create index lead_demand_state_transitions_period_idx
    on lead_demand_state_transitions (occurred_at)
    include (from_state, to_state, signal, previous_entry_at,
             mql_at, last_opportunity_opened_at, last_won_opportunity_opened_at)
    where signal <> 'history';

-- What the fill above keeps relies on an entry never moving once written (its lead, state,
-- signal and time); the history is appended to, never edited.
create function demand_state_transition_unchanged() returns trigger
language plpgsql as $$
begin
    raise exception 'demand-state transition % is history: its lead, states, signal and time do not change',
        old.id using errcode = 'check_violation';
end $$;

create trigger demand_state_transition_unchanged
    before update of lead_id, from_state, to_state, signal, occurred_at
    on lead_demand_state_transitions
    for each row
    when ((old.lead_id, old.from_state, old.to_state, old.signal, old.occurred_at)
          is distinct from
          (new.lead_id, new.from_state, new.to_state, new.signal, new.occurred_at))
    execute function demand_state_transition_unchanged();
