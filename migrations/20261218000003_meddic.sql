-- MEDDIC's six fields as the rep records them: each a field value with who recorded it and
-- when, kept as history (the latest per field is the lead's current value).
create table lead_meddic (
    id           bigserial primary key,
    lead_id      uuid not null references leads (id),
    field        text not null,
    value        text not null,
    recorded_by  text not null,
    recorded_at  timestamptz not null,
    constraint lead_meddic_field_known check (field in (
        'metrics', 'economic_buyer', 'decision_criteria', 'decision_process', 'identify_pain',
        'champion')),
    constraint lead_meddic_value_given check (btrim(value) <> '')
);
create index lead_meddic_lead_idx on lead_meddic (lead_id, field, recorded_at desc);
