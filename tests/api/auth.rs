//! API keys and the access policy: every endpoint with every role, minting, hashing at rest,
//! revocation.

use std::collections::BTreeSet;

use chrono::Duration;
use leadrouter::domain::{
    KeyHash,
    Role::{self, Admin, Manager, Ops, Rep, Source},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use uuid::Uuid;

use crate::helpers::{ADMIN_KEY, TestApp, problem_fields, vp_event};
use crate::test_db::TestDb;

/// No role at all: the endpoint answers without a key.
const OPEN: &[Role] = &[];
const READERS: &[Role] = &[Admin, Ops, Manager, Rep];

/// One endpoint to walk: its method and route path as the service registers it, a body the
/// handler accepts (or refuses itself, e.g. 404 for an unknown id), and who may call it.
struct Endpoint {
    method: Method,
    route: &'static str,
    body: Option<Value>,
    allowed: &'static [Role],
}

fn endpoint(
    method: Method,
    route: &'static str,
    body: Option<Value>,
    allowed: &'static [Role],
) -> Endpoint {
    Endpoint {
        method,
        route,
        body,
        allowed,
    }
}

/// Every endpoint, one line each (DESIGN §3). A test checks that none the service serves is
/// missing here.
fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    let event = vp_event("walk-1", "walker@acme.io", "page_view", Duration::zero());
    vec![
        endpoint(M::GET, "/healthz", None, OPEN),
        endpoint(M::GET, "/readyz", None, OPEN),
        endpoint(M::GET, "/metrics", None, &[Admin, Ops]),
        endpoint(M::GET, "/openapi.json", None, OPEN),
        endpoint(M::GET, "/dashboard", None, OPEN),
        endpoint(M::GET, "/dashboard/dashboard.js", None, OPEN),
        endpoint(M::GET, "/dashboard/dashboard.css", None, OPEN),
        endpoint(
            M::POST,
            "/webhooks/events",
            Some(event.clone()),
            &[Source, Admin],
        ),
        endpoint(
            M::POST,
            "/webhooks/opportunities",
            Some(
                json!({"event_id": "walk-o1", "source": "crm", "type": "opportunity_created",
                        "occurred_at": "2026-11-20T10:00:00Z", "opportunity": {"id": "walk"}}),
            ),
            &[Source, Admin],
        ),
        // Off by default (404); it authenticates by HubSpot's signature, not by key.
        endpoint(M::POST, "/webhooks/hubspot", Some(event.clone()), OPEN),
        // Off by default (404); it authenticates by its URL token, not by key.
        endpoint(
            M::POST,
            "/webhooks/salesforce/{token}",
            Some(event.clone()),
            OPEN,
        ),
        // Off by default (404); it authenticates by its X-Signature, not by key.
        endpoint(M::POST, "/webhooks/segment", Some(event.clone()), OPEN),
        // Off by default (404); it authenticates by its secret header, not by key.
        endpoint(M::POST, "/webhooks/marketo", Some(event.clone()), OPEN),
        endpoint(M::GET, "/api/v1/inbound/dead-letters", None, &[Admin, Ops]),
        endpoint(
            M::POST,
            "/api/v1/inbound/dead-letters/{id}/replay",
            None,
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/leads", None, READERS),
        endpoint(M::GET, "/api/v1/leads/{id}", None, READERS),
        endpoint(
            M::POST,
            "/api/v1/accounts",
            Some(json!({"domain": "acme.io", "tier": 1})),
            &[Admin],
        ),
        endpoint(
            M::POST,
            "/api/v1/accounts/import",
            Some(json!([{"domain": "globex.com", "tier": 2}])),
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/accounts/{domain}", None, READERS),
        endpoint(M::GET, "/api/v1/suppression", None, &[Admin, Ops, Manager]),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/reinstate",
            Some(json!({"reason": "walk"})),
            &[Admin, Ops],
        ),
        endpoint(M::GET, "/api/v1/review-queue", None, &[Admin, Ops, Manager]),
        endpoint(
            M::POST,
            "/api/v1/review-queue/{lead_id}/resolve",
            Some(json!({"account_tier": 1})),
            &[Admin, Ops],
        ),
        endpoint(
            M::POST,
            "/api/v1/api-keys",
            Some(json!({"role": "ops", "label": "walk"})),
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/api-keys", None, &[Admin]),
        endpoint(M::GET, "/api/v1/queue", None, &[Admin, Manager, Rep]),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/acknowledge",
            None,
            &[Admin, Manager, Rep],
        ),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/accept",
            Some(json!({"confirmed_interest": true})),
            &[Admin, Manager, Rep],
        ),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/reject",
            Some(json!({"reason": "Rejected_NoBudget"})),
            &[Admin, Manager, Rep],
        ),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/qualify",
            Some(
                json!({"budget": true, "authority": true, "need": true, "timing": true,
                        "budget_amount": 20000, "decision_by": "2027-03-31"}),
            ),
            &[Admin, Manager, Rep],
        ),
        endpoint(
            M::POST,
            "/api/v1/leads/{id}/meddic",
            Some(json!({"champion": "Jane, VP Marketing"})),
            &[Admin, Manager, Rep],
        ),
        endpoint(
            M::POST,
            "/api/v1/reps",
            Some(json!({"name": "Walker", "email": "walker@us.example"})),
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/reps", None, &[Admin, Manager]),
        // A rep reads only their own record (the walk's id is another's: 403); see
        // `a_rep_reads_only_their_own_rep_record_and_ops_no_rep_at_all`.
        endpoint(M::GET, "/api/v1/reps/{id}", None, &[Admin, Manager]),
        endpoint(
            M::PATCH,
            "/api/v1/reps/{id}",
            Some(json!({"name": "X"})),
            &[Admin],
        ),
        endpoint(M::POST, "/api/v1/reps/{id}/deactivate", None, &[Admin]),
        endpoint(M::POST, "/api/v1/api-keys/{id}/revoke", None, &[Admin]),
        endpoint(
            M::POST,
            "/api/v1/nurture/simulate",
            Some(json!({"account_tier": 2, "events": [event.clone()]})),
            &[Admin, Ops],
        ),
        endpoint(
            M::POST,
            "/api/v1/scoring/preview",
            Some(json!({"records": [{"lead": {"email": "walker@acme.io"}}]})),
            &[Admin, Ops],
        ),
        endpoint(
            M::POST,
            "/api/v1/scoring/backtest",
            Some(
                json!({"records": [{"lead": {"email": "walker@acme.io"}, "outcome": "closed_won"}]}),
            ),
            &[Admin, Ops],
        ),
        endpoint(M::POST, "/api/v1/admin/rescore", Some(json!({})), &[Admin]),
        endpoint(M::GET, "/api/v1/metrics/funnel", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/metrics/rejections", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/metrics/sla", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/metrics/nurture", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/metrics/revenue", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/metrics/demand-states", None, &[Admin, Ops]),
        endpoint(
            M::GET,
            "/api/v1/governance/rejection-review",
            None,
            &[Admin, Ops],
        ),
        endpoint(
            M::GET,
            "/api/v1/governance/pipeline-forecast",
            None,
            &[Admin, Ops],
        ),
        endpoint(
            M::POST,
            "/api/v1/spend",
            Some(
                json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "amount": 100,
                        "currency": "USD"}),
            ),
            &[Admin, Ops],
        ),
        endpoint(M::GET, "/api/v1/spend", None, &[Admin, Ops]),
        endpoint(
            M::POST,
            "/api/v1/model/proposals",
            Some(json!({"force": true})),
            &[Admin, Ops],
        ),
        endpoint(
            M::POST,
            "/api/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.example.com/walk", "topics": ["rep.assigned"]})),
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/webhook-endpoints", None, &[Admin]),
        endpoint(M::GET, "/api/v1/webhook-endpoints/{id}", None, &[Admin]),
        endpoint(
            M::PATCH,
            "/api/v1/webhook-endpoints/{id}",
            Some(json!({"enabled": false})),
            &[Admin],
        ),
        endpoint(
            M::POST,
            "/api/v1/webhook-endpoints/{id}/rotate-secret",
            None,
            &[Admin],
        ),
        endpoint(
            M::GET,
            "/api/v1/webhook-endpoints/{id}/deliveries",
            None,
            &[Admin],
        ),
        endpoint(
            M::POST,
            "/api/v1/webhook-endpoints/{id}/replay-dead",
            None,
            &[Admin],
        ),
        endpoint(
            M::POST,
            "/api/v1/outbox/messages/{id}/retry",
            None,
            &[Admin],
        ),
        endpoint(M::GET, "/api/v1/outbox", None, &[Admin, Ops]),
        endpoint(M::GET, "/api/v1/crm-writes", None, &[Admin, Ops]),
        endpoint(M::POST, "/api/v1/crm-writes/{crm}/replay", None, &[Admin]),
        endpoint(
            M::GET,
            "/api/v1/metrics/disqualifications",
            None,
            &[Admin, Ops],
        ),
    ]
}

