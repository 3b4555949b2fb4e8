//! Segment calls: the stored ids a payload's messages need are looked up between the adapter's
//! two pure phases, then the mapped events and dead letters go through
//! [`inbound::receive`] like any connector's.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{
    inbound::{self, Receipt},
    ingest::GroupCommit,
};
use crate::{
    adapters::{
        canonical::Limits,
        segment::{self, IdsToResolve, KnownIds, Payload},
    },
    config::SegmentSettings,
    db::source_ids,
    domain::{IdSystem, Mapped},
    error::ApiError,
};

/// Resolves, maps and stores a verified, parsed payload.
#[tracing::instrument(skip_all, fields(messages = tracing::field::Empty))]
pub async fn receive(
    pool: &PgPool,
    group_commit: &GroupCommit,
    now: DateTime<Utc>,
    payload: &Payload,
    settings: &SegmentSettings,
    limits: &Limits<'_>,
) -> Result<Receipt, ApiError> {
    let wanted = payload.ids_to_resolve(settings);
    let known = if wanted.is_empty() {
        KnownIds::default()
    } else {
        let mut conn = pool.acquire().await?;
        known_ids(&mut conn, &wanted).await?
    };
    let mapped = payload.map(&known, settings, limits, now);
    inbound::receive(pool, group_commit, now, segment::SOURCE, mapped).await
}

/// Maps a dead letter's payload again, with the ids stored by now (read on `conn`, the
/// replay's transaction): its event, or a 422 saying why it still cannot be mapped.
pub async fn replay_map(
    conn: &mut PgConnection,
    payload: &str,
    settings: &SegmentSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let payload = Payload::parse(payload.as_bytes(), limits)?;
    let known = known_ids(conn, &payload.ids_to_resolve(settings)).await?;
    segment::replay(&payload, &known, settings, limits, now)
}

/// The emails the wanted ids are tied to, for those tied.
async fn known_ids(conn: &mut PgConnection, wanted: &IdsToResolve) -> Result<KnownIds, ApiError> {
    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }
    let mut known = KnownIds::default();
    if !wanted.user_ids.is_empty() {
        known.users =
            source_ids::emails(conn, IdSystem::SegmentUser, &refs(&wanted.user_ids)).await?;
    }
    if !wanted.anonymous_ids.is_empty() {
        known.anonymous = source_ids::emails(
            conn,
            IdSystem::SegmentAnonymous,
            &refs(&wanted.anonymous_ids),
        )
        .await?;
    }
    Ok(known)
}
