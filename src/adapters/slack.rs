//! Outbox messages as Slack incoming-webhook messages people read between calls: a
//! `rep.assigned` shows who the lead is, why now, the opener, the SLA times and a link to the
//! lead; a `manager.escalation` says whose MQL went untouched and since when; the weekly
//! rejection review and pipeline forecast show their numbers. Other topics get a one-line
//! summary. The body is Slack's documented shape: `text` (the notification's
//! fallback) and Block Kit `blocks`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Slack's body for the message of `topic` with `payload`; `lead_url` makes the link to a
/// lead from its id.
pub fn render(topic: &str, payload: &Value, lead_url: &dyn Fn(&str) -> String) -> Value {
    match topic {
        "rep.assigned" => assigned(payload, lead_url),
        "manager.escalation" => escalation(payload, lead_url),
        "governance.rejection_review" => rejection_review(payload),
        "governance.pipeline_forecast" => pipeline_forecast(payload),
        other => {
            let lead = text(payload, &["lead_email"]).unwrap_or("a lead");
            let line = format!("{other}: {lead}");
            json!({ "text": line, "blocks": [section(&line)] })
        }
    }
}

fn assigned(payload: &Value, lead_url: &dyn Fn(&str) -> String) -> Value {
    let packet = &payload["packet"];
    let lead = text(payload, &["lead_email"]).unwrap_or("a lead");
    let owner = text(packet, &["owner", "name"]).unwrap_or("you");
    let title = format!("New MQL for {owner}: {lead}");
    let why = text(packet, &["problem_hypothesis"]).unwrap_or("");
    let opener = text(packet, &["recommended_opener"]).unwrap_or("");
    let trigger = match (
        text(packet, &["trigger", "type"]),
        text(packet, &["trigger", "occurred_at"]),
    ) {
        (Some(kind), Some(at)) => format!("{} at {}", kind.replace('_', " "), when(at)),
        _ => "released by a person".to_owned(),
    };
    let scores = format!(
        "Fit {} · Intent {:.0}{}",
        packet["fit_score"],
        packet["intent_score"].as_f64().unwrap_or_default(),
        packet["account_tier"]
            .as_u64()
            .map(|t| format!(" · Tier {t}"))
            .unwrap_or_default()
    );
    let sla = format!(
        "Acknowledge by {} · decide by {} · escalates at {}",
        text(packet, &["sla", "ack_due"]).map_or("?".into(), when),
        text(packet, &["sla", "disposition_due"]).map_or("?".into(), when),
        text(packet, &["sla", "escalate_at"]).map_or("?".into(), when),
    );
    let link = text(payload, &["lead_id"]).map(lead_url);
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": title } }),
        section(&format!("*Why now:* {why}\n*Trigger:* {trigger}\n{scores}")),
        section(&format!("*Opener:* {opener}")),
        json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": sla }] }),
    ];
    if let Some(url) = &link {
        blocks.push(section(&format!("<{url}|Open the lead>")));
    }
    json!({ "text": format!("{title}. {why}"), "blocks": blocks })
}

fn escalation(payload: &Value, lead_url: &dyn Fn(&str) -> String) -> Value {
    let lead = text(payload, &["lead_email"]).unwrap_or("a lead");
    let rep = text(payload, &["rep_name"]).unwrap_or("its rep");
    let since = text(payload, &["assigned_at"]).map_or("?".into(), when);
    let line = format!("Escalation: {lead}, assigned to {rep} at {since}, is still untouched");
    let mut blocks = vec![section(&format!(":rotating_light: {line}"))];
    if let Some(id) = text(payload, &["lead_id"]) {
        blocks.push(section(&format!("<{}|Open the lead>", lead_url(id))));
    }
    json!({ "text": line, "blocks": blocks })
}

fn rejection_review(payload: &Value) -> Value {
    let week = text(payload, &["week"]).unwrap_or("last week");
    let total = payload["rejections"].as_i64().unwrap_or_default();
    let title = format!("Rejection review {week}: {total} rejections");
    let mut lines = Vec::new();
    for reason in payload["reasons"].as_array().into_iter().flatten() {
        let count = reason["count"].as_i64().unwrap_or_default();
        if count == 0 {
            continue;
        }
        let share = reason["share"].as_f64().unwrap_or_default() * 100.0;
        let name = text(reason, &["reason"]).unwrap_or("?");
        lines.push(format!("• {name}: {count} ({share:.0}%)"));
        if let Some(hint) = text(reason, &["hint"]) {
            lines.push(format!("   _{hint}_"));
        }
    }
    let mut blocks = vec![section(&format!("*{title}*"))];
    if !lines.is_empty() {
        blocks.push(section(&lines.join("\n")));
    }
    json!({ "text": title, "blocks": blocks })
}

