-- API keys (DESIGN §3, "Who may do what"): random secrets shown once at minting; only their
-- SHA-256 is kept. Constraint names are stable: src/db/api_keys.rs relies on them.

create table api_keys (
    id          uuid primary key,
    -- SHA-256 of the whole key, 64 lower-case hex digits. Authentication is one indexed
    -- lookup on it (the unique constraint's index).
    key_hash    text not null,
    -- The first characters of the key (`lr_` + 8 hex digits), to tell keys apart in listings.
    prefix      text not null,
    role        text not null,
    -- The rep a `rep` or `manager` key acts as. No foreign key yet: the reps table arrives in
    -- a parallel migration, and a later one adds the reference.
    rep_id      uuid,
    label       text,
    created_at  timestamptz not null,
    -- Set once; a revoked key is refused (401) from then on but kept for the record.
    revoked_at  timestamptz,
    constraint api_keys_key_hash_key unique (key_hash),
    constraint api_keys_key_hash_format check (key_hash ~ '^[0-9a-f]{64}$'),
    constraint api_keys_role_check check (role in ('admin', 'ops', 'manager', 'rep', 'source')),
    -- Managers are reps too: both act on leads as a named rep; no other role does.
    constraint api_keys_rep_id_check check ((rep_id is not null) = (role in ('rep', 'manager')))
);
