//! Backtest arithmetic: how many closed-won and closed-lost records would have crossed the
//! MQL threshold, at the rules' thresholds and over a grid of thresholds, so a team can pick
//! the pair that captures enough won deals (the procedure asks for at least 70%) while letting
//! the fewest lost ones through.

use serde::Serialize;

use super::{MqlThresholds, Replay};
use crate::domain::Outcome;

/// The share of closed-won records that should cross MQL (the procedure's 70%).
pub const DEFAULT_TARGET: f64 = 0.7;

/// Most values one axis of the sweep may take.
pub const MAX_AXIS_VALUES: usize = 101;

/// The thresholds a sweep tries: every fit value with every intent value.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub fit: Vec<i32>,
    pub intent: Vec<f64>,
}

impl Default for Grid {
    /// Fit 40 to 80 and intent 20 to 60, in steps of 5: the shipped thresholds (60, 40) in
    /// the middle.
    fn default() -> Self {
        Grid {
            fit: (40..=80).step_by(5).collect(),
            intent: (20..=60).step_by(5).map(f64::from).collect(),
        }
    }
}

/// Largest magnitude `from`, `to` or `step` of an axis may have (keeps a fit value an i32).
pub const MAX_AXIS_MAGNITUDE: f64 = 100_000.0;

/// Why an axis is refused: the part at fault (`from`, `to` or `step`) and the problem.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisError {
    pub part: &'static str,
    pub problem: String,
}

impl AxisError {
    fn new(part: &'static str, problem: impl Into<String>) -> Self {
        AxisError {
            part,
            problem: problem.into(),
        }
    }
}

/// `from`, `from + step`, ... up to `to` inclusive: finite parts within
/// ±[`MAX_AXIS_MAGNITUDE`] (whole numbers when `whole`), `step > 0`, `from ≤ to` and at most
/// [`MAX_AXIS_VALUES`] values.
pub fn axis(from: f64, to: f64, step: f64, whole: bool) -> Result<Vec<f64>, AxisError> {
    for (part, v) in [("from", from), ("to", to), ("step", step)] {
        if !v.is_finite() || v.abs() > MAX_AXIS_MAGNITUDE {
            let problem = format!("must be a number within ±{MAX_AXIS_MAGNITUDE}");
            return Err(AxisError::new(part, problem));
        }
        if whole && v.fract() != 0.0 {
            return Err(AxisError::new(part, "must be a whole number"));
        }
    }
    if step <= 0.0 {
        return Err(AxisError::new("step", "must be greater than 0"));
    }
    if from > to {
        return Err(AxisError::new("to", format!("is below from ({from})")));
    }
    // Counted in f64: a tiny step makes the quotient huge (or infinite), which must be
    // refused here rather than wrap around as an integer.
    let steps = ((to - from) / step + 1e-9).floor();
    if steps >= MAX_AXIS_VALUES as f64 {
        let problem = format!("gives more than {MAX_AXIS_VALUES} values from {from} to {to}");
        return Err(AxisError::new("step", problem));
    }
    let count = steps as usize + 1;
    Ok((0..count).map(|i| round4(from + step * i as f64)).collect())
}

/// How many records of one outcome there were and how many crossed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Capture {
    pub records: usize,
    pub crossed: usize,
    /// `crossed / records`, rounded to 4 decimals; `null` without records.
    pub share: Option<f64>,
}

impl Capture {
    fn new(records: usize, crossed: usize) -> Self {
        let share = (records > 0).then(|| round4(crossed as f64 / records as f64));
        Capture {
            records,
            crossed,
            share,
        }
    }
}

/// One threshold pair of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub fit: i32,
    pub intent: f64,
    pub won_crossed: usize,
    pub won_share: Option<f64>,
    pub lost_crossed: usize,
    pub lost_share: Option<f64>,
    /// Whether the won share reaches the target.
    pub meets_target: bool,
}

/// The answer of a backtest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The thresholds of the rules backtested.
    pub thresholds: MqlThresholds,
    pub won: Capture,
    pub lost: Capture,
    pub target: f64,
    /// Whether the won share at the rules' thresholds reaches `target`.
    pub meets_target: bool,
    /// What the numbers suggest, in a sentence.
    pub hint: String,
    /// Of the pairs meeting the target, the one letting the fewest lost records through (on a
    /// tie, the one capturing more won, then the stricter); `null` if none does.
    pub suggested: Option<Cell>,
    /// Every pair of the grid, fit-major.
    pub sweep: Vec<Cell>,
}

/// Backtests the replayed `records` (each with its outcome) at `mql` and over `grid`.
pub fn backtest(
    records: &[(Outcome, &Replay)],
    mql: &MqlThresholds,
    grid: &Grid,
    target: f64,
) -> Report {
    let mut tally = Tally::new(grid);
    for (outcome, replay) in records {
        tally.add(*outcome, replay);
    }
    tally.report(mql, target)
}

