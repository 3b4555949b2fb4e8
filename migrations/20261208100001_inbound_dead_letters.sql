-- Inbound records that authenticated but could not be mapped to canonical events (a record
-- with no usable email, a field that fails validation). The vendor is told "received" so it
-- stops redelivering, and the record waits here, listed and replayable: nothing is dropped.
create table inbound_dead_letters (
    id           uuid primary key,
    source       text not null,
    -- The vendor's id for the record (Salesforce: the notification Id), so a redelivery of
    -- the same record is still one dead letter.
    event_id     text not null,
    -- Why it could not be mapped, naming the field.
    reason       text not null,
    -- The record as received (Salesforce: a one-notification Outbound Message), which a
    -- replay parses again with the mapping then in force.
    payload      text not null,
    received_at  timestamptz not null,
    replayed_at  timestamptz,
    constraint inbound_dead_letters_source_event_id_key unique (source, event_id)
);

create index inbound_dead_letters_received_idx on inbound_dead_letters (received_at desc, id desc);
