//! `leadrouter backtest --csv FILE`: the backtest of `POST /api/v1/scoring/backtest` over a
//! CSV file (format: `adapters::backtest_csv`), printed as a table. No database needed.

use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::{
    adapters::{backtest_csv, calibration::BacktestRequest},
    config,
    engine::{Cell, DEFAULT_TARGET, Grid, RuleSet, axis, percent},
    usecase::backtest::{BacktestAnswer, backtest},
};

/// How to call it.
pub const USAGE: &str = "usage: leadrouter backtest --csv FILE [--rules FILE] [--config DIR] \
[--fit FROM:TO:STEP] [--intent FROM:TO:STEP] [--target SHARE] [--json]

  --csv FILE     one row per event: email,outcome,type,occurred_at (+ profile columns,
                 account_tier, id); see docs/http-api.md \"The backtest command\"
  --rules FILE   candidate rules (a whole rules.toml; nurture.toml still comes from the
                 config folder); default: the config folder's
  --config DIR   the config folder (default: LEADROUTER_CONFIG_DIR or ./config)
  --fit, --intent  the threshold sweep (default 40:80:5 and 20:60:5)
  --target SHARE   closed-won share to reach (default 0.7)
  --json         print the JSON answer of the HTTP endpoint instead of the table";

/// What the command was asked.
#[derive(Debug, Default)]
struct Args {
    csv: Option<PathBuf>,
    rules: Option<PathBuf>,
    fit: Option<Vec<f64>>,
    intent: Option<Vec<f64>>,
    target: Option<f64>,
    json: bool,
}

