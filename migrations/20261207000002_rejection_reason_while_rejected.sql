-- `leads.rejection_reason` is set while a lead is Rejected (the lead view shows it); a recycled
-- lead that qualified again kept its old reason until writes began clearing it. Clear those.
update leads set rejection_reason = null
 where lifecycle_stage <> 'Rejected' and rejection_reason is not null;
