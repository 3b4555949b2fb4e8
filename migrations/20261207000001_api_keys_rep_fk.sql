-- A rep or manager key names a rep that exists (issue 27): a key bound to no rep read every
-- rep's record. POST /api/v1/api-keys maps this constraint's violation to a 422 naming
-- `rep_id` (src/usecase/api_keys.rs). `not valid`: keys minted before this migration for a
-- rep id that names no rep stay as they are (revoke them); every key minted from now on is
-- checked. Reps are never deleted (they are deactivated), so no `on delete` is needed.
alter table api_keys
    add constraint api_keys_rep_id_fkey foreign key (rep_id) references reps (id) not valid;
