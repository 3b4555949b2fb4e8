//! Reads that may lag go to a real streaming replica while it is fresh, and to the primary
//! once it falls behind the bound or goes away (`database.read_url`, `db::reads`).

mod cluster;

use std::time::{Duration, Instant};

use leadrouter::domain::Role;
use reqwest::StatusCode;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::helpers::{TestApp, vp_event};
use cluster::Cluster;

const MAX_LAG_MS: u64 = 5_000;

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .expect("the server answers")
}

/// Waits until `done` holds, for at most `within`; false if it never did.
async fn eventually<F: AsyncFnMut() -> bool>(within: Duration, mut done: F) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn lead_on_replica(replica: &mut PgConnection, email: &str) -> bool {
    sqlx::query_scalar("select exists (select 1 from leads where email = $1)")
        .bind(email)
        .fetch_one(replica)
        .await
        .unwrap_or(false)
}

#[tokio::test]
async fn reads_come_from_a_fresh_replica_and_from_the_primary_when_it_lags_or_is_gone() {
    let cluster = Cluster::start();
    let mut admin = connect(&cluster.primary_url("postgres")).await;
    admin.execute("create database leadrouter").await.unwrap();
    let pool = PgPool::connect(&cluster.primary_url("leadrouter"))
        .await
        .unwrap();
    leadrouter::db::migrate(&pool).await.unwrap();
    let replica_url = cluster.replica_url("leadrouter");
    let app = TestApp::spawn_with_settings(pool, |settings| {
        settings.database.read_url = Some(replica_url.clone().into());
        settings.database.read_max_lag_ms = MAX_LAG_MS;
    })
    .await;
    let ops = app.as_role(Role::Ops).await;

    // Caught up: the first lead (a page view: not MQL) is on the replica, and the views read
    // from it.
    app.ingest(&vp_event(
        "e1",
        "first@acme.io",
        "page_view",
        chrono::Duration::zero(),
    ))
    .await;
    let mut replica = connect(&replica_url).await;
    assert!(
        eventually(Duration::from_secs(10), async || {
            lead_on_replica(&mut replica, "first@acme.io").await
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, funnel) = ops.get("/api/v1/metrics/funnel").await;
    assert_eq!(status, StatusCode::OK, "{funnel}");

    // Replay paused: the lead becomes MQL on the primary only. Within the bound its view reads
    // the replica, which still has it as it was; past the bound, the primary.
    replica
        .execute("select pg_wal_replay_pause()")
        .await
        .unwrap();
    let mql = app
        .ingest(&vp_event(
            "e2",
            "first@acme.io",
            "demo_request",
            chrono::Duration::zero(),
        ))
        .await;
    assert_eq!(mql["results"][0]["lifecycle_stage"], "MQL");
    let written = Instant::now();
    let stage = async || {
        let (status, lead) = ops.get("/api/v1/leads?email=first@acme.io").await;
        assert_eq!(status, StatusCode::OK, "{lead}");
        lead["lifecycle_stage"].as_str().unwrap().to_owned()
    };
    assert_ne!(stage().await, "MQL", "read from the replica");
    assert!(
        eventually(Duration::from_millis(MAX_LAG_MS + 3_000), async || {
            stage().await == "MQL"
        })
        .await,
        "reads never left the lagging replica"
    );
    assert!(
        written.elapsed() >= Duration::from_millis(MAX_LAG_MS - 1_000),
        "left the replica before the bound: {:?}",
        written.elapsed()
    );

    // A lead the replica does not have at all is found on the primary at once.
    app.ingest(&vp_event(
        "e3",
        "second@acme.io",
        "demo_request",
        chrono::Duration::zero(),
    ))
    .await;
    let (status, body) = ops.get("/api/v1/leads?email=second@acme.io").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!lead_on_replica(&mut replica, "second@acme.io").await);

    // Replay resumed, the replica catches up and serves again. Then it dies: the read it fails
    // is answered from the primary, not with a 503.
    replica
        .execute("select pg_wal_replay_resume()")
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || {
            lead_on_replica(&mut replica, "second@acme.io").await
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(replica);
    cluster.stop_replica();
    let (status, body) = ops.get("/api/v1/leads?email=second@acme.io").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, funnel) = ops.get("/api/v1/metrics/funnel").await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
}
