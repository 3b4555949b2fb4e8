-- A rep or manager key names a rep that exists: a key bound to no rep would read the roster
-- as a manager. POST /api/v1/api-keys maps this constraint's violation to a 422 naming
-- `rep_id` (src/usecase/api_keys.rs). Keys already bound to no rep are revoked here; they are
-- kept for the record, so the constraint checks new rows only (`not valid`). Reps are never
-- deleted (they are deactivated), so no `on delete` is needed.
update api_keys
   set revoked_at = now()
 where revoked_at is null
   and rep_id is not null
   and not exists (select 1 from reps where reps.id = api_keys.rep_id);

alter table api_keys
    add constraint api_keys_rep_id_fkey foreign key (rep_id) references reps (id) not valid;
