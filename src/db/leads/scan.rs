//! Whole-table passes over leads (rescoring): keyset pages by id, and locking a page.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Lead,
    row::{COLUMNS, convert},
};

/// Up to `limit` lead ids after `after` (from the start when `None`), in id order: one page
/// of a pass over every lead that costs the same wherever it is in the table.
pub async fn ids_after(
    conn: &mut PgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select id from leads where ($1::uuid is null or id > $1) order by id limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The leads among `ids`, locked until the transaction ends. With `skip_busy`, rows another
/// transaction holds (an ingest in flight) are left out rather than waited for; otherwise
/// rows are locked in email order, the order ingest locks in, so the two cannot deadlock.
pub async fn lock_ids(
    conn: &mut PgConnection,
    ids: &[Uuid],
    skip_busy: bool,
) -> sqlx::Result<Vec<Lead>> {
    let wait = if skip_busy { "skip locked" } else { "" };
    let sql =
        format!("select {COLUMNS} from leads where id = any($1) order by email for update {wait}");
    convert(sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?)
}