/// Runs the command with `args` (after `backtest`); the text to print, or what went wrong.
pub fn run(args: &[String]) -> Result<String, String> {
    let parsed = parse_args(args)?;
    let csv = parsed.csv.clone().ok_or("--csv FILE is required")?;
    let dir = config::config_dir(args.iter().cloned());
    let (rules, rules_from) = match &parsed.rules {
        Some(file) => (
            config::load_rules_file(file, &dir.join("nurture.toml")),
            file.clone(),
        ),
        None => (config::load_rules(&dir), dir.join("rules.toml")),
    };
    let rules = rules
        .map_err(|e| e.to_string())
        .and_then(|r| RuleSet::new(r).map_err(|e| e.to_string()))?;
    let text = std::fs::read_to_string(&csv)
        .map_err(|e| format!("{}: cannot read: {e}", csv.display()))?;
    let records = backtest_csv::parse(&text, &rules.rules).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}: {}", csv.display(), e.field, e.detail))
            .collect();
        lines.join("\n")
    })?;
    let mut grid = Grid::default();
    if let Some(fit) = parsed.fit.clone() {
        grid.fit = fit.into_iter().map(|v| v as i32).collect();
    }
    if let Some(intent) = parsed.intent.clone() {
        grid.intent = intent;
    }
    let request = BacktestRequest {
        records,
        rules: None,
        grid,
        target: parsed.target.unwrap_or(DEFAULT_TARGET),
    };
    let answer = backtest(&request, &rules, Utc::now());
    if parsed.json {
        return serde_json::to_string_pretty(&answer).map_err(|e| e.to_string());
    }
    Ok(table(&answer, &csv, &rules_from))
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or(format!("{flag} needs a value\n{USAGE}"))
        };
        match flag {
            "--csv" => parsed.csv = Some(value()?.into()),
            "--rules" => parsed.rules = Some(value()?.into()),
            "--config" => {
                value()?;
            }
            "--fit" => parsed.fit = Some(sweep_axis("--fit", &value()?, true)?),
            "--intent" => parsed.intent = Some(sweep_axis("--intent", &value()?, false)?),
            "--target" => {
                let raw = value()?;
                let target = raw.parse::<f64>().ok().filter(|t| *t > 0.0 && *t <= 1.0);
                parsed.target =
                    Some(target.ok_or(format!("--target {raw}: needs a share in (0, 1]"))?);
            }
            "--json" => parsed.json = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

/// `FROM:TO:STEP`.
fn sweep_axis(flag: &str, raw: &str, whole: bool) -> Result<Vec<f64>, String> {
    let parts: Vec<f64> = raw
        .split(':')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{flag} {raw}: expected FROM:TO:STEP, e.g. 40:80:5"))?;
    let [from, to, step] = parts[..] else {
        return Err(format!("{flag} {raw}: expected FROM:TO:STEP, e.g. 40:80:5"));
    };
    axis(from, to, step, whole)
        .map_err(|refused| format!("{flag} {raw}: {} {}", refused.part, refused.problem))
}

fn table(answer: &BacktestAnswer, csv: &Path, rules_from: &Path) -> String {
    let r = &answer.report;
    let mut out = Vec::new();
    out.push(format!(
        "Backtest of {}: {} records ({} closed_won, {} closed_lost)",
        csv.display(),
        r.won.records + r.lost.records,
        r.won.records,
        r.lost.records
    ));
    out.push(format!(
        "Rules {} ({}): MQL at fit ≥ {} and intent ≥ {}",
        answer.rules_version,
        rules_from.display(),
        r.thresholds.fit,
        r.thresholds.intent
    ));
    out.push(String::new());
    let share = |s: Option<f64>| s.map_or("n/a".to_owned(), percent);
    out.push(format!(
        "closed_won that crossed MQL:  {:>5} of {:<5} {:>6}   target ≥ {}: {}",
        r.won.crossed,
        r.won.records,
        share(r.won.share),
        percent(r.target),
        if r.meets_target { "met" } else { "NOT met" }
    ));
    out.push(format!(
        "closed_lost that crossed MQL: {:>5} of {:<5} {:>6}",
        r.lost.crossed,
        r.lost.records,
        share(r.lost.share)
    ));
    out.push(String::new());
    out.push("Capture by threshold: closed_won% / closed_lost%  (* meets the target)".to_owned());
    out.extend(grid_lines(&r.sweep));
    out.push(String::new());
    if let Some(c) = &r.suggested {
        out.push(format!(
            "Suggested: fit ≥ {} and intent ≥ {} ({} of closed_won, {} of closed_lost)",
            c.fit,
            number(c.intent),
            share(c.won_share),
            share(c.lost_share)
        ));
    }
    out.push(format!("Hint: {}", r.hint));
    let missed: Vec<String> = answer
        .records
        .iter()
        .filter(|rec| rec.mql_at.is_none() && rec.outcome == crate::domain::Outcome::ClosedWon)
        .map(|rec| {
            let peak = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
            format!(
                "  {:<32} peak fit {:>4}  peak intent {:>6}{}",
                rec.email,
                peak(rec.peak_fit.map(|f| f.to_string())),
                peak(rec.peak_intent.map(number)),
                rec.disqualified_reason
                    .map(|d| format!("  {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !missed.is_empty() {
        out.push(String::new());
        out.push("closed_won that never crossed:".to_owned());
        out.extend(missed);
    }
    out.join("\n")
}

/// One row per fit value, one column per intent value.
fn grid_lines(sweep: &[Cell]) -> Vec<String> {
    let mut intents: Vec<f64> = Vec::new();
    for c in sweep {
        if !intents.contains(&c.intent) {
            intents.push(c.intent);
        }
    }
    let mut lines = vec![format!(
        "{:>12}{}",
        "fit \\ intent",
        intents
            .iter()
            .map(|i| format!("{:>10}", number(*i)))
            .collect::<String>()
    )];
    for row in sweep.chunks(intents.len().max(1)) {
        let cells: String = row
            .iter()
            .map(|c| {
                let pct =
                    |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{:.0}", s * 100.0));
                let mark = if c.meets_target { "*" } else { " " };
                format!(
                    "{:>10}",
                    format!("{}/{}{mark}", pct(c.won_share), pct(c.lost_share))
                )
            })
            .collect();
        lines.push(format!("{:>12}{cells}", row[0].fit));
    }
    lines
}

/// `40` for 40.0, `32.5` otherwise.
fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(extra: &[&str]) -> Vec<String> {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut args = vec![
            "--csv".to_owned(),
            format!("{root}/examples/backtest.csv"),
            "--config".to_owned(),
            format!("{root}/config"),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    }

    #[test]
    fn the_example_set_meets_the_target_at_the_shipped_thresholds() {
        let out = run(&example(&[])).unwrap();
        assert!(
            out.contains("closed_won that crossed MQL:      7 of 10       70%   target ≥ 70%: met"),
            "{out}"
        );
        assert!(
            out.contains("closed_lost that crossed MQL:     2 of 10       20%"),
            "{out}"
        );
        assert!(
            out.contains(
                "Suggested: fit ≥ 55 and intent ≥ 40 (80% of closed_won, 20% of closed_lost)"
            ),
            "{out}"
        );
        assert!(
            out.contains("hana@proseware.io"),
            "a won deal that never crossed: {out}"
        );
    }

    #[test]
    fn candidate_rules_and_a_narrower_sweep_change_the_answer() {
        let dir = std::env::temp_dir().join(format!("leadrouter-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../../config/rules.toml");
        let file = dir.join("candidate.toml");
        std::fs::write(&file, shipped.replace("fit = 60\n", "fit = 55\n")).unwrap();
        let file = file.display().to_string();
        let out = run(&example(&[
            "--rules",
            &file,
            "--fit",
            "50:60:5",
            "--intent=40:40:5",
        ]))
        .unwrap();
        assert!(out.contains("MQL at fit ≥ 55 and intent ≥ 40"), "{out}");
        assert!(out.contains("8 of 10       80%"), "{out}");
        assert!(out.contains("fit \\ intent        40"), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_arguments_and_files_say_what_is_wrong() {
        assert!(run(&[]).unwrap_err().contains("--csv FILE is required"));
        assert!(
            run(&example(&["--fit", "80:40:5"]))
                .unwrap_err()
                .contains("--fit 80:40:5")
        );
        assert!(
            run(&example(&["--frobnicate"]))
                .unwrap_err()
                .contains("unknown argument")
        );
        let missing = run(&["--csv".to_owned(), "/nonexistent.csv".to_owned()]).unwrap_err();
        assert!(
            missing.contains("/nonexistent.csv: cannot read"),
            "{missing}"
        );
    }
}
