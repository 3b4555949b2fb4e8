//! Hostile requests, generated: wrong types, NULs, invalid UTF-8, huge and deeply nested
//! bodies, numbers past i64 and f64, path and query injection, out-of-range paging, wrong
//! media types, against every endpoint. None may answer 5xx, every refusal is problem+json,
//! and a refused request writes nothing (every table's row count is the same after it).
//!
//! The corpus is seeded, so a failure names a request that can be replayed; `FUZZ_REQUESTS`
//! sets how many each test sends (default 2,600: four tests, over 10,000 in all).

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{ADMIN_KEY, TestApp};
use crate::test_db::TestDb;

/// What one test sends: the endpoints it draws from, and its seed.
struct Corpus {
    seed: u64,
    endpoints: &'static [(&'static str, &'static str)],
}

const WEBHOOKS: &[(&str, &str)] = &[("POST", "/webhooks/events")];

const READS: &[(&str, &str)] = &[
    ("GET", "/api/v1/leads"),
    ("GET", "/api/v1/leads/{id}"),
    ("GET", "/api/v1/accounts/{domain}"),
    ("GET", "/api/v1/suppression"),
    ("GET", "/api/v1/review-queue"),
    ("GET", "/api/v1/queue"),
    ("GET", "/api/v1/reps"),
    ("GET", "/api/v1/reps/{id}"),
    ("GET", "/api/v1/metrics/funnel"),
    ("GET", "/api/v1/metrics/rejections"),
    ("GET", "/api/v1/metrics/sla"),
    ("GET", "/api/v1/metrics/disqualifications"),
    ("GET", "/api/v1/metrics/nurture"),
    ("GET", "/api/v1/api-keys"),
    ("GET", "/healthz"),
    ("DELETE", "/api/v1/leads/{id}"),
];

