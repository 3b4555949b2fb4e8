//! What `leadrouter demo` prints: where the data set's leads ended up, read back through the
//! lead view the API serves, so the summary shows the database and not the loader's hopes.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Loaded;
use crate::{
    app::AppState,
    domain::{Email, Stage},
    error::ApiError,
    usecase::lead_view::{LeadKey, lead_view},
};

/// One lead of the data set as it stands.
#[derive(Debug)]
pub struct LeadState {
    pub email: String,
    pub stage: Stage,
    /// The rep holding it (id, name), while it is MQL or later.
    pub owner: Option<(Uuid, String)>,
    pub in_review: bool,
    pub in_nurture: bool,
    pub disqualified: Option<&'static str>,
}

/// The state of each of `emails`' leads.
pub async fn leads(state: &AppState, emails: &[Email]) -> Result<Vec<LeadState>, ApiError> {
    let now = state.now();
    let mut leads = Vec::with_capacity(emails.len());
    for email in emails {
        let view = lead_view(
            &state.pool,
            &state.rules,
            now,
            LeadKey::Email(email.clone()),
        )
        .await?;
        let holds = matches!(view.lifecycle_stage, Stage::Mql | Stage::Sal | Stage::Sql);
        leads.push(LeadState {
            email: view.email,
            stage: view.lifecycle_stage,
            owner: view
                .handoff
                .filter(|_| holds)
                .map(|h| (h.rep_id, h.rep_name)),
            in_review: view.review.is_some(),
            in_nurture: view.nurture.workflow.is_some(),
            disqualified: view.disqualified_reason.map(|r| r.as_str()),
        });
    }
    Ok(leads)
}

/// A few lines: what was loaded, where the leads are, who holds the MQLs, a rep id to try.
pub fn render(loaded: &Loaded, leads: &[LeadState]) -> String {
    let count = |f: &dyn Fn(&LeadState) -> bool| leads.iter().filter(|l| f(l)).count();
    let mut lines = vec![format!(
        "loaded {} reps ({} new), {} accounts ({} new), {} events ({} new)",
        loaded.reps,
        loaded.reps_new,
        loaded.accounts,
        loaded.accounts_new,
        loaded.events,
        loaded.events_new
    )];
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in leads.iter().filter_map(|l| l.disqualified) {
        *reasons.entry(reason).or_default() += 1;
    }
    lines.push(format!(
        "{} leads: {} MQL ({} assigned, {} in the review queue), {} in nurture, {} disqualified ({})",
        leads.len(),
        count(&|l| l.stage == Stage::Mql),
        count(&|l| l.stage == Stage::Mql && l.owner.is_some()),
        count(&|l| l.in_review),
        count(&|l| l.in_nurture),
        count(&|l| l.stage == Stage::Disqualified),
        join(reasons.iter().map(|(r, n)| format!("{r} {n}"))),
    ));
    // By rep: name, id and the leads they hold, in the order the data set names the leads.
    let mut owners: BTreeMap<(&str, Uuid), Vec<&str>> = BTreeMap::new();
    for lead in leads {
        if let Some((id, name)) = &lead.owner {
            owners.entry((name, *id)).or_default().push(&lead.email);
        }
    }
    for ((name, id), emails) in &owners {
        lines.push(format!(
            "  {name} (rep id {id}) holds {}: {}",
            emails.len(),
            join(emails.iter().map(|e| e.to_string()))
        ));
    }
    let busiest = owners.iter().max_by_key(|(key, emails)| {
        // The most leads; among equals the first name, so the choice is stable.
        (emails.len(), std::cmp::Reverse(key.0))
    });
    match busiest {
        Some(((name, id), _)) => lines.push(format!(
            "try {name}'s queue: KEY=$(leadrouter keys create --role rep --rep-id {id}), \
             then GET /api/v1/queue with it"
        )),
        None => lines.push("no MQL is assigned: are any reps active?".to_owned()),
    }
    lines.join("\n")
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(email: &str, stage: Stage, owner: Option<(u128, &str)>) -> LeadState {
        LeadState {
            email: email.to_owned(),
            stage,
            owner: owner.map(|(id, name)| (Uuid::from_u128(id), name.to_owned())),
            in_review: false,
            in_nurture: stage == Stage::Lead,
            disqualified: (stage == Stage::Disqualified).then_some("Disqualified_Student"),
        }
    }

    #[test]
    fn the_summary_counts_stages_and_names_the_busiest_rep() {
        let loaded = Loaded {
            reps: 4,
            reps_new: 4,
            accounts: 8,
            accounts_new: 8,
            events: 3,
            events_new: 3,
            emails: Vec::new(),
        };
        let leads = [
            lead("a@x.com", Stage::Mql, Some((1, "Blake"))),
            lead("b@x.com", Stage::Mql, Some((2, "Avery"))),
            lead("c@x.com", Stage::Mql, Some((1, "Blake"))),
            lead("d@x.com", Stage::Lead, None),
            lead("e@x.edu", Stage::Disqualified, None),
        ];
        let text = render(&loaded, &leads);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "loaded 4 reps (4 new), 8 accounts (8 new), 3 events (3 new)"
        );
        assert_eq!(
            lines[1],
            "5 leads: 3 MQL (3 assigned, 0 in the review queue), 1 in nurture, 1 disqualified \
             (Disqualified_Student 1)"
        );
        assert_eq!(
            lines[2],
            "  Avery (rep id 00000000-0000-0000-0000-000000000002) holds 1: b@x.com"
        );
        assert!(
            lines[4].contains("Blake's queue")
                && lines[4].contains("--rep-id 00000000-0000-0000-0000-000000000001")
        );
    }
}
