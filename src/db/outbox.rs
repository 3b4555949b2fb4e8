//! The outbox: messages for receivers outside the service, written in the transaction of the
//! change they announce and delivered later (a later issue adds the dispatcher).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, types::Json};

/// A message to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// What it is about: `rep.assigned`, `manager.escalation`, ...
    pub topic: &'static str,
    /// Who receives it (an email address).
    pub recipient: String,
    pub payload: Value,
    /// The same key twice is one message: a repeated write adds nothing.
    pub dedupe_key: String,
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
    let col = |f: fn(&Message) -> String| messages.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "insert into outbox (topic, recipient, payload, dedupe_key, created_at)
         select t, r, p, k, $5 from unnest($1::text[], $2::text[], $3::jsonb[], $4::text[])
             as m(t, r, p, k)
         on conflict on constraint outbox_dedupe_key do nothing",
    )
    .bind(col(|m| m.topic.to_owned()))
    .bind(col(|m| m.recipient.clone()))
    .bind(
        messages
            .iter()
            .map(|m| Json(&m.payload))
            .collect::<Vec<_>>(),
    )
    .bind(col(|m| m.dedupe_key.clone()))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
