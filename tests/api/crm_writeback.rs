//! CRM write-back to HubSpot over real HTTP, against the stand-in of HubSpot's API
//! ([`leadrouter::bench::hubspot_api`]): coalescing, batch limits, partial failures, rate
//! limits, refusals kept for replay, the daily decay check, and nothing queued while off.
//! The job's `tick` runs at chosen times of the service's clock, so nothing sleeps long.

use std::{path::Path, time::Duration as StdDuration};

use chrono::Duration;
use leadrouter::{
    bench::hubspot_api::{Fault, HubSpotApi, TOKEN},
    config::{self, Settings},
    db::crm_writes,
    domain::Secret,
    engine::{DecayMode, IntentState},
    jobs::crm_writeback::{self, Limiter, Target, TickReport},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, t0, vp_event};
use crate::test_db::TestDb;

/// Write-back to HubSpot on, against the stand-in at `api`.
fn enable(settings: &mut Settings, api: &HubSpotApi) {
    settings.sources.hubspot.api_base_url = api.base.clone();
    settings.sources.hubspot.access_token = Some(Secret::new(TOKEN.to_owned()));
    settings.writeback.hubspot.enabled = true;
}

/// The service with the shipped settings changed by `enable`, and the one write-back target
/// those settings give, registered as the service registers it at start.
pub(crate) async fn start_with(db: &TestDb, enable: impl Fn(&mut Settings)) -> (TestApp, Target) {
    let app = TestApp::spawn_with_settings(db.pool.clone(), &enable).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = config::load_settings(&dir).unwrap();
    enable(&mut settings);
    let targets = crm_writeback::targets(&settings);
    assert_eq!(targets.len(), 1);
    crm_writeback::register_targets(&app.pool, &targets, &settings, app.now())
        .await
        .unwrap();
    (app, targets.into_iter().next().unwrap())
}

/// The service with write-back to HubSpot on, the stand-in (where every id is a contact) and
/// the HubSpot target, registered as the service registers it at start.
struct Writeback {
    app: TestApp,
    api: HubSpotApi,
    target: Target,
}

impl Writeback {
    async fn start(db: &TestDb) -> Self {
        let api = HubSpotApi::start().await.unwrap();
        api.contacts_from(|_| Some(Vec::new()));
        let (app, target) = start_with(db, |s| enable(s, &api)).await;
        Writeback { app, api, target }
    }

    /// One tick of the HubSpot loop at `t0 + at`.
    async fn tick(&self, at: Duration) -> TickReport {
        crm_writeback::tick(&self.app.pool, &self.target, &self.app.rules, t0() + at)
            .await
            .unwrap()
    }

    /// `n` leads `{prefix}{i}@acme.io` with HubSpot contact ids `{prefix}{i}`, each from one
    /// pricing page visit at `t0 + at`.
    async fn leads(&self, prefix: &str, n: usize, at: Duration) {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let email = format!("{prefix}{i}@acme.io");
                vp_event(&format!("{prefix}-{i}"), &email, "pricing_page_visit", at)
            })
            .collect();
        self.app.ingest(&Value::Array(events)).await;
        sqlx::query(
            "insert into lead_source_ids (system, external_id, email, recorded_at)
             select 'hubspot', split_part(email, '@', 1), email, $2 from leads
              where email like $1 || '%'",
        )
        .bind(prefix)
        .bind(self.app.now())
        .execute(&self.app.pool)
        .await
        .unwrap();
    }

    async fn pending(&self) -> i64 {
        self.app.count("crm_writes").await
    }
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

