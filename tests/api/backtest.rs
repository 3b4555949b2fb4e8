//! Backtests over HTTP and with the binary's `backtest` command, on the hand-made set of
//! `examples/backtest.csv`.

use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem_fields};
use crate::test_db::TestDb;

const BACKTEST: &str = "/api/v1/scoring/backtest";

/// `examples/backtest.csv` as backtest records: the hand-made set (10 closed-won of which 7
/// cross at fit 60 / intent 40, 10 closed-lost of which 2 do).
fn example_records() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/backtest.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let mut records: Vec<Value> = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        let cell = |name: &str| {
            row.get(header.iter().position(|h| h == name).unwrap())
                .unwrap()
        };
        let mut lead = json!({"email": cell("email")});
        for field in ["title", "industry", "country"] {
            lead[field] = json!(cell(field));
        }
        for field in ["employee_count", "annual_revenue"] {
            if !cell(field).is_empty() {
                lead[field] = json!(cell(field).parse::<i64>().unwrap());
            }
        }
        let event = json!({"type": cell("type"), "occurred_at": cell("occurred_at"), "lead": lead});
        match records
            .last_mut()
            .filter(|r| r["lead"]["email"] == cell("email"))
        {
            Some(record) => record["events"].as_array_mut().unwrap().push(event),
            None => records.push(json!({
                "id": cell("id"), "lead": {"email": cell("email")}, "outcome": cell("outcome"),
                "account_tier": 2, "events": [event],
            })),
        }
    }
    records
}

fn cell(answer: &Value, fit: i64, intent: f64) -> (f64, f64, bool) {
    let c = answer["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fit"] == fit && c["intent"] == intent)
        .unwrap_or_else(|| panic!("no cell {fit}/{intent}"));
    (
        c["won_share"].as_f64().unwrap(),
        c["lost_share"].as_f64().unwrap(),
        c["meets_target"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn backtest_reports_capture_rates_and_the_threshold_sweep() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let ops = app.as_role(Role::Ops).await;
    let records = example_records();
    assert_eq!(records.len(), 20);
    let (status, answer) = ops.post_json(BACKTEST, &json!({"records": records})).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(
        answer["won"],
        json!({"records": 10, "crossed": 7, "share": 0.7})
    );
    assert_eq!(
        answer["lost"],
        json!({"records": 10, "crossed": 2, "share": 0.2})
    );
    assert_eq!(answer["thresholds"], json!({"fit": 60, "intent": 40.0}));
    assert_eq!(
        (answer["target"].as_f64(), answer["meets_target"].as_bool()),
        (Some(0.7), Some(true))
    );
    assert_eq!(answer["candidate"], false);
    assert_eq!(answer["sweep"].as_array().unwrap().len(), 81);
    assert_eq!(cell(&answer, 60, 40.0), (0.7, 0.2, true));
    assert_eq!(cell(&answer, 55, 40.0), (0.8, 0.2, true));
    assert_eq!(cell(&answer, 60, 25.0), (0.8, 0.3, true));
    assert_eq!(cell(&answer, 60, 50.0), (0.4, 0.1, false));
    assert_eq!(
        (
            answer["suggested"]["fit"].as_i64(),
            answer["suggested"]["intent"].as_f64()
        ),
        (Some(55), Some(40.0))
    );
    let nia = &answer["records"][13];
    assert_eq!(nia["email"], "nia@datum.io");
    assert_eq!(
        (nia["mql_at"].clone(), nia["disqualified_reason"].as_str()),
        (Value::Null, Some("Disqualified_NoSale"))
    );

    let narrow = json!({"records": example_records(), "target": 0.8,
                        "sweep": {"fit": {"from": 50, "to": 60, "step": 10}, "intent": {"from": 40, "to": 40, "step": 1}}});
    let (status, answer) = ops.post_json(BACKTEST, &narrow).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["meets_target"], false, "70% is below an 80% target");
    let cells: Vec<(i64, f64)> = answer["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["fit"].as_i64().unwrap(), c["intent"].as_f64().unwrap()))
        .collect();
    assert_eq!(cells, [(50, 40.0), (60, 40.0)]);
    assert!(
        answer["hint"]
            .as_str()
            .unwrap()
            .starts_with("only 70% of closed-won crossed MQL, below the 80% target")
    );
}

#[tokio::test]
async fn candidate_rules_change_the_backtest() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = json!({"records": example_records(), "rules": {"mql": {"fit": 55}}});
    let (status, answer) = app.post_json(BACKTEST, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["candidate"], true);
    assert_ne!(answer["rules_version"], app.rules.version);
    assert_eq!(answer["won"]["share"], 0.8);
    assert_eq!(answer["lost"]["share"], 0.2);

    // Pricing worth 40 on its own: ivan (won, pricing only) and the lost who priced cross.
    let body = json!({"records": example_records(),
                      "rules": {"intent": {"weights": {"pricing_page_visit": 40.0}}}});
    let (_, answer) = app.post_json(BACKTEST, &body).await;
    assert_eq!(
        (
            answer["won"]["crossed"].as_i64(),
            answer["lost"]["crossed"].as_i64()
        ),
        (Some(8), Some(3))
    );
}

