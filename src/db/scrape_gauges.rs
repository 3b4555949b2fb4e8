//! What `/metrics` reads from the database at each scrape: one statement, each part of it
//! served by a partial index over the few rows it counts (see the migration
//! `scrape_gauge_indexes`), so a scrape costs the same however many messages were delivered.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The database's numbers for one scrape.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScrapeCounts {
    /// Deliveries waiting for an attempt (`deliveries_due_idx`).
    pub pending_deliveries: i64,
    /// When the oldest of them was created; `None` when none is pending.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Deliveries whose schedule ran out (`deliveries_dead_idx`).
    pub dead_deliveries: i64,
    /// Inbound records waiting for a replay (`inbound_dead_letters_unreplayed_idx`).
    pub inbound_dead_letters: i64,
    /// CRM-refused records waiting for a replay, per CRM (`crm_write_failures_pending_idx`).
    pub hubspot_write_failures: i64,
    /// The same for Salesforce.
    pub salesforce_write_failures: i64,
    /// Open assignments (`assignments_rep_open_idx`: the work in progress, not the history)
    /// whose acknowledgement deadline has passed without one.
    pub ack_overdue: i64,
    /// Open assignments whose disposition deadline has passed without one.
    pub disposition_overdue: i64,
}

/// Reads the numbers of one scrape at `now`, from one snapshot.
pub async fn read(conn: &mut PgConnection, now: DateTime<Utc>) -> sqlx::Result<ScrapeCounts> {
    sqlx::query_as(
        "select p.pending_deliveries, p.oldest_pending_at,
                (select count(*) from deliveries where status = 'dead') as dead_deliveries,
                (select count(*) from inbound_dead_letters where replayed_at is null)
                    as inbound_dead_letters,
                f.hubspot_write_failures, f.salesforce_write_failures,
                a.ack_overdue, a.disposition_overdue
           from (select count(*) as pending_deliveries, min(created_at) as oldest_pending_at
                   from deliveries where status = 'pending') p,
                (select count(*) filter (where crm = 'hubspot') as hubspot_write_failures,
                        count(*) filter (where crm = 'salesforce') as salesforce_write_failures
                   from crm_write_failures where replayed_at is null) f,
                (select count(*) filter (where acknowledged_at is null and disposed_at is null
                                           and ack_due <= $1) as ack_overdue,
                        count(*) filter (where disposed_at is null and disposition_due <= $1)
                            as disposition_overdue
                   from assignments where closed_at is null) a",
    )
    .bind(now)
    .fetch_one(conn)
    .await
}
