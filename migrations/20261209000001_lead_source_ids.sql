-- Each lead's ids in the systems that send its events (a HubSpot contact id, a Salesforce
-- Lead or Contact id, a Segment userId or anonymousId, a Marketo lead id). Email stays the
-- identity of a lead; these let a connector resolve a payload that names the lead only by
-- the vendor's id, and let a user find a lead by the id their CRM shows.
create table lead_source_ids (
    system       text not null,
    external_id  text not null,
    -- The lead, by its email (a lead's email never changes): resolving a vendor's id to the
    -- email its events need is then one index-only lookup.
    email        text not null references leads (email) on delete cascade,
    -- When a payload last tied this id to this lead.
    recorded_at  timestamptz not null,
    constraint lead_source_ids_pkey primary key (system, external_id) include (email),
    constraint lead_source_ids_system_known check (
        system in ('hubspot', 'salesforce', 'segment_user', 'segment_anonymous', 'marketo')),
    constraint lead_source_ids_external_id_text check (
        char_length(external_id) between 1 and 256)
);

create index lead_source_ids_email_idx on lead_source_ids (email);
