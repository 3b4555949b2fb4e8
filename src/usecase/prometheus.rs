//! The `/metrics` scrape: what the recorder holds, then the gauges read at scrape time from
//! the pools and the database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{
    db::scrape_gauges::{self, ScrapeCounts},
    metrics::gauges::{self as g, GaugeText},
};

/// How long a scrape waits for the database. Well under Prometheus's default scrape timeout
/// (10 s), so that a slow database costs the database gauges, not the whole scrape.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

/// The exposition text of one scrape. `pools` are the service's pools by label; the database
/// is read through the first.
pub async fn scrape(
    handle: &PrometheusHandle,
    pools: &[(&str, &PgPool)],
    now: DateTime<Utc>,
) -> String {
    let mut text = GaugeText::default();
    pool_gauges(&mut text, pools);
    let counts = match pools.first() {
        Some((_, pool)) => read_counts(pool, now).await,
        None => None,
    };
    text.family(
        g::SCRAPE_DB_UP,
        "Whether this scrape could read the database.",
    )
    .sample(g::SCRAPE_DB_UP, &[], f64::from(u8::from(counts.is_some())));
    if let Some(counts) = counts {
        database_gauges(&mut text, &counts, now);
    }
    let mut out = handle.render();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&text.into_text());
    out
}

async fn read_counts(pool: &PgPool, now: DateTime<Utc>) -> Option<ScrapeCounts> {
    let read = async {
        let mut conn = pool.acquire().await?;
        scrape_gauges::read(&mut conn, now).await
    };
    match tokio::time::timeout(DB_TIMEOUT, read).await {
        Ok(Ok(counts)) => Some(counts),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "metrics scrape could not read the database");
            None
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = DB_TIMEOUT.as_millis(),
                "metrics scrape timed out reading the database"
            );
            None
        }
    }
}

fn pool_gauges(text: &mut GaugeText, pools: &[(&str, &PgPool)]) {
    text.family(
        g::POOL_CONNECTIONS,
        "Open database connections, by pool and state.",
    );
    for (name, pool) in pools {
        let idle = pool.num_idle() as f64;
        let open = f64::from(pool.size());
        let in_use = (open - idle).max(0.0);
        text.sample(
            g::POOL_CONNECTIONS,
            &[("pool", name), ("state", "in_use")],
            in_use,
        )
        .sample(
            g::POOL_CONNECTIONS,
            &[("pool", name), ("state", "idle")],
            idle,
        );
    }
    text.family(g::POOL_MAX, "The most connections a pool opens.");
    for (name, pool) in pools {
        let max = f64::from(pool.options().get_max_connections());
        text.sample(g::POOL_MAX, &[("pool", name)], max);
    }
}

fn database_gauges(text: &mut GaugeText, counts: &ScrapeCounts, now: DateTime<Utc>) {
    text.family(
        g::OUTBOX_DELIVERIES,
        "Outbound deliveries not delivered, by status.",
    )
    .sample(
        g::OUTBOX_DELIVERIES,
        &[("status", "pending")],
        counts.pending_deliveries as f64,
    )
    .sample(
        g::OUTBOX_DELIVERIES,
        &[("status", "dead")],
        counts.dead_deliveries as f64,
    );
    // A test clock (or a replica's skew) can put `now` before the row: no negative age.
    let age = counts.oldest_pending_at.map_or(0.0, |at| {
        ((now - at).num_milliseconds().max(0) as f64) / 1000.0
    });
    text.family(g::OUTBOX_OLDEST_AGE, "Age of the oldest pending delivery.")
        .sample(g::OUTBOX_OLDEST_AGE, &[], age);
    text.family(
        g::INBOUND_DEAD_LETTERS,
        "Inbound dead letters not replayed.",
    )
    .sample(
        g::INBOUND_DEAD_LETTERS,
        &[],
        counts.inbound_dead_letters as f64,
    );
    text.family(
        g::CRM_WRITE_FAILURES,
        "CRM-refused writes not replayed, by CRM.",
    )
    .sample(
        g::CRM_WRITE_FAILURES,
        &[("crm", "hubspot")],
        counts.hubspot_write_failures as f64,
    )
    .sample(
        g::CRM_WRITE_FAILURES,
        &[("crm", "salesforce")],
        counts.salesforce_write_failures as f64,
    );
    let overdue = |deadline| [("deadline", deadline)];
    text.family(
        g::SLA_OVERDUE,
        "Open assignments past a deadline, by deadline.",
    )
    .sample(g::SLA_OVERDUE, &overdue("ack"), counts.ack_overdue as f64)
    .sample(
        g::SLA_OVERDUE,
        &overdue("disposition"),
        counts.disposition_overdue as f64,
    );
}
