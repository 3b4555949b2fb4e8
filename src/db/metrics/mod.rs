//! The metrics reads over the facts of `migrations/20261125000002_metrics.sql`: whole UTC days
//! from the `metrics_daily` sums (`daily`), the partial days at a period's ends and the
//! medians from `lead_funnel` and the partial indexes on `lead_transitions` (`funnel`,
//! `rejections`, `disqualifications`), the SLA from `assignments_assigned_idx` (`sla`).
//! Stretches of time are half-open, `[from, to)`.
//! Nurture is counted straight from the nurture log's `(at)` index (`nurture`).

pub mod daily;
pub mod demand_states;
pub mod disqualifications;
pub mod funnel;
pub mod nurture;
pub mod rejections;
pub mod revenue;
pub mod sla;

use sqlx::PgConnection;
use uuid::Uuid;

/// What a view's rows are grouped by. Weeks are ISO weeks (Monday 00:00 UTC); a group's
/// key is its SQL text (`rep_id::text`, the tier's digit, the source, the week's Monday as
/// `YYYY-MM-DD`), `None` for leads without one (no rep yet, no tier, unknown source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Only the total.
    Total,
    Rep,
    Tier,
    Source,
    Week,
}

impl Grouping {
    /// The query-string name (`by=`), `None` for [`Grouping::Total`].
    pub fn name(self) -> Option<&'static str> {
        match self {
            Grouping::Total => None,
            Grouping::Rep => Some("rep"),
            Grouping::Tier => Some("tier"),
            Grouping::Source => Some("source"),
            Grouping::Week => Some("week"),
        }
    }
}

/// `expr`'s ISO week as the text of its Monday (UTC).
pub(crate) fn week_of(expr: &str) -> String {
    format!("to_char(date_trunc('week', {expr} at time zone 'UTC'), 'YYYY-MM-DD')")
}

/// Makes the caller's fresh transaction one read-only snapshot, so the several statements of
/// a view see the same data; without JIT, whose compile time (tens to hundreds of ms at
/// these row estimates) would exceed the reads themselves; and with room to sort a
/// quarter's MQLs for their median in memory rather than on disk.
pub async fn snapshot(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *conn)
        .await?;
    sqlx::query("select set_config('jit', 'off', true), set_config('work_mem', '32MB', true)")
        .execute(conn)
        .await?;
    Ok(())
}

/// Names of the reps `ids`, as (id, name).
pub async fn rep_names(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as("select id, name from reps where id = any($1)")
        .bind(ids)
        .fetch_all(conn)
        .await
}