const WRITES: &[(&str, &str)] = &[
    ("POST", "/api/v1/accounts"),
    ("POST", "/api/v1/accounts/import"),
    ("POST", "/api/v1/leads/{id}/reinstate"),
    ("POST", "/api/v1/review-queue/{id}/resolve"),
    ("POST", "/api/v1/leads/{id}/acknowledge"),
    ("POST", "/api/v1/leads/{id}/accept"),
    ("POST", "/api/v1/leads/{id}/reject"),
    ("POST", "/api/v1/leads/{id}/qualify"),
    ("POST", "/api/v1/leads/{id}/meddic"),
    ("POST", "/api/v1/spend"),
    ("POST", "/webhooks/opportunities"),
    ("POST", "/api/v1/reps"),
    ("PATCH", "/api/v1/reps/{id}"),
    ("POST", "/api/v1/reps/{id}/deactivate"),
    ("POST", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys/{id}/revoke"),
];

const CALIBRATION: &[(&str, &str)] = &[
    ("POST", "/api/v1/scoring/preview"),
    ("POST", "/api/v1/scoring/backtest"),
    ("POST", "/api/v1/admin/rescore"),
    ("POST", "/api/v1/nurture/simulate"),
    ("POST", "/webhooks/events"),
];

/// A valid body for `path`, which the fuzzer then breaks.
fn template(path: &str) -> Value {
    let event = json!({
        "event_id": "fz-1", "source": "fuzz", "type": "pricing_page_visit",
        "occurred_at": "2026-11-19T10:00:00Z",
        "lead": {"email": "fuzz@acme.io", "first_name": "Fu", "title": "VP Sales",
                 "company": "Acme", "industry": "software", "employee_count": 250,
                 "annual_revenue": 50000000, "country": "US"},
        "properties": {"url": "/pricing", "asset_id": "guide"}
    });
    match path {
        "/webhooks/events" => json!([event, event]),
        "/api/v1/accounts" => json!({"domain": "acme.io", "name": "Acme", "tier": 1,
                                     "owner_email": "rep@acme-sales.io"}),
        "/api/v1/accounts/import" => json!([{"domain": "b.io", "tier": 2}]),
        "/api/v1/leads/{id}/reinstate" => json!({"reason": "checked by hand"}),
        "/api/v1/review-queue/{id}/resolve" => {
            json!({"demand_state": "early", "account_tier": 2, "note": "n"})
        }
        "/api/v1/leads/{id}/accept" => json!({"confirmed_interest": true}),
        "/api/v1/leads/{id}/reject" => json!({"reason": "Rejected_NotICP", "note": "n"}),
        "/api/v1/leads/{id}/qualify" => {
            json!({"budget": true, "authority": true, "need": true, "timing": true,
                   "budget_amount": 20000, "decision_by": "2027-03-31"})
        }
        "/api/v1/leads/{id}/meddic" => json!({"metrics": "cut CAC 20%", "champion": "Jane"}),
        "/api/v1/spend" => json!({"first_day": "2026-11-01", "last_day": "2026-11-30",
                                  "segment_by": "tier", "segment": "1", "amount": 1000,
                                  "currency": "USD", "note": "n"}),
        "/webhooks/opportunities" => json!([{"event_id": "fz-o", "source": "crm",
            "type": "opportunity_created", "occurred_at": "2026-11-19T10:00:00Z",
            "opportunity": {"id": "O1", "amount": "10.5", "currency": "USD", "stage": "s",
                            "close_date": "2026-12-01", "account_domain": "acme.io",
                            "contacts": [{"email": "fuzz@acme.io"}, {"system": "hubspot", "id": "1"}]}}]),
        "/api/v1/reps" | "/api/v1/reps/{id}" => json!({
            "name": "Rae", "email": "rae@sales.io", "role": "rep", "manager_id": null,
            "countries": ["US"], "industries": ["software"], "active": true
        }),
        "/api/v1/api-keys" => json!({"role": "ops", "rep_id": null, "label": "fuzz"}),
        "/api/v1/scoring/preview" => json!({"lead": event["lead"], "account_tier": 2,
                                            "events": [event]}),
        "/api/v1/scoring/backtest" => json!({
            "records": [{"id": "r1", "outcome": "closed_won", "lead": event["lead"],
                         "events": [{"type": "demo_request", "occurred_at": "2026-11-01T00:00:00Z"}]}],
            "sweep": {"fit": {"from": 40, "to": 80, "step": 5},
                      "intent": {"from": 20, "to": 60, "step": 5}},
            "target": 0.7
        }),
        "/api/v1/admin/rescore" => json!({"apply": false, "rules": {"thresholds": {"fit": 55}}}),
        "/api/v1/nurture/simulate" => json!({"account_tier": 2, "events": [event]}),
        _ => json!({}),
    }
}

/// Values no field should take.
fn hostile_value(rng: &mut StdRng) -> Value {
    let depth = rng.gen_range(9..200);
    match rng.gen_range(0..16) {
        0 => json!("a\u{0}b"),
        1 => json!("x".repeat(rng.gen_range(2_001..50_000))),
        2 => json!(-1),
        3 => json!(i64::MIN),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(-0.5),
        7 => json!(null),
        8 => json!(true),
        9 => json!([]),
        10 => json!({"$where": "1 == 1"}),
        11 => json!("'; drop table leads; --"),
        12 => json!("../../../../etc/passwd"),
        13 => (0..depth).fold(json!(1), |inner, _| json!([inner])),
        14 => json!("\u{202e}\u{feff}🦀é"),
        _ => json!(""),
    }
}

/// Replaces one randomly chosen value somewhere in `value` (or adds an unknown field).
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) if !map.is_empty() && rng.gen_bool(0.8) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys.choose(rng).unwrap();
            match rng.gen_range(0..5) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(format!("{key}\u{0}"), json!(1));
                }
                2 => mutate(map.get_mut(key).unwrap(), rng),
                _ => {
                    map.insert(key.clone(), hostile_value(rng));
                }
            }
        }
        Value::Array(items) if !items.is_empty() && rng.gen_bool(0.8) => {
            let i = rng.gen_range(0..items.len());
            mutate(&mut items[i], rng);
        }
        Value::Object(map) => {
            map.insert("unexpected".to_owned(), hostile_value(rng));
        }
        other => *other = hostile_value(rng),
    }
}