/// A concrete path for `route`: placeholders filled with values the handlers accept.
fn concrete(route: &str) -> String {
    let some_id = Uuid::new_v4().to_string();
    // Outbox messages are numbered, not UUIDs: an unknown one, so the handler answers 404.
    let some_id = match route.starts_with("/api/v1/outbox/messages/") {
        true => "msg_999999".to_owned(),
        false => some_id,
    };
    let path = route
        .replace("{id}", &some_id)
        .replace("{lead_id}", &some_id)
        .replace("{token}", "walk-token")
        .replace("{crm}", "hubspot")
        .replace("{domain}", "acme.io");
    if path == "/api/v1/leads" {
        "/api/v1/leads?email=walker@acme.io".to_owned()
    } else {
        path
    }
}

#[test]
fn the_walk_covers_every_endpoint_the_service_serves() {
    let walked: BTreeSet<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.route.to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = leadrouter::http::endpoints()
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(walked, served);
}

/// Every endpoint with every role, no key, an unknown key and a revoked key: 401 without a
/// valid key, 403 for a role the policy leaves out, the handler's own answer otherwise.
#[tokio::test]
async fn every_endpoint_answers_each_role_as_the_policy_says() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut keys: Vec<(String, Option<Role>)> = vec![(ADMIN_KEY.to_owned(), Some(Admin))];
    for role in Role::ALL {
        keys.push((app.mint_role_key(role).await, Some(role)));
    }
    let revoked = app.mint_key(Ops, None).await;
    let (_, listed) = app.get("/api/v1/api-keys").await;
    let revoked_id = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| revoked.starts_with(k["prefix"].as_str().unwrap()))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .post_json(&format!("/api/v1/api-keys/{revoked_id}/revoke"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    keys.push((revoked, None));
    keys.push((format!("lr_{}", "0".repeat(64)), None));

    for endpoint in endpoints() {
        let path = concrete(endpoint.route);
        let mut answers = vec![(
            "no key".to_owned(),
            None,
            app.without_key()
                .send(endpoint.method.clone(), &path, endpoint.body.as_ref())
                .await,
        )];
        for (key, role) in &keys {
            let who = role.map_or("a revoked or unknown key".to_owned(), |r| format!("{r}"));
            let answer = app
                .with_key(key)
                .send(endpoint.method.clone(), &path, endpoint.body.as_ref())
                .await;
            answers.push((who, *role, answer));
        }
        for (who, role, (status, body)) in answers {
            let call = format!("{} {path} as {who}: {status} {body}", endpoint.method);
            let expected = if endpoint.allowed.is_empty() {
                None
            } else {
                match role {
                    None => Some(StatusCode::UNAUTHORIZED),
                    Some(role) if !endpoint.allowed.contains(&role) => Some(StatusCode::FORBIDDEN),
                    Some(_) => None,
                }
            };
            match expected {
                Some(expected) => assert_eq!(status, expected, "{call}"),
                None => {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "reached the handler: {call}"
                    );
                    assert!(!status.is_server_error(), "{call}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_minted_key_is_shown_once_and_stored_only_as_its_hash() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let rep_id = app.new_rep(Rep).await;
    let response = app
        .client
        .post(format!("{}/api/v1/api-keys", app.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"role": "rep", "rep_id": rep_id, "label": "  Ann's laptop  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let minted: Value = response.json().await.unwrap();
    let key = minted["key"].as_str().unwrap();
    assert!(key.starts_with("lr_") && key.len() == 67, "{key}");
    assert_eq!(minted["prefix"], &key[..11]);
    assert_eq!(minted["role"], "rep");
    assert_eq!(minted["rep_id"], rep_id.to_string());
    assert_eq!(minted["label"], "Ann's laptop");
    assert!(minted["id"].is_string() && minted["created_at"].is_string());

    let (status, list) = app.get("/api/v1/api-keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 2, "the spawn's source key and this one");
    let listed = &list["items"][0];
    assert_eq!(listed["id"], minted["id"]);
    assert_eq!(listed["prefix"], minted["prefix"]);
    assert_eq!(listed["revoked_at"], Value::Null);
    assert!(listed.get("key").is_none(), "{listed}");
    assert!(!list.to_string().contains(key), "the list shows no key");

    let rows: Vec<String> = sqlx::query_scalar("select row_to_json(k)::text from api_keys k")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(rows.iter().all(|row| !row.contains(&key[3..])), "{rows:?}");
    let stored: String =
        sqlx::query_scalar("select key_hash from api_keys where id = $1::text::uuid")
            .bind(minted["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, KeyHash::of(key).to_hex());

    let (status, _) = app.with_key(key).get("/api/v1/leads/not-a-uuid").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the key works");
}

#[tokio::test]
async fn a_revoked_key_is_refused_from_then_on() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let key = app.mint_key(Ops, None).await;
    let (status, _) = app.with_key(&key).get("/api/v1/suppression").await;
    assert_eq!(status, StatusCode::OK);

    let (_, list) = app.get("/api/v1/api-keys").await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let revoke = format!("/api/v1/api-keys/{id}/revoke");
    let (status, revoked) = app.post_json(&revoke, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["prefix"], &key[..11]);
    assert!(revoked["revoked_at"].is_string());

    let (status, problem) = app.with_key(&key).get("/api/v1/suppression").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["detail"], "the API key is unknown or revoked");

    app.advance(Duration::hours(1));
    let (status, again) = app.post_json(&revoke, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["revoked_at"], revoked["revoked_at"],
        "the first one stands"
    );
    let unknown = format!("/api/v1/api-keys/{}/revoke", Uuid::new_v4());
    assert_eq!(app.post_json(&unknown, &json!({})).await.0, 404);
    let (status, problem) = app
        .post_json("/api/v1/api-keys/not-a-uuid/revoke", &json!({}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["id"]);
}

#[tokio::test]
async fn bad_mint_requests_are_422s_naming_the_field_and_write_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let rep = Uuid::new_v4();
    for (body, field) in [
        (json!({}), "role"),
        (json!({"role": "boss"}), "role"),
        (json!({"role": "Admin"}), "role"),
        (json!({"role": 1}), "role"),
        (json!({"role": "rep"}), "rep_id"),
        (json!({"role": "manager", "rep_id": null}), "rep_id"),
        (json!({"role": "rep", "rep_id": "not-a-uuid"}), "rep_id"),
        (json!({"role": "rep", "rep_id": rep}), "rep_id"),
        (json!({"role": "manager", "rep_id": rep}), "rep_id"),
        (json!({"role": "source", "rep_id": rep}), "rep_id"),
        (json!({"role": "admin", "rep_id": rep}), "rep_id"),
        (json!({"role": "ops", "label": "x".repeat(201)}), "label"),
        (json!({"role": "ops", "scopes": ["all"]}), "scopes"),
    ] {
        let (status, problem) = app.post_json("/api/v1/api-keys", &body).await;
        assert_eq!(status, 422, "{body} -> {problem}");
        let named = problem_fields(&problem).contains(&field.to_owned())
            || problem["detail"].as_str().unwrap().contains(field);
        assert!(named, "{body} -> {problem}");
    }
    let (status, problem) = app
        .post_json("/api/v1/api-keys", &json!({"role": "boss"}))
        .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("allowed: admin, ops, manager, rep, source"),
        "{problem}"
    );
    assert_eq!(
        app.count("api_keys").await,
        1,
        "only the spawn's source key"
    );
}

/// A key bound to no existing rep would act as a rep nobody is.
#[tokio::test]
async fn a_key_for_a_rep_that_does_not_exist_is_a_422_naming_rep_id() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let unknown = Uuid::new_v4();
    let body = json!({"role": "rep", "rep_id": unknown});
    let (status, problem) = app.post_json("/api/v1/api-keys", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem_fields(&problem), ["rep_id"]);
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(&unknown.to_string()),
        "{problem:#}"
    );
    assert_eq!(
        app.count("api_keys").await,
        1,
        "only the spawn's source key"
    );
    let result = sqlx::query(
        "insert into api_keys (id, key_hash, prefix, role, rep_id, created_at)
         values ($1, repeat('a', 64), 'lr_aaaaaaaa', 'rep', $2, now())",
    )
    .bind(Uuid::new_v4())
    .bind(unknown)
    .execute(&app.pool)
    .await;
    let refused = result.unwrap_err();
    let constraint = refused.as_database_error().and_then(|e| e.constraint());
    assert_eq!(
        constraint,
        Some("api_keys_rep_id_fkey"),
        "the schema refuses it too"
    );
}

/// The role table (docs/http-api.md): admin and managers read the roster and any rep, a rep only their
/// own record, ops no rep at all.
#[tokio::test]
async fn a_rep_reads_only_their_own_rep_record_and_ops_no_rep_at_all() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let own = app.new_rep(Rep).await;
    let other = app.new_rep(Rep).await;
    let rep_key = app.mint_key(Rep, Some(own)).await;
    let rep = app.with_key(&rep_key);
    let (status, record) = rep.get(&format!("/api/v1/reps/{own}")).await;
    assert_eq!(status, StatusCode::OK, "{record:#}");
    assert_eq!(record["id"], own.to_string());
    for path in [
        format!("/api/v1/reps/{other}"),
        format!("/api/v1/reps/{}", Uuid::new_v4()),
        "/api/v1/reps".to_owned(),
    ] {
        let (status, problem) = rep.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem:#}");
    }
    let ops = app.as_role(Ops).await;
    for path in [format!("/api/v1/reps/{own}"), "/api/v1/reps".to_owned()] {
        let (status, problem) = ops.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem:#}");
    }
    let manager = app.as_role(Manager).await;
    let (status, roster) = manager.get("/api/v1/reps").await;
    assert_eq!(status, StatusCode::OK, "{roster:#}");
    assert_eq!(
        roster.as_array().unwrap().len(),
        3,
        "both reps and the manager"
    );
    let (status, _) = manager.get(&format!("/api/v1/reps/{other}")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Both headers carry a key; a 401 says which scheme to use and 403 names the role.
#[tokio::test]
async fn keys_come_as_bearer_or_x_api_key_and_refusals_explain_themselves() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let key = app.mint_role_key(Manager).await;
    let url = format!("{}/api/v1/review-queue", app.base);
    for request in [
        app.client.get(&url).bearer_auth(&key),
        app.client.get(&url).header("x-api-key", &key),
    ] {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    }
    for request in [
        app.client.get(&url),
        app.client.get(&url).basic_auth("admin", Some(ADMIN_KEY)),
        app.client.get(&url).bearer_auth("lr_nope"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
    let (status, problem) = app
        .with_key(&key)
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        problem["detail"],
        "a manager key may not call POST /api/v1/accounts"
    );
    let (status, _) = app
        .as_role(Source)
        .await
        .get("/api/v1/leads?email=jane@acme.io")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "sources only post events");
}

/// Human actions are recorded under the caller's name, not a fixed "ops".
#[tokio::test]
async fn reinstatement_records_the_callers_actor() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let event = vp_event("c1", "bob@rivalcorp.com", "page_view", Duration::zero());
    let id = app.ingest(&event).await["results"][0]["lead_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/leads/{id}/reinstate");
    let (status, _) = app
        .post_json(&path, &json!({"reason": "they buy from us too"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let lead = app.lead("bob@rivalcorp.com").await;
    let actors: Vec<&str> = lead["history"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["system", "system", "admin:bootstrap"]);
}
