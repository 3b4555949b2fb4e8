//! The dashboard in a real browser: Debian's headless Chromium loads `/dashboard` from the
//! test service, the page fetches the metrics views and the outbox overview with the key from
//! the URL fragment and draws them, and every number drawn must be the number of the JSON view
//! it names. The revenue view's table and weekly trend are held to it the same way, over the
//! hand-worked data set of `tests/api/revenue.rs`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_db::TestDb;
use crate::{
    funnel_seed::{PERIOD, seed},
    helpers::TestApp,
    revenue::{seed_opportunities, spend},
};

/// The browser: `$CHROMIUM`, else `chromium` or `chromium-browser` on the `PATH`. Missing, the
/// test fails (CI installs it; a skipped browser test would pass without checking anything).
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the dashboard test needs headless Chromium and found none (looked at $CHROMIUM, \
                 then chromium and chromium-browser on PATH); install it with \
                 `apt-get install -y chromium` (.ci/run does) or point CHROMIUM at a binary"
            )
        })
}

/// The DOM of `url` once its scripts have run (Chromium's virtual time lets the fetches
/// finish without waiting on the wall clock).
async fn rendered_dom(url: String) -> String {
    let browser = chromium();
    tokio::task::spawn_blocking(move || {
        let profile =
            std::env::temp_dir().join(format!("leadrouter-chromium-{}", uuid::Uuid::new_v4()));
        let mut child = Command::new(&browser)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--no-first-run",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                panic!("chromium did not finish within 90 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&profile);
        assert!(
            output.status.success(),
            "chromium failed: {}",
            output.status
        );
        String::from_utf8(output.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// One element of the DOM: its tag, attributes and the text right after its start tag.
#[derive(Clone, Debug)]
struct Element {
    tag: String,
    attrs: HashMap<String, String>,
    text: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The start tags of `html` (enough of a parser for the serialised DOM Chromium prints).
fn elements(html: &str) -> Vec<Element> {
    let mut found = Vec::new();
    for chunk in html.split('<').skip(1) {
        let Some((tag, rest)) = chunk.split_once('>') else {
            continue;
        };
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() {
            continue;
        }
        let mut attrs = HashMap::new();
        let mut tail = &tag[name.len()..];
        while let Some(eq) = tail.find("=\"") {
            let key = tail[..eq].trim().to_owned();
            let after = &tail[eq + 2..];
            let end = after.find('"').expect("attribute values are quoted");
            attrs.insert(key, unescape(&after[..end]));
            tail = &after[end + 1..];
        }
        found.push(Element {
            tag: name,
            attrs,
            text: unescape(rest),
        });
    }
    found
}

/// The value at `path` of a view: `/`-separated fields, `field=value` picking the array
/// element whose `field` is `value` (`null` for a null key).
fn at_path<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('/')
        .fold(json, |value, segment| match segment.split_once('=') {
            Some((field, wanted)) => value
                .as_array()
                .and_then(|items| {
                    items.iter().find(|item| match &item[field] {
                        Value::Null => wanted == "null",
                        Value::String(s) => s == wanted,
                        other => other
                            .as_f64()
                            .is_some_and(|n| wanted.parse::<f64>().ok() == Some(n)),
                    })
                })
                .unwrap_or_else(|| panic!("no {segment} in {value}")),
            None => &value[segment],
        })
}

/// The revenue view's numbers, in the order of its JSON; the money ones are objects keyed by
/// currency.
const REVENUE_NUMBERS: [&str; 16] = [
    "mqls",
    "sals",
    "sal_rate",
    "mqls_with_opportunity",
    "opportunity_rate",
    "opportunities_opened",
    "marketing_sourced_opportunities",
    "marketing_sourced_pipeline",
    "won",
    "lost",
    "won_rate",
    "won_amount",
    "median_days_mql_to_opportunity",
    "median_days_opportunity_to_won",
    "spend",
    "cac",
];
const MONEY: [&str; 4] = ["marketing_sourced_pipeline", "won_amount", "spend", "cac"];

/// The currency of a path to an amount (`…/won_amount/USD`).
fn currency_of(path: &str) -> Option<&str> {
    let (field, currency) = path.rsplit_once('/')?;
    let field = field.rsplit('/').next()?;
    MONEY.contains(&field).then_some(currency)
}

/// What the page shows for `value`: counts as they are, rates as percentages, medians in hours
/// (the revenue view's in days), the outbox's lag in seconds, amounts with two decimals and
/// their currency (a dash where the JSON has no amount in that currency).
fn shown(path: &str, value: &Value) -> Option<String> {
    if let Some(currency) = currency_of(path) {
        return Some(match value.as_f64() {
            Some(amount) => format!("{amount:.2} {currency}"),
            None => "–".to_owned(),
        });
    }
    if value.is_null() {
        return Some("n/a".to_owned());
    }
    let number = value.as_f64()?;
    if path == "lag_seconds" {
        Some(format!("{value} s"))
    } else if path.ends_with("share")
        || path.ends_with("_to_sal")
        || path.ends_with("_to_sql")
        || path.ends_with("_rate")
    {
        Some(format!("{:.1}%", number * 100.0))
    } else if path.ends_with("seconds") {
        Some(format!("{:.1} h", number / 3600.0))
    } else if path.contains("median_days_") {
        Some(format!("{number:.1} d"))
    } else {
        Some(value.to_string())
    }
}

/// The views the drawn elements name, as the API answers them.
async fn views_of(app: &TestApp, drawn: &[&Element]) -> HashMap<String, Value> {
    let mut views = HashMap::new();
    for element in drawn {
        let source = &element.attrs["data-source"];
        if !views.contains_key(source) {
            let (status, json) = app.get(source).await;
            assert_eq!(status, StatusCode::OK, "{source}: {json}");
            views.insert(source.clone(), json);
        }
    }
    views
}

/// Every drawn number that is not its view's: its `data-value` against the JSON at its
/// `data-path`, and for the elements that show it as text, the text against [`shown`].
fn mismatches(drawn: &[&Element], views: &HashMap<String, Value>) -> Vec<String> {
    let mut wrong = Vec::new();
    for element in drawn {
        let source = &element.attrs["data-source"];
        let path = &element.attrs["data-path"];
        let expected = at_path(&views[source], path);
        let value = &element.attrs["data-value"];
        let what = format!("{source} {path}");
        let same = match expected {
            Value::Null => value == "null",
            number => value.parse::<f64>().ok() == number.as_f64(),
        };
        if !same {
            wrong.push(format!(
                "{what}: data-value {value}, the view has {expected}"
            ));
        }
        if ["text", "strong", "span", "td"].contains(&element.tag.as_str()) {
            let text = element.text.trim();
            let want = shown(path, expected).unwrap();
            if text != want {
                wrong.push(format!("{what}: shows {text:?}, the view's is {want:?}"));
            }
        }
    }
    wrong
}

#[tokio::test]
async fn the_dashboard_draws_the_numbers_of_the_json_views() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    // The assignments of the seed wait for this receiver (no dispatcher runs in the test).
    let (status, endpoint) = app
        .post_json(
            "/api/v1/webhook-endpoints",
            &serde_json::json!({"url": "http://127.0.0.1:9/hook", "topics": ["rep.assigned"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    seed(&app).await;
    app.advance(chrono::Duration::minutes(5));
    let key = app.mint_key(Role::Ops, None).await;
    let dom = rendered_dom(format!("{}/dashboard?{PERIOD}#key={key}", app.base)).await;
    let all = elements(&dom);
    let body = all.iter().find(|e| e.tag == "body").expect("a body");
    let status = all
        .iter()
        .find(|e| e.attrs.get("id").is_some_and(|id| id == "status"));
    assert_eq!(
        body.attrs["data-state"],
        "ready",
        "status: {:?}",
        status.map(|s| &s.text)
    );
    assert!(!dom.contains(&key), "the key never lands in the page");

    let drawn: Vec<&Element> = all
        .iter()
        .filter(|e| e.attrs.contains_key("data-path"))
        .collect();
    let views = views_of(&app, &drawn).await;
    assert_eq!(mismatches(&drawn, &views), Vec::<String>::new());
    let mut by_view: HashMap<String, usize> = HashMap::new();
    for element in &drawn {
        let source = &element.attrs["data-source"];
        let view = source.split('?').next().unwrap();
        let view = view.strip_prefix("/api/v1/metrics/").unwrap_or(view);
        *by_view.entry(view.to_owned()).or_default() += 1;
    }
    // Every chart drew: the funnel's six steps, two conversions, rejections by week and reason,
    // SLA by rep and tier, the disqualification reasons, the deliveries (five facts, one topic
    // and one endpoint with three statuses each), the revenue table's twelve numbers that are
    // not amounts (no opportunity, no spend here) for the total and three weeks.
    for (view, at_least) in [
        ("/api/v1/outbox", 5 + 2 * 3 * 2),
        ("funnel", 6 * 2 + 3 + 2 * (4 + 3) * 3),
        ("rejections", 3 * 5 + 8),
        ("sla", (3 + 3) * 4 * 2),
        ("disqualifications", 16),
        ("revenue", 12 * 4),
    ] {
        let drawn = by_view.get(view).copied().unwrap_or(0);
        assert!(
            drawn >= at_least,
            "{view}: {drawn} numbers drawn, expected at least {at_least}"
        );
    }
    let funnel = &views[&format!("/api/v1/metrics/funnel?{PERIOD}")];
    assert_eq!(
        funnel["total"]["mqls"], 6,
        "the seeded funnel is the one drawn"
    );
    let outbox = &views["/api/v1/outbox"];
    assert!(
        outbox["deliveries"]["pending"].as_i64().unwrap() > 0
            && outbox["lag_seconds"].as_i64().unwrap() >= 300,
        "the seed's assignments wait for the endpoint: {outbox:#}"
    );
}

/// The revenue view by week over the hand-worked data set of `tests/api/revenue.rs`: its table
/// shows every number of the total and of each week, each the JSON's; its trend has a point per
/// week of the period for each line, at heights that follow the amounts; and the comparison
/// catches a number drawn wrong.
#[tokio::test]
async fn the_dashboard_draws_the_revenue_view() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    seed(&app).await;
    seed_opportunities(&app).await;
    spend(
        &app,
        json!({"first_day": "2026-11-01", "last_day": "2026-11-30",
               "amount": 30000, "currency": "USD", "note": "November programmes"}),
    )
    .await;
    spend(
        &app,
        json!({"first_day": "2026-11-02", "last_day": "2026-11-20", "segment_by": "tier",
               "segment": "1", "amount": "9000.00", "currency": "USD"}),
    )
    .await;
    let key = app.mint_key(Role::Ops, None).await;
    let dom = rendered_dom(format!("{}/dashboard?{PERIOD}#key={key}", app.base)).await;
    let all = elements(&dom);
    let body = all.iter().find(|e| e.tag == "body").expect("a body");
    assert_eq!(body.attrs["data-state"], "ready");

    let source = format!("/api/v1/metrics/revenue?{PERIOD}&by=week");
    let drawn: Vec<&Element> = all
        .iter()
        .filter(|e| e.attrs.get("data-source") == Some(&source))
        .collect();
    let views = views_of(&app, &drawn).await;
    assert_eq!(mismatches(&drawn, &views), Vec::<String>::new());
    let report = &views[&source];
    let weeks: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        weeks,
        ["2026-W45", "2026-W46", "2026-W47"],
        "the weeks the period touches"
    );
    assert_eq!(
        report["total"]["won_amount"],
        json!({"USD": 70000.0}),
        "the hand-worked data set is the one drawn: {report:#}"
    );

    // The table: a cell per number of the total and of each week (an amount per currency any
    // column has), no more, no less, and the view has no number the table leaves out.
    let numbers: BTreeSet<&str> = report["total"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(numbers, BTreeSet::from(REVENUE_NUMBERS));
    let columns: Vec<(String, &Value)> = std::iter::once(("total/".to_owned(), &report["total"]))
        .chain(
            report["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| (format!("groups/key={}/", g["key"].as_str().unwrap()), g)),
        )
        .collect();
    let mut expected = BTreeSet::new();
    for field in REVENUE_NUMBERS {
        if MONEY.contains(&field) {
            let currencies: BTreeSet<&String> = columns
                .iter()
                .flat_map(|(_, c)| c[field].as_object().unwrap().keys())
                .collect();
            for (at, _) in &columns {
                for currency in &currencies {
                    expected.insert(format!("{at}{field}/{currency}"));
                }
            }
        } else {
            for (at, _) in &columns {
                expected.insert(format!("{at}{field}"));
            }
        }
    }
    let cells: Vec<&Element> = drawn.iter().copied().filter(|e| e.tag == "td").collect();
    let in_table: BTreeSet<String> = cells.iter().map(|e| e.attrs["data-path"].clone()).collect();
    assert_eq!(in_table, expected);
    assert_eq!(cells.len(), expected.len(), "each number once");
    // A few cells as a reader sees them.
    let cell = |path: &str| {
        cells
            .iter()
            .find(|e| e.attrs["data-path"] == path)
            .unwrap_or_else(|| panic!("no cell {path}"))
            .text
            .trim()
            .to_owned()
    };
    assert_eq!(cell("total/mqls"), "6");
    assert_eq!(cell("total/won_rate"), "66.7%");
    assert_eq!(cell("total/marketing_sourced_pipeline/EUR"), "20000.00 EUR");
    assert_eq!(cell("total/cac/USD"), "9500.00 USD");
    assert_eq!(cell("total/median_days_opportunity_to_won"), "11.0 d");
    assert_eq!(cell("groups/key=2026-W45/won_rate"), "n/a");
    assert_eq!(cell("groups/key=2026-W45/won_amount/USD"), "–");
    assert_eq!(cell("groups/key=2026-W47/spend/USD"), "5000.00 USD");

    // The trend: per currency, a line of pipeline and one of the amount won, each a point per
    // week in order, the line through those points, higher for more.
    let points: Vec<&Element> = drawn
        .iter()
        .copied()
        .filter(|e| e.tag == "circle")
        .collect();
    let mut series: BTreeMap<&str, Vec<&Element>> = BTreeMap::new();
    for point in &points {
        series
            .entry(point.attrs["data-series"].as_str())
            .or_default()
            .push(point);
    }
    assert_eq!(
        series.keys().copied().collect::<Vec<_>>(),
        [
            "marketing_sourced_pipeline/EUR",
            "marketing_sourced_pipeline/USD",
            "won_amount/EUR",
            "won_amount/USD",
        ]
    );
    let xy = |e: &Element, x: &str, y: &str| -> (f64, f64) {
        (e.attrs[x].parse().unwrap(), e.attrs[y].parse().unwrap())
    };
    for (name, dots) in &series {
        let paths: Vec<&str> = dots.iter().map(|d| d.attrs["data-path"].as_str()).collect();
        let want: Vec<String> = weeks
            .iter()
            .map(|w| format!("groups/key={w}/{name}"))
            .collect();
        assert_eq!(paths, want, "{name}: a point per week, in order");
        let line = all
            .iter()
            .find(|e| {
                e.tag == "polyline" && e.attrs.get("data-series").map(String::as_str) == Some(name)
            })
            .unwrap_or_else(|| panic!("no line {name}"));
        let through: Vec<(f64, f64)> = line.attrs["points"]
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        let at: Vec<(f64, f64)> = dots.iter().map(|d| xy(d, "cx", "cy")).collect();
        assert_eq!(through, at, "{name}: the line runs through its points");
        assert!(
            at.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}: weeks left to right"
        );
    }
    for currency in ["EUR", "USD"] {
        let dots: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.attrs["data-series"].ends_with(currency))
            .map(|p| {
                let amount = p.attrs["data-value"].parse().unwrap_or(0.0);
                (amount, xy(p, "cx", "cy").1)
            })
            .collect();
        for (a, ya) in &dots {
            for (b, yb) in &dots {
                assert!(
                    (a > b) == (ya < yb),
                    "{currency}: {a} drawn at {ya}, {b} at {yb}"
                );
            }
        }
    }

    // The comparison compares: a count, an amount, a rate's text and a point each drawn wrong
    // is caught.
    let tamper = |path: &str, tag: &str, value: Option<&str>, text: Option<&str>| {
        let mut wrong: Vec<Element> = drawn.iter().map(|e| (*e).clone()).collect();
        let element = wrong
            .iter_mut()
            .find(|e| e.tag == tag && e.attrs["data-path"] == path)
            .unwrap_or_else(|| panic!("no {tag} {path}"));
        if let Some(value) = value {
            element
                .attrs
                .insert("data-value".to_owned(), value.to_owned());
        }
        if let Some(text) = text {
            element.text = text.to_owned();
        }
        let wrong: Vec<&Element> = wrong.iter().collect();
        mismatches(&wrong, &views)
    };
    assert_eq!(tamper("total/mqls", "td", Some("7"), Some("7")).len(), 2);
    assert_eq!(
        tamper("total/won_amount/USD", "td", Some("70001"), None).len(),
        1
    );
    assert_eq!(tamper("total/sal_rate", "td", None, Some("33.4%")).len(), 1);
    assert_eq!(
        tamper(
            "groups/key=2026-W46/marketing_sourced_pipeline/EUR",
            "circle",
            Some("0"),
            None
        )
        .len(),
        1
    );
}

/// A key the metrics refuse (a rep's) leaves the page in its error state asking for another
/// key; without any key it asks for one and fetches nothing.
#[tokio::test]
async fn the_dashboard_asks_for_an_ops_key() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let rep_key = app.mint_role_key(Role::Rep).await;
    let dom = rendered_dom(format!("{}/dashboard#key={rep_key}", app.base)).await;
    let all = elements(&dom);
    let body = all.iter().find(|e| e.tag == "body").unwrap();
    assert_eq!(body.attrs["data-state"], "error");
    let status = all
        .iter()
        .find(|e| e.attrs.get("id").is_some_and(|id| id == "status"))
        .unwrap();
    assert!(status.text.contains("403"), "{}", status.text);
    let key_box = all
        .iter()
        .find(|e| e.attrs.get("id").is_some_and(|id| id == "key-box"))
        .unwrap();
    assert!(
        !key_box.attrs.contains_key("hidden"),
        "the key box is shown"
    );

    let dom = rendered_dom(format!("{}/dashboard", app.base)).await;
    let body = elements(&dom)
        .into_iter()
        .find(|e| e.tag == "body")
        .unwrap();
    assert_eq!(body.attrs["data-state"], "needs-key");
}

/// The page and its assets need no key, carry no data, load nothing from elsewhere, and
/// forbid anything else through their Content-Security-Policy.
#[tokio::test]
async fn the_dashboard_assets_are_static_and_self_contained() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for (path, media) in [
        ("/dashboard", "text/html"),
        ("/dashboard/dashboard.js", "text/javascript"),
        ("/dashboard/dashboard.css", "text/css"),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(media),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let text = response.text().await.unwrap();
        let foreign = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !foreign.contains("http://") && !foreign.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
}
