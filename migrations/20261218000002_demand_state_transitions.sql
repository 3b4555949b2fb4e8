-- Demand-state transitions as history of their own: when a lead moved from one state to
-- another and what moved it. Recorded by triggers on leads, so every writer's changes are
-- recorded without the writer knowing.

create table lead_demand_state_transitions (
    id           bigserial primary key,
    lead_id      uuid not null references leads (id),
    from_state   text,
    to_state     text,
    -- `map`: the state a MAP sent (or cleared); `behaviour`: an event a behaviour rule maps
    -- to a state; `history`: the state a lead already had when this history began.
    signal       text not null,
    -- map: when the MAP's value was sent (the profile stamp); behaviour: the lead's latest
    -- activity, the event that earned the state; history: the lead's last update.
    occurred_at  timestamptz not null,
    constraint lead_demand_state_transitions_signal_known check (
        signal in ('map', 'behaviour', 'history')),
    constraint lead_demand_state_transitions_moves check (from_state is distinct from to_state)
);
create index lead_demand_state_transitions_lead_idx
    on lead_demand_state_transitions (lead_id, occurred_at);
create index lead_demand_state_transitions_occurred_idx
    on lead_demand_state_transitions (occurred_at) include (lead_id, from_state, to_state);

create function record_demand_state_transition() returns trigger
language plpgsql as $$
declare
    was text := null;
    by_map boolean := new.demand_state is not null;
begin
    if tg_op = 'UPDATE' then
        was := coalesce(old.demand_state, old.derived_demand_state);
        by_map := new.demand_state is distinct from old.demand_state;
    end if;
    insert into lead_demand_state_transitions (lead_id, from_state, to_state, signal, occurred_at)
    values (new.id, was, coalesce(new.demand_state, new.derived_demand_state),
            case when by_map then 'map' else 'behaviour' end,
            case when by_map
                 then coalesce((new.profile_stamps ->> 'demand_state')::timestamptz, new.updated_at)
                 else coalesce(new.last_activity_at, new.updated_at) end);
    return null;
end
$$;

create trigger leads_demand_state_entered
    after insert on leads
    for each row
    when (coalesce(new.demand_state, new.derived_demand_state) is not null)
    execute function record_demand_state_transition();

create trigger leads_demand_state_moved
    after update of demand_state, derived_demand_state on leads
    for each row
    when (coalesce(old.demand_state, old.derived_demand_state)
          is distinct from coalesce(new.demand_state, new.derived_demand_state))
    execute function record_demand_state_transition();

insert into lead_demand_state_transitions (lead_id, from_state, to_state, signal, occurred_at)
select id, null, coalesce(demand_state, derived_demand_state), 'history', updated_at
  from leads
 where coalesce(demand_state, derived_demand_state) is not null;
