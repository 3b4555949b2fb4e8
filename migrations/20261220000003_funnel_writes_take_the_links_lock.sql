-- Opportunity writers hold the links lock (`opportunity_links_lock`) exclusively while they
-- update funnel rows. A lead writer asked for it, shared, only in the statement triggers after
-- its own funnel writes, so it could hold a funnel row an opportunity writer waited for while
-- waiting for that writer's lock: a deadlock, which one of them answered as a 503. Every
-- statement that writes funnel rows now takes the lock shared first (a writer that holds it
-- exclusively already has it).
create function lead_funnel_links_lock() returns trigger
language plpgsql as $$
begin
    perform opportunity_links_lock(false);
    return null;
end $$;

create trigger lead_funnel_links_lock before insert or update on lead_funnel
    for each statement execute function lead_funnel_links_lock();
