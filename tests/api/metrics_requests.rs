//! Metrics requests: empty and default periods, exact bounds, bad parameters (422 naming
//! each), and who may read the views.

use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_db::TestDb;
use crate::{
    funnel_seed::{PERIOD, at, seed},
    helpers::{TestApp, problem_fields},
    metrics::{funnel, group, sla, view},
};

#[tokio::test]
async fn an_empty_period_is_all_zeros_with_null_rates() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    seed(&app).await;
    let june = "from=2026-06-01&to=2026-06-30";
    let zero = funnel([0; 6], None, None, None);
    let weeks = ["2026-W23", "2026-W24", "2026-W25", "2026-W26", "2026-W27"];

    let by_week = view(&app, &format!("funnel?{june}&by=week")).await;
    assert_eq!(by_week["total"], zero);
    let keys: Vec<&str> = by_week["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, weeks, "every week of the period, even empty");
    assert!(by_week["groups"].as_array().unwrap().iter().all(|g| {
        let mut numbers = g.clone();
        let numbers = numbers.as_object_mut().unwrap();
        numbers.remove("key");
        numbers.remove("label");
        Value::Object(numbers.clone()) == zero
    }));
    let by_tier = view(&app, &format!("funnel?{june}&by=tier")).await;
    assert_eq!(
        by_tier["groups"],
        json!([
            group(Some("1"), "Tier 1", zero.clone()),
            group(Some("2"), "Tier 2", zero.clone()),
            group(Some("3"), "Tier 3", zero.clone())
        ]),
        "the closed list of tiers, each at zero"
    );
    let by_rep = view(&app, &format!("funnel?{june}&by=rep")).await;
    assert_eq!(by_rep["groups"], json!([]), "no rep has numbers");

    let rejections = view(&app, &format!("rejections?{june}")).await;
    assert_eq!(rejections["total"], 0);
    assert!(
        rejections["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["count"] == 0 && r["share"].is_null())
    );
    assert_eq!(rejections["weeks"].as_array().unwrap().len(), 5);
    let disqualifications = view(&app, &format!("disqualifications?{june}")).await;
    assert_eq!(disqualifications["total"], 0);
    assert!(
        disqualifications["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["share"].is_null())
    );
    let sla_view = view(&app, &format!("sla?{june}&by=tier")).await;
    assert_eq!(
        sla_view["total"],
        sla(0, (0, 0, 0, None), (0, 0, 0, None), 0)
    );
    assert_eq!(
        sla_view["groups"][2],
        group(
            Some("3"),
            "Tier 3",
            sla(0, (0, 0, 0, None), (0, 0, 0, None), 0)
        )
    );
    for body in [&by_week, &rejections, &disqualifications, &sla_view] {
        assert!(!body.to_string().contains("NaN"), "{body}");
    }
}

/// Without `from`/`to` a view covers the 90 days up to now: the lead of October is in.
#[tokio::test]
async fn the_default_period_is_the_last_90_days() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    seed(&app).await;
    let body = view(&app, "funnel").await;
    assert_eq!(
        body["period"],
        json!({"from": "2026-08-22T12:00:00Z", "to": "2026-11-20T12:00:00Z"})
    );
    assert_eq!(body["total"]["leads"], 12);
    assert_eq!(body["total"]["mqls"], 7);
    assert_eq!(body["total"]["sals"], 3);
    let (from, to) = (at(10, 26, 10), at(10, 26, 11));
    let exact = view(
        &app,
        &format!("funnel?from={}&to={}", from.to_rfc3339(), to.to_rfc3339()),
    )
    .await;
    assert_eq!(
        exact["total"]["leads"], 1,
        "timestamps bound exactly: [10:00, 11:00)"
    );
    let to = at(10, 26, 10);
    let before = view(
        &app,
        &format!("funnel?from=2026-10-01&to={}", to.to_rfc3339()),
    )
    .await;
    assert_eq!(before["total"]["leads"], 0, "to is exclusive");
}

#[tokio::test]
async fn bad_periods_and_groupings_are_422s_naming_the_parameter() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for (path, fields) in [
        ("funnel?from=last-week", vec!["from"]),
        ("funnel?from=2026-11-02&to=2026-11-01", vec!["to"]),
        (
            "funnel?from=2026-11-02T10:00:00Z&to=2026-11-02T10:00:00Z",
            vec!["to"],
        ),
        ("funnel?from=2025-01-01&to=2026-06-01", vec!["to"]),
        ("funnel?from=2024-01-01", vec!["from"]),
        ("funnel?from=2026-02-30", vec!["from"]),
        ("funnel?by=team", vec!["by"]),
        ("funnel?by=day&to=soon", vec!["to", "by"]),
        ("sla?by=source", vec!["by"]),
        ("rejections?by=week", vec!["by"]),
        ("disqualifications?form=2026-11-01", vec!["form"]),
    ] {
        let (status, problem) = app.get(&format!("/api/v1/metrics/{path}")).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        let mut named = problem_fields(&problem);
        named.sort();
        let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        expected.sort();
        assert_eq!(named, expected, "{path}: {problem}");
    }
    let (_, problem) = app.get("/api/v1/metrics/funnel?by=team").await;
    assert_eq!(
        problem["detail"],
        "by: \"team\" is not a grouping; allowed: rep, tier, source, week"
    );
}

#[tokio::test]
async fn only_ops_and_admin_read_metrics() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for view in ["funnel", "rejections", "sla", "disqualifications"] {
        let path = format!("/api/v1/metrics/{view}");
        for role in [Role::Rep, Role::Manager, Role::Source] {
            let (status, problem) = app.as_role(role).await.get(&path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}: {problem}");
        }
        let (status, _) = app.as_role(Role::Ops).await.get(&path).await;
        assert_eq!(status, StatusCode::OK, "ops {path}");
        let (status, _) = app.without_key().get(&path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// A period bounded by timestamps reads its partial first and last days from the facts and
/// the whole days between from the daily sums: the same numbers, whatever the view.
#[tokio::test]
async fn partial_days_add_up_with_whole_days() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    seed(&app).await;
    let stamps = "from=2026-11-01T12:00:00Z&to=2026-11-20T12:00:00Z";
    for view_path in [
        "funnel",
        "funnel?by=rep",
        "funnel?by=tier",
        "funnel?by=source",
        "funnel?by=week",
        "rejections",
        "disqualifications",
        "sla?by=rep",
    ] {
        let sep = if view_path.contains('?') { '&' } else { '?' };
        let mut by_days = view(&app, &format!("{view_path}{sep}{PERIOD}")).await;
        let mut by_stamps = view(&app, &format!("{view_path}{sep}{stamps}")).await;
        for body in [&mut by_days, &mut by_stamps] {
            body.as_object_mut().unwrap().remove("period");
        }
        if view_path == "funnel?by=week" || view_path == "rejections" {
            // The stamped period starts in week 44, which the other does not touch.
            let weeks = if view_path == "rejections" {
                "weeks"
            } else {
                "groups"
            };
            let first = by_stamps[weeks].as_array_mut().unwrap().remove(0);
            assert_eq!(first["key"], "2026-W44");
        }
        assert_eq!(by_days, by_stamps, "{view_path}");
    }
}
