use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, event, problem_fields, vp_event};
use crate::test_db::TestDb;

#[tokio::test]
async fn a_demo_request_from_a_fit_lead_makes_it_mql_with_its_history() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = app
        .ingest(&vp_event(
            "evt-1",
            "Jane.Doe@Acme.io",
            "demo_request",
            Duration::hours(-1),
        ))
        .await;

    assert_eq!(body["accepted"], 1);
    assert_eq!(body["duplicates"], 0);
    let result = &body["results"][0];
    assert_eq!(result["status"], "accepted");
    assert_eq!(result["lead_created"], true);
    assert_eq!(result["lifecycle_stage"], "MQL");
    assert_eq!(result["fit_score"], 70);
    assert_eq!(result["intent_score"], 50.0);

    let lead = app.lead("jane.doe@acme.io").await;
    assert_eq!(lead["id"], result["lead_id"]);
    assert_eq!(lead["email"], "jane.doe@acme.io");
    assert_eq!(lead["account"]["domain"], "acme.io");
    let rules: Vec<&str> = lead["scores"]["fit"]["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "target_industry",
            "revenue_band",
            "employee_range",
            "buying_committee_title"
        ]
    );
    assert_eq!(
        lead["scores"]["intent"]["breakdown"],
        json!([{"type": "demo_request", "count": 1, "points": 50.0}])
    );

    let transitions = lead["history"]["transitions"].as_array().unwrap();
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[0]["from_stage"], json!(null));
    assert_eq!(transitions[0]["to_stage"], "Lead");
    assert_eq!(transitions[1]["from_stage"], "Lead");
    assert_eq!(transitions[1]["to_stage"], "MQL");
    assert_eq!(transitions[1]["actor"], "system");
    assert_eq!(transitions[1]["reason"], "fit 70 ≥ 60 and intent 50 ≥ 40");
    assert_eq!(transitions[1]["fit_score"], 70);
    assert_eq!(transitions[1]["intent_score"], 50.0);
    assert_eq!(lead["history"]["recent_events"][0]["event_id"], "evt-1");
}

#[tokio::test]
async fn pricing_and_download_stay_a_lead_and_comparison_then_makes_mql() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let email = "sam@fintech.example";
    let batch = json!([
        vp_event("p1", email, "pricing_page_visit", Duration::hours(-3)),
        event("d1", email, "content_download", Duration::hours(-2)),
    ]);
    let body = app.ingest(&batch).await;
    assert_eq!(body["results"][1]["intent_score"], 35.0);
    assert_eq!(body["results"][1]["lifecycle_stage"], "Lead");

    let body = app
        .ingest(&event(
            "c1",
            email,
            "comparison_page_visit",
            Duration::hours(-1),
        ))
        .await;
    assert_eq!(body["results"][0]["intent_score"], 55.0);
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
}

#[tokio::test]
async fn duplicate_event_changes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let first = app
        .ingest(&vp_event(
            "evt-1",
            "jane@acme.io",
            "pricing_page_visit",
            Duration::hours(-1),
        ))
        .await;
    let before = app.lead("jane@acme.io").await;

    let again = app
        .ingest(&vp_event(
            "evt-1",
            "jane@acme.io",
            "pricing_page_visit",
            Duration::hours(-1),
        ))
        .await;
    assert_eq!(again["accepted"], 0);
    assert_eq!(again["duplicates"], 1);
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(
        again["results"][0]["lead_id"],
        first["results"][0]["lead_id"]
    );
    assert_eq!(again["results"][0]["intent_score"], 25.0);

    // The same id re-sent with other contents is still the same event: nothing new anywhere.
    let mut altered = vp_event(
        "evt-1",
        "someone.else@other.io",
        "demo_request",
        Duration::hours(-1),
    );
    altered["lead"]["title"] = json!("Intern");
    let again = app.ingest(&altered).await;
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(
        again["results"][0]["lead_id"],
        first["results"][0]["lead_id"]
    );

    assert_eq!(app.count("lead_events").await, 1);
    assert_eq!(app.count("leads").await, 1);
    assert_eq!(app.count("accounts").await, 1);
    assert_eq!(app.count("lead_transitions").await, 1);
    assert_eq!(app.lead("jane@acme.io").await, before);
}

#[tokio::test]
async fn the_same_event_id_from_another_source_is_another_event() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut from_segment = event(
        "evt-1",
        "jane@acme.io",
        "pricing_page_visit",
        Duration::hours(-1),
    );
    from_segment["source"] = json!("segment");
    app.ingest(&event(
        "evt-1",
        "jane@acme.io",
        "pricing_page_visit",
        Duration::hours(-1),
    ))
    .await;
    let body = app.ingest(&from_segment).await;
    assert_eq!(body["results"][0]["status"], "accepted");
    assert_eq!(body["results"][0]["intent_score"], 50.0);
}

