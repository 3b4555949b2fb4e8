//! CRM write-back's Salesforce client ([`LeadsApi`]) over real HTTP against the local
//! stand-in of Salesforce's API ([`leadrouter::bench::salesforce_api`]): tokens, per-record
//! answers, the org's limits and Salesforce failing. No database is needed.

use std::time::{Duration, Instant};

use leadrouter::{
    bench::salesforce_api::{Fault, SalesforceApi},
    clients::{
        crm::{BatchAnswer, RecordFailure, RecordUpdate},
        salesforce::{LeadsApi, MAX_BATCH, NOT_A_LEAD},
    },
    domain::Secret,
};
use serde_json::{Value, json};

const FIELDS: &[&str] = &["Fit_Score__c", "Intent_Score__c", "Lead_Stage__c"];

/// The `n`th Lead's 18-character id.
fn lead_id(n: u32) -> String {
    format!("00Q5e00000{n:05}AAA")
}

/// A record setting `fields` (a JSON object) on `id`.
fn update(id: &str, fields: Value) -> RecordUpdate {
    RecordUpdate {
        id: id.to_owned(),
        fields: fields.as_object().cloned().unwrap(),
    }
}

/// The scores and stage of write-back.
fn scores(fit: i64, stage: &str) -> Value {
    json!({ "Fit_Score__c": fit, "Intent_Score__c": fit / 2, "Lead_Stage__c": stage })
}

/// The stand-in with Leads 1 to `leads` and the write-back fields, and a client of it.
async fn org(leads: u32) -> (SalesforceApi, LeadsApi) {
    let api = SalesforceApi::start().await.unwrap();
    api.custom_fields(FIELDS);
    for n in 1..=leads {
        api.lead(
            &lead_id(n),
            json!({ "LastName": format!("Lead {n}"), "Company": "Acme" }),
        );
    }
    let client = LeadsApi::new(&api.settings());
    (api, client)
}

fn failed(answer: BatchAnswer) -> Vec<RecordFailure> {
    match answer {
        BatchAnswer::Answered { failed } => failed,
        other => panic!("expected Answered, got {other:?}"),
    }
}

