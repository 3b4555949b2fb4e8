-- The revenue view reads a period's opportunities twice, by opening and by closing, each with
-- the credited lead's groups and the amounts; covering both reads lets each be an index-only
-- range read instead of a pass over every opportunity.
drop index opportunity_attribution_opened_idx;
create index opportunity_attribution_opened_idx on opportunity_attribution (opened_at)
    include (marketing_sourced, amount, currency, rep_id, account_tier, source, demand_state);
drop index opportunity_attribution_closed_idx;
create index opportunity_attribution_closed_idx on opportunity_attribution (closed_at)
    include (status, marketing_sourced, amount, currency, mql_at, opened_at,
             rep_id, account_tier, source, demand_state)
    where closed_at is not null;
