//! CRM write-back to Salesforce Leads over real HTTP, through the same job as HubSpot's,
//! against the stand-in of Salesforce's API ([`leadrouter::bench::salesforce_api`]): the
//! configured fields and Lead Status values, 200 records a call, a locked row retried alone,
//! and Contacts left alone.

use chrono::Duration;
use leadrouter::{
    bench::salesforce_api::SalesforceApi,
    config::{CrmWriteSettings, Settings},
    jobs::crm_writeback::{self, Target, TickReport},
};
use serde_json::{Value, json};

use crate::crm_writeback::start_with;
use crate::helpers::{TestApp, t0, vp_event};
use crate::test_db::TestDb;

fn enable(settings: &mut Settings, api: &SalesforceApi) {
    settings.writeback.salesforce.enabled = true;
    settings.writeback.salesforce_api = Some(api.settings());
}

struct Writeback {
    app: TestApp,
    api: SalesforceApi,
    target: Target,
}

impl Writeback {
    async fn start(db: &TestDb) -> Self {
        let api = SalesforceApi::start().await.unwrap();
        let shipped = CrmWriteSettings::salesforce().fields;
        let custom: Vec<&str> = shipped
            .all()
            .into_iter()
            .filter(|f| f.ends_with("__c"))
            .collect();
        api.custom_fields(&custom);
        let (app, target) = start_with(db, |s| enable(s, &api)).await;
        Writeback { app, api, target }
    }

    async fn tick(&self, at: Duration) -> TickReport {
        crm_writeback::tick(&self.app.pool, &self.target, &self.app.rules, t0() + at)
            .await
            .unwrap()
    }

    /// `n` leads `{prefix}{i}@acme.io`, each from one pricing page visit at `t0`, known to
    /// Salesforce as `{id_prefix}{i:012}` (a Lead's ids start `00Q`, a Contact's `003`).
    async fn leads(&self, prefix: &str, id_prefix: &str, n: usize) {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let email = format!("{prefix}{i}@acme.io");
                vp_event(
                    &format!("{prefix}-{i}"),
                    &email,
                    "pricing_page_visit",
                    Duration::zero(),
                )
            })
            .collect();
        self.app.ingest(&Value::Array(events)).await;
        for i in 0..n {
            let id = sf_id(id_prefix, i);
            self.api.lead(&id, json!({}));
            sqlx::query(
                "insert into lead_source_ids (system, external_id, email, recorded_at)
                 values ('salesforce', $1, $2, $3)",
            )
            .bind(&id)
            .bind(format!("{prefix}{i}@acme.io"))
            .bind(self.app.now())
            .execute(&self.app.pool)
            .await
            .unwrap();
        }
    }
}

fn sf_id(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:012}")
}

#[tokio::test]
async fn changed_leads_are_written_to_salesforce_two_hundred_a_call() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("s", "00Q", 250).await;
    let report = w.tick(Duration::seconds(31)).await;
    assert_eq!((report.calls, report.written), (2, 250), "{report:?}");
    let asked = w.api.asked();
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|a| a.ids.len() <= 200 && !a.all_or_none));
    assert!(asked.iter().all(|a| {
        a.authorization
            .as_deref()
            .is_some_and(|h| h.starts_with("Bearer "))
    }));
    let held = w.api.fields_of(&sf_id("00Q", 7)).unwrap();
    // Fit 70 (a VP of a fitting company), intent 25 (one pricing page visit): a Lead.
    assert_eq!(held["Fit_Score__c"], json!(70), "{held:?}");
    assert_eq!(held["Intent_Score__c"], json!(25));
    assert_eq!(held["Status"], json!("Open - Not Contacted"));
    assert_eq!(w.app.count("crm_writes").await, 0);
    assert_eq!(w.tick(Duration::seconds(120)).await.claimed, 0);
}

#[tokio::test]
async fn a_locked_row_is_retried_alone_and_contacts_are_not_written() {
    let db = TestDb::new().await;
    let w = Writeback::start(&db).await;
    w.leads("l", "00Q", 3).await;
    w.leads("k", "003", 2).await;
    w.api.lock(&sf_id("00Q", 1), 1);
    let report = w.tick(Duration::seconds(31)).await;
    assert_eq!(
        (report.calls, report.written, report.retried),
        (1, 2, 1),
        "{report:?}"
    );
    assert_eq!(w.api.asked()[0].ids.len(), 3, "the Contacts are not sent");
    let report = w.tick(Duration::seconds(31 + 60)).await;
    assert_eq!((report.calls, report.written), (1, 1), "{report:?}");
    assert_eq!(w.api.asked()[1].ids, [sf_id("00Q", 1)]);
    assert!(w.api.fields_of(&sf_id("003", 0)).unwrap().is_empty());
    assert_eq!(w.app.count("crm_writes").await, 0);
}
