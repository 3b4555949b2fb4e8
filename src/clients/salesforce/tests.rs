//! The answer mapping, fed Salesforce's documented answers byte for byte where the docs give
//! them, and what `update` decides before calling.

use std::time::Duration;

use serde_json::{Map, json};

use super::{
    LeadsApi, MAX_BATCH, NOT_A_LEAD,
    answer::{CONCURRENT_LIMIT_PAUSE, Reply, read_token, read_update, retryable},
    request_body,
};
use crate::{
    clients::crm::{BatchAnswer, RecordFailure, RecordUpdate},
    config::SalesforceApiSettings,
    domain::Secret,
};

const PAUSE: Duration = Duration::from_secs(900);
const A: &str = "00Q5e00000AbCdEAAA";
const B: &str = "00Q5e00000AbCdFAAB";
const C: &str = "00Q5e00000AbCdGAAC";

fn update(status: u16, body: &str, sent: &[&str]) -> Reply {
    read_update(status, None, body.as_bytes(), sent, PAUSE)
}

fn done(reply: Reply) -> BatchAnswer {
    match reply {
        Reply::Done(answer) => answer,
        other => panic!("expected a final answer, got {other:?}"),
    }
}

#[test]
fn a_200_where_every_record_succeeded_has_no_failures() {
    let body = json!([
        {"id": A, "success": true, "errors": []},
        {"id": B, "success": true, "errors": []},
    ]);
    assert_eq!(
        done(update(200, &body.to_string(), &[A, B])),
        BatchAnswer::Answered { failed: vec![] }
    );
}

#[test]
fn a_partial_failure_names_the_failed_records_by_position_and_whether_to_retry() {
    // Failed SaveResults carry no id: the position says which record it was.
    let body = json!([
        {"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record", "fields": []}]},
        {"id": B, "success": true, "errors": []},
        {"success": false, "errors": [{"statusCode": "ENTITY_IS_DELETED",
            "message": "entity is deleted", "fields": []}]},
    ]);
    let BatchAnswer::Answered { failed } = done(update(200, &body.to_string(), &[A, B, C])) else {
        panic!("expected Answered");
    };
    assert_eq!(
        failed,
        vec![
            RecordFailure {
                id: A.to_owned(),
                code: "UNABLE_TO_LOCK_ROW".to_owned(),
                message: "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"
                    .to_owned(),
                retryable: true,
            },
            RecordFailure {
                id: C.to_owned(),
                code: "ENTITY_IS_DELETED".to_owned(),
                message: "ENTITY_IS_DELETED: entity is deleted".to_owned(),
                retryable: false,
            },
        ]
    );
}

#[test]
fn field_errors_name_the_fields_and_a_mix_with_a_permanent_error_is_not_retried() {
    let body = json!([{"success": false, "errors": [
        {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []},
        {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Score out of range",
            "fields": ["Fit_Score__c"]},
    ]}]);
    let BatchAnswer::Answered { failed } = done(update(200, &body.to_string(), &[A])) else {
        panic!("expected Answered");
    };
    assert_eq!(failed[0].code, "UNABLE_TO_LOCK_ROW");
    assert!(!failed[0].retryable);
    assert!(
        failed[0]
            .message
            .ends_with("Score out of range (Fit_Score__c)")
    );
}

#[test]
fn transient_codes_are_retryable_and_permanent_ones_are_not() {
    for code in [
        "UNABLE_TO_LOCK_ROW",
        "API_TEMPORARILY_UNAVAILABLE",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ] {
        assert!(retryable(code), "{code}");
    }
    for code in [
        "ENTITY_IS_DELETED",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "INVALID_FIELD",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "SOMETHING_NEW",
    ] {
        assert!(!retryable(code), "{code}");
    }
}

#[test]
fn a_200_that_does_not_match_the_records_sent_is_unavailable() {
    let one = json!([{"id": A, "success": true, "errors": []}]).to_string();
    assert!(matches!(
        done(update(200, &one, &[A, B])),
        BatchAnswer::Unavailable { .. }
    ));
    assert!(matches!(
        done(update(200, "<html>", &[A])),
        BatchAnswer::Unavailable { .. }
    ));
}

#[test]
fn the_daily_request_limit_is_rate_limited_for_the_configured_pause() {
    let body =
        r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#;
    assert_eq!(
        done(update(403, body, &[A])),
        BatchAnswer::RateLimited { retry_after: PAUSE }
    );
}

#[test]
fn the_concurrent_request_limit_is_rate_limited_for_a_short_pause() {
    let body = r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"ConcurrentPerOrgLongTxn Limit exceeded."}]"#;
    assert_eq!(
        done(update(403, body, &[A])),
        BatchAnswer::RateLimited {
            retry_after: CONCURRENT_LIMIT_PAUSE
        }
    );
}

#[test]
fn another_403_is_refused_with_salesforces_code_and_message() {
    let body = r#"[{"errorCode":"INSUFFICIENT_ACCESS","message":"The user does not have access"}]"#;
    assert_eq!(
        done(update(403, body, &[A])),
        BatchAnswer::Refused {
            status: 403,
            error: "INSUFFICIENT_ACCESS: The user does not have access".to_owned()
        }
    );
}

