-- What an endpoint receives: the Standard Webhooks envelope, signed, or a Slack incoming
-- webhook's message (a Slack webhook URL is its own secret; Slack reads no signature).
-- `recipient` narrows an endpoint to the messages for one person (a rep's or a manager's own
-- Slack channel); null takes every message of its topics.
alter table webhook_endpoints
    add column format text not null default 'standard_webhooks',
    add column recipient text,
    add constraint webhook_endpoints_format_known check (format in ('standard_webhooks', 'slack')),
    add constraint webhook_endpoints_recipient_normalised check (recipient = lower(btrim(recipient)));

create or replace function outbox_fan_out() returns trigger language plpgsql as $$
begin
    insert into deliveries (message_id, endpoint_id, next_attempt_at, created_at)
    select n.id, e.id, n.created_at, n.created_at
      from new_messages n
      join webhook_endpoints e
        on e.enabled and n.topic = any (e.topics)
       and (e.recipient is null or e.recipient = n.recipient)
    on conflict on constraint deliveries_message_endpoint_key do nothing;
    if found then
        perform pg_notify('outbox_deliveries', '');
    end if;
    return null;
end;
$$;