#[tokio::test]
async fn a_duplicate_inside_one_batch_counts_once() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let e = event("evt-1", "jane@acme.io", "demo_request", Duration::hours(-1));
    let body = app.ingest(&json!([e, e])).await;
    assert_eq!(
        (body["accepted"].as_i64(), body["duplicates"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(app.lead("jane@acme.io").await["intent_score"], 50.0);
}

#[tokio::test]
async fn a_batch_with_one_bad_event_is_rejected_whole() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut bad = event("e3", "bob@beta.io", "demo_request", Duration::zero());
    bad["lead"]["email"] = json!("not-an-email");
    let batch = json!([
        event("e1", "ann@alpha.io", "demo_request", Duration::zero()),
        event("e2", "ann@alpha.io", "pricing_page_visit", Duration::zero()),
        bad,
    ]);
    let (status, problem) = app.post_events(&batch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["[2].lead.email"]);
    for table in ["leads", "accounts", "lead_events", "lead_transitions"] {
        assert_eq!(app.count(table).await, 0, "{table} must stay empty");
    }
}

#[tokio::test]
async fn emails_are_one_lead_whatever_their_case_and_spaces() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    app.ingest(&event(
        "e1",
        "Jane@ACME.io",
        "pricing_page_visit",
        Duration::zero(),
    ))
    .await;
    app.ingest(&event(
        "e2",
        "  jane@acme.io ",
        "comparison_page_visit",
        Duration::zero(),
    ))
    .await;
    assert_eq!(app.count("leads").await, 1);
    assert_eq!(app.lead("JANE@acme.IO").await["intent_score"], 45.0);
}

#[tokio::test]
async fn leads_link_to_an_account_by_domain_and_free_mail_makes_none() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let batch = json!([
        event("e1", "ann@acme.io", "page_view", Duration::zero()),
        event("e2", "bob@acme.io", "page_view", Duration::zero()),
        event("e3", "carl@gmail.com", "page_view", Duration::zero()),
    ]);
    app.ingest(&batch).await;
    let ann = app.lead("ann@acme.io").await;
    let bob = app.lead("bob@acme.io").await;
    assert_eq!(ann["account"]["id"], bob["account"]["id"]);
    assert_eq!(app.lead("carl@gmail.com").await["account"], json!(null));
    assert_eq!(app.count("accounts").await, 1);
}

#[tokio::test]
async fn profile_fields_keep_the_value_with_the_latest_occurred_at() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut newer = event("e2", "jane@acme.io", "profile_update", Duration::hours(-1));
    newer["lead"]["title"] = json!("VP Marketing");
    let mut older = event("e1", "jane@acme.io", "form_submission", Duration::hours(-5));
    older["lead"]["title"] = json!("Marketing Intern");
    older["lead"]["industry"] = json!("software");
    app.ingest(&newer).await;
    let body = app.ingest(&older).await;
    assert_eq!(
        body["results"][0]["fit_score"], 45,
        "VP (25) kept, software (20) added"
    );
    let lead = app.lead("jane@acme.io").await;
    assert_eq!(lead["profile"]["title"], "VP Marketing");
    assert_eq!(lead["profile"]["industry"], "software");
}

#[tokio::test]
async fn out_of_order_delivery_gives_the_in_order_scores() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let timeline = |email: &str| {
        vec![
            vp_event(
                &format!("{email}-1"),
                email,
                "demo_request",
                Duration::days(-70),
            ),
            event(
                &format!("{email}-2"),
                email,
                "pricing_page_visit",
                Duration::days(-35),
            ),
            event(
                &format!("{email}-3"),
                email,
                "content_download",
                Duration::days(-2),
            ),
        ]
    };
    for e in timeline("ordered@acme.io") {
        app.ingest(&e).await;
    }
    for e in timeline("reversed@acme.io").into_iter().rev() {
        app.ingest(&e).await;
    }
    // demo 50 → 25 at day -35 (+25 = 50) → day -2, 33 days later: 25 (+10 = 35); 2 days idle.
    let ordered = app.lead("ordered@acme.io").await;
    let reversed = app.lead("reversed@acme.io").await;
    assert_eq!(ordered["intent_score"], 35.0);
    assert_eq!(reversed["intent_score"], ordered["intent_score"]);
    assert_eq!(reversed["scores"]["intent"], ordered["scores"]["intent"]);
    assert_eq!(reversed["last_activity_at"], ordered["last_activity_at"]);
    assert_eq!(reversed["fit_score"], 70);
}

