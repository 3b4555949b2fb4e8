-- A recycled lead (stage Rejected, back in nurture) answers to the time-based rules as a lead
-- does, so the sweeper's two partial indexes take rejected leads too; the claim keeps only
-- those whose rejection recycled them. Rejected leads are few beside leads in play.
drop index leads_inactive_sweep_idx;
create index leads_inactive_sweep_idx on leads (engagement_hour)
    where lifecycle_stage in ('Lead', 'MQL', 'Rejected');
drop index leads_size_sweep_idx;
create index leads_size_sweep_idx on leads (below_size_since)
    where lifecycle_stage in ('Lead', 'MQL', 'Rejected') and below_size_since is not null;
