//! The tiered account list: one account, CSV and JSON imports, and the tier copied to leads.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, problem_fields};
use crate::test_db::TestDb;

const CSV: Option<&str> = Some("text/csv");
const JSON: Option<&str> = Some("application/json");

async fn post_account(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    app.post_raw("/api/v1/accounts", body.to_string()).await
}

async fn import(app: &TestApp, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    app.post_typed("/api/v1/accounts/import", content_type, body.to_owned())
        .await
}

/// Imports and asserts a 200 with these counts.
async fn import_ok(app: &TestApp, content_type: Option<&str>, body: &str, counts: Value) {
    let (status, report) = import(app, content_type, body).await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    assert_eq!(report, counts);
}

/// Asserts a problem with `status` naming exactly `fields`.
fn assert_problem(got: (StatusCode, Value), status: StatusCode, fields: &[&str]) -> Value {
    let (got, problem) = got;
    assert_eq!(got, status, "{problem:#}");
    assert_eq!(problem["status"], status.as_u16(), "{problem:#}");
    assert_eq!(problem_fields(&problem), fields, "{problem:#}");
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    problem
}

async fn account(app: &TestApp, domain: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/accounts/{domain}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

async fn lead_tier(app: &TestApp, email: &str) -> Option<i16> {
    sqlx::query_scalar("select account_tier from leads where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_account_is_created_then_updated() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (status, created) = post_account(
        &app,
        &json!({"domain": " Acme.IO ", "name": "Acme", "tier": 1, "owner_email": "Ann@OurCo.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created:#}");
    assert_eq!(created["created"], true);
    assert_eq!(created["domain"], "acme.io");
    assert_eq!(created["name"], "Acme");
    assert_eq!(created["tier"], 1);
    assert_eq!(created["owner_email"], "ann@ourco.com");
    for key in ["id", "created_at", "updated_at"] {
        assert!(created[key].is_string(), "{key} in {created:#}");
    }

    let (status, updated) = post_account(&app, &json!({"domain": "acme.io", "tier": 2})).await;
    assert_eq!(status, StatusCode::OK, "{updated:#}");
    assert_eq!(updated["created"], false);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["tier"], 2);
    assert_eq!(
        updated["name"], "Acme",
        "an absent attribute is left as it is"
    );
    assert_eq!(updated["owner_email"], "ann@ourco.com");

    let (_, cleared) = post_account(&app, &json!({"domain": "acme.io", "tier": null})).await;
    assert_eq!(
        cleared["tier"],
        Value::Null,
        "null takes it off the tiered list"
    );
    let stored = account(&app, "ACME.io").await;
    assert_eq!(stored["tier"], Value::Null);
    assert_eq!(stored["name"], "Acme");
    assert!(stored.get("created").is_none());
    assert_eq!(app.count("accounts").await, 1);
}

#[tokio::test]
async fn a_tier_outside_the_list_is_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for tier in [0, 4, -1, 70_000] {
        let problem = assert_problem(
            post_account(&app, &json!({"domain": "acme.io", "tier": tier})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &["tier"],
        );
        assert_eq!(
            problem["errors"][0]["detail"],
            format!("unknown tier {tier}; allowed: 1, 2, 3")
        );
    }
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_bad_domain_is_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for domain in [
        json!("https://acme.io"),
        json!("acme"),
        json!("ann@acme.io"),
        json!("ac me.io"),
        json!(""),
    ] {
        assert_problem(
            post_account(&app, &json!({"domain": domain, "tier": 1})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &["domain"],
        );
    }
    assert_problem(
        post_account(&app, &json!({"tier": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["domain"],
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_bad_owner_email_is_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let problem = assert_problem(
        post_account(
            &app,
            &json!({"domain": "acme.io", "owner_email": "ann at ourco"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["owner_email"],
    );
    assert_eq!(
        problem["detail"],
        "owner_email: is not an email address (expected local@domain.tld)"
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    assert_problem(
        post_account(&app, &json!({"domain": "acme.io", "colour": "red"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["colour"],
    );
    assert_problem(
        post_account(&app, &json!({"domain": "acme.io", "tier": "1"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["tier"],
    );
    assert_problem(
        post_account(&app, &json!({"domain": ["acme.io"]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["domain"],
    );
    assert_problem(
        app.post_raw("/api/v1/accounts", "{\"domain\":").await,
        StatusCode::BAD_REQUEST,
        &[],
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_csv_import_creates_and_updates_in_one_go() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, beta) = post_account(&app, &json!({"domain": "beta.io", "name": "Beta"})).await;
    let csv = "tier,Domain,name,owner_email\n\
               1,Acme.io,\"Acme, Inc.\",ann@ourco.com\n\
               2,beta.io,,\n\
               ,gamma.io,Gamma,\n";
    import_ok(&app, CSV, csv, json!({"created": 2, "updated": 1})).await;

    let acme = account(&app, "acme.io").await;
    assert_eq!(acme["name"], "Acme, Inc.");
    assert_eq!(acme["tier"], 1);
    assert_eq!(acme["owner_email"], "ann@ourco.com");
    let beta_now = account(&app, "beta.io").await;
    assert_eq!(beta_now["id"], beta["id"]);
    assert_eq!(beta_now["tier"], 2);
    assert_eq!(beta_now["name"], Value::Null, "an empty cell clears");
    assert_eq!(account(&app, "gamma.io").await["tier"], Value::Null);
}

#[tokio::test]
async fn a_csv_with_one_bad_row_writes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    post_account(&app, &json!({"domain": "acme.io", "tier": 3})).await;
    let before = app.count("accounts").await;
    let csv = "domain,name,tier\n\
               acme.io,Acme,1\n\
               beta.io,Beta,4\n\
               gamma.io,Gamma,2\n";
    let problem = assert_problem(
        import(&app, CSV, csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["row 3.tier"],
    );
    assert_eq!(
        problem["errors"][0]["detail"],
        "unknown tier 4; allowed: 1, 2, 3"
    );
    assert_eq!(app.count("accounts").await, before);
    assert_eq!(account(&app, "acme.io").await["tier"], 3, "nothing updated");

    // Every problem of every row comes back at once.
    let csv = "domain,tier,owner_email\nacme,1,\nbeta.io,x,nope\nok.io,1\n";
    assert_problem(
        import(&app, CSV, csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["row 2.domain", "row 3.tier", "row 3.owner_email", "row 4"],
    );
    assert_eq!(app.count("accounts").await, before);
}

/// Accounts that ingest creates take the service clock, like every other write.
#[tokio::test]
async fn an_account_created_by_ingest_is_stamped_with_the_service_clock() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    app.advance(Duration::hours(1));
    app.ingest(&event("c1", "jane@acme.io", "page_view", Duration::zero()))
        .await;
    let acme = account(&app, "acme.io").await;
    let created_at: DateTime<Utc> = acme["created_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(created_at, app.now(), "{acme:#}");
}

/// Left open, a quote would read the rest of the body as one cell.
#[tokio::test]
async fn a_csv_with_an_unterminated_quote_is_a_422_naming_the_line() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    // Without the check the name cell swallowed gamma.io's row and all three cells "fit".
    let csv = "domain,tier,name\nacme.io,1,Acme\nbeta.io,2,\"Beta\ngamma.io,2,Gamma\n";
    let problem = assert_problem(
        import(&app, CSV, csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["row 3"],
    );
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("never closed"),
        "{problem:#}"
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_json_import_names_rows_by_path() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = json!([
        {"domain": "acme.io", "name": "Acme", "tier": 1},
        {"domain": "beta.io", "tier": 7},
        {"domain": "gamma.io", "owner": "ann@ourco.com"},
    ]);
    assert_problem(
        import(&app, JSON, &body.to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[2].owner"],
    );
    let body = json!([
        {"domain": "acme.io", "name": "Acme", "tier": 1},
        {"domain": "beta.io", "tier": 7},
    ]);
    assert_problem(
        import(&app, JSON, &body.to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[1].tier"],
    );
    assert_eq!(app.count("accounts").await, 0);

    let body = json!([
        {"domain": "acme.io", "name": "Acme", "tier": 1, "owner_email": "ann@ourco.com"},
        {"domain": "beta.io", "tier": 2},
    ]);
    import_ok(
        &app,
        Some("application/json; charset=utf-8"),
        &body.to_string(),
        json!({"created": 2, "updated": 0}),
    )
    .await;
    assert_eq!(account(&app, "beta.io").await["tier"], 2);
}

#[tokio::test]
async fn an_import_in_another_format_is_415() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let csv = "domain,tier\nacme.io,1\n";
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        assert_problem(
            import(&app, content_type, csv).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &[],
        );
    }
    assert_problem(
        app.post_typed(
            "/api/v1/accounts",
            Some("text/plain"),
            r#"{"domain":"acme.io"}"#,
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &[],
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_domain_repeated_in_an_import_names_the_later_row() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let problem = assert_problem(
        import(&app, CSV, "domain,tier\nacme.io,1\nbeta.io,2\nACME.io,3\n").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["row 4.domain"],
    );
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("already on row 2")
    );
    let body = json!([{"domain": "acme.io"}, {"domain": "acme.io"}]).to_string();
    assert_problem(
        import(&app, JSON, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[1].domain"],
    );
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_bad_header_or_size_rejects_the_import() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_problem(
        import(&app, CSV, "name,tier\nAcme,1\n").await,
        unprocessable,
        &["header"],
    );
    assert_problem(import(&app, CSV, "").await, unprocessable, &["header"]);
    assert_problem(
        import(&app, CSV, "domain,tier\n").await,
        unprocessable,
        &["body"],
    );
    assert_problem(import(&app, JSON, "[]").await, unprocessable, &["body"]);

    let mut csv = String::from("domain\n");
    for i in 0..=50_000 {
        csv.push_str(&format!("a{i}.io\n"));
    }
    let problem = assert_problem(import(&app, CSV, &csv).await, unprocessable, &["body"]);
    assert!(problem["detail"].as_str().unwrap().contains("50000"));
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn an_unknown_account_is_404() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (status, problem) = app.get("/api/v1/accounts/nobody.io").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem:#}");
    assert_problem(
        app.get("/api/v1/accounts/not-a-domain").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["domain"],
    );
}

#[tokio::test]
async fn imported_tiers_reach_the_accounts_leads() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let email = "someone@acme.io";
    app.ingest(&event("e1", email, "page_view", Duration::zero()))
        .await;
    assert_eq!(lead_tier(&app, email).await, None);

    import_ok(
        &app,
        CSV,
        "domain,tier\nacme.io,1\n",
        json!({"created": 0, "updated": 1}),
    )
    .await;
    assert_eq!(lead_tier(&app, email).await, Some(1));

    let body = json!([{"domain": "acme.io", "tier": 2}]).to_string();
    import_ok(&app, JSON, &body, json!({"created": 0, "updated": 1})).await;
    assert_eq!(lead_tier(&app, email).await, Some(2));

    // A lead created later starts with its account's tier.
    app.ingest(&event("e2", "other@acme.io", "page_view", Duration::zero()))
        .await;
    assert_eq!(lead_tier(&app, "other@acme.io").await, Some(2));

    // Leaving the tier out keeps it; clearing it clears the leads' copy.
    post_account(&app, &json!({"domain": "acme.io", "name": "Acme"})).await;
    assert_eq!(lead_tier(&app, email).await, Some(2));
    post_account(&app, &json!({"domain": "acme.io", "tier": null})).await;
    assert_eq!(lead_tier(&app, email).await, None);
    assert_eq!(lead_tier(&app, "other@acme.io").await, None);
}