fn pipeline_forecast(payload: &Value) -> Value {
    let week = text(payload, &["week"]).unwrap_or("this week");
    let open = payload["total"]["opportunities"]
        .as_i64()
        .unwrap_or_default();
    let title = format!("Pipeline forecast {week}: {open} open marketing-sourced opportunities");
    let money = |m: &Value| {
        m.as_object()
            .into_iter()
            .flatten()
            .map(|(currency, amount)| {
                format!("{currency} {:.0}", amount.as_f64().unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines: Vec<String> = payload["months"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            format!(
                "• {}: {} (weighted {})",
                text(m, &["month"]).unwrap_or("no close date"),
                money(&m["amount"]),
                money(&m["weighted"])
            )
        })
        .collect();
    let mut blocks = vec![section(&format!("*{title}*"))];
    if !lines.is_empty() {
        blocks.push(section(&lines.join("\n")));
    }
    json!({ "text": title, "blocks": blocks })
}

fn section(markdown: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": markdown } })
}

/// The text at `path` below `value`.
fn text<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// An RFC 3339 time as a rep reads it (`2026-11-20 14:00 UTC`), or as given.
fn when(at: &str) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(id: &str) -> String {
        format!("https://leadrouter.example.com/api/v1/leads/{id}")
    }

    #[test]
    fn the_weekly_reports_read_as_their_numbers() {
        let review = json!({"week": "2026-W47", "rejections": 10, "reasons": [
            {"reason": "Rejected_NotICP", "count": 6, "share": 0.6, "hint": "Raise the fit threshold."},
            {"reason": "Rejected_NoBudget", "count": 0, "share": 0.0, "hint": null},
            {"reason": "Rejected_WrongTiming", "count": 4, "share": 0.4, "hint": null}]});
        let body = render("governance.rejection_review", &review, &url);
        assert_eq!(body["text"], "Rejection review 2026-W47: 10 rejections");
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "• Rejected_NotICP: 6 (60%)\n   _Raise the fit threshold._\n• Rejected_WrongTiming: 4 (40%)"
        );
        let forecast = json!({"week": "2026-W48", "total": {"opportunities": 2}, "months": [
            {"month": "2026-12", "amount": {"USD": 30000.0}, "weighted": {"USD": 27000.0}},
            {"month": null, "amount": {"EUR": 1000.0}, "weighted": {"EUR": 100.0}}]});
        let body = render("governance.pipeline_forecast", &forecast, &url);
        assert_eq!(
            body["text"],
            "Pipeline forecast 2026-W48: 2 open marketing-sourced opportunities"
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "• 2026-12: USD 30000 (weighted USD 27000)\n• no close date: EUR 1000 (weighted EUR 100)"
        );
    }

    #[test]
    fn an_assignment_reads_as_who_why_the_opener_and_the_sla() {
        let payload = json!({
            "assignment_id": 7, "lead_id": "0193-lead", "lead_email": "jane@acme.io", "rep_id": "r1",
            "packet": {
                "trigger": {"type": "demo_request", "source": "hubspot", "occurred_at": "2026-11-20T10:00:00Z"},
                "problem_hypothesis": "Jane at Acme asked for a demo after two pricing visits",
                "disqualifiers_checked": [], "last_touches": [],
                "recommended_opener": "You asked for a demo of routing",
                "owner": {"rep_id": "r1", "name": "Ann", "email": "ann@ourco.com", "rule": "territory"},
                "sla": {"ack_due": "2026-11-20T14:00:00Z", "disposition_due": "2026-11-23T10:00:00Z",
                        "escalate_at": "2026-11-20T14:00:00Z"},
                "fit_score": 70, "intent_score": 52.4, "demand_state": null, "account_tier": 1
            }
        });
        let body = render("rep.assigned", &payload, &url);
        let all = body.to_string();
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            "New MQL for Ann: jane@acme.io"
        );
        for expected in [
            "*Why now:* Jane at Acme asked for a demo after two pricing visits",
            "*Trigger:* demo request at 2026-11-20 10:00 UTC",
            "Fit 70 · Intent 52 · Tier 1",
            "*Opener:* You asked for a demo of routing",
            "Acknowledge by 2026-11-20 14:00 UTC · decide by 2026-11-23 10:00 UTC",
            "<https://leadrouter.example.com/api/v1/leads/0193-lead|Open the lead>",
        ] {
            assert!(all.contains(expected), "{expected} not in {all}");
        }
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("New MQL for Ann")
        );
    }

    #[test]
    fn an_escalation_names_the_lead_the_rep_and_since_when() {
        let payload = json!({
            "assignment_id": 7, "lead_id": "0193-lead", "lead_email": "jane@acme.io",
            "rep_id": "r1", "rep_name": "Ann", "assigned_at": "2026-11-20T10:00:00Z",
            "manager_id": null, "escalated_at": "2026-11-20T14:00:00Z"
        });
        let body = render("manager.escalation", &payload, &url);
        assert_eq!(
            body["text"],
            "Escalation: jane@acme.io, assigned to Ann at 2026-11-20 10:00 UTC, is still untouched"
        );
        assert!(body.to_string().contains("Open the lead"));
    }

    #[test]
    fn other_topics_get_one_line() {
        let body = render("nurture.touch", &json!({"lead_email": "bo@x.io"}), &url);
        assert_eq!(body["text"], "nurture.touch: bo@x.io");
    }
}