#[tokio::test]
async fn late_signals_within_and_before_the_streak_give_the_in_order_scores() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool.clone()).await;
    let signal = |email: &str, n: u32, kind: &str, hours: i64| {
        event(&format!("{email}-{n}"), email, kind, Duration::hours(hours))
    };
    let in_order = |email: &str| {
        vec![
            signal(email, 1, "demo_request", -70 * 24),
            signal(email, 2, "pricing_page_visit", -50 * 24),
            signal(email, 3, "pricing_page_visit", -35 * 24),
            signal(email, 4, "content_download", -48),
            signal(email, 5, "pricing_page_visit", -36),
            signal(email, 6, "comparison_page_visit", -24),
        ]
    };
    for e in in_order("ordered@acme.io") {
        app.ingest(&e).await;
    }
    // demo 50, +25 (20 days on) = 75, +25 = 100, halved over 33 idle days + 10 = 60, +25, +20.
    assert_eq!(app.lead("ordered@acme.io").await["intent_score"], 105.0);

    // The streak begins at -48 h. The -36 h visit arrives after the -24 h one (within the
    // streak: no history needed), then the day -50 visit (before it: a refold).
    let late = in_order("late@acme.io");
    for i in [0, 2, 3, 5] {
        app.ingest(&late[i]).await;
    }
    // 50 halved over 35 days + 25, halved over 33 + 10, + 25 (late), + 20.
    let body = app.ingest(&late[4]).await;
    assert_eq!(body["results"][0]["intent_score"], 80.0);
    app.ingest(&late[1]).await;
    // A lead stored before streaks were kept (none known): its late signal refolds.
    let unknown = in_order("unknown@acme.io");
    for e in &unknown[..5] {
        app.ingest(e).await;
    }
    sqlx::query(
        "update leads set intent_streak_from = null, version = version + 1
          where email = 'unknown@acme.io'",
    )
    .execute(&pool)
    .await
    .unwrap();
    app.ingest(&unknown[5]).await;
    for email in ["ordered@acme.io", "unknown@acme.io"] {
        app.ingest(&signal(email, 7, "content_download", -3 * 24))
            .await;
    }

    // With the day -3 download: 100 halved + 10 = 60, +10, +25, +20.
    let ordered = app.lead("ordered@acme.io").await;
    assert_eq!(ordered["intent_score"], 115.0);
    let late = app.lead("late@acme.io").await;
    assert_eq!(late["intent_score"], 105.0);
    let unknown = app.lead("unknown@acme.io").await;
    assert_eq!(unknown["intent_score"], 115.0);
    assert_eq!(unknown["scores"]["intent"], ordered["scores"]["intent"]);
    assert_eq!(late["last_activity_at"], ordered["last_activity_at"]);

    // Each streak begins at the first signal after the 33 idle days: -48 h, or day -3 for
    // the leads that got the extra download.
    let streaks: Vec<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("select email, intent_streak_from from leads order by email")
            .fetch_all(&pool)
            .await
            .unwrap();
    let [(_, Some(late)), (_, Some(ordered)), (_, unknown)] = &streaks[..] else {
        panic!("{streaks:?}");
    };
    assert_eq!(Some(*ordered), *unknown);
    assert_eq!((*late - *ordered).num_hours(), 24, "{streaks:?}");
}

#[tokio::test]
async fn intent_on_read_is_decayed_as_of_the_request() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    app.ingest(&vp_event(
        "e1",
        "jane@acme.io",
        "demo_request",
        Duration::zero(),
    ))
    .await;
    app.advance(Duration::days(29));
    assert_eq!(app.lead("jane@acme.io").await["intent_score"], 50.0);
    app.advance(Duration::days(1));
    let lead = app.lead("jane@acme.io").await;
    assert_eq!(lead["intent_score"], 25.0);
    assert_eq!(lead["scores"]["intent"]["decay_factor"], 0.5);
    assert_eq!(lead["lifecycle_stage"], "MQL", "decay does not demote");
    app.advance(Duration::days(30));
    assert_eq!(app.lead("jane@acme.io").await["intent_score"], 12.5);
}

#[tokio::test]
async fn an_old_demo_request_backfilled_today_does_not_make_mql() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = app
        .ingest(&vp_event(
            "e1",
            "jane@acme.io",
            "demo_request",
            Duration::days(-31),
        ))
        .await;
    assert_eq!(body["results"][0]["intent_score"], 25.0);
    assert_eq!(body["results"][0]["lifecycle_stage"], "Lead");
}

