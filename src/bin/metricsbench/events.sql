-- The event log of the plan's leads $1 ..= $2: `events` per lead (1 to 19, 10 on average),
-- the first from the lead's source, spread over its first 60 days (or up to t_end).
insert into lead_events (source, event_id, lead_id, event_type, occurred_at, received_at, payload)
select x.source, x.event_id, p.id, x.kind, x.at, x.at,
       jsonb_build_object('event_id', x.event_id, 'source', x.source, 'type', x.kind,
                          'occurred_at', x.at, 'lead', jsonb_build_object('email', 'mb' || p.n))
  from metrics_bench_plan p
 cross join lateral generate_series(1, p.events) as i
 cross join lateral (
        select case when i = 1 then p.source
                    else (array['hubspot', 'salesforce', 'segment', 'marketo'])[1 + ((p.n + i) % 4)::int] end as source,
               'mb-' || p.n || '-' || i as event_id,
               (array['page_view', 'email_open', 'email_click', 'page_view', 'content_download',
                      'pricing_page_visit', 'webinar_attended', 'comparison_page_visit', 'form_submission',
                      'demo_request'])[1 + ((p.n * 3 + i * 7) % 10)::int] as kind,
               p.created + least(interval '60 days', p.t_end - p.created) * ((i - 1)::float8 / p.events) as at
    ) as x
 where p.n between $1 and $2