#[tokio::test]
async fn a_burst_of_changes_to_one_lead_is_one_write_of_its_latest_state() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("c", 1, secs(0)).await;
    // Within the coalescing window (30 s), more changes come.
    for (i, kind) in ["demo_request", "comparison_page_visit"].iter().enumerate() {
        w.app.advance(secs(2));
        let event = vp_event(
            &format!("more-{i}"),
            "c0@acme.io",
            kind,
            secs(2 * (i as i64 + 1)),
        );
        w.app.ingest(&json!([event])).await;
    }
    assert_eq!(w.tick(secs(10)).await.calls, 0, "not due within the window");
    let report = w.tick(secs(31)).await;
    assert_eq!((report.calls, report.written), (1, 1), "{report:?}");
    let updates = w.api.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].ids(), ["c0"]);
    let sent = &updates[0].inputs[0].1;
    // The latest state: 25 + 50 + 20 intent, fit 70, an MQL.
    assert_eq!(sent["intent_score"], "95", "{sent:?}");
    assert_eq!(sent["fit_score"], "70");
    assert_eq!(sent["lifecyclestage"], "marketingqualifiedlead");
    assert_eq!(sent["disqualified_reason"], "", "cleared");
    assert_eq!(w.pending().await, 0);
    assert_eq!(w.tick(secs(120)).await.claimed, 0);

    // Queued again with nothing changed (as a replay would): not rewritten.
    let lead: uuid::Uuid = sqlx::query_scalar("select id from leads")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into crm_writes (crm, lead_id, first_changed_at, changed_at, due_at, next_attempt_at)
         values ('hubspot', $1, $2, $2, $2, $2)",
    )
    .bind(lead)
    .bind(t0())
    .execute(&w.app.pool)
    .await
    .unwrap();
    let report = w.tick(secs(130)).await;
    assert_eq!((report.unchanged, report.calls), (1, 0), "{report:?}");
    assert_eq!(w.pending().await, 0);

    // The owner is written as the rep's email, so a rep's new email is written too.
    let rep = w.app.new_rep(leadrouter::domain::Role::Rep).await;
    sqlx::query("update leads set owner_rep_id = $1")
        .bind(rep)
        .execute(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(w.tick(secs(200)).await.written, 1);
    let (status, body) = w
        .app
        .with_key(crate::helpers::ADMIN_KEY)
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/reps/{rep}"),
            Some(&json!({"email": "ana.new@reps.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(w.pending().await, 1);
    w.tick(secs(300)).await;
    let last = w.api.updates().pop().unwrap();
    assert_eq!(last.inputs[0].1["leadrouter_owner"], "ana.new@reps.example");
}

#[tokio::test]
async fn two_hundred_fifty_changed_leads_are_three_calls_of_at_most_a_hundred() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("m", 250, secs(0)).await;
    let report = w.tick(secs(31)).await;
    assert_eq!((report.calls, report.written), (3, 250), "{report:?}");
    let updates = w.api.updates();
    assert_eq!(updates.len(), 3);
    assert!(
        updates
            .iter()
            .all(|u| u.inputs.len() <= 100 && u.status == 200)
    );
    let mut ids: Vec<String> = updates.iter().flat_map(|u| u.ids()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert!(
        updates
            .iter()
            .all(|u| u.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );
    assert_eq!(w.api.rate_limited(), 0);
}

#[tokio::test]
async fn a_partial_failure_retries_only_the_failed_records() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("p", 5, secs(0)).await;
    w.api.fail_next(Fault::RecordErrors {
        ids: vec!["p1".into(), "p3".into()],
        category: "INTERNAL_ERROR".into(),
    });
    let report = w.tick(secs(31)).await;
    assert_eq!((report.written, report.retried), (3, 2), "{report:?}");
    assert_eq!(w.api.updates()[0].status, 207);
    assert_eq!(w.tick(secs(40)).await.claimed, 0, "backing off");
    let report = w.tick(secs(31 + 30)).await;
    assert_eq!((report.calls, report.written), (1, 2), "{report:?}");
    let mut retried = w.api.updates()[1].ids();
    retried.sort();
    assert_eq!(retried, ["p1", "p3"]);
    assert_eq!(w.pending().await, 0);
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_honoured() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("r", 3, secs(0)).await;
    w.api.fail_next(Fault::RateLimited(7));
    let report = w.tick(secs(31)).await;
    assert_eq!(report.pause, Some(StdDuration::from_secs(7)), "{report:?}");
    assert_eq!(report.written, 0);
    assert_eq!(w.tick(secs(37)).await.claimed, 0, "held until Retry-After");
    let report = w.tick(secs(38)).await;
    assert_eq!(report.written, 3, "{report:?}");
}

/// The stand-in enforces its rolling limit (here 3 calls a second, so the test is short):
/// without the limiter a burst gets 429s; with it, none.
#[tokio::test]
async fn a_burst_never_exceeds_the_rolling_limit_with_the_limiter() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    // The shipped limit stays under HubSpot's lowest (100 per 10 s).
    assert!(w.target.settings.requests_per_10s < 100);
    w.api.set_rate_limit(3);
    w.api.set_rate_window(StdDuration::from_secs(1));
    w.leads("b", 700, secs(0)).await;
    let unlimited = w
        .target
        .clone()
        .with_limiter(Limiter::new(1_000, StdDuration::from_secs(1)));
    let report = crm_writeback::tick(&w.app.pool, &unlimited, &w.app.rules, t0() + secs(31))
        .await
        .unwrap();
    assert!(report.pause.is_some(), "{report:?}");
    assert_eq!(w.api.rate_limited(), 1, "the stand-in's own limit answered");

    // The stand-in's window empties; the limiter starts from nothing sent.
    tokio::time::sleep(StdDuration::from_millis(1_100)).await;
    let limited = w
        .target
        .clone()
        .with_limiter(Limiter::new(3, StdDuration::from_secs(1)));
    let before = w.api.rate_limited();
    let report = crm_writeback::tick(&w.app.pool, &limited, &w.app.rules, t0() + secs(60))
        .await
        .unwrap();
    assert_eq!(report.pause, None, "{report:?}");
    assert_eq!(w.api.rate_limited(), before, "no 429 with the limiter");
    assert_eq!(w.pending().await, 0);
}

#[tokio::test]
async fn hubspot_down_keeps_the_writes_and_they_go_out_after_the_backoff() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("u", 2, secs(0)).await;
    w.api.set_down(true);
    let report = w.tick(secs(31)).await;
    assert_eq!((report.calls, report.retried), (1, 2), "{report:?}");
    assert!(report.pause.is_some());
    assert_eq!(w.api.updates()[0].status, 502);
    w.api.set_down(false);
    assert_eq!(w.tick(secs(40)).await.claimed, 0, "backing off");
    let report = w.tick(secs(31 + 30)).await;
    assert_eq!(report.written, 2, "{report:?}");
    assert_eq!(w.pending().await, 0);
}

/// A change that commits while its lead's write is in flight is not lost: the row stays due
/// and the next tick writes the newer state.
#[tokio::test]
async fn a_change_during_the_call_stays_due() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("s", 1, secs(0)).await;
    w.api.fail_next(Fault::Slow(StdDuration::from_millis(600)));
    let (pool, target, rules) = (w.app.pool.clone(), w.target.clone(), w.app.rules.clone());
    let call =
        tokio::spawn(
            async move { crm_writeback::tick(&pool, &target, &rules, t0() + secs(31)).await },
        );
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    let demo = vp_event("s-demo", "s0@acme.io", "demo_request", secs(20));
    w.app.ingest(&json!([demo])).await;
    let report = call.await.unwrap().unwrap();
    assert_eq!(report.written, 1, "{report:?}");
    assert_eq!(w.api.updates()[0].inputs[0].1["intent_score"], "25");
    assert_eq!(
        w.pending().await,
        1,
        "the demo request is still to be written"
    );
    let report = w.tick(secs(32)).await;
    assert_eq!(report.written, 1, "{report:?}");
    assert_eq!(w.api.updates()[1].inputs[0].1["intent_score"], "75");
    assert_eq!(w.pending().await, 0);
}

