//! What the document says of each endpoint beyond its method, path and access: a summary,
//! query parameters and bodies. Keyed like `policy::POLICY`; a test checks that this table
//! lists exactly the endpoints served, and an endpoint missing here is still in the document
//! (with its path parameters and security) under a summary that says it is undescribed.

use super::{
    operation::{Operation, Query, get, patch, post},
    schemas::{Body, named},
};
use crate::{
    adapters::{account_list::AccountInput, canonical::RawEvent, opportunity::RawOpportunityEvent},
    db::{
        accounts::Account,
        api_keys::ApiKey,
        assignments::QueueItem,
        dead_letters::DeadLetter,
        leads::{ReviewItem, SuppressedLead},
        reps::Rep,
        spend::Spend,
        webhook_endpoints::EndpointWithCounts,
    },
    http::{
        handoff::{AcceptBody, MeddicBody, QualifyBody, RejectBody},
        nurture::SimulateInput,
        suppression::ReinstateBody,
        webhooks::{IngestResponse, OpportunitiesResponse},
    },
    usecase::{
        accounts::{ImportReport, Upsert},
        api_keys::{MintInput, Minted},
        crm_writes,
        deliveries_admin::{DeliveryView, Overview, Replayed, Retried},
        governance::{PipelineForecast, RejectionReview},
        handoff::{actions::Acted, qualification::QualificationView},
        inbound::{self, Receipt},
        lead_view::LeadView,
        metrics::{
            demand_states::DemandStateReport, disqualifications::DisqualificationReport,
            funnel::FunnelReport, nurture::NurtureReport, rejections::RejectionReport,
            revenue::RevenueReport, sla::SlaReport,
        },
        model::{ModelReport, ProposalRequest},
        nurture::simulate::Simulation,
        preview::PreviewReport,
        reps::RepInput,
        rescore::RescoreReport,
        review::{ResolveInput, Resolved},
        spend::SpendInput,
        suppression::Reinstated,
        webhook_endpoints::{CreateInput, UpdateInput, WithSecret},
    },
};

const LIMIT: Query = ("limit", "Page size, 1 to 500 (default 50).");
const OFFSET: Query = ("offset", "Items to skip (default 0).");
const PAGING: &[Query] = &[LIMIT, OFFSET];

const PERIOD: &[Query] = &[
    ("from", "Start of the period (RFC 3339 or a date)."),
    ("to", "End of the period (RFC 3339 or a date)."),
];

const PERIOD_BY: &[Query] = &[
    ("from", "Start of the period (RFC 3339 or a date)."),
    ("to", "End of the period (RFC 3339 or a date)."),
    (
        "by",
        "Grouping: `rep`, `tier` or `source` (as the view allows).",
    ),
];

const WEEK: &[Query] = &[(
    "week",
    "An ISO week such as `2026-W47` (default: the last whole week for the review, this week for the forecast).",
)];

const REVENUE_BY: &[Query] = &[
    PERIOD[0],
    PERIOD[1],
    (
        "by",
        "Grouping: `rep`, `tier`, `source`, `demand_state` or `week`.",
    ),
];

/// The signature, token or secret a vendor webhook is refused for: a 401.
const VENDOR: &[u16] = &[401];

/// The actions a lead's state may forbid: a 409.
const STATEFUL: &[u16] = &[409];

