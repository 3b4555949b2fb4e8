//! A known funnel, built through the real API (events, sales actions, the SLA clock) at
//! hand-picked moments, for the metrics and dashboard tests. Calendar: UTC, Mon–Fri 09–17.
//!
//! Period 2026-11-02 .. 2026-11-20 (ISO weeks 45, 46, 47). Ray covers US, Sue GB; acme.io is
//! Tier 1, globex.com Tier 2, initech.com Tier 3.
//!
//! | lead | tier | rep | first source | created | MQL | then |
//! |---|---|---|---|---|---|---|
//! | old@acme.io | 1 | Ray | hubspot | Mon 10-26 10:00 | same | ack, accept (all before the period) |
//! | L1 a1@acme.io | 1 | Ray | hubspot | Mon 11-02 10:00 | same | ack 11:00; accept Tue 10:00; qualify Wed 10:00 |
//! | L2 a2@acme.io | 1 | Ray | hubspot | Mon 11-02 11:00 | same | ack 13:00; reject NotICP Thu 11-05 12:00 (disposition late) |
//! | L3 a3@acme.io | 1 | Sue | salesforce | Tue 11-03 10:00 | Tue 11-10 09:00 | ack 12:00; accept 16:00 |
//! | L7 i1@initech.com | 3 | – | hubspot | Tue 11-03 11:00 | – | stays a Lead |
//! | L10 z@initech.com | 3 | – | segment | Wed 11-04 10:00 | – | opts out Thu 11-19 10:00: Disqualified_NoSale |
//! | L4 g1@globex.com | 2 | Ray | salesforce | Wed 11-11 10:00 | same | reject WrongTiming 15:00 (ack late) |
//! | L8 bob@rivalcorp.com | – | – | hubspot | Thu 11-12 10:00 | – | Disqualified_Competitor at once |
//! | L9 x@gmail.com | – | – | segment | Mon 11-16 10:00 | – | stays a Lead |
//! | L6 g3@globex.com | 2 | – | hubspot | Mon 11-16 11:00 | – | stays a Lead |
//! | L5 g2@globex.com | 2 | Sue | segment | Wed 11-18 10:00 | same | untouched; escalated by the clock at Fri 12:00 |
//! | L11 i2@initech.com | 3 | Ray | hubspot | Fri 11-20 11:00 | same | open, ack not yet due at Fri 12:00 |

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    handoff::create_rep,
    helpers::{TestApp, vp_profile},
};

/// The period of the seeded funnel, as query parameters.
pub const PERIOD: &str = "from=2026-11-02&to=2026-11-20";

/// `2026-month-day hour:00` UTC.
pub fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
}

/// What the seed made: the reps, their keys, and every lead id by email.
pub struct Seeded {
    pub ray: Uuid,
    pub sue: Uuid,
    pub leads: HashMap<&'static str, String>,
}

struct Seeder<'a> {
    app: &'a TestApp,
    keys: HashMap<Uuid, String>,
    owners: HashMap<&'static str, Uuid>,
    seeded: Seeded,
    events: usize,
}

impl Seeder<'_> {
    /// An event for `email` from `source` at `when`, carrying the design's VP profile (in
    /// `country`); returns the lead's stage afterwards.
    async fn event(
        &mut self,
        when: DateTime<Utc>,
        email: &'static str,
        kind: &str,
        source: &str,
        country: &str,
    ) -> String {
        self.app.set_now(when);
        self.events += 1;
        let mut lead = vp_profile(email);
        lead["country"] = json!(country);
        let body = self
            .app
            .ingest(&json!({
                "event_id": format!("seed-{}", self.events), "source": source, "type": kind,
                "occurred_at": when.to_rfc3339(), "lead": lead,
            }))
            .await;
        let result = &body["results"][0];
        self.seeded
            .leads
            .insert(email, result["lead_id"].as_str().unwrap().to_owned());
        result["lifecycle_stage"].as_str().unwrap().to_owned()
    }

    /// A new MQL from a demo request, handed to `rep`.
    async fn mql(
        &mut self,
        when: DateTime<Utc>,
        email: &'static str,
        source: &str,
        country: &str,
        rep: Uuid,
    ) {
        let stage = self
            .event(when, email, "demo_request", source, country)
            .await;
        assert_eq!(stage, "MQL", "{email}");
        self.owners.insert(email, rep);
    }

    /// `action` on `email`'s lead at `when`, by its rep.
    async fn act(&self, when: DateTime<Utc>, email: &str, action: &str, body: Value) {
        self.app.set_now(when);
        let key = &self.keys[&self.owners[email]];
        let path = format!("/api/v1/leads/{}/{action}", self.seeded.leads[email]);
        let (status, answer) = self.app.with_key(key).post_json(&path, &body).await;
        assert_eq!(status, StatusCode::OK, "{action} {email}: {answer}");
    }
}

