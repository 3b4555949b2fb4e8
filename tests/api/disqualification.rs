//! Disqualification and segmentation end to end: the case table, the sweeper, suppression,
//! reinstatement and the review queue over HTTP.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, t0};
use crate::test_db::TestDb;

/// One row of `data/disqualify_segment_cases.csv`.
struct Case {
    name: String,
    email: String,
    title: String,
    employees: Vec<i64>,
    country: String,
    map_state: String,
    events: Vec<(String, DateTime<Utc>)>,
    clock: DateTime<Utc>,
    stage: String,
    reason: String,
    demand_state: String,
    tier: String,
    review: String,
}

/// `0`, `-180d` or `-6mo`, relative to [`t0`].
fn moment(offset: &str) -> DateTime<Utc> {
    if let Some(days) = offset.strip_suffix('d') {
        t0() + Duration::days(days.parse().unwrap())
    } else if let Some(months) = offset.strip_suffix("mo") {
        let months: i64 = months.parse().unwrap();
        assert!(months <= 0, "cases only look back");
        t0().checked_sub_months(Months::new(months.unsigned_abs() as u32))
            .unwrap()
    } else {
        assert_eq!(offset, "0", "offsets are 0, Nd or Nmo");
        t0()
    }
}

fn cases() -> Vec<Case> {
    include_str!("data/disqualify_segment_cases.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 13, "13 columns in {line}");
            Case {
                name: f[0].to_owned(),
                email: f[1].to_owned(),
                title: f[2].to_owned(),
                employees: f[3].split('>').map(|n| n.parse().unwrap()).collect(),
                country: f[4].to_owned(),
                map_state: f[5].to_owned(),
                events: f[6]
                    .split(';')
                    .map(|e| {
                        let (kind, at) = e.split_once('@').unwrap();
                        (kind.to_owned(), moment(at))
                    })
                    .collect(),
                clock: moment(f[7]),
                stage: f[8].to_owned(),
                reason: f[9].to_owned(),
                demand_state: f[10].to_owned(),
                tier: f[11].to_owned(),
                review: f[12].to_owned(),
            }
        })
        .collect()
}

fn event(case: &Case, i: usize) -> Value {
    let (kind, at) = &case.events[i];
    let employees = case.employees[i.min(case.employees.len() - 1)];
    let mut lead = json!({
        "email": case.email, "title": case.title, "industry": "software",
        "annual_revenue": 50_000_000, "employee_count": employees, "country": case.country,
    });
    if !case.map_state.is_empty() {
        lead["demand_state"] = json!(case.map_state);
    }
    json!({
        "event_id": format!("{}-{i}", case.email),
        "source": "marketo",
        "type": kind,
        "occurred_at": at.to_rfc3339(),
        "lead": lead,
    })
}

/// What a lead looks like against what its row expects; `None` when it matches.
fn mismatch(case: &Case, lead: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let mut got = vec![
        text(&lead["lifecycle_stage"]),
        text(&lead["disqualified_reason"]),
    ];
    let mut want = vec![case.stage.clone(), case.reason.clone()];
    // A suppressed lead's segment is not routed on; the table marks it "-".
    if case.demand_state != "-" {
        got.push(text(&lead["segment"]["demand_state"]));
        want.push(case.demand_state.clone());
    }
    if case.tier != "-" {
        got.push(
            lead["segment"]["account_tier"]
                .as_u64()
                .map(|t| t.to_string())
                .unwrap_or_default(),
        );
        want.push(case.tier.clone());
    }
    let review: Vec<String> = lead["review"]["missing"]
        .as_array()
        .map(|m| m.iter().map(text).collect())
        .unwrap_or_default();
    got.push(review.join("+"));
    want.push(case.review.clone());
    (got != want).then(|| format!("{}: want {want:?}, got {got:?}", case.name))
}

