//! Who may call what: the one table the auth layer (`http::auth`) checks, keyed by method and
//! route path as registered. Which leads a rep or manager may then act on is the use case's
//! business (`Caller::lead_scope`).

use axum::http::Method;

use super::routes::Endpoint;
use crate::domain::Role::{self, Admin, Manager, Ops, Rep, Source};

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key: infrastructure probes, the dashboard's assets, and webhooks
    /// that authenticate each request themselves.
    Open,
    /// Callers whose key has one of these roles.
    Roles(&'static [Role]),
}

/// One row of the policy.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn open(method: &'static str, path: &'static str) -> Rule {
    Rule {
        method,
        path,
        access: Access::Open,
    }
}

const fn only(method: &'static str, path: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        method,
        path,
        access: Access::Roles(roles),
    }
}

const READERS: &[Role] = &[Admin, Ops, Manager, Rep];
const QUEUE_READERS: &[Role] = &[Admin, Ops, Manager];
const OPERATORS: &[Role] = &[Admin, Ops];
const ADMIN: &[Role] = &[Admin];
const SALES: &[Role] = &[Admin, Manager, Rep];

/// Every endpoint the service serves, and who may call it. A test checks that this lists
/// exactly the router's endpoints; a route missing here anyway is refused to everyone but
/// admin (fail closed).
pub const POLICY: &[Rule] = &[
    // Infrastructure.
    open("GET", "/healthz"),
    open("GET", "/readyz"),
    // Prometheus scrapes with an ops key (`Authorization: Bearer`): the numbers describe the
    // business (ingest volume, SLA breaches), not just the process.
    only("GET", "/metrics", OPERATORS),
    // The API's description: code without data, for any client to read.
    open("GET", "/openapi.json"),
    // The dashboard's page and assets: code without data; the page fetches the metrics
    // below with the key the user gives it.
    open("GET", "/dashboard"),
    open("GET", "/dashboard/dashboard.js"),
    open("GET", "/dashboard/dashboard.css"),
    // Inbound events.
    only("POST", "/webhooks/events", &[Source, Admin]),
    only("POST", "/webhooks/opportunities", &[Source, Admin]),
    // HubSpot cannot send an API key: the route verifies HubSpot's signature of each request
    // with the app's client secret (`adapters::hubspot::signature`).
    open("POST", "/webhooks/hubspot"),
    // Salesforce cannot send an API key: the route authenticates each message itself, by the
    // secret token in its URL and the organization id in the envelope
    // (`adapters::salesforce`).
    open("POST", "/webhooks/salesforce/{token}"),
    // Segment cannot send an API key either: each request is signed with the destination's
    // shared secret (`X-Signature`, `adapters::segment`).
    open("POST", "/webhooks/segment"),
    // Nor can Marketo: the route checks the secret custom header of each call
    // (`adapters::marketo`).
    open("POST", "/webhooks/marketo"),
    // Inbound dead letters: ops look, only admin replays.
    only("GET", "/api/v1/inbound/dead-letters", OPERATORS),
    only("POST", "/api/v1/inbound/dead-letters/{id}/replay", ADMIN),
    // Leads: everyone in sales and ops reads them.
    only("GET", "/api/v1/leads", READERS),
    only("GET", "/api/v1/leads/{id}", READERS),
    // The tiered account list: admin writes, everyone in sales and ops reads.
    only("POST", "/api/v1/accounts", ADMIN),
    only("POST", "/api/v1/accounts/import", ADMIN),
    only("GET", "/api/v1/accounts/{domain}", READERS),
    // Governance queues: managers look, ops act.
    only("GET", "/api/v1/suppression", QUEUE_READERS),
    only("POST", "/api/v1/leads/{id}/reinstate", OPERATORS),
    only("GET", "/api/v1/review-queue", QUEUE_READERS),
    only("POST", "/api/v1/review-queue/{lead_id}/resolve", OPERATORS),
    // Trying nurture workflows on sample records.
    only("POST", "/api/v1/nurture/simulate", OPERATORS),
    // Handoff: reps work their own queue and leads, managers their team's (the use case
    // checks ownership); admin may act on any.
    only("GET", "/api/v1/queue", SALES),
    only("POST", "/api/v1/leads/{id}/acknowledge", SALES),
    only("POST", "/api/v1/leads/{id}/accept", SALES),
    only("POST", "/api/v1/leads/{id}/reject", SALES),
    only("POST", "/api/v1/leads/{id}/qualify", SALES),
    only("POST", "/api/v1/leads/{id}/meddic", SALES),
    // Reps and managers: admin writes; admin and managers read the roster and any rep, a rep
    // only their own record (the use case checks). Not ops: the metrics by rep give them each
    // rep's id and name, and reps' emails are not theirs to read.
    only("POST", "/api/v1/reps", ADMIN),
    only("GET", "/api/v1/reps", &[Admin, Manager]),
    only("GET", "/api/v1/reps/{id}", SALES),
    only("PATCH", "/api/v1/reps/{id}", ADMIN),
    only("POST", "/api/v1/reps/{id}/deactivate", ADMIN),
    // Calibration: ops try rules on records and history; only admin rescores stored leads.
    only("POST", "/api/v1/scoring/preview", OPERATORS),
    only("POST", "/api/v1/scoring/backtest", OPERATORS),
    only("POST", "/api/v1/admin/rescore", ADMIN),
    // Governance views: ops and admin.
    only("GET", "/api/v1/metrics/funnel", OPERATORS),
    only("GET", "/api/v1/metrics/rejections", OPERATORS),
    only("GET", "/api/v1/metrics/sla", OPERATORS),
    only("GET", "/api/v1/metrics/disqualifications", OPERATORS),
    only("GET", "/api/v1/metrics/nurture", OPERATORS),
    only("GET", "/api/v1/metrics/revenue", OPERATORS),
    only("GET", "/api/v1/metrics/demand-states", OPERATORS),
    // The weekly governance reports, for any week.
    only("GET", "/api/v1/governance/rejection-review", OPERATORS),
    only("GET", "/api/v1/governance/pipeline-forecast", OPERATORS),
    // The predictive model: ops fit it and read what it proposes (it writes nothing).
    only("POST", "/api/v1/model/proposals", OPERATORS),
    // Marketing spend, for CAC: ops record it and read it back.
    only("POST", "/api/v1/spend", OPERATORS),
    only("GET", "/api/v1/spend", OPERATORS),
    // Setup.
    only("POST", "/api/v1/api-keys", ADMIN),
    only("GET", "/api/v1/api-keys", ADMIN),
    only("POST", "/api/v1/api-keys/{id}/revoke", ADMIN),
    // Outbound webhooks: admin registers receivers (and sees their secrets, once) and acts on
    // deliveries; ops watch the outbox as a whole.
    only("POST", "/api/v1/webhook-endpoints", ADMIN),
    only("GET", "/api/v1/webhook-endpoints", ADMIN),
    only("GET", "/api/v1/webhook-endpoints/{id}", ADMIN),
    only("PATCH", "/api/v1/webhook-endpoints/{id}", ADMIN),
    only(
        "POST",
        "/api/v1/webhook-endpoints/{id}/rotate-secret",
        ADMIN,
    ),
    only("GET", "/api/v1/webhook-endpoints/{id}/deliveries", ADMIN),
    only("POST", "/api/v1/webhook-endpoints/{id}/replay-dead", ADMIN),
    only("POST", "/api/v1/outbox/messages/{id}/retry", ADMIN),
    only("GET", "/api/v1/outbox", OPERATORS),
    // CRM write-back: ops watch it; admin replays what a CRM refused.
    only("GET", "/api/v1/crm-writes", OPERATORS),
    only("POST", "/api/v1/crm-writes/{crm}/replay", ADMIN),
];