async fn tier(app: &TestApp, domain: &str, tier: u8) {
    let (status, body) = app
        .post_json("/api/v1/accounts", &json!({"domain": domain, "tier": tier}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Builds the funnel of the module docs; leaves the clock at Fri 2026-11-20 12:00 (`t0`).
pub async fn seed(app: &TestApp) -> Seeded {
    for (domain, t) in [("acme.io", 1), ("globex.com", 2), ("initech.com", 3)] {
        tier(app, domain, t).await;
    }
    let ray = create_rep(
        app,
        json!({"name": "Ray Rep", "email": "ray@us.example", "countries": ["US"]}),
    )
    .await;
    let sue = create_rep(
        app,
        json!({"name": "Sue Seller", "email": "sue@us.example", "countries": ["GB"]}),
    )
    .await;
    let mut keys = HashMap::new();
    for rep in [ray, sue] {
        keys.insert(rep, app.mint_key(Role::Rep, Some(rep)).await);
    }
    let mut s = Seeder {
        app,
        keys,
        owners: HashMap::new(),
        seeded: Seeded {
            ray,
            sue,
            leads: HashMap::new(),
        },
        events: 0,
    };
    let confirmed = json!({"confirmed_interest": true});
    let bant = json!({"budget": true, "authority": true, "need": true, "timing": true,
                      "budget_amount": 20000, "decision_by": "2027-01-31"});

    s.mql(at(10, 26, 10), "old@acme.io", "hubspot", "US", ray)
        .await;
    s.act(at(10, 26, 11), "old@acme.io", "acknowledge", json!({}))
        .await;
    s.act(at(10, 27, 10), "old@acme.io", "accept", confirmed.clone())
        .await;

    // Week 45.
    s.mql(at(11, 2, 10), "a1@acme.io", "hubspot", "US", ray)
        .await;
    s.mql(at(11, 2, 11), "a2@acme.io", "hubspot", "US", ray)
        .await;
    s.act(at(11, 2, 11), "a1@acme.io", "acknowledge", json!({}))
        .await;
    s.act(at(11, 2, 13), "a2@acme.io", "acknowledge", json!({}))
        .await;
    let lead = s
        .event(at(11, 3, 10), "a3@acme.io", "page_view", "salesforce", "GB")
        .await;
    assert_eq!(lead, "Lead");
    s.act(at(11, 3, 10), "a1@acme.io", "accept", confirmed.clone())
        .await;
    s.event(
        at(11, 3, 11),
        "i1@initech.com",
        "page_view",
        "hubspot",
        "GB",
    )
    .await;
    s.event(at(11, 4, 10), "z@initech.com", "page_view", "segment", "US")
        .await;
    s.act(at(11, 4, 10), "a1@acme.io", "qualify", bant).await;
    s.act(
        at(11, 5, 12),
        "a2@acme.io",
        "reject",
        json!({"reason": "Rejected_NotICP", "note": "agency, not a buyer"}),
    )
    .await;

    // Week 46.
    let stage = s
        .event(at(11, 10, 9), "a3@acme.io", "demo_request", "hubspot", "GB")
        .await;
    assert_eq!(stage, "MQL");
    s.owners.insert("a3@acme.io", sue);
    s.act(at(11, 10, 12), "a3@acme.io", "acknowledge", json!({}))
        .await;
    s.act(at(11, 10, 16), "a3@acme.io", "accept", confirmed)
        .await;
    s.mql(at(11, 11, 10), "g1@globex.com", "salesforce", "US", ray)
        .await;
    s.act(
        at(11, 11, 15),
        "g1@globex.com",
        "reject",
        json!({"reason": "Rejected_WrongTiming"}),
    )
    .await;
    let stage = s
        .event(
            at(11, 12, 10),
            "bob@rivalcorp.com",
            "page_view",
            "hubspot",
            "US",
        )
        .await;
    assert_eq!(stage, "Disqualified");

    // Week 47.
    s.event(at(11, 16, 10), "x@gmail.com", "page_view", "segment", "US")
        .await;
    s.event(
        at(11, 16, 11),
        "g3@globex.com",
        "page_view",
        "hubspot",
        "US",
    )
    .await;
    s.mql(at(11, 18, 10), "g2@globex.com", "segment", "GB", sue)
        .await;
    let stage = s
        .event(at(11, 19, 10), "z@initech.com", "opt_out", "segment", "US")
        .await;
    assert_eq!(stage, "Disqualified");
    s.mql(at(11, 20, 11), "i2@initech.com", "hubspot", "US", ray)
        .await;

    app.set_now(at(11, 20, 12));
    let report = leadrouter::jobs::sla_clock::tick(&app.pool, &app.rules, app.now(), 100)
        .await
        .unwrap();
    assert_eq!(report.escalated, 1, "g2@globex.com, untouched 48 h");
    for (email, rep) in &s.owners {
        let lead = app.lead(email).await;
        assert_eq!(
            lead["handoff"]["rep_id"],
            rep.to_string(),
            "{email}: {lead:#}"
        );
    }
    s.seeded
}