#[tokio::test]
async fn a_record_hubspot_refuses_for_good_is_kept_and_replayable() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    // Contact "g1" does not exist (deleted in HubSpot).
    w.api.contacts_from(|id| (id != "g1").then(Vec::new));
    w.leads("g", 2, secs(0)).await;
    let report = w.tick(secs(31)).await;
    assert_eq!(
        (report.written, report.failed_for_good),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(w.api.updates()[0].status, 207);
    let (code, external): (String, String) =
        sqlx::query_as("select code, external_id from crm_write_failures")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(
        (code.as_str(), external.as_str()),
        ("OBJECT_NOT_FOUND", "g1")
    );
    let (status, overview) = w.app.get("/api/v1/crm-writes").await;
    assert_eq!(status, StatusCode::OK, "{overview:#}");
    assert_eq!(overview["crms"][0]["crm"], "hubspot");
    assert_eq!(overview["crms"][0]["failed"], 1);
    assert_eq!(overview["crms"][0]["pending"], 0);

    // The contact is restored; an operator replays.
    w.api.contact("g1", &[]);
    let (status, replayed) = w
        .app
        .post_json("/api/v1/crm-writes/hubspot/replay", &Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{replayed:#}");
    assert_eq!(replayed["replayed"], 1);
    let report = w.tick(secs(31)).await;
    assert_eq!(report.written, 1, "{report:?}");
    assert_eq!(w.api.contact_properties("g1").unwrap()["fit_score"], "70");
    let (_, overview) = w.app.get("/api/v1/crm-writes").await;
    assert_eq!(overview["crms"][0]["failed"], 0);
    let (status, _) = w
        .app
        .post_json("/api/v1/crm-writes/pipedrive/replay", &Value::Null)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_property_hubspot_does_not_have_refuses_the_call_and_keeps_the_writes() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.api.undefine_property("demand_state");
    w.leads("x", 2, secs(0)).await;
    let report = w.tick(secs(31)).await;
    assert!(
        report
            .refused
            .as_deref()
            .is_some_and(|r| r.starts_with("400") && r.contains("PROPERTY_DOESNT_EXIST")),
        "{report:?}"
    );
    assert_eq!(w.pending().await, 2, "kept until the property exists");
    assert_eq!(w.app.count("crm_write_failures").await, 0);
}

#[tokio::test]
async fn the_daily_decay_check_rewrites_only_leads_whose_rounded_intent_changed() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    // "d0": last signal 29 days before t0 (intent 25, halving on day 30); "e0": at t0.
    w.leads("d", 1, secs(0) - Duration::days(29)).await;
    w.leads("e", 1, secs(0)).await;
    assert_eq!(w.tick(secs(31)).await.written, 2);
    let targets = [w.target.clone()];
    let rules = &w.app.rules;
    let queued = crm_writeback::decay_tick(&w.app.pool, &targets, rules, t0() + secs(60))
        .await
        .unwrap();
    assert_eq!(queued, 0, "nothing decayed yet");
    let later = t0() + Duration::days(2);
    let queued = crm_writeback::decay_tick(&w.app.pool, &targets, rules, later)
        .await
        .unwrap();
    assert_eq!(queued, 1, "only d0's intent halved");
    let report = crm_writeback::tick(&w.app.pool, &w.target, rules, later)
        .await
        .unwrap();
    assert_eq!(report.written, 1, "{report:?}");
    let last = w.api.updates().pop().unwrap();
    assert_eq!(last.ids(), ["d0"]);
    // 25 halved is 12.5, written as 13 (whole points, half away from zero).
    assert_eq!(last.inputs[0].1["intent_score"], "13");
    let again = crm_writeback::decay_tick(&w.app.pool, &targets, rules, later)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

/// The daily check decays intent in SQL (`crm_intent_score`); it must agree with the engine.
#[tokio::test]
async fn the_sql_intent_score_agrees_with_the_engine() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let day = 86_400;
    let gaps = [
        0,
        1,
        29 * day,
        30 * day - 1,
        30 * day,
        45 * day,
        59 * day + 86_399,
        60 * day + 5 * 3_600,
        90 * day,
        400 * day,
        -5 * day,
    ];
    let scores = [
        0.0, 10.0, 12.5, 25.0, 37.5, 45.0, 95.0, 100.25, 3.3333, 0.005,
    ];
    for mode in [DecayMode::Step, DecayMode::Continuous] {
        let mut intent = app.rules.rules.intent.clone();
        intent.decay.mode = mode;
        for gap in gaps {
            for score in scores {
                let last = t0();
                let now = last + Duration::seconds(gap);
                let engine = IntentState {
                    at_last_activity: score,
                    last_activity_at: Some(last),
                    ..IntentState::default()
                }
                .score_at(now, &intent)
                .round();
                let sql: f64 =
                    sqlx::query_scalar("select crm_intent_score($1, $2, $3, $4, $5)::float8")
                        .bind(score)
                        .bind(last)
                        .bind(now)
                        .bind(intent.decay.half_life_days as i32)
                        .bind(mode == DecayMode::Continuous)
                        .fetch_one(&app.pool)
                        .await
                        .unwrap();
                assert_eq!(sql, engine, "{mode:?} {score} after {gap} s");
            }
        }
    }
}

#[tokio::test]
async fn with_write_back_off_nothing_is_queued() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    let app = TestApp::spawn(db.pool.clone()).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings = config::load_settings(&dir).unwrap();
    let targets = crm_writeback::targets(&settings);
    assert!(targets.is_empty(), "off by default");
    crm_writeback::register_targets(&app.pool, &targets, &settings, app.now())
        .await
        .unwrap();
    let w = Writeback {
        app,
        api,
        target: {
            let mut on = settings.clone();
            enable(&mut on, &HubSpotApi::start().await.unwrap());
            crm_writeback::targets(&on).remove(0)
        },
    };
    w.leads("o", 3, secs(0)).await;
    w.app
        .ingest(&json!([vp_event(
            "o-more",
            "o0@acme.io",
            "demo_request",
            secs(1)
        )]))
        .await;
    assert_eq!(w.pending().await, 0);
    assert_eq!(w.app.count("crm_writeback_targets").await, 0);
    assert!(w.api.updates().is_empty());

    // Salesforce takes Lead ids (00Q…) only: a Contact (003…) has no lead Status.
    let mut conn = w.app.pool.acquire().await.unwrap();
    crm_writes::set_targets(&mut conn, &[("salesforce", Duration::zero())], t0())
        .await
        .unwrap();
    sqlx::query(
        "insert into lead_source_ids (system, external_id, email, recorded_at) values
         ('salesforce', '00Q5e00000AbCdEEAV', 'o1@acme.io', $1),
         ('salesforce', '0035e00000AbCdEEAV', 'o2@acme.io', $1)",
    )
    .bind(t0())
    .execute(&mut *conn)
    .await
    .unwrap();
    let queued: Vec<String> = sqlx::query_scalar(
        "select l.email from crm_writes w join leads l on l.id = w.lead_id where w.crm = 'salesforce'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(queued, ["o1@acme.io"]);
}

/// A lead that gets a new id in the CRM (a contact re-created there) is written to the new
/// record, though its state equals what the old one was sent.
#[tokio::test]
async fn a_new_crm_id_is_written_though_the_state_did_not_change() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("n", 1, secs(0)).await;
    assert_eq!(w.tick(secs(31)).await.written, 1);
    sqlx::query(
        "insert into lead_source_ids (system, external_id, email, recorded_at)
         values ('hubspot', 'n0-recreated', 'n0@acme.io', $1)",
    )
    .bind(w.app.now() + secs(60))
    .execute(&w.app.pool)
    .await
    .unwrap();
    let report = w.tick(secs(200)).await;
    assert_eq!((report.calls, report.written), (1, 1), "{report:?}");
    assert_eq!(w.api.updates().pop().unwrap().ids(), ["n0-recreated"]);
}
