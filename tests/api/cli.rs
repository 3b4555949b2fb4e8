//! The database commands of the real binary (`migrate`, `keys`, `demo`), each run as a child
//! process against a test database of its own.

use std::process::Output;

use chrono::Utc;
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    helpers::TestApp,
    startup::{database_url, service},
    test_db::TestDb,
};

/// `leadrouter <args>` on the database at `url`.
fn leadrouter(url: &str, args: &[&str]) -> Output {
    service()
        .env("DATABASE_URL", url)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs `args` and asserts success; what it printed on stdout.
fn succeeds(url: &str, args: &[&str]) -> String {
    let output = leadrouter(url, args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

#[tokio::test]
async fn migrate_creates_the_database_and_its_schema_then_finds_it_current() {
    let (name, url) = TestDb::unused();
    let first = succeeds(&url, &["migrate"]);
    // Adopted before any assertion, so the database is dropped however the test ends.
    let db = TestDb::adopt(&name).await;
    assert_eq!(first.lines().count(), 1, "{first}");
    assert!(
        first.starts_with(&format!("created database {name}; applied ")),
        "{first}"
    );
    let leads: i64 = sqlx::query_scalar("select count(*) from leads")
        .fetch_one(&db.pool)
        .await
        .expect("the schema is there");
    assert_eq!(leads, 0);

    let again = succeeds(&url, &["migrate"]);
    assert!(
        again.starts_with(&format!("database {name} exists; schema up to date")),
        "{again}"
    );
}

/// The first-run path: a key minted on the command line opens the API.
#[tokio::test]
async fn a_minted_admin_key_authenticates_against_the_service() {
    let db = TestDb::new().await;
    let url = database_url(&db.pool);
    let output = leadrouter(
        &url,
        &["keys", "create", "--role", "admin", "--name", "ops laptop"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = stdout(&output);
    assert_eq!(printed.lines().count(), 1, "the key alone: {printed}");
    let key = printed.trim_end();
    assert!(key.starts_with("lr_") && key.len() == 67, "{key}");
    assert!(
        stderr(&output).contains("shown this once"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains(key), "the key is printed once");

    let app = TestApp::spawn(db.pool.clone()).await;
    let (status, keys) = app.with_key(key).get("/api/v1/api-keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["label"] == "ops laptop" && k["role"] == "admin"),
        "{keys}"
    );
}

#[tokio::test]
async fn a_rep_key_needs_an_existing_rep_named_by_rep_id() {
    let db = TestDb::new().await;
    let url = database_url(&db.pool);
    let missing = leadrouter(&url, &["keys", "create", "--role", "rep"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing).trim_end(),
        "leadrouter keys create: --rep-id is required for a rep key"
    );
    assert!(stdout(&missing).is_empty());

    let nobody = Uuid::new_v4().to_string();
    let unknown = leadrouter(
        &url,
        &["keys", "create", "--role", "manager", "--rep-id", &nobody],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains(&format!("--rep-id {nobody} names no rep")),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(count(&db.pool, "api_keys").await, 0);
}

#[tokio::test]
async fn a_key_revoked_by_its_prefix_is_refused() {
    let db = TestDb::new().await;
    let url = database_url(&db.pool);
    let key = succeeds(&url, &["keys", "create", "--role", "ops"]);
    let key = key.trim_end();
    let prefix = &key[..11];
    let listed = succeeds(&url, &["keys", "list"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(prefix))
        .expect(&listed);
    assert!(row.contains(" ops ") && row.ends_with(" -"), "{row}");

    let revoked = succeeds(&url, &["keys", "revoke", prefix]);
    assert!(
        revoked.starts_with(&format!("revoked ops key {prefix}")),
        "{revoked}"
    );
    let app = TestApp::spawn(db.pool.clone()).await;
    let (status, _) = app.with_key(key).get("/api/v1/leads?email=a@b.io").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let unknown = leadrouter(&url, &["keys", "revoke", "lr_00000000"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
}

#[test]
fn an_unreachable_database_fails_the_command_with_one_line() {
    let output = leadrouter(
        "postgres://app:secret@127.0.0.1:1/leadrouter",
        &["keys", "create", "--role", "admin"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "leadrouter keys create: PostgreSQL is not reachable at postgres://app:***@127.0.0.1:1"
        ),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_key_is_a_usage_error_naming_file_and_key() {
    let output = service()
        .env("LEADROUTER_SERVER__PORTT", "9")
        .arg("demo")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("leadrouter demo: configuration error: config/default.toml")
            && stderr.contains("portt"),
        "{stderr}"
    );
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The demo goes through the rules: MQLs assigned to reps and in their queue; run twice, the
/// second run writes nothing.
#[tokio::test]
async fn the_demo_fills_a_reps_queue_and_a_second_run_adds_nothing() {
    let db = TestDb::new().await;
    let url = database_url(&db.pool);
    let first = succeeds(&url, &["demo"]);
    assert!(first.contains("40 events (40 new)"), "{first}");
    let tables = [
        "reps",
        "accounts",
        "leads",
        "lead_events",
        "assignments",
        "lead_transitions",
        "outbox",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(&db.pool, table).await);
    }
    // Accounts: the 8 of the list, and 4 that ingest made for the other company domains.
    assert_eq!(before[..3], [4, 12, 20], "reps, accounts, leads");

    let second = succeeds(&url, &["demo"]);
    assert!(
        second.starts_with("loaded 4 reps (0 new), 8 accounts (0 new), 40 events (0 new)"),
        "{second}"
    );
    let mut after = Vec::new();
    for table in tables {
        after.push(count(&db.pool, table).await);
    }
    assert_eq!(after, before, "{tables:?}");
    assert_eq!(
        first.lines().skip(1).collect::<Vec<_>>(),
        second.lines().skip(1).collect::<Vec<_>>()
    );

    let (lead_id, rep_id): (Uuid, Uuid) = sqlx::query_as(
        "select l.id, a.rep_id from leads l join assignments a on a.lead_id = l.id
          where l.lifecycle_stage = 'MQL' order by l.email limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("an MQL is assigned");
    let rep = rep_id.to_string();
    let key = succeeds(&url, &["keys", "create", "--role", "rep", "--rep-id", &rep]);
    let app = TestApp::spawn(db.pool.clone()).await;
    app.set_now(Utc::now());
    let (status, queue) = app.with_key(key.trim_end()).get("/api/v1/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["lead_id"] == lead_id.to_string()),
        "{queue}"
    );
}
