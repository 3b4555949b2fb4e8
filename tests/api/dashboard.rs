//! The dashboard in a real browser: Debian's headless Chromium loads `/dashboard` from the
//! test service, the page fetches the metrics views and the outbox overview with the key from
//! the URL fragment and draws them, and every number drawn must be the number of the JSON view
//! it names.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::test_db::TestDb;
use crate::{
    funnel_seed::{PERIOD, seed},
    helpers::TestApp,
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
#[derive(Debug)]
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

/// What the page shows for `value`: counts as they are, rates as percentages, medians in hours,
/// the outbox's lag in seconds.
fn shown(path: &str, value: &Value) -> Option<String> {
    if value.is_null() {
        return Some("n/a".to_owned());
    }
    let number = value.as_f64()?;
    if path == "lag_seconds" {
        Some(format!("{value} s"))
    } else if path.ends_with("share") || path.ends_with("_to_sal") || path.ends_with("_to_sql") {
        Some(format!("{:.1}%", number * 100.0))
    } else if path.ends_with("seconds") {
        Some(format!("{:.1} h", number / 3600.0))
    } else {
        Some(value.to_string())
    }
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
    let mut views: HashMap<String, Value> = HashMap::new();
    let mut by_view: HashMap<String, usize> = HashMap::new();
    for element in &drawn {
        let source = &element.attrs["data-source"];
        if !views.contains_key(source) {
            let (status, json) = app.get(source).await;
            assert_eq!(status, StatusCode::OK, "{source}: {json}");
            views.insert(source.clone(), json);
        }
        let view = source.split('?').next().unwrap();
        let view = view.strip_prefix("/api/v1/metrics/").unwrap_or(view);
        *by_view.entry(view.to_owned()).or_default() += 1;
        let path = &element.attrs["data-path"];
        let expected = at_path(&views[source], path);
        let value = &element.attrs["data-value"];
        let what = format!("{source} {path}");
        match expected {
            Value::Null => assert_eq!(value, "null", "{what}"),
            number => assert_eq!(value.parse::<f64>().ok(), number.as_f64(), "{what}"),
        }
        if element.tag == "text" || element.tag == "strong" || element.tag == "span" {
            let text = element.text.trim();
            let want = shown(path, expected).unwrap();
            assert_eq!(text, want, "{what}: the visible number");
        }
    }
    // Every chart drew: the funnel's six steps, two conversions, rejections by week and reason,
    // SLA by rep and tier, the disqualification reasons, the deliveries (five facts, one topic
    // and one endpoint with three statuses each).
    for (view, at_least) in [
        ("/api/v1/outbox", 5 + 2 * 3 * 2),
        ("funnel", 6 * 2 + 3 + 2 * (4 + 3) * 3),
        ("rejections", 3 * 5 + 8),
        ("sla", (3 + 3) * 4 * 2),
        ("disqualifications", 16),
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
