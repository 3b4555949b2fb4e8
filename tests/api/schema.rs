//! Invariants the schema keeps whoever writes: the lead version, the funnel's grouping keys
//! as columns, the checks on stages, event types and reason codes, and one folded row per
//! group of the daily sums.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    helpers::{TestApp, event, vp_event},
    test_db::TestDb,
};

async fn version_of(pool: &PgPool, lead_id: Uuid) -> i64 {
    sqlx::query_scalar("select version from leads where id = $1")
        .bind(lead_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn lead_id(app: &TestApp, email: &str) -> Uuid {
    app.lead(email).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The SQLSTATE a statement fails with.
async fn refused(pool: &PgPool, sql: &str, lead: Uuid) -> String {
    let error = sqlx::query(sql)
        .bind(lead)
        .execute(pool)
        .await
        .expect_err("the schema refuses it");
    let code = error.as_database_error().and_then(|e| e.code());
    code.expect("a database error").into_owned()
}

#[tokio::test]
async fn every_update_of_a_lead_moves_its_version_whichever_columns_it_sets() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    app.ingest(&json!(event(
        "v1",
        "v@acme.io",
        "page_view",
        Duration::zero()
    )))
    .await;
    let id = lead_id(&app, "v@acme.io").await;
    let before = version_of(&db.pool, id).await;
    // Columns no ingest decision reads, set the way the assignment and rejection writers
    // set them, without naming the version.
    sqlx::query("update leads set owner_rep_id = null where id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("update leads set rejection_reason = null where id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(version_of(&db.pool, id).await, before + 2);
    // A writer cannot set it back either.
    sqlx::query("update leads set version = 0 where id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(version_of(&db.pool, id).await, before + 3);

    // Ingest applies the next event all the same: its cached copy of the lead is behind.
    let answer = app
        .ingest(&json!(event(
            "v2",
            "v@acme.io",
            "demo_request",
            Duration::minutes(1)
        )))
        .await;
    assert_eq!(answer["results"][0]["status"], "accepted", "{answer}");
    assert_eq!(version_of(&db.pool, id).await, before + 4);
}

#[tokio::test]
async fn the_funnel_groups_by_the_reason_code_and_source_columns_not_by_the_text() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    app.ingest(&json!(vp_event(
        "r1",
        "r@acme.io",
        "page_view",
        Duration::zero()
    )))
    .await;
    let id = lead_id(&app, "r@acme.io").await;
    let (source, code): (Option<String>, Option<String>) = sqlx::query_as(
        "select source, reason_code from lead_transitions where lead_id = $1 and from_stage is null",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((source.as_deref(), code), (Some("hubspot"), None));

    // A writer whose reason text names no code at all still files the rejection under its
    // code.
    sqlx::query(
        "insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, reason_code,
                                       fit_score, intent_score, rules_version, occurred_at)
         values ($1, 'MQL', 'Rejected', 'rep:x', 'reworded: no money this year',
                 'Rejected_NoBudget', 70, 50, 'v1', now())",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .unwrap();
    let (source, reason): (Option<String>, Option<String>) =
        sqlx::query_as("select source, rejection_reason from lead_funnel where lead_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (source.as_deref(), reason.as_deref()),
        (Some("hubspot"), Some("Rejected_NoBudget"))
    );
    let differ: i64 = sqlx::query_scalar(
        "select count(*) from ((table lead_funnel except table lead_funnel_derived)
                               union all (table lead_funnel_derived except table lead_funnel)) d",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(differ, 0);
}

#[tokio::test]
async fn the_schema_refuses_unknown_stages_event_types_and_exits_without_a_reason_code() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    app.ingest(&json!(event(
        "c1",
        "c@acme.io",
        "page_view",
        Duration::zero()
    )))
    .await;
    let id = lead_id(&app, "c@acme.io").await;
    let transition = |from: &str, to: &str, code: &str| {
        format!(
            "insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, reason_code,
                                           fit_score, intent_score, rules_version, occurred_at)
             values ($1, {from}, {to}, 'system', 'x', {code}, 0, 0, 'v1', now())"
        )
    };
    let check_violation = "23514";
    for sql in [
        transition("'Lead'", "'Won'", "null"),
        transition("'Lead'", "'Rejected'", "null"),
        transition("'Lead'", "'Disqualified'", "'Rejected_NoBudget'"),
        transition("null", "'Lead'", "null"),
        "insert into lead_events (source, event_id, lead_id, event_type, occurred_at, received_at, payload)
         values ('s', 'e', $1, 'page_visit', now(), now(), '{}')"
            .to_owned(),
    ] {
        assert_eq!(refused(&db.pool, &sql, id).await, check_violation, "{sql}");
    }
    // A lead that does not exist has no events.
    let (status, _) = app.get(&format!("/api/v1/leads/{}", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_folded_day_holds_one_row_per_group_and_a_concurrent_fold_adds_to_it() {
    let db = TestDb::new().await;
    let insert = |folded: bool, n: i64| {
        sqlx::query(
            "insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected, folded)
             values ('2026-12-01', 'lead', 'source', null, null, $1, 0, 0, 0, $2)",
        )
        .bind(n)
        .bind(folded)
    };
    let mut other = db.pool.begin().await.unwrap();
    insert(true, 2).execute(&mut *other).await.unwrap();
    let error = insert(true, 3)
        .execute(&mut *other)
        .await
        .expect_err("a second folded row");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    other.rollback().await.unwrap();

    // Another replica's fold has written its folded row, not yet committed, when this fold
    // runs over deltas it did not see: this one waits for it, then adds to its row.
    insert(false, 3).execute(&db.pool).await.unwrap();
    insert(false, -1).execute(&db.pool).await.unwrap();
    let mut other = db.pool.begin().await.unwrap();
    insert(true, 2).execute(&mut *other).await.unwrap();
    let pool = db.pool.clone();
    let fold = tokio::spawn(async move { leadrouter::jobs::metrics_fold::tick(&pool).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!fold.is_finished(), "the fold waits for the other one");
    other.commit().await.unwrap();
    fold.await.unwrap().unwrap();
    let rows: Vec<(i64, bool)> =
        sqlx::query_as("select n, folded from metrics_daily where day = '2026-12-01'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows, [(4, true)]);
}
