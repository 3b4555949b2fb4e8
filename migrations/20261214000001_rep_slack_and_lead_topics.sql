-- A rep's (or manager's) Slack channel is part of their record, and two topics about leads
-- themselves: `lead.stage_changed` and `lead.scored`. All three are kept by triggers, so every
-- writer of reps, transitions and leads stays correct without knowing.

-- The Slack incoming webhook that posts to the person's own channel.
alter table reps
    add column slack_webhook_url text,
    add constraint reps_slack_webhook_url_http
        check (slack_webhook_url ~ '^https?://[^[:space:]]+$' and char_length(slack_webhook_url) <= 2048);

-- The endpoint a rep record keeps (at most one per rep); the admin API does not change it.
alter table webhook_endpoints
    add column rep_id uuid references reps (id),
    add constraint webhook_endpoints_rep_key unique (rep_id),
    add constraint webhook_endpoints_rep_is_slack
        check (rep_id is null or (format = 'slack' and recipient is not null));

-- What each role hears of in their own channel.
create function rep_slack_topics(role text) returns text[] language sql immutable as $$
    select case role
        when 'manager' then array['manager.escalation']
        else array['rep.assigned', 'rep.task', 'rep.nurture_signal']
    end
$$;

create function rep_slack_endpoint() returns trigger language plpgsql as $$
begin
    if new.slack_webhook_url is null then
        update webhook_endpoints
           set enabled = false, disabled_reason = 'the rep has no Slack webhook',
               updated_at = new.updated_at
         where rep_id = new.id and enabled;
        return null;
    end if;
    insert into webhook_endpoints
        (id, url, topics, secret, format, recipient, enabled, disabled_reason, rep_id,
         created_at, updated_at)
    values (gen_random_uuid(), new.slack_webhook_url, rep_slack_topics(new.role),
            -- Slack reads no signature (the URL is the secret); the column wants one anyway.
            'whsec_' || encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'base64'),
            'slack', new.email, new.active,
            case when not new.active then 'the rep is inactive' end,
            new.id, new.updated_at, new.updated_at)
    on conflict (rep_id) do update
       set url = excluded.url, topics = excluded.topics, recipient = excluded.recipient,
           -- A receiver's 410 (the channel was archived) holds until the URL changes.
           enabled = excluded.enabled and (webhook_endpoints.url <> excluded.url
                      or webhook_endpoints.enabled
                      or webhook_endpoints.disabled_reason is distinct from
                         'the receiver answered 410 Gone'),
           disabled_reason = case
               when not excluded.enabled then excluded.disabled_reason
               when webhook_endpoints.url = excluded.url and not webhook_endpoints.enabled
                    and webhook_endpoints.disabled_reason = 'the receiver answered 410 Gone'
                   then webhook_endpoints.disabled_reason
           end,
           updated_at = excluded.updated_at;
    return null;
end;
$$;

create trigger reps_slack_endpoint
    after insert or update of slack_webhook_url, email, role, active on reps
    for each row execute function rep_slack_endpoint();

-- Both lead topics are written only while an enabled endpoint subscribes to them: a message is
-- fanned out when it is written, so one no endpoint wants would never be sent, and `lead.scored`
-- would otherwise add a row to the outbox for nearly every event.
create function lead_topic_wanted(topic text) returns boolean language sql stable as $$
    select exists (select 1 from webhook_endpoints e where e.enabled and topic = any (e.topics))
$$;

-- A lead moved from one stage to another, or was created (`from_stage` null). A transition
-- that keeps the stage, such as an escalation, is not a change.
create function outbox_lead_stage_changed() returns trigger language plpgsql as $$
begin
    if not lead_topic_wanted('lead.stage_changed') then
        return null;
    end if;
    insert into outbox (topic, recipient, payload, dedupe_key, created_at)
    select 'lead.stage_changed', coalesce(r.email, ''),
           jsonb_build_object(
               'lead_id', t.lead_id, 'lead_email', l.email,
               'from_stage', t.from_stage, 'to_stage', t.to_stage,
               'actor', t.actor, 'reason', t.reason,
               'fit_score', t.fit_score, 'intent_score', t.intent_score,
               'rules_version', t.rules_version, 'owner_rep_id', l.owner_rep_id,
               'occurred_at', t.occurred_at),
           'lead.stage_changed:' || t.id, t.occurred_at
      from new_transitions t
      join leads l on l.id = t.lead_id
      left join reps r on r.id = l.owner_rep_id
     where t.from_stage is distinct from t.to_stage
    on conflict (dedupe_key) do nothing;
    return null;
end;
$$;

create trigger lead_transitions_to_outbox after insert on lead_transitions
    referencing new table as new_transitions
    for each statement execute function outbox_lead_stage_changed();

-- A lead's Fit or Intent changed (or a lead was created). Intent is as of `intent_as_of`, the
-- last activity: it decays from there, 50 % per 30 days, without a new message.
create function lead_scored_message(l leads) returns jsonb language sql stable as $$
    select jsonb_build_object(
        'lead_id', l.id, 'lead_email', l.email, 'lifecycle_stage', l.lifecycle_stage,
        'fit_score', l.fit_score, 'intent_score', l.intent_at_last_activity,
        'intent_as_of', l.last_activity_at, 'rules_version', l.rules_version,
        'scored_at', l.updated_at)
$$;

-- Writes `lead.scored` for the leads whose scores the statement set.
create function outbox_lead_scored(scored uuid[]) returns void language sql as $$
    insert into outbox (topic, recipient, payload, dedupe_key, created_at)
    select 'lead.scored', coalesce(r.email, ''), lead_scored_message(n),
           format('lead.scored:%s:%s:%s:%s', n.id, n.version, n.fit_score,
                  n.intent_at_last_activity),
           n.updated_at
      from leads n
      left join reps r on r.id = n.owner_rep_id
     where n.id = any (scored)
    on conflict (dedupe_key) do nothing
$$;

create function outbox_leads_created() returns trigger language plpgsql as $$
begin
    if lead_topic_wanted('lead.scored') then
        -- A lead written before its first evaluation (both scores 0) has not been scored.
        perform outbox_lead_scored(array(
            select n.id from new_leads n
             where n.fit_score <> 0 or n.intent_at_last_activity <> 0));
    end if;
    return null;
end;
$$;

create function outbox_leads_rescored() returns trigger language plpgsql as $$
begin
    if lead_topic_wanted('lead.scored') then
        perform outbox_lead_scored(array(
            select n.id from new_leads n join old_leads o on o.id = n.id
             where o.fit_score is distinct from n.fit_score
                or o.intent_at_last_activity is distinct from n.intent_at_last_activity));
    end if;
    return null;
end;
$$;

create trigger leads_scored_on_insert after insert on leads
    referencing new table as new_leads
    for each statement execute function outbox_leads_created();

create trigger leads_scored_on_update after update on leads
    referencing old table as old_leads new table as new_leads
    for each statement execute function outbox_leads_rescored();
