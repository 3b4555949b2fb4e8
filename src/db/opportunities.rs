//! Opportunities, their events and contacts (`opportunities`, `opportunity_events`,
//! `opportunity_contacts`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::domain::{ContactRef, OpportunityEvent, OpportunityState};

/// The opportunity `source` calls `external_id`, created if new, and locked until the
/// transaction ends, so that two deliveries about it fold one after the other. A new row's
/// dates are `at` until its first fold.
pub async fn lock_or_create(
    conn: &mut PgConnection,
    source: &str,
    external_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "insert into opportunities (id, source, external_id, status, opened_at, last_event_at, updated_at)
         values ($1, $2, $3, 'open', $4, $4, $5)
         on conflict (source, external_id) do update set updated_at = excluded.updated_at
         returning id",
    )
    .bind(Uuid::new_v4())
    .bind(source)
    .bind(external_id)
    .bind(at)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Stores `events` of opportunity `id`; returns the ids of those not stored before.
pub async fn insert_events(
    conn: &mut PgConnection,
    id: Uuid,
    events: &[&OpportunityEvent],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    let column =
        |f: fn(&OpportunityEvent) -> String| events.iter().map(|e| f(e)).collect::<Vec<_>>();
    let payloads: Vec<Json<&OpportunityEvent>> = events.iter().map(|e| Json(*e)).collect();
    sqlx::query_scalar(
        "insert into opportunity_events
                (source, event_id, opportunity_id, event_type, occurred_at, payload, received_at)
         select source, event_id, $3, event_type, occurred_at, payload, $7
           from unnest($1::text[], $2::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
                  as e(source, event_id, event_type, occurred_at, payload)
         on conflict (source, event_id) do nothing
         returning event_id",
    )
    .bind(column(|e| e.source.clone()))
    .bind(column(|e| e.event_id.clone()))
    .bind(id)
    .bind(column(|e| e.event_type.as_str().to_owned()))
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(payloads)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Which of `events` are stored already: their source, id and opportunity.
pub async fn stored_events(
    conn: &mut PgConnection,
    events: &[OpportunityEvent],
) -> sqlx::Result<Vec<(String, String, Uuid)>> {
    sqlx::query_as(
        "select e.source, e.event_id, e.opportunity_id
           from unnest($1::text[], $2::text[]) as k(source, event_id)
           join opportunity_events e using (source, event_id)",
    )
    .bind(events.iter().map(|e| e.source.as_str()).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_all(conn)
    .await
}

/// Deletes opportunity `id` if it holds no event.
pub async fn delete_if_eventless(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "delete from opportunities o
          where o.id = $1
            and not exists (select 1 from opportunity_events e where e.opportunity_id = o.id)",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every event stored of opportunity `id`.
pub async fn events(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<OpportunityEvent>> {
    let rows: Vec<Json<OpportunityEvent>> =
        sqlx::query_scalar("select payload from opportunity_events where opportunity_id = $1")
            .bind(id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|Json(e)| e).collect())
}

/// Writes the fold of opportunity `id`'s events and adds the contacts they name.
pub async fn write(
    conn: &mut PgConnection,
    id: Uuid,
    state: &OpportunityState,
    contacts: &[&ContactRef],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let money = state.money.as_ref();
    sqlx::query(
        "update opportunities
            set name = $2, amount = $3::numeric, currency = $4, stage = $5, status = $6,
                opened_at = $7, closed_at = $8, close_date = $9, account_domain = $10,
                last_event_at = $11, updated_at = $12
          where id = $1",
    )
    .bind(id)
    .bind(&state.name)
    .bind(money.map(|m| m.amount.as_str()))
    .bind(money.map(|m| m.currency.as_str()))
    .bind(&state.stage)
    .bind(state.status.as_str())
    .bind(state.opened_at)
    .bind(state.closed_at)
    .bind(state.close_date)
    .bind(&state.account_domain)
    .bind(state.last_event_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let (mut emails, mut systems, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for contact in contacts {
        let (email, system, external) = match contact {
            ContactRef::Email { email } => (Some(email.as_str()), None, None),
            ContactRef::Crm { system, id } => (None, Some(system.as_str()), Some(id.as_str())),
        };
        emails.push(email);
        systems.push(system);
        ids.push(external);
    }
    sqlx::query(
        "insert into opportunity_contacts (opportunity_id, email, system, external_id)
         select $1, * from unnest($2::text[], $3::text[], $4::text[])
         on conflict do nothing",
    )
    .bind(id)
    .bind(emails)
    .bind(systems)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// An opportunity as a lead's history shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LeadOpportunity {
    pub id: Uuid,
    pub source: String,
    pub external_id: String,
    pub name: Option<String>,
    /// A decimal in `currency`; `null` when the CRM gave none.
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub stage: Option<String>,
    /// `open`, `won` or `lost`.
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_date: Option<NaiveDate>,
    /// Whether this lead was MQL before the opportunity opened.
    pub after_mql: bool,
}

/// The opportunities of lead `lead_id`, newest opened first.
pub async fn of_lead(conn: &mut PgConnection, lead_id: Uuid) -> sqlx::Result<Vec<LeadOpportunity>> {
    sqlx::query_as(
        "select o.id, o.source, o.external_id, o.name, o.amount::float8 as amount, o.currency,
                o.stage, o.status, o.opened_at, o.closed_at, o.close_date,
                coalesce(f.mql_at < o.opened_at, false) as after_mql
           from opportunity_lead_links k
           join opportunities o on o.id = k.opportunity_id
           left join lead_funnel f on f.lead_id = $1
          where k.lead_id = $1
          order by o.opened_at desc, o.id",
    )
    .bind(lead_id)
    .fetch_all(conn)
    .await
}
