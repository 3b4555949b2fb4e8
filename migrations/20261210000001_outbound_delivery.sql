-- Outbound delivery of the outbox: receivers registered as webhook endpoints, one delivery
-- per (message, endpoint) with its retry state, and every attempt logged.

create table webhook_endpoints (
    id               uuid primary key,
    url              text not null,
    -- The outbox topics it receives (`rep.assigned`, `manager.escalation`, ...).
    topics           text[] not null,
    -- A Standard Webhooks secret: `whsec_` and base64 of the key bytes.
    secret           text not null,
    -- What it receives: the Standard Webhooks envelope, signed, or a Slack incoming webhook's
    -- message (a Slack webhook URL is its own secret; Slack reads no signature).
    format           text not null default 'standard_webhooks',
    -- Only the messages for this person (a rep's or a manager's own Slack channel); null
    -- takes every message of its topics.
    recipient        text,
    enabled          boolean not null default true,
    -- Why it was disabled: by an operator, or by the receiver answering 410 Gone.
    disabled_reason  text,
    created_at       timestamptz not null,
    updated_at       timestamptz not null,
    constraint webhook_endpoints_url_http check (url ~ '^https?://[^[:space:]]+$'),
    constraint webhook_endpoints_topics_some check (cardinality(topics) between 1 and 32),
    constraint webhook_endpoints_secret_form check (secret ~ '^whsec_[A-Za-z0-9+/=]{24,}$'),
    constraint webhook_endpoints_disabled_has_reason check (enabled or disabled_reason is not null),
    constraint webhook_endpoints_format_known check (format in ('standard_webhooks', 'slack')),
    constraint webhook_endpoints_recipient_normalised check (recipient = lower(btrim(recipient)))
);

create table deliveries (
    id               bigint generated always as identity primary key,
    message_id       bigint not null references outbox (id),
    endpoint_id      uuid not null references webhook_endpoints (id),
    status           text not null default 'pending',
    attempts         integer not null default 0,
    -- When the next attempt is due; a dispatcher that claims a delivery moves it past its
    -- own deadline, so a replica that dies mid-attempt leaves it due again, not lost.
    next_attempt_at  timestamptz not null,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz not null,
    constraint deliveries_message_endpoint_key unique (message_id, endpoint_id),
    constraint deliveries_status_known check (status in ('pending', 'delivered', 'dead')),
    constraint deliveries_delivered_when check ((status = 'delivered') = (delivered_at is not null)),
    constraint deliveries_attempts_counted check (attempts >= 0)
);

create index deliveries_due_idx on deliveries (next_attempt_at) where status = 'pending';
create index deliveries_endpoint_idx on deliveries (endpoint_id, id desc);

create table delivery_attempts (
    id           bigint generated always as identity primary key,
    delivery_id  bigint not null references deliveries (id),
    attempted_at timestamptz not null,
    -- The receiver's status; null when there was no answer (refused, timed out).
    status_code  integer,
    latency_ms   integer not null,
    error        text,
    constraint delivery_attempts_latency check (latency_ms >= 0),
    constraint delivery_attempts_outcome check (status_code is not null or error is not null)
);

create index delivery_attempts_delivery_idx on delivery_attempts (delivery_id, id);

-- Every message any writer puts in the outbox fans out to the enabled endpoints subscribed to
-- its topic (and to its recipient, for an endpoint that names one), in the writer's
-- transaction, and wakes the dispatchers: no writer needs to know.
create function outbox_fan_out() returns trigger language plpgsql as $$
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

create trigger outbox_fan_out
    after insert on outbox
    referencing new table as new_messages
    for each statement execute function outbox_fan_out();
