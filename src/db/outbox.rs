//! The outbox: messages for receivers outside the service, written in the transaction of the
//! change they announce and delivered later (a later issue adds the dispatcher).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, types::Json};

use super::bind::{Bind, unnest};

/// A message to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// What it is about: one of [`Topic`](crate::domain::Topic)'s names.
    pub topic: &'static str,
    /// Who receives it (an email address).
    pub recipient: String,
    pub payload: Value,
    /// The same key twice is one message: a repeated write adds nothing.
    pub dedupe_key: String,
}

pub(crate) const WRITE_COLUMNS: &str = "topic, recipient, payload, dedupe_key, created_at";
const WRITE_TYPES: [&str; 5] = ["text", "text", "jsonb", "text", "timestamptz"];

/// `unnest($first::text[], ...) as m(<WRITE_COLUMNS>)`: the rows bound by [`bind_messages`].
pub(crate) fn unnest_messages(first: usize) -> String {
    unnest("m", WRITE_COLUMNS, &WRITE_TYPES, first)
}

/// What makes an insert of messages skip those whose key is already there.
pub(crate) const ON_CONFLICT: &str = "on conflict on constraint outbox_dedupe_key do nothing";

/// Binds `messages`, created at `now`, column by column, matching [`unnest_messages`].
pub(crate) fn bind_messages<'q, Q: Bind<'q>>(
    query: Q,
    messages: &'q [Message],
    now: DateTime<Utc>,
) -> Q {
    query
        .bind(messages.iter().map(|m| m.topic).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.recipient.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| Json(&m.payload))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.dedupe_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(vec![now; messages.len()])
}

/// Enqueues `messages`; those whose key is already there are skipped.
pub async fn enqueue(
    conn: &mut PgConnection,
    messages: &[Message],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "insert into outbox ({WRITE_COLUMNS}) select {WRITE_COLUMNS} from {} {ON_CONFLICT}",
        unnest_messages(1)
    );
    bind_messages(sqlx::query(&sql), messages, now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which of `keys` the outbox holds already.
pub async fn existing_keys(conn: &mut PgConnection, keys: &[&str]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select dedupe_key from outbox where dedupe_key = any($1)")
        .bind(keys)
        .fetch_all(conn)
        .await
}
