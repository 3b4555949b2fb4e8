//! The governance views (DESIGN §3, ops): funnel, rejections, SLA compliance and
//! disqualifications, each over a period and grouped as asked. Each view is one statement of
//! `db::metrics` shaped here: closed lists complete, rates `null` rather than a division by
//! zero. The cohorts are defined in docs/http-api.md ("Metrics").
//! Nurture's per-workflow numbers come from the nurture log (`nurture`).

pub mod demand_states;
pub mod disqualifications;
pub mod funnel;
mod groups;
pub mod nurture;
pub mod period;
pub mod rejections;
pub mod revenue;
pub mod sla;
mod week;

pub use groups::Group;
pub use period::{MetricsQuery, Period, Split};
pub use week::Week;

pub use crate::db::metrics::Grouping;

/// `part / whole`, or `None` when `whole` is zero (JSON `null`: never NaN, never an error).
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// How many of `count` of a closed list's value, and its share of the view's total.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: &'static str,
    pub count: i64,
    /// `count / total`; `null` when the total is zero.
    pub share: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_nothing_are_none() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(3, 0), None);
        assert_eq!(rate(0, 4), Some(0.0));
        assert_eq!(rate(2, 5), Some(0.4));
    }
}