#[test]
fn an_invalid_session_asks_for_a_new_token() {
    let body = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
    assert_eq!(
        update(401, body, &[A]),
        Reply::SessionInvalid("INVALID_SESSION_ID: Session expired or invalid".to_owned())
    );
}

#[test]
fn a_400_for_the_whole_call_is_refused() {
    let body = r#"[{"message":"No such column 'Fit_Scor__c' on sobject of type Lead","errorCode":"INVALID_FIELD","fields":[]}]"#;
    assert_eq!(
        done(update(400, body, &[A])),
        BatchAnswer::Refused {
            status: 400,
            error: "INVALID_FIELD: No such column 'Fit_Scor__c' on sobject of type Lead".to_owned()
        }
    );
}

#[test]
fn server_errors_are_unavailable_with_salesforces_retry_after_if_any() {
    let body = r#"[{"errorCode":"SERVER_UNAVAILABLE","message":"Server is down for maintenance"}]"#;
    let reply = read_update(
        503,
        Some(Duration::from_secs(30)),
        body.as_bytes(),
        &[A],
        PAUSE,
    );
    assert_eq!(
        done(reply),
        BatchAnswer::Unavailable {
            error: "Salesforce answered 503 SERVER_UNAVAILABLE: Server is down for maintenance"
                .to_owned(),
            retry_after: Some(Duration::from_secs(30)),
        }
    );
    assert!(matches!(
        done(update(500, "", &[A])),
        BatchAnswer::Unavailable {
            retry_after: None,
            ..
        }
    ));
}

#[test]
fn the_token_answer_gives_the_token_and_the_instance() {
    let body = json!({
        "access_token": "00DS7000000oxzo!AR8AQPXAhJNve",
        "signature": "nUFHwtfIGLKDTHcLWmDBG8frv0t+HQGl/iCZFIQUarE=",
        "token_format": "opaque",
        "instance_url": "https://acme.my.salesforce.com",
        "id": "https://login.salesforce.com/id/00Dd000000XXXXXXX/005d000000XXXXX",
        "token_type": "Bearer",
        "issued_at": "1733580000000",
    });
    let issued = read_token(200, body.to_string().as_bytes()).unwrap();
    assert_eq!(issued.access_token, "00DS7000000oxzo!AR8AQPXAhJNve");
    assert_eq!(issued.instance_url, "https://acme.my.salesforce.com");
}

#[test]
fn bad_credentials_are_refused_and_a_down_token_endpoint_is_unavailable() {
    let body = br#"{"error":"invalid_client","error_description":"invalid client credentials"}"#;
    assert!(matches!(
        read_token(400, body),
        Err(BatchAnswer::Refused { status: 400, error })
            if error == "token refused: invalid_client: invalid client credentials"
    ));
    assert!(matches!(
        read_token(503, b""),
        Err(BatchAnswer::Unavailable { .. })
    ));
}

#[test]
fn the_request_body_types_each_record_as_a_lead_with_its_id() {
    let mut fields = Map::new();
    fields.insert("Fit_Score__c".to_owned(), json!(72));
    fields.insert("Lead_Stage__c".to_owned(), json!(null));
    fields.insert("id".to_owned(), json!("00Qsomethingelse"));
    let record = RecordUpdate {
        id: A.to_owned(),
        fields,
    };
    assert_eq!(
        request_body(&[&record]),
        json!({"allOrNone": false, "records": [{
            "attributes": {"type": "Lead"}, "id": A, "Fit_Score__c": 72, "Lead_Stage__c": null,
        }]})
    );
}

/// A client whose calls could only fail: these tests show no call is made.
fn unreachable_api() -> LeadsApi {
    LeadsApi::new(&SalesforceApiSettings {
        login_url: "http://127.0.0.1:9".to_owned(),
        client_id: "id".to_owned(),
        client_secret: Secret::new("secret".to_owned()),
        api_version: "62.0".to_owned(),
        timeout_secs: 1,
        request_limit_pause_secs: 900,
    })
}

fn record(id: &str) -> RecordUpdate {
    RecordUpdate {
        id: id.to_owned(),
        fields: Map::new(),
    }
}

#[tokio::test]
async fn more_than_200_records_are_refused_unsent() {
    let records: Vec<RecordUpdate> = (0..=MAX_BATCH).map(|_| record(A)).collect();
    let answer = unreachable_api().update(&records).await;
    assert!(
        matches!(&answer, BatchAnswer::Refused { status: 400, error } if error.contains("at most 200")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn ids_that_are_no_leads_fail_for_good_without_a_call() {
    let answer = unreachable_api()
        .update(&[record("0035e00000AbCdEAAA"), record("")])
        .await;
    let BatchAnswer::Answered { failed } = answer else {
        panic!("expected Answered, got {answer:?}");
    };
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|f| f.code == NOT_A_LEAD && !f.retryable));
}

#[test]
fn the_client_never_shows_its_secret_in_debug_output() {
    let shown = format!("{:?}", unreachable_api());
    assert!(!shown.contains("secret\""), "{shown}");
    assert!(shown.contains("***"));
}
