-- `/metrics` counts dead deliveries and unreplayed inbound dead letters at every scrape
-- (every 15 to 60 s). Both are few, but the tables they sit in grow without bound (every
-- delivered message, every replayed record), so without these partial indexes each scrape
-- would read the whole table. The pending deliveries already have `deliveries_due_idx`,
-- and unreplayed CRM write failures `crm_write_failures_pending_idx`.
create index deliveries_dead_idx on deliveries (endpoint_id) where status = 'dead';
create index inbound_dead_letters_unreplayed_idx on inbound_dead_letters (received_at)
    where replayed_at is null;
