//! `/dashboard`: the biweekly review page. The page, its script and its style are compiled
//! into the binary and hold no data, so they are served without a key; the script reads an
//! ops key from the URL fragment (never sent to the server) or a paste box, and fetches the
//! JSON views with it. Charts are SVG drawn by the script: no network access beyond this
//! service, no third-party code.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::routes::Routes;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// Only this service's own script, style and JSON; no framing, no inline code, and no
/// `Referer` that could carry a key typed into the URL by mistake.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// `GET /dashboard` and its two assets.
pub fn router() -> Routes {
    Routes::default()
        .get("/dashboard", || async {
            asset(PAGE, "text/html; charset=utf-8")
        })
        .get("/dashboard/dashboard.js", || async {
            asset(SCRIPT, "text/javascript; charset=utf-8")
        })
        .get("/dashboard/dashboard.css", || async {
            asset(STYLE, "text/css; charset=utf-8")
        })
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The assets change only with the binary; revalidating is cheap and avoids stale pages.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
