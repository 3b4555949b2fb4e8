//! Gauges computed at scrape time, written straight into the exposition text. They do not
//! go through the global recorder: every service (and every test's service) in a process
//! shares that recorder, and a gauge set there by one scrape could be overwritten by another
//! before it is rendered. Written here, each scrape shows its own pools and database.

use std::fmt::Write;

/// Connections of one pool, by state (`in_use`, `idle`).
pub const POOL_CONNECTIONS: &str = "leadrouter_db_pool_connections";
/// The most connections one pool opens.
pub const POOL_MAX: &str = "leadrouter_db_pool_max_connections";
/// Outbound deliveries not delivered, by `status` (`pending`, `dead`).
pub const OUTBOX_DELIVERIES: &str = "leadrouter_outbox_deliveries";
/// Seconds since the oldest pending delivery was created; 0 when none is pending.
pub const OUTBOX_OLDEST_AGE: &str = "leadrouter_outbox_oldest_pending_age_seconds";
/// Inbound records that could not be mapped and were not replayed yet.
pub const INBOUND_DEAD_LETTERS: &str = "leadrouter_inbound_dead_letters";
/// Records a CRM refused for good that were not replayed yet, by `crm`.
pub const CRM_WRITE_FAILURES: &str = "leadrouter_crm_write_failures";
/// Open assignments past a deadline without its action, by `deadline` (`ack`,
/// `disposition`).
pub const SLA_OVERDUE: &str = "leadrouter_sla_overdue_assignments";
/// 1 when this scrape's database queries answered, 0 when they failed (the other database
/// gauges are then missing from the scrape).
pub const SCRAPE_DB_UP: &str = "leadrouter_scrape_database_up";

/// Exposition text of gauges, one family at a time.
#[derive(Default)]
pub struct GaugeText {
    text: String,
}

impl GaugeText {
    /// Starts the family `name` with its help line.
    pub fn family(&mut self, name: &str, help: &str) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} gauge\n");
        self
    }

    /// One sample of the family just started; `labels` are name/value pairs.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
        self
    }

    /// The text written so far.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_written_in_the_text_format_with_escaped_labels() {
        let mut text = GaugeText::default();
        text.family("g", "A gauge.").sample("g", &[], 1.0).sample(
            "g",
            &[("a", "x\"y"), ("b", "1\\2")],
            0.5,
        );
        assert_eq!(
            text.into_text(),
            "# HELP g A gauge.\n# TYPE g gauge\ng 1\ng{a=\"x\\\"y\",b=\"1\\\\2\"} 0.5\n"
        );
    }
}
