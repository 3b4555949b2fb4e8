-- Nurture's per-workflow numbers (GET /api/v1/metrics/nurture) join the daily sums, so a
-- period's whole days are read from metrics_daily like the other views: kind `nurture`, dim
-- `workflow`, key the workflow, reason what happened (`enrolled`, `moved`, `advanced`,
-- `triggered`, `exited`, and `touch` and `exited_to_mql` counted beside them). The nurture
-- log is append-only, so one insert trigger keeps them exact.

create function metrics_nurture_logged() returns trigger language plpgsql as $$
begin
    insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
    select (r.at at time zone 'UTC')::date, 'nurture', 'workflow', r.workflow, c.what, count(*), 0, 0, 0
      from new_rows r
     cross join lateral (values (r.kind),
                                (case when r.asset_id is not null then 'touch' end),
                                (case when r.kind = 'exited' and r.reason = 'MQL' then 'exited_to_mql' end))
           as c(what)
     where c.what is not null
     group by 1, 4, 5;
    return null;
end $$;

create trigger nurture_log_to_daily after insert on nurture_log
    referencing new table as new_rows
    for each statement execute function metrics_nurture_logged();

-- What metrics_daily must sum to: the funnel's rows as before, and nurture's from its log.
create or replace view metrics_daily_derived as
select c.day, c.kind, c.dim, c.key, c.reason, sum(c.n) as n, sum(c.sals) as sals,
       sum(c.sqls) as sqls, sum(c.rejected) as rejected
  from lead_funnel f
 cross join lateral metrics_contributions(f.created_at, f.mql_at, f.sal_at, f.sql_at, f.rejected_at,
           f.rep_id, f.account_tier, f.source, f.disqualified_at, f.disqualified_reasons,
           f.rejections_at, f.rejection_reasons) c
 group by 1, 2, 3, 4, 5
union all
select (r.at at time zone 'UTC')::date, 'nurture', 'workflow', r.workflow, c.what,
       count(*), 0, 0, 0
  from nurture_log r
 cross join lateral (values (r.kind),
                            (case when r.asset_id is not null then 'touch' end),
                            (case when r.kind = 'exited' and r.reason = 'MQL' then 'exited_to_mql' end))
       as c(what)
 where c.what is not null
 group by 1, 2, 3, 4, 5;

-- Rows logged before this migration.
insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected, folded)
select day, kind, dim, key, reason, n, sals, sqls, rejected, true
  from metrics_daily_derived where kind = 'nurture';