/// Every endpoint described, most-used first within each area.
pub const OPERATIONS: &[Operation] = &[
    get("/healthz", "Liveness: the process is up (no I/O)")
        .answers(Body::Free("`{\"status\": \"ok\"}`."))
        .static_(),
    get("/readyz", "Readiness: the database answers within 2 s")
        .answers(Body::Free("`{\"status\": \"ready\"}`.")),
    get("/openapi.json", "This document (OpenAPI 3.1)")
        .answers(Body::Free("An OpenAPI 3.1 document."))
        .static_(),
    get("/metrics", "Prometheus metrics of the service and its work")
        .answers(Body::Media {
            media_type: "text/plain; version=0.0.4",
            description: "The Prometheus text format (docs/operations/metrics.md).",
        }),
    get("/dashboard", "The governance dashboard page")
        .answers(Body::Media {
            media_type: "text/html",
            description: "The page; it reads the metrics with the key the user gives it.",
        })
        .static_(),
    get("/dashboard/dashboard.js", "The dashboard's script")
        .answers(Body::Media {
            media_type: "text/javascript",
            description: "Script.",
        })
        .static_(),
    get("/dashboard/dashboard.css", "The dashboard's style sheet")
        .answers(Body::Media {
            media_type: "text/css",
            description: "Style sheet.",
        })
        .static_(),
    // Inbound events.
    post("/webhooks/events", "Ingest canonical lead events (one or a batch)")
        .takes(Body::OneOrMany(named::<RawEvent>))
        .answers(Body::One(named::<IngestResponse>)),
    post(
        "/webhooks/opportunities",
        "Record canonical opportunity events (one or a batch)",
    )
    .takes(Body::OneOrMany(named::<RawOpportunityEvent>))
    .answers(Body::One(named::<OpportunitiesResponse>)),
    post("/webhooks/hubspot", "Receive HubSpot webhook notifications")
        .query(&[(
            "event",
            "The event type to record the notifications as, when the subscription sets one.",
        )])
        .takes(Body::Free(
            "HubSpot's notification array, verified by its v3 (or v1) signature.",
        ))
        .answers(Body::One(named::<Receipt>))
        .errors(VENDOR),
    post(
        "/webhooks/salesforce/{token}",
        "Receive Salesforce outbound messages (SOAP)",
    )
    .takes(Body::Media {
        media_type: "text/xml",
        description: "A SOAP outbound-message envelope, authenticated by the URL token and the organization id.",
    })
    .answers(Body::Media {
        media_type: "text/xml",
        description: "The SOAP Ack; errors on this route are SOAP faults, not problem+json.",
    })
    .errors(VENDOR),
    post("/webhooks/segment", "Receive Segment events")
        .takes(Body::Free(
            "A Segment message or batch, verified by its `X-Signature`.",
        ))
        .answers(Body::One(named::<Receipt>))
        .errors(VENDOR),
    post("/webhooks/marketo", "Receive Marketo webhook calls")
        .takes(Body::Free(
            "A Marketo webhook payload, authenticated by its secret header.",
        ))
        .answers(Body::One(named::<Receipt>))
        .errors(VENDOR),
    get(
        "/api/v1/inbound/dead-letters",
        "List inbound payloads no connector could map",
    )
    .query(&[
        ("source", "Only this connector's."),
        LIMIT,
        OFFSET,
    ])
    .answers(Body::Page(named::<DeadLetter>)),
    post(
        "/api/v1/inbound/dead-letters/{id}/replay",
        "Map a dead letter again and ingest it",
    )
    .answers(Body::One(named::<inbound::Replayed>))
    .errors(STATEFUL),
    // Leads.
    get("/api/v1/leads", "Find a lead by email or by a source system's id")
        .query(&[
            ("email", "The lead's email (case-insensitive)."),
            ("hubspot_id", "The lead's HubSpot id."),
            ("salesforce_id", "The lead's Salesforce id."),
            ("segment_user_id", "The lead's Segment user id."),
            ("segment_anonymous_id", "The lead's Segment anonymous id."),
            ("marketo_id", "The lead's Marketo id."),
        ])
        .answers(Body::One(named::<LeadView>))
        .errors(&[404]),
    get(
        "/api/v1/leads/{id}",
        "Read a lead: scores with breakdowns, stage, segment, owner, SLA, history",
    )
    .answers(Body::One(named::<LeadView>)),
    // Accounts.
    post("/api/v1/accounts", "Create or update an account, keyed by domain")
        .takes(Body::One(named::<AccountInput>))
        .answers(Body::One(named::<Upsert>)),
    post(
        "/api/v1/accounts/import",
        "Import the tiered account list (CSV or a JSON array), all rows or none",
    )
    .takes(Body::ListOrCsv {
        item: named::<AccountInput>,
        csv: "A header row naming the columns (`domain`, required; `name`, `tier`, `owner_email`; \
              any order and case), then one account a row. A column left out leaves that \
              attribute as it is; an empty cell clears it.",
    })
    .answers(Body::One(named::<ImportReport>)),
    get("/api/v1/accounts/{domain}", "Read an account by domain")
        .answers(Body::One(named::<Account>)),
    // Governance queues.
    get("/api/v1/suppression", "List suppressed (disqualified) leads")
        .query(&[("reason", "Only this disqualification reason."), LIMIT, OFFSET])
        .answers(Body::Page(named::<SuppressedLead>)),
    post(
        "/api/v1/leads/{id}/reinstate",
        "Take a lead off the suppression list, overruling its reason",
    )
    .takes(Body::One(named::<ReinstateBody>))
    .answers(Body::One(named::<Reinstated>))
    .errors(STATEFUL),
    get(
        "/api/v1/review-queue",
        "List leads waiting for manual review (no demand state or tier)",
    )
    .query(PAGING)
    .answers(Body::Page(named::<ReviewItem>)),
    post(
        "/api/v1/review-queue/{lead_id}/resolve",
        "Resolve a review: set the missing segment keys",
    )
    .takes(Body::One(named::<ResolveInput>))
    .answers(Body::One(named::<Resolved>))
    .errors(STATEFUL),
    post(
        "/api/v1/nurture/simulate",
        "Try the nurture workflows on sample records",
    )
    .takes(Body::One(named::<SimulateInput>))
    .answers(Body::One(named::<Simulation>)),
    // Handoff.
    get(
        "/api/v1/queue",
        "The caller's open MQLs, with context packets and SLA due times",
    )
    .query(&[(
        "rep_id",
        "Whose queue (admin only; a rep or manager key reads its own).",
    )])
    .answers(Body::List(named::<QueueItem>)),
    post("/api/v1/leads/{id}/acknowledge", "Acknowledge an assigned MQL")
        .answers(Body::One(named::<Acted>))
        .errors(STATEFUL),
    post(
        "/api/v1/leads/{id}/accept",
        "Accept an MQL (→ SAL): scores at threshold and interest confirmed",
    )
    .takes(Body::One(named::<AcceptBody>))
    .answers(Body::One(named::<Acted>))
    .errors(STATEFUL),
    post(
        "/api/v1/leads/{id}/reject",
        "Reject an MQL with a reason from the closed list",
    )
    .takes(Body::One(named::<RejectBody>))
    .answers(Body::One(named::<Acted>))
    .errors(STATEFUL),
    post(
        "/api/v1/leads/{id}/qualify",
        "Qualify a SAL (→ SQL): BANT confirmed and stated, MEDDIC where the ladder says",
    )
    .takes(Body::One(named::<QualifyBody>))
    .answers(Body::One(named::<Acted>))
    .errors(STATEFUL),
    post(
        "/api/v1/leads/{id}/meddic",
        "Record MEDDIC field values for a lead (any of the six)",
    )
    .takes(Body::One(named::<MeddicBody>))
    .answers(Body::One(named::<QualificationView>)),
    // Reps.
    post("/api/v1/reps", "Create a rep or manager")
        .takes(Body::One(named::<RepInput>))
        .creates(Body::One(named::<Rep>))
        .errors(&[409]),
    get("/api/v1/reps", "List reps and managers")
        .query(&[("active", "`true` or `false`: only active or inactive ones.")])
        .answers(Body::List(named::<Rep>)),
    get("/api/v1/reps/{id}", "Read a rep").answers(Body::One(named::<Rep>)),
    patch("/api/v1/reps/{id}", "Change a rep; absent fields keep their value")
        .takes(Body::One(named::<RepInput>))
        .answers(Body::One(named::<Rep>))
        .errors(&[409]),
    post("/api/v1/reps/{id}/deactivate", "Deactivate a rep")
        .answers(Body::One(named::<Rep>)),
    // Calibration.
    post(
        "/api/v1/scoring/preview",
        "Score sample records with the running or candidate rules",
    )
    .takes(Body::Free(
        "`records`: sample leads, each with an `id`, a `lead` object as in canonical events, \
         its `events` and an optional `account_tier`; `as_of`: the time to score them at.",
    ))
    .answers(Body::One(named::<PreviewReport>)),
    post(
        "/api/v1/scoring/backtest",
        "Replay history under candidate rules",
    )
    .takes(Body::Free(
        "`records` with their known `outcome`, candidate `rules` laid over the running \
         ones, an optional threshold `sweep` (fit and intent ranges) and a `target`.",
    ))
    .answers(Body::Free(
        "How the running and candidate rules classify the records against their outcomes.",
    )),
    post(
        "/api/v1/admin/rescore",
        "Rescore stored leads from the event log (an empty body is a dry run)",
    )
    .may_take(Body::Free(
        "`apply` (false: a dry run), candidate `rules` (dry runs only), `after` and \
         `limit` to walk a large table in several calls; no body: a dry run with the \
         running rules.",
    ))
    .answers(Body::One(named::<RescoreReport>))
    .errors(STATEFUL),
    // Governance views.
    get("/api/v1/metrics/funnel", "MQL volume, MQL→SAL and SAL→SQL")
        .query(PERIOD_BY)
        .answers(Body::One(named::<FunnelReport>)),
    get("/api/v1/metrics/rejections", "Rejections by reason")
        .query(PERIOD)
        .answers(Body::One(named::<RejectionReport>)),
    get("/api/v1/metrics/sla", "SLA attainment and escalations")
        .query(PERIOD_BY)
        .answers(Body::One(named::<SlaReport>)),
    get(
        "/api/v1/metrics/disqualifications",
        "Disqualifications by reason",
    )
    .query(PERIOD)
    .answers(Body::One(named::<DisqualificationReport>)),
    get("/api/v1/metrics/nurture", "Nurture enrollment, advances and exits")
        .query(PERIOD)
        .answers(Body::One(named::<NurtureReport>)),
    get(
        "/api/v1/metrics/revenue",
        "Backward metrics: SAL and opportunity rates, pipeline, wins, velocity, CAC",
    )
    .query(REVENUE_BY)
    .answers(Body::One(named::<RevenueReport>)),
    get(
        "/api/v1/metrics/demand-states",
        "Demand-state moves and what the leads entering each state did after",
    )
    .query(PERIOD)
    .answers(Body::One(named::<DemandStateReport>)),
    get(
        "/api/v1/governance/rejection-review",
        "A week's rejection review: reasons, hints, by rep, tier and source, the leads",
    )
    .query(WEEK)
    .answers(Body::One(named::<RejectionReview>)),
    get(
        "/api/v1/governance/pipeline-forecast",
        "A Monday's forecast: open marketing-sourced pipeline by close month, weighted",
    )
    .query(WEEK)
    .answers(Body::One(named::<PipelineForecast>)),
    post(
        "/api/v1/model/proposals",
        "Fit the predictive model on closed deals and propose candidate rules",
    )
    .takes(Body::One(named::<ProposalRequest>))
    .answers(Body::One(named::<ModelReport>)),
    post("/api/v1/spend", "Record marketing spend on a segment, for CAC")
        .takes(Body::One(named::<SpendInput>))
        .creates(Body::One(named::<Spend>)),
    get("/api/v1/spend", "List recorded marketing spend, latest first")
        .query(PAGING)
        .answers(Body::Page(named::<Spend>)),
    // API keys.
    post("/api/v1/api-keys", "Mint an API key (shown in this answer only)")
        .takes(Body::One(named::<MintInput>))
        .creates(Body::One(named::<Minted>)),
    get("/api/v1/api-keys", "List API keys (never the keys themselves)")
        .query(PAGING)
        .answers(Body::Page(named::<ApiKey>)),
    post("/api/v1/api-keys/{id}/revoke", "Revoke an API key")
        .answers(Body::One(named::<ApiKey>)),
    // Outbound webhooks.
    post(
        "/api/v1/webhook-endpoints",
        "Register a webhook endpoint (its secret shown in this answer)",
    )
    .takes(Body::One(named::<CreateInput>))
    .creates(Body::One(named::<WithSecret>)),
    get("/api/v1/webhook-endpoints", "List webhook endpoints")
        .query(PAGING)
        .answers(Body::Page(named::<EndpointWithCounts>)),
    get("/api/v1/webhook-endpoints/{id}", "Read a webhook endpoint")
        .answers(Body::One(named::<EndpointWithCounts>)),
    patch(
        "/api/v1/webhook-endpoints/{id}",
        "Change a webhook endpoint; absent fields keep their value",
    )
    .takes(Body::One(named::<UpdateInput>))
    .answers(Body::One(named::<EndpointWithCounts>))
    .errors(STATEFUL),
    post(
        "/api/v1/webhook-endpoints/{id}/rotate-secret",
        "Rotate an endpoint's signing secret (shown in this answer)",
    )
    .answers(Body::One(named::<WithSecret>))
    .errors(STATEFUL),
    get(
        "/api/v1/webhook-endpoints/{id}/deliveries",
        "An endpoint's delivery log, newest first",
    )
    .query(&[
        ("status", "`pending`, `delivered` or `dead`."),
        LIMIT,
        OFFSET,
    ])
    .answers(Body::Page(named::<DeliveryView>)),
    post(
        "/api/v1/webhook-endpoints/{id}/replay-dead",
        "Make an endpoint's dead deliveries due again",
    )
    .answers(Body::One(named::<Replayed>))
    .errors(STATEFUL),
    post(
        "/api/v1/outbox/messages/{id}/retry",
        "Retry one outbox message (`msg_42`) on every endpoint",
    )
    .answers(Body::One(named::<Retried>)),
    get("/api/v1/outbox", "The outbox: deliveries by status, topic and endpoint, lag")
        .answers(Body::One(named::<Overview>)),
    // CRM write-back.
    get(
        "/api/v1/crm-writes",
        "CRM write-back: pending, written and refused records",
    )
    .answers(Body::One(named::<crm_writes::Overview>)),
    post(
        "/api/v1/crm-writes/{crm}/replay",
        "Queue again what a CRM refused",
    )
    .answers(Body::One(named::<crm_writes::Replayed>)),
];