/// Raw bodies that are not JSON values a serializer would write.
fn hostile_bytes(rng: &mut StdRng, body: &[u8]) -> Vec<u8> {
    match rng.gen_range(0..8) {
        0 => body[..body.len() / 2].to_vec(),
        1 => [b"{\"a\":\"".as_slice(), &[0xff, 0xfe, 0xc3], b"\"}"].concat(),
        2 => {
            let depth = rng.gen_range(100..20_000);
            [vec![b'['; depth], vec![b']'; depth]].concat()
        }
        3 => br#"{"event_id": 1e400, "n": 123456789012345678901234567890}"#.to_vec(),
        4 => br#"{"a":"\ud800"}"#.to_vec(),
        5 => Vec::new(),
        6 => b"event_id=1&type=demo_request".to_vec(),
        _ => [body, b"garbage"].concat(),
    }
}

/// A path parameter: sometimes a real id, mostly not.
fn path_value(rng: &mut StdRng, real: &[String]) -> String {
    let choices = [
        "../../etc/passwd",
        "%00",
        "acme.io%00",
        "%ff%fe",
        "1%20or%201%3D1",
        "00000000-0000-0000-0000-000000000000",
        "-1",
        "99999999999999999999",
        "%2e%2e%2f",
        "%E2%80%AE",
    ];
    match rng.gen_range(0..4) {
        0 => real.choose(rng).cloned().unwrap_or_default(),
        1 => "a".repeat(rng.gen_range(300..5_000)),
        _ => (*choices.choose(rng).unwrap()).to_owned(),
    }
}

