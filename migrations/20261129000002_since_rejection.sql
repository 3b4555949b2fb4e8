-- What a rejected lead has done since its rejection: the intent of its signals since then
-- (engine::SinceRejection, JSON). A lead rejected for a reason that recycles it into nurture
-- becomes MQL again when that intent meets the threshold on its own. Null unless the lead is
-- Rejected. Leads rejected before it was kept start counting at their rejection; the signals
-- they showed between the rejection and this migration count after `admin/rescore`.
alter table leads add column since_rejection jsonb;
update leads set since_rejection = jsonb_build_object('rejected_at', stage_changed_at)
 where lifecycle_stage = 'Rejected';