/// The columns some index of `leads` holds, by name.
async fn indexed_lead_columns(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "select distinct a.attname::text from pg_index i
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = 'leads'::regclass order by 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// One column of the lead `email` as stored (`column` may be an expression).
async fn lead_column<T>(app: &TestApp, email: &str, column: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(&format!("select {column} from leads where email = $1"))
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// One lead's indexed columns as stored, as text.
async fn indexed_values(app: &TestApp, columns: &[String], email: &str) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for column in columns {
        values.push(lead_column(app, email, &format!("{column}::text")).await);
    }
    values
}

/// An ordinary event changes scores and activity but no indexed column of its lead, so
/// PostgreSQL can write the new row version without touching any of the lead's ten indexes
/// (a heap-only update): that is most of what keeps a lead update cheap.
#[tokio::test]
async fn an_ordinary_event_changes_no_indexed_column_of_its_lead() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    app.ingest(&event("e1", "ann@acme.io", "page_view", Duration::zero()))
        .await;
    let columns = indexed_lead_columns(&app).await;
    assert!(columns.len() >= 8, "{columns:?}");
    let before = indexed_values(&app, &columns, "ann@acme.io").await;
    let version_before: i64 = lead_column(&app, "ann@acme.io", "version").await;
    app.advance(Duration::minutes(5));
    let body = app
        .ingest(&event(
            "e2",
            "ann@acme.io",
            "pricing_page_visit",
            Duration::minutes(5),
        ))
        .await;
    assert_eq!(body["results"][0]["status"], "accepted");
    let version: i64 = lead_column(&app, "ann@acme.io", "version").await;
    assert_eq!(
        version,
        version_before + 1,
        "the event was written to the lead"
    );
    let after = indexed_values(&app, &columns, "ann@acme.io").await;
    let changed: Vec<&String> = columns
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| b != a)
        .map(|(c, _)| c)
        .collect();
    assert!(changed.is_empty(), "indexed columns changed: {changed:?}");
}

/// `stage_changed_at` (the waiting queue's and the suppression list's order) moves when the
/// stage does and stays put for events that leave the stage as it was.
#[tokio::test]
async fn a_lead_keeps_the_time_it_entered_its_stage() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    async fn entered(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
        lead_column(app, "jo@acme.io", "stage_changed_at").await
    }
    let t0 = app.now();
    app.ingest(&vp_event("e1", "jo@acme.io", "page_view", Duration::zero()))
        .await;
    assert_eq!(entered(&app).await, t0);
    app.advance(Duration::hours(1));
    let body = app
        .ingest(&vp_event(
            "e2",
            "jo@acme.io",
            "demo_request",
            Duration::hours(1),
        ))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
    assert_eq!(entered(&app).await, t0 + Duration::hours(1));
    app.advance(Duration::hours(1));
    app.ingest(&vp_event(
        "e3",
        "jo@acme.io",
        "pricing_page_visit",
        Duration::hours(2),
    ))
    .await;
    assert_eq!(entered(&app).await, t0 + Duration::hours(1));
}

/// The group writers keep their connection from one group to the next. When the database
/// drops it (a restart, a killed backend), the next single event is still written and
/// answered 200, on a connection the pool has tested, rather than failing with the dead one.
#[tokio::test]
async fn single_events_are_written_after_the_database_drops_every_connection() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let email = "kept.connection@acme.io";
    app.ingest(&event(
        "before",
        email,
        "pricing_page_visit",
        Duration::hours(-3),
    ))
    .await;

    let mut admin = app.pool.acquire().await.unwrap();
    let killed: Vec<i32> = sqlx::query_scalar(
        "select pid from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the service had connections to drop");
    sqlx::query("select pg_terminate_backend(pid) from unnest($1::int4[]) as pid")
        .bind(&killed)
        .execute(&mut *admin)
        .await
        .unwrap();
    // Terminating only signals the backends: wait until they are gone.
    while sqlx::query_scalar::<_, bool>(
        "select exists (select 1 from pg_stat_activity where pid = any($1))",
    )
    .bind(&killed)
    .fetch_one(&mut *admin)
    .await
    .unwrap()
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(admin);

    for (i, offset) in [-2, -1].into_iter().enumerate() {
        let body = app
            .ingest(&event(
                &format!("after-{i}"),
                email,
                "pricing_page_visit",
                Duration::hours(offset),
            ))
            .await;
        assert_eq!(body["accepted"], 1, "{body:#}");
    }
    assert_eq!(app.count("lead_events").await, 3);
    assert_eq!(app.lead(email).await["intent_score"], 75.0);
}

