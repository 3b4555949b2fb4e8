-- `leads.rejection_reason` is set only while a lead is Rejected (the lead view shows it): a
-- recycled lead that qualifies again has it cleared. Clear it on leads past that point.
update leads set rejection_reason = null
 where lifecycle_stage <> 'Rejected' and rejection_reason is not null;