/// The 50 recorded cases: each lead's events arrive at its own moment (some months back),
/// the clock returns to t0, one sweep runs, and every lead must match its row. Together the
/// rows fire every rule, at and just short of each boundary, and the no-rule case.
#[tokio::test]
async fn fifty_recorded_cases_end_with_the_expected_stage_reason_and_segment() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for (domain, tier) in [
        ("tier1.example", 1),
        ("tier2.example", 2),
        ("tier3.example", 3),
    ] {
        let (status, body) = app
            .post_json("/api/v1/accounts", &json!({"domain": domain, "tier": tier}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let cases = cases();
    assert_eq!(cases.len(), 50);
    for case in &cases {
        app.set_now(case.clock);
        for i in 0..case.events.len() {
            app.ingest(&event(case, i)).await;
        }
    }
    app.set_now(t0());
    let report = app.sweep().await;
    assert_eq!(report.disqualified, 4, "rows 22, 30, 32 and 35: {report:?}");

    let mut failures = Vec::new();
    for case in &cases {
        let lead = app.lead(&case.email).await;
        failures.extend(mismatch(case, &lead));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let fired: BTreeSet<&str> = cases.iter().map(|c| c.reason.as_str()).collect();
    for rule in &app.rules.rules.disqualify {
        assert!(
            fired.contains(rule.reason.as_str()),
            "no case fires {}",
            rule.reason
        );
    }
}

/// A qualified lead and a lead that last engaged `days_ago` days before t0, ingested at t0.
async fn lead_idle_for(app: &TestApp, email: &str, days_ago: i64) -> String {
    app.set_now(t0() - Duration::days(days_ago));
    let mut e = crate::helpers::event(email, email, "email_open", Duration::days(-days_ago));
    e["lead"]["employee_count"] = json!(250);
    let body = app.ingest(&e).await;
    app.set_now(t0());
    body["results"][0]["lead_id"].as_str().unwrap().to_owned()
}

/// Two sweepers (as on two replicas) racing over the same 300 due leads disqualify each one
/// exactly once: one transition each, and the counts of both sweeps add up to 300.
#[tokio::test]
async fn two_racing_sweepers_disqualify_each_lead_exactly_once() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for i in 0..300 {
        lead_idle_for(&app, &format!("idle{i}@acme.io"), 200).await;
    }
    lead_idle_for(&app, "active@acme.io", 10).await;
    let (a, b) = tokio::join!(
        leadrouter::jobs::sweeper::tick(&app.pool, &app.rules, t0(), 25),
        leadrouter::jobs::sweeper::tick(&app.pool, &app.rules, t0(), 25),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.disqualified + b.disqualified, 300, "{a:?} {b:?}");
    let transitions: i64 =
        sqlx::query_scalar("select count(*) from lead_transitions where to_stage = 'Disqualified'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(transitions, 300);
    let per_lead_max: i64 = sqlx::query_scalar(
        "select max(n) from (select count(*) n from lead_transitions
                              where to_stage = 'Disqualified' group by lead_id) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(per_lead_max, 1);
    assert_eq!(app.lead("active@acme.io").await["lifecycle_stage"], "Lead");
    assert_eq!(
        app.sweep().await.disqualified,
        0,
        "a second pass finds nothing"
    );
}

/// The sweep finds inactive leads by the hour of their last engagement but cuts exactly: of
/// three leads in the cutoff's hour, the one idle 180 days less a minute stays.
#[tokio::test]
async fn the_inactivity_cutoff_is_exact_within_its_hour() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let idle = [
        ("short@acme.io", Duration::days(180) - Duration::minutes(1)),
        ("due@acme.io", Duration::days(180)),
        ("over@acme.io", Duration::days(180) + Duration::minutes(1)),
    ];
    for (email, idle) in idle {
        app.set_now(t0() - idle);
        let mut e = crate::helpers::event(email, email, "email_open", -idle);
        e["lead"]["employee_count"] = json!(250);
        app.ingest(&e).await;
    }
    app.set_now(t0());
    assert_eq!(app.sweep().await.disqualified, 2);
    for (email, stage) in [
        ("short@acme.io", "Lead"),
        ("due@acme.io", "Disqualified"),
        ("over@acme.io", "Disqualified"),
    ] {
        assert_eq!(app.lead(email).await["lifecycle_stage"], stage, "{email}");
    }
}