/// What the fail-closed default allows: a route that nobody put in the policy.
const UNLISTED: Access = Access::Roles(ADMIN);

/// A method the matched route does not serve: any valid key may hear the router's 405.
const NOT_SERVED: Access = Access::Roles(&Role::ALL);

/// Who may call `method` on the route `path` (as matched, `None` if no route matched), of
/// the endpoints `served`.
pub fn access(method: &Method, path: Option<&str>, served: &[Endpoint]) -> Access {
    // axum answers HEAD with the GET handler; so does the policy.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let Some(path) = path else {
        return UNLISTED;
    };
    let is = |e_method: &str, e_path: &str| e_method == method && e_path == path;
    if let Some(rule) = POLICY.iter().find(|rule| is(rule.method, rule.path)) {
        return rule.access;
    }
    if !served.iter().any(|e| is(e.method, e.path)) {
        return NOT_SERVED;
    }
    tracing::warn!(
        method,
        matched_path = path,
        "endpoint missing from the access policy; only admin may call it"
    );
    UNLISTED
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn endpoints() -> Vec<Endpoint> {
        POLICY
            .iter()
            .map(|rule| Endpoint {
                method: rule.method,
                path: rule.path,
            })
            .collect()
    }

    #[test]
    fn the_policy_lists_exactly_the_endpoints_the_router_serves() {
        let served: BTreeSet<Endpoint> = super::super::api().endpoints().iter().copied().collect();
        let listed: BTreeSet<Endpoint> = endpoints().into_iter().collect();
        assert_eq!(listed.len(), POLICY.len(), "an endpoint is listed twice");
        let unlisted: Vec<_> = served.difference(&listed).collect();
        assert!(
            unlisted.is_empty(),
            "served but not in POLICY: {unlisted:?}"
        );
        let stale: Vec<_> = listed.difference(&served).collect();
        assert!(stale.is_empty(), "in POLICY but not served: {stale:?}");
    }

    #[test]
    fn only_the_probes_the_dashboard_assets_and_self_authenticating_webhooks_are_open() {
        for rule in POLICY {
            match rule.access {
                Access::Open => assert!(
                    [
                        "/healthz",
                        "/readyz",
                        "/openapi.json",
                        "/webhooks/hubspot",
                        "/webhooks/salesforce/{token}",
                        "/webhooks/segment",
                        "/webhooks/marketo",
                    ]
                    .contains(&rule.path)
                        || rule.path == "/dashboard"
                        || rule.path.starts_with("/dashboard/"),
                    "{} {} is open",
                    rule.method,
                    rule.path
                ),
                Access::Roles(roles) => assert!(roles.contains(&Admin), "{rule:?}"),
            }
        }
    }

    #[test]
    fn unlisted_routes_are_admin_only_and_head_is_get() {
        let served = [
            Endpoint {
                method: "DELETE",
                path: "/api/v1/leads/{id}",
            },
            Endpoint {
                method: "GET",
                path: "/healthz",
            },
        ];
        let access = |method, path| access(&method, path, &served);
        assert_eq!(
            access(Method::DELETE, Some("/api/v1/leads/{id}")),
            Access::Roles(&[Admin]),
            "served but unlisted: fail closed"
        );
        assert_eq!(access(Method::GET, None), Access::Roles(&[Admin]));
        assert_eq!(access(Method::HEAD, Some("/healthz")), Access::Open);
        assert_eq!(
            access(Method::POST, Some("/webhooks/events")),
            Access::Roles(&[Source, Admin])
        );
        assert_eq!(
            access(Method::PUT, Some("/api/v1/leads/{id}")),
            Access::Roles(&Role::ALL),
            "not served: any valid key hears the 405"
        );
    }
}
