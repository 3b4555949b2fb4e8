-- What an endpoint receives: the Standard Webhooks envelope, signed, or a Slack incoming
-- webhook's message (a Slack webhook URL is its own secret; Slack reads no signature).
alter table webhook_endpoints
    add column format text not null default 'standard_webhooks',
    add constraint webhook_endpoints_format_known check (format in ('standard_webhooks', 'slack'));