/// A backtest's counts, taken one replayed record at a time, so that a caller streaming
/// records holds the counts and not the replays.
#[derive(Clone, Debug)]
pub struct Tally<'g> {
    grid: &'g Grid,
    /// Records and, at the rules' thresholds, how many crossed: won, then lost.
    records: [usize; 2],
    crossed: [usize; 2],
    /// Per grid pair, fit-major: won and lost records that crossed.
    cells: Vec<[usize; 2]>,
}

impl<'g> Tally<'g> {
    pub fn new(grid: &'g Grid) -> Self {
        Tally {
            grid,
            records: [0; 2],
            crossed: [0; 2],
            cells: vec![[0; 2]; grid.fit.len() * grid.intent.len()],
        }
    }

    /// Counts one record replayed under the rules being backtested.
    pub fn add(&mut self, outcome: Outcome, replay: &Replay) {
        let side = usize::from(outcome == Outcome::ClosedLost);
        self.records[side] += 1;
        // The stage machine's own answer at the rules' thresholds, not the sweep's arithmetic.
        self.crossed[side] += usize::from(replay.mql_at.is_some());
        let pairs = self
            .grid
            .fit
            .iter()
            .flat_map(|&fit| self.grid.intent.iter().map(move |&intent| (fit, intent)));
        for (cell, (fit, intent)) in self.cells.iter_mut().zip(pairs) {
            cell[side] += usize::from(replay.crossed(fit, intent).is_some());
        }
    }

    /// The report of the records counted, the rules' thresholds being `mql`.
    pub fn report(self, mql: &MqlThresholds, target: f64) -> Report {
        let [won_total, lost_total] = self.records;
        let won = Capture::new(won_total, self.crossed[0]);
        let lost = Capture::new(lost_total, self.crossed[1]);
        let pairs = self
            .grid
            .fit
            .iter()
            .flat_map(|&fit| self.grid.intent.iter().map(move |&intent| (fit, intent)));
        let sweep: Vec<Cell> = self
            .cells
            .iter()
            .zip(pairs)
            .map(|(&[won_crossed, lost_crossed], (fit, intent))| {
                let won = Capture::new(won_total, won_crossed);
                let lost = Capture::new(lost_total, lost_crossed);
                Cell {
                    fit,
                    intent,
                    won_crossed: won.crossed,
                    won_share: won.share,
                    lost_crossed: lost.crossed,
                    lost_share: lost.share,
                    meets_target: meets(won.share, target),
                }
            })
            .collect();
        let suggested = suggest(&sweep);
        let meets_target = meets(won.share, target);
        Report {
            thresholds: mql.clone(),
            won,
            lost,
            target,
            meets_target,
            hint: hint(&won, &lost, target, suggested.as_ref()),
            suggested,
            sweep,
        }
    }
}

fn meets(share: Option<f64>, target: f64) -> bool {
    share.is_some_and(|s| s >= target)
}

fn suggest(sweep: &[Cell]) -> Option<Cell> {
    sweep
        .iter()
        .filter(|c| c.meets_target)
        .min_by(|a, b| {
            let lost = |c: &Cell| c.lost_share.unwrap_or(0.0);
            let won = |c: &Cell| c.won_share.unwrap_or(0.0);
            lost(a)
                .total_cmp(&lost(b))
                .then(won(b).total_cmp(&won(a)))
                .then(b.fit.cmp(&a.fit))
                .then(b.intent.total_cmp(&a.intent))
        })
        .copied()
}

fn hint(won: &Capture, lost: &Capture, target: f64, suggested: Option<&Cell>) -> String {
    let Some(won_share) = won.share else {
        return "no closed_won records: the capture rate cannot be measured".to_owned();
    };
    let lost_part = match lost.share {
        Some(share) => format!("; {} of closed-lost crossed too", percent(share)),
        None => String::new(),
    };
    let pick = match suggested {
        Some(c) => format!(
            "fit ≥ {} and intent ≥ {} would capture {} of closed-won and {} of closed-lost",
            c.fit,
            c.intent,
            percent(c.won_share.unwrap_or(0.0)),
            percent(c.lost_share.unwrap_or(0.0)),
        ),
        None => format!(
            "no threshold pair in the sweep reaches {}: revisit the fit rules and intent \
             weights, not only the thresholds",
            percent(target)
        ),
    };
    if won_share >= target {
        format!(
            "{} of closed-won crossed MQL, meeting the {} target{lost_part}; least noise at \
             the target: {pick}",
            percent(won_share),
            percent(target)
        )
    } else {
        format!(
            "only {} of closed-won crossed MQL, below the {} target{lost_part}; {pick}",
            percent(won_share),
            percent(target)
        )
    }
}

/// `0.7` → `70%`, `0.6667` → `66.7%`.
pub fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests;
