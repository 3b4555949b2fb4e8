-- Lead links read through functions of one opportunity or one lead instead of views over
-- all of them: the revenue and demand-state views start from a period's opportunities or
-- leads, and a view over every link made each read join them all (see docs/benchmarks.md).

drop view opportunity_attribution;
drop view opportunity_leads;
drop view opportunity_contact_leads;

-- Which leads an opportunity belongs to, resolved when read, so a lead that arrives after its
-- opportunity is linked all the same: its contacts that are leads (by email, or by a CRM id a
-- lead remembers), or, when none is, every lead of its account. Functions of one opportunity
-- or one lead (inlined into the query that calls them), so each read follows the indexes
-- from the rows it starts from.
create function opportunity_leads_of(opp uuid) returns setof uuid
language sql stable as $$
    select l.id from opportunity_contacts c join leads l on l.email = c.email
     where c.opportunity_id = opp
    union
    select l.id from opportunity_contacts c
      join lead_source_ids s on s.system = c.system and s.external_id = c.external_id
      join leads l on l.email = s.email
     where c.opportunity_id = opp and c.email is null
    union
    select l.id from opportunities o
      join accounts a on a.domain = o.account_domain
      join leads l on l.account_id = a.id
     where o.id = opp and not exists (
           select 1 from opportunity_contacts c2
             left join lead_source_ids s2
               on c2.email is null and s2.system = c2.system and s2.external_id = c2.external_id
            where c2.opportunity_id = opp
              and exists (select 1 from leads l2 where l2.email = coalesce(c2.email, s2.email)))
$$;

create function lead_opportunities_of(lead uuid) returns setof uuid
language sql stable as $$
    select c.opportunity_id from leads l join opportunity_contacts c on c.email = l.email
     where l.id = lead
    union
    select c.opportunity_id from leads l
      join lead_source_ids s on s.email = l.email
      join opportunity_contacts c
        on c.email is null and c.system = s.system and c.external_id = s.external_id
     where l.id = lead
    union
    select o.id from leads l
      join accounts a on a.id = l.account_id
      join opportunities o on o.account_domain = a.domain
     where l.id = lead and not exists (
           select 1 from opportunity_contacts c2
             left join lead_source_ids s2
               on c2.email is null and s2.system = c2.system and s2.external_id = c2.external_id
            where c2.opportunity_id = o.id
              and exists (select 1 from leads l2 where l2.email = coalesce(c2.email, s2.email)))
$$;

-- Each opportunity with the one lead it is credited to: the lead that became MQL first
-- before the opportunity opened, else its first lead to become MQL at all, else its first
-- lead. `marketing_sourced` says whether that lead was MQL before the opening. Unlinked
-- opportunities are here too, with no lead. A filter on the opportunity's own columns is
-- applied before the crediting.
create view opportunity_attribution as
select o.id as opportunity_id, o.status, o.amount, o.currency, o.opened_at, o.closed_at,
       c.lead_id, c.mql_at, c.rep_id, c.account_tier, c.source, c.demand_state,
       coalesce(c.mql_at < o.opened_at, false) as marketing_sourced
  from opportunities o
  left join lateral (
        select f.lead_id, f.mql_at, f.rep_id, f.account_tier, f.source,
               coalesce(l.demand_state, l.derived_demand_state) as demand_state
          from opportunity_leads_of(o.id) as x(lead_id)
          join lead_funnel f on f.lead_id = x.lead_id
          join leads l on l.id = x.lead_id
         order by (f.mql_at < o.opened_at) desc nulls last, f.mql_at nulls last,
                  l.created_at, l.id
         limit 1) c on true;