/// A query string of hostile parameters.
fn query(rng: &mut StdRng) -> String {
    let names = [
        "limit",
        "offset",
        "email",
        "from",
        "to",
        "by",
        "reason",
        "active",
        "stage",
        "tier",
        "hubspot_id",
        "lead_id",
    ];
    let values = [
        "-1",
        "0",
        "501",
        "9223372036854775808",
        "1e308",
        "NaN",
        "%00",
        "%ff",
        "",
        "%27%20OR%20%271%27%3D%271",
        "2026-13-45",
        "rep%26by%3Dtier",
        "true",
        "[]",
        "2026-11-01T00:00:00Z",
    ];
    (0..rng.gen_range(0..4))
        .map(|_| {
            let value = if rng.gen_bool(0.1) {
                "z".repeat(rng.gen_range(1_000..8_000))
            } else {
                (*values.choose(rng).unwrap()).to_owned()
            };
            format!("{}={value}", names.choose(rng).unwrap())
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One generated request.
struct Hostile {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn generate(rng: &mut StdRng, corpus: &Corpus, real: &[String]) -> Hostile {
    let (method, template_path) = *corpus.endpoints.choose(rng).unwrap();
    let mut path = template_path.to_owned();
    for param in ["{id}", "{domain}"] {
        if path.contains(param) {
            path = path.replace(param, &path_value(rng, real));
        }
    }
    if rng.gen_bool(0.4) {
        path = format!("{path}?{}", query(rng));
    }
    let mut body = template(template_path);
    for _ in 0..rng.gen_range(1..4) {
        mutate(&mut body, rng);
    }
    let mut body = serde_json::to_vec(&body).unwrap();
    if rng.gen_bool(0.2) {
        body = hostile_bytes(rng, &body);
    }
    let content_type = match rng.gen_range(0..10) {
        0 => Some("text/csv"),
        1 => Some(["text/plain", "application/x-www-form-urlencoded"][rng.gen_range(0..2)]),
        2 if rng.gen_bool(0.5) => None,
        _ => Some("application/json"),
    };
    Hostile {
        method: method.parse().unwrap(),
        path,
        content_type,
        body,
    }
}

/// Every table's row count and a digest of its rows, in one statement: a refused request
/// may neither add, remove nor change a row.
async fn row_counts(pool: &PgPool) -> Vec<(String, i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select tablename::text from pg_tables where schemaname = 'public' \
         and tablename not like '\\_sqlx%' order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let selects: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "select '{t}' as t, count(*) as n, \
                 coalesce(md5(string_agg(r::text, '|' order by r::text)), '') as digest \
                 from \"{t}\" r"
            )
        })
        .collect();
    sqlx::query_as(&selects.join(" union all "))
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Ids of a real lead and rep, so some requests reach past the lookups.
async fn seed(app: &TestApp) -> Vec<String> {
    let (status, rep) = app
        .post_json(
            "/api/v1/reps",
            &json!({"name": "Rae", "email": "rae@sales.io", "role": "rep"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rep}");
    let (status, _) = app.post_events(&template("/webhooks/events")[0]).await;
    assert_eq!(status, StatusCode::OK);
    let lead: (uuid::Uuid,) = sqlx::query_as("select id from leads limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    vec![
        lead.0.to_string(),
        rep["id"].as_str().unwrap().to_owned(),
        "acme.io".to_owned(),
    ]
}

/// Sends the corpus; panics naming the first request that broke a rule.
async fn run(pool: PgPool, corpus: Corpus) {
    let app = TestApp::spawn(pool).await;
    let real = seed(&app).await;
    let requests: usize = std::env::var("FUZZ_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_600);
    let mut rng = StdRng::seed_from_u64(corpus.seed);
    let mut counts = row_counts(&app.pool).await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..requests {
        let hostile = generate(&mut rng, &corpus, &real);
        let key = if hostile.path.starts_with("/webhooks/") {
            app.source_key.clone()
        } else {
            ADMIN_KEY.to_owned()
        };
        let mut request = app
            .client
            .request(
                hostile.method.clone(),
                format!("{}{}", app.base, hostile.path),
            )
            .bearer_auth(key)
            .body(hostile.body.clone());
        if let Some(media) = hostile.content_type {
            request = request.header("content-type", media);
        }
        let response = request.send().await.expect("answered");
        let status = response.status();
        *statuses.entry(status.as_u16()).or_default() += 1;
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let what = || {
            format!(
                "request {n} (seed {}): {} {} [{:?}] {:?}",
                corpus.seed,
                hostile.method,
                hostile.path.chars().take(200).collect::<String>(),
                hostile.content_type,
                String::from_utf8_lossy(&hostile.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        };
        assert!(!status.is_server_error(), "{status} for {}", what());
        let after = row_counts(&app.pool).await;
        if status.is_client_error() {
            assert!(
                media.starts_with("application/problem+json"),
                "{status} as {media:?} for {}",
                what()
            );
            assert_eq!(after, counts, "a refused request wrote rows: {}", what());
        }
        counts = after;
    }
    eprintln!(
        "fuzz seed {}: {requests} requests, statuses {statuses:?}",
        corpus.seed
    );
}

#[tokio::test]
async fn hostile_webhook_bodies_never_5xx_and_write_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    run(
        pool,
        Corpus {
            seed: 1,
            endpoints: WEBHOOKS,
        },
    )
    .await;
}

#[tokio::test]
async fn hostile_reads_never_5xx() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    run(
        pool,
        Corpus {
            seed: 2,
            endpoints: READS,
        },
    )
    .await;
}

#[tokio::test]
async fn hostile_writes_never_5xx_and_write_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    run(
        pool,
        Corpus {
            seed: 3,
            endpoints: WRITES,
        },
    )
    .await;
}

#[tokio::test]
async fn hostile_calibration_requests_never_5xx() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    run(
        pool,
        Corpus {
            seed: 4,
            endpoints: CALIBRATION,
        },
    )
    .await;
}