#[tokio::test]
async fn bad_backtests_are_422s_naming_the_key() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let records = example_records();
    let cases = [
        (
            json!({"records": records, "rules": {"intent": {"decay": {"half_life_days": 0}}}}),
            "rules.intent.decay.half_life_days",
        ),
        (
            json!({"records": records, "rules": {"disqualify": [{"reason": "Disqualified_Bored", "when": "opted_out"}]}}),
            "rules.disqualify[0].reason",
        ),
        (
            json!({"records": records, "rules": {"mql": {"fit": "high"}}}),
            "rules.mql.fit",
        ),
        (
            json!({"records": records, "rules": {"fit": {"out_of_geo": {"values": ["usa"]}}}}),
            "rules.fit.out_of_geo.values",
        ),
        (
            json!({"records": [{"lead": {"email": "a@acme.io"}}]}),
            "records[0].outcome",
        ),
        (
            json!({"records": [{"lead": {"email": "a@acme.io"}, "outcome": "won"}]}),
            "records[0].outcome",
        ),
        (
            json!({"records": records, "sweep": {"fit": {"from": 80, "to": 40, "step": 5}}}),
            "sweep.fit.to",
        ),
        (json!({"records": records, "target": 1.5}), "target"),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post_json(BACKTEST, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem:#}"
        );
        assert_eq!(problem_fields(&problem), [field]);
    }
}

/// A step so small that the value count would overflow is refused, not swept as empty.
#[tokio::test]
async fn a_sweep_axis_beyond_the_limits_is_a_422_naming_its_part() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let records = example_records();
    let cases = [
        (
            json!({"intent": {"from": 0, "to": 1e308, "step": 1e-300}}),
            "sweep.intent.to",
        ),
        (
            json!({"intent": {"from": 0, "to": 1, "step": 1e-300}}),
            "sweep.intent.step",
        ),
        (
            json!({"intent": {"from": 0, "to": 1000, "step": 1}}),
            "sweep.intent.step",
        ),
        (
            json!({"intent": {"from": 0, "to": 10, "step": 0}}),
            "sweep.intent.step",
        ),
        (
            json!({"intent": {"from": 0, "to": 10, "step": -1}}),
            "sweep.intent.step",
        ),
        (
            json!({"intent": {"from": 50, "to": 40, "step": 5}}),
            "sweep.intent.to",
        ),
        (
            json!({"fit": {"from": -1e300, "to": 0, "step": 1}}),
            "sweep.fit.from",
        ),
        (
            json!({"fit": {"from": 0, "to": 100, "step": 1e-300}}),
            "sweep.fit.step",
        ),
        (
            json!({"fit": {"from": 40.5, "to": 80, "step": 5}}),
            "sweep.fit.from",
        ),
    ];
    for (sweep, field) in cases {
        let body = json!({"records": records, "sweep": sweep});
        let (status, problem) = app.post_json(BACKTEST, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{sweep}: {problem:#}"
        );
        assert_eq!(problem_fields(&problem), [field], "{sweep}");
    }
}

/// The binary's `backtest` command over the example CSV, as an operator runs it.
#[test]
fn the_backtest_command_prints_the_table_for_the_example_csv() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leadrouter"))
            .arg("backtest")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the binary runs")
    };
    let out = run(&["--csv", "examples/backtest.csv"]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("20 records (10 closed_won, 10 closed_lost)"),
        "{table}"
    );
    assert!(
        table.contains("7 of 10       70%   target ≥ 70%: met"),
        "{table}"
    );
    assert!(table.contains("2 of 10       20%"), "{table}");

    let out = run(&["--csv", "examples/backtest.csv", "--json"]);
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["won"]["share"], 0.7);

    let out = run(&["--csv", "missing.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv: cannot read"));
}
