-- The dispatcher claims due deliveries endpoint by endpoint (at most a few in flight each, so
-- one slow or dead receiver never holds up the others): each endpoint's due deliveries, oldest
-- first, without reading its delivered history.
create index deliveries_endpoint_due_idx on deliveries (endpoint_id, next_attempt_at)
    where status = 'pending';