#[tokio::test]
async fn late_signals_before_a_whole_streak_give_the_in_order_scores() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool.clone()).await;
    let signal = |email: &str, kind: &str, days: i64| {
        event(
            &format!("{email}-{days}"),
            email,
            kind,
            Duration::days(days),
        )
    };
    let events = |email: &str| {
        [
            signal(email, "comparison_page_visit", -45),
            signal(email, "demo_request", -10),
            signal(email, "pricing_page_visit", -2),
            signal(email, "content_download", -1),
        ]
    };
    for e in events("ordered@acme.io") {
        app.ingest(&e).await;
    }
    // comparison 20 halved over 35 idle days, + 50 + 25 + 10.
    assert_eq!(app.lead("ordered@acme.io").await["intent_score"], 95.0);

    // The first signals stored are one streak, nothing carried into it: the demo 8 days
    // before it only starts it earlier (no history read); the comparison 35 days before
    // that decays by the demo, which takes a refold.
    let late = events("late@acme.io");
    for i in [2, 3, 1] {
        app.ingest(&late[i]).await;
    }
    assert_eq!(app.lead("late@acme.io").await["intent_score"], 85.0);
    let streak = |email: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (Option<DateTime<Utc>>, bool)>(
                "select intent_streak_from, intent_streak_whole from leads where email = $1",
            )
            .bind(email)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (from, whole) = streak("late@acme.io").await;
    assert!(whole);
    assert_eq!(
        from.map(|f| (app.now() - f).num_days()),
        Some(10),
        "the demo begins the streak"
    );

    app.ingest(&late[0]).await;
    let (late, ordered) = (
        app.lead("late@acme.io").await,
        app.lead("ordered@acme.io").await,
    );
    assert_eq!(late["intent_score"], 95.0);
    assert_eq!(late["scores"]["intent"], ordered["scores"]["intent"]);
    assert_eq!(
        streak("late@acme.io").await,
        streak("ordered@acme.io").await
    );
    assert!(!streak("late@acme.io").await.1, "decayed intent is carried");
}

/// Under a default tier the engine gives a new lead a tier its account does not have. The
/// write checks the account against the tier it read, not the one the engine gave the lead,
/// so the next new lead of that company is created like the first.
#[tokio::test]
async fn a_new_lead_of_a_tierless_account_is_created_under_a_default_tier() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with_rules(db.pool.clone(), |rules| {
        rules.segmentation.default_tier = Some(3);
    })
    .await;
    app.ingest(&event("d1", "a@tierless.io", "page_view", Duration::zero()))
        .await;
    let single = app
        .ingest(&event("d2", "b@tierless.io", "page_view", Duration::zero()))
        .await;
    let batch = app
        .ingest(&json!([
            event("d3", "c@tierless.io", "page_view", Duration::zero()),
            event("d4", "d@tierless.io", "page_view", Duration::zero()),
        ]))
        .await;
    for result in single["results"]
        .as_array()
        .unwrap()
        .iter()
        .chain(batch["results"].as_array().unwrap())
    {
        assert_eq!(result["status"], "accepted", "{result}");
        assert_eq!(result["lead_created"], true, "{result}");
    }
    assert_eq!(app.count("accounts").await, 1);
    let tiers: Vec<Option<i16>> = sqlx::query_scalar("select account_tier from leads")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(tiers, [Some(3); 4]);
}

/// A batch repeats one event under a second email while the first email's lead, remembered
/// by ingest, has changed since (an update by another writer): the write skips that lead,
/// and the repeat waits for it in the next round instead of being reported against an event
/// that was never stored.
#[tokio::test]
async fn a_repeat_of_an_event_whose_lead_was_skipped_waits_for_it() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    app.ingest(&event("r0", "first@acme.io", "page_view", Duration::zero()))
        .await;
    sqlx::query("update leads set owner_rep_id = null where email = 'first@acme.io'")
        .execute(&db.pool)
        .await
        .unwrap();
    let body = app
        .ingest(&json!([
            event(
                "r1",
                "first@acme.io",
                "pricing_page_visit",
                Duration::minutes(1)
            ),
            event(
                "r1",
                "second@acme.io",
                "pricing_page_visit",
                Duration::minutes(1)
            ),
        ]))
        .await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted", "{body}");
    assert_eq!(results[1]["status"], "duplicate", "{body}");
    assert_eq!(results[1]["lead_id"], results[0]["lead_id"], "{body}");
    assert_eq!(app.count("lead_events").await, 2);
    assert_eq!(app.count("leads").await, 1);
}
