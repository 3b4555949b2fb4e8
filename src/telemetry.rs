//! Log output: `tracing` to stdout as text or JSON, filtered by config or `RUST_LOG`.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Call once, at start-up.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    // With stdout gone (`leadrouter | head`), a line that cannot be written is dropped: the
    // subscriber's own report of it would go to stderr, and writing there panics inside
    // whatever was logging (a request, the SIGTERM handler) once stderr is gone too.
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .log_internal_errors(false);
    match settings.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