#[tokio::test]
async fn a_batch_is_written_and_salesforce_holds_the_values() {
    let (api, client) = org(3).await;
    let batch = [
        update(&lead_id(1), scores(72, "MQL")),
        update(&lead_id(2), scores(40, "Nurture")),
        update(
            &lead_id(3),
            json!({ "Fit_Score__c": 90, "Lead_Stage__c": null }),
        ),
    ];

    assert_eq!(failed(client.update(&batch).await), vec![]);

    let first = api.fields_of(&lead_id(1)).unwrap();
    assert_eq!(first["Fit_Score__c"], 72);
    assert_eq!(first["Intent_Score__c"], 36);
    assert_eq!(first["Lead_Stage__c"], "MQL");
    assert_eq!(first["LastName"], "Lead 1", "fields not sent are kept");
    assert_eq!(
        api.fields_of(&lead_id(2)).unwrap()["Lead_Stage__c"],
        "Nurture"
    );
    assert_eq!(
        api.fields_of(&lead_id(3)).unwrap()["Lead_Stage__c"],
        Value::Null
    );
    let asked = api.asked();
    assert_eq!(asked.len(), 1);
    assert!(!asked[0].all_or_none);
    assert_eq!(asked[0].ids, [lead_id(1), lead_id(2), lead_id(3)]);
    assert!(
        asked[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer 00D")
    );

    // A second batch, from a clone, reuses the token.
    let again = client
        .clone()
        .update(&[update(&lead_id(1), scores(75, "SQL"))])
        .await;
    assert_eq!(failed(again), vec![]);
    assert_eq!(api.fields_of(&lead_id(1)).unwrap()["Fit_Score__c"], 75);
    assert_eq!((api.calls(), api.token_requests()), (2, 1));
}

#[tokio::test]
async fn a_partial_failure_names_only_the_failed_records_and_which_to_retry() {
    let (api, client) = org(4).await;
    api.restricted_picklist("Lead_Stage__c", &["MQL", "SQL", "Nurture"]);
    api.lock(&lead_id(2), 1);
    api.delete(&lead_id(3));
    let batch = [
        update(&lead_id(1), scores(72, "MQL")),
        update(&lead_id(2), scores(60, "SQL")),
        update(&lead_id(3), scores(50, "SQL")),
        update(&lead_id(4), scores(30, "Hot!")),
        update(&lead_id(99), scores(10, "Nurture")),
    ];

    let failures = failed(client.update(&batch).await);

    let summary: Vec<(String, &str, bool)> = failures
        .iter()
        .map(|f| (f.id.clone(), f.code.as_str(), f.retryable))
        .collect();
    assert_eq!(
        summary,
        [
            (lead_id(2), "UNABLE_TO_LOCK_ROW", true),
            (lead_id(3), "ENTITY_IS_DELETED", false),
            (lead_id(4), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", false),
            (lead_id(99), "INVALID_CROSS_REFERENCE_KEY", false),
        ]
    );
    assert!(failures[2].message.contains("(Lead_Stage__c)"));
    assert_eq!(api.fields_of(&lead_id(1)).unwrap()["Fit_Score__c"], 72);
    assert!(
        !api.fields_of(&lead_id(2))
            .unwrap()
            .contains_key("Fit_Score__c")
    );

    // The retryable one, tried again, is written.
    let retried = client
        .update(&[update(&lead_id(2), scores(60, "SQL"))])
        .await;
    assert_eq!(failed(retried), vec![]);
    assert_eq!(api.fields_of(&lead_id(2)).unwrap()["Fit_Score__c"], 60);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_retried() {
    let (api, client) = org(1).await;
    assert_eq!(
        failed(
            client
                .update(&[update(&lead_id(1), scores(1, "MQL"))])
                .await
        ),
        vec![]
    );
    let old = api.asked()[0].authorization.clone();

    api.revoke_tokens();
    let answer = client
        .update(&[update(&lead_id(1), scores(2, "SQL"))])
        .await;

    assert_eq!(failed(answer), vec![]);
    assert_eq!(api.fields_of(&lead_id(1)).unwrap()["Fit_Score__c"], 2);
    // One call with the old token (401), one token request, one call with the new token.
    assert_eq!((api.calls(), api.token_requests()), (3, 2));
    let asked = api.asked();
    assert_eq!(asked[1].authorization, old);
    assert_ne!(asked[2].authorization, old);
}

/// Calls that find the token revoked at the same time share one renewal.
#[tokio::test]
async fn concurrent_calls_renew_a_revoked_token_once() {
    let (api, client) = org(2).await;
    assert_eq!(
        failed(
            client
                .update(&[update(&lead_id(1), scores(1, "MQL"))])
                .await
        ),
        vec![]
    );
    api.revoke_tokens();

    let first = [update(&lead_id(1), scores(2, "SQL"))];
    let second = [update(&lead_id(2), scores(3, "SQL"))];
    let (a, b) = tokio::join!(client.update(&first), client.update(&second));

    assert_eq!((failed(a), failed(b)), (vec![], vec![]));
    assert_eq!(api.token_requests(), 2);
    assert_eq!(api.fields_of(&lead_id(2)).unwrap()["Fit_Score__c"], 3);
}

#[tokio::test]
async fn a_token_rejected_again_after_renewal_is_refused() {
    let (api, client) = org(1).await;
    api.fail_next(Fault::InvalidSession);
    api.fail_next(Fault::InvalidSession);

    let answer = client
        .update(&[update(&lead_id(1), scores(1, "MQL"))])
        .await;

    assert!(
        matches!(&answer, BatchAnswer::Refused { status: 401, error } if error.contains("INVALID_SESSION_ID")),
        "{answer:?}"
    );
    // Renewed once and tried once more; no loop.
    assert_eq!((api.calls(), api.token_requests()), (2, 2));
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_unavailable() {
    let (api, _) = org(1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = api.settings();
    settings.login_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    let answer = LeadsApi::new(&settings)
        .update(&[update(&lead_id(1), scores(1, "MQL"))])
        .await;

    assert!(
        matches!(&answer, BatchAnswer::Unavailable { error, retry_after: None } if error.contains("token endpoint")),
        "{answer:?}"
    );
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn bad_credentials_are_refused_without_a_loop() {
    let (api, _) = org(1).await;
    let mut settings = api.settings();
    settings.client_secret = Secret::new("not-the-secret".to_owned());
    let client = LeadsApi::new(&settings);

    for attempt in 1..=2 {
        let answer = client
            .update(&[update(&lead_id(1), scores(1, "MQL"))])
            .await;
        assert_eq!(
            answer,
            BatchAnswer::Refused {
                status: 400,
                error: "token refused: invalid_client: invalid client credentials".to_owned(),
            }
        );
        // One token request per batch, and no update call without a token.
        assert_eq!((api.token_requests(), api.calls()), (attempt, 0));
    }
}

#[tokio::test]
async fn the_request_limit_is_rate_limited() {
    let (api, client) = org(1).await;
    api.set_daily_limit(1);
    assert_eq!(
        failed(
            client
                .update(&[update(&lead_id(1), scores(1, "MQL"))])
                .await
        ),
        vec![]
    );

    let answer = client
        .update(&[update(&lead_id(1), scores(2, "SQL"))])
        .await;

    assert_eq!(
        answer,
        BatchAnswer::RateLimited {
            retry_after: Duration::from_secs(900)
        }
    );
    assert_eq!(api.fields_of(&lead_id(1)).unwrap()["Fit_Score__c"], 1);
    assert_eq!(api.requests_used(), 1);
}

#[tokio::test]
async fn the_concurrent_request_limit_is_rate_limited_briefly() {
    let (api, client) = org(1).await;
    api.fail_next(Fault::ConcurrentLimit);

    let answer = client
        .update(&[update(&lead_id(1), scores(1, "MQL"))])
        .await;

    assert_eq!(
        answer,
        BatchAnswer::RateLimited {
            retry_after: Duration::from_secs(5)
        }
    );
}

#[tokio::test]
async fn more_than_200_records_are_never_sent() {
    let (api, client) = org(MAX_BATCH as u32 + 1).await;
    let batch: Vec<RecordUpdate> = (1..=MAX_BATCH as u32 + 1)
        .map(|n| update(&lead_id(n), scores(50, "MQL")))
        .collect();

    let answer = client.update(&batch).await;

    assert!(
        matches!(&answer, BatchAnswer::Refused { status: 400, error } if error.contains("at most 200")),
        "{answer:?}"
    );
    assert_eq!((api.calls(), api.token_requests()), (0, 0));
    // 200 is one call.
    assert_eq!(failed(client.update(&batch[..MAX_BATCH]).await), vec![]);
    assert_eq!(api.calls(), 1);
    assert_eq!(api.fields_of(&lead_id(200)).unwrap()["Fit_Score__c"], 50);
}

#[tokio::test]
async fn a_503_and_a_timeout_are_unavailable() {
    let (api, client) = org(1).await;
    let batch = [update(&lead_id(1), scores(1, "MQL"))];
    api.fail_next(Fault::Unavailable);

    let answer = client.update(&batch).await;
    assert!(
        matches!(&answer, BatchAnswer::Unavailable { error, .. } if error.contains("503 SERVER_UNAVAILABLE")),
        "{answer:?}"
    );

    // The stand-in's settings give a 2 s timeout.
    api.fail_next(Fault::Hang(Duration::from_secs(10)));
    let started = Instant::now();
    let answer = client.update(&batch).await;
    assert!(
        matches!(&answer, BatchAnswer::Unavailable { error, .. } if error.contains("timed out")),
        "{answer:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_contact_id_is_not_sent() {
    let (api, client) = org(1).await;
    let contact = "0035e00000AbCdEAAA";
    let batch = [
        update(contact, scores(80, "MQL")),
        update(&lead_id(1), scores(80, "MQL")),
    ];

    let failures = failed(client.update(&batch).await);

    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].id, contact);
    assert_eq!(failures[0].code, NOT_A_LEAD);
    assert!(!failures[0].retryable);
    assert_eq!(api.asked()[0].ids, [lead_id(1)]);
    assert_eq!(api.fields_of(&lead_id(1)).unwrap()["Fit_Score__c"], 80);
}

#[tokio::test]
async fn a_field_salesforce_does_not_know_refuses_the_whole_call() {
    let (api, client) = org(2).await;
    let batch = [
        update(&lead_id(1), scores(80, "MQL")),
        update(&lead_id(2), json!({ "Fit_Scor__c": 10 })),
    ];

    let answer = client.update(&batch).await;

    assert_eq!(
        answer,
        BatchAnswer::Refused {
            status: 400,
            error: "INVALID_FIELD: No such column 'Fit_Scor__c' on sobject of type Lead".to_owned(),
        }
    );
    assert!(
        !api.fields_of(&lead_id(1))
            .unwrap()
            .contains_key("Fit_Score__c")
    );
}

/// The client always sends `allOrNone: false`; the stand-in honours `true` as Salesforce
/// does, for whoever sends it.
#[tokio::test]
async fn the_stand_in_rolls_back_every_record_of_a_failed_all_or_none_call() {
    use leadrouter::bench::salesforce_api::{CLIENT_ID, CLIENT_SECRET};
    let (api, _) = org(1).await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/services/oauth2/token", api.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = json!({ "allOrNone": true, "records": [
        { "attributes": { "type": "Lead" }, "id": lead_id(1), "Fit_Score__c": 70 },
        { "attributes": { "type": "Lead" }, "id": lead_id(2), "Fit_Score__c": 20 },
    ]});

    let results: Value = http
        .patch(format!(
            "{}/services/data/v62.0/composite/sobjects",
            token["instance_url"].as_str().unwrap()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "INVALID_CROSS_REFERENCE_KEY"
    );
    assert!(
        !api.fields_of(&lead_id(1))
            .unwrap()
            .contains_key("Fit_Score__c")
    );
}
