//! Prometheus metrics: the process-wide recorder, and every metric name and label in one
//! place. Counters and histograms are recorded where things happen (the HTTP layer, ingest,
//! the jobs, the database error mapping); gauges read from the database or the pools are
//! computed at scrape time ([`gauges`]), so they are never stale and cost nothing between
//! scrapes. `docs/operations/metrics.md` describes each metric.

pub mod gauges;

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "leadrouter_http_requests_total";
/// Time from a request's arrival to its response head, by `method`, `route` and `status`.
pub const HTTP_DURATION: &str = "leadrouter_http_request_duration_seconds";
/// Events ingested, by `status` (`accepted`, `duplicate`).
pub const INGEST_EVENTS: &str = "leadrouter_ingest_events_total";
/// How many events one group commit wrote together.
pub const INGEST_GROUP_EVENTS: &str = "leadrouter_ingest_group_events";
/// Database faults answered 503, by `kind` (`unreachable`, `contention`).
pub const DB_ERRORS: &str = "leadrouter_db_errors_total";
/// Background job runs, by `job` and `outcome` (`ok`, `error`).
pub const JOB_RUNS: &str = "leadrouter_job_runs_total";
/// How long one job run took, by `job`.
pub const JOB_DURATION: &str = "leadrouter_job_duration_seconds";
/// SLA deadlines the clock found breached, by `deadline` (`ack`, `disposition`).
pub const SLA_BREACHES: &str = "leadrouter_sla_breaches_total";
/// MQLs escalated to the rep's manager.
pub const SLA_ESCALATIONS: &str = "leadrouter_sla_escalations_total";

/// Outbound delivery attempts, by `outcome` (`delivered`, `retry`, `dead`, `gone`).
pub const OUTBOX_ATTEMPTS: &str = "leadrouter_outbox_attempts_total";

/// The route label of a request no route matched (a 404): never the raw path, which a
/// client could vary without bound.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// Request latencies: from a cached key check (sub-millisecond) to the request timeout.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Job runs: an idle tick is milliseconds, a backlog of batches can take minutes.
const JOB_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Group sizes: one lone event up to `ingest.max_group_events` (hundreds).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's recorder, installed on first use. Every `AppState` in a process (the tests
/// start many) shares it: the `metrics` facade has one global recorder, so installing twice
/// would fail.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            // Another recorder (a bench binary's, say) keeps the facade: the handle then
            // renders only what was recorded to it, which is nothing, and says so once.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn builder() -> PrometheusBuilder {
    let buckets = |builder: PrometheusBuilder, name: &str, buckets: &[f64]| {
        builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .expect("bucket lists are not empty")
    };
    let builder = buckets(PrometheusBuilder::new(), HTTP_DURATION, HTTP_BUCKETS);
    let builder = buckets(builder, JOB_DURATION, JOB_BUCKETS);
    buckets(builder, INGEST_GROUP_EVENTS, GROUP_BUCKETS)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route, method and status."
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency.");
    describe_counter!(INGEST_EVENTS, "Lead events ingested, by status.");
    describe_histogram!(INGEST_GROUP_EVENTS, "Events written by one group commit.");
    describe_counter!(DB_ERRORS, "Database faults answered 503, by kind.");
    describe_counter!(JOB_RUNS, "Background job runs, by job and outcome.");
    describe_histogram!(JOB_DURATION, Unit::Seconds, "Background job run time.");
    describe_counter!(SLA_BREACHES, "SLA deadlines found breached, by deadline.");
    describe_counter!(SLA_ESCALATIONS, "MQLs escalated to the rep's manager.");
    describe_counter!(OUTBOX_ATTEMPTS, "Outbound delivery attempts, by outcome.");
}

/// Drains histogram samples into their buckets every few seconds until `shutdown`, so that
/// memory stays bounded when nobody scrapes (a scrape drains them too).
pub async fn run_upkeep(handle: PrometheusHandle, shutdown: CancellationToken) {
    while shutdown
        .run_until_cancelled(tokio::time::sleep(Duration::from_secs(5)))
        .await
        .is_some()
    {
        handle.run_upkeep();
    }
}

/// One answered request; `route` is the matched route path or [`UNMATCHED_ROUTE`].
pub fn http_request(method: &Method, route: &str, status: StatusCode, took: Duration) {
    let labels = [
        ("method", method_label(method)),
        ("route", route.to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(took);
}

/// The standard methods by name; any other (a client may invent one) as `other`.
fn method_label(method: &Method) -> String {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    match KNOWN.contains(method) {
        true => method.as_str().to_owned(),
        false => "other".to_owned(),
    }
}

/// What one ingest call did with its events.
pub fn ingested(accepted: u64, duplicates: u64) {
    metrics::counter!(INGEST_EVENTS, "status" => "accepted").increment(accepted);
    metrics::counter!(INGEST_EVENTS, "status" => "duplicate").increment(duplicates);
}

/// One group commit of `events`.
pub fn group_written(events: usize) {
    metrics::histogram!(INGEST_GROUP_EVENTS).record(events as f64);
}

/// A database fault mapped to a 503 (`kind`: `unreachable` or `contention`).
pub fn db_error(kind: &'static str) {
    metrics::counter!(DB_ERRORS, "kind" => kind).increment(1);
}

/// MQLs the SLA clock escalated (one committed batch).
pub fn sla_escalated(escalations: usize) {
    metrics::counter!(SLA_ESCALATIONS).increment(escalations as u64);
}

/// Deadlines the SLA clock recorded as breached.
pub fn sla_breached(ack: u64, disposition: u64) {
    metrics::counter!(SLA_BREACHES, "deadline" => "ack").increment(ack);
    metrics::counter!(SLA_BREACHES, "deadline" => "disposition").increment(disposition);
}

/// One outbound delivery attempt ended with `outcome`.
pub fn delivery_attempt(outcome: &'static str) {
    metrics::counter!(OUTBOX_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// Times one run of a background job.
pub struct JobRun {
    job: SharedString,
    started: Instant,
}

impl JobRun {
    /// A run of `job` starting now.
    pub fn start(job: impl Into<SharedString>) -> Self {
        Self {
            job: job.into(),
            started: Instant::now(),
        }
    }

    /// The run ended, well (`ok`) or not.
    pub fn finish(self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        metrics::counter!(JOB_RUNS, "job" => self.job.clone(), "outcome" => outcome).increment(1);
        metrics::histogram!(JOB_DURATION, "job" => self.job).record(self.started.elapsed());
    }
}
