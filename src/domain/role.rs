//! Who is calling: the role an API key carries, and the caller a request acts as
//! (DESIGN §3, "Who may do what").

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// What an API key may do. Which endpoints each role reaches is the policy table in
/// `http::policy`; what a rep may see of a lead is [`Caller::lead_scope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Manages setup (accounts, reps, API keys) and may call everything.
    Admin,
    /// Revenue operations: reads leads and the governance views, works the queues.
    Ops,
    /// A sales manager: a rep who also acts on the leads of their team.
    Manager,
    /// A sales rep, acting on the leads they own.
    Rep,
    /// A system that posts events (CRM, MAP, webhook relay).
    Source,
}

/// A role name that is not one of [`Role`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}; allowed: admin, ops, manager, rep, source")]
pub struct UnknownRole(pub String);

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Ops,
        Role::Manager,
        Role::Rep,
        Role::Source,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ops => "ops",
            Role::Manager => "manager",
            Role::Rep => "rep",
            Role::Source => "source",
        }
    }

    /// Keys of this role are bound to a rep (managers are reps too), and only they are.
    pub fn is_rep_bound(self) -> bool {
        matches!(self, Role::Manager | Role::Rep)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// By hand rather than derived, so a 422 lists the allowed roles instead of serde's
// "unknown variant".
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's row; `None` for the bootstrap admin key from the settings.
    pub key_id: Option<Uuid>,
    pub role: Role,
    /// The rep a `rep` or `manager` key is bound to.
    pub rep_id: Option<Uuid>,
    /// The key's public prefix (`lr_1a2b3c4d`), which names it in listings.
    pub key_prefix: String,
}

/// Which leads a caller may act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadScope {
    /// Every lead (admin, ops, sources).
    All,
    /// The leads owned by this rep.
    OwnedBy(Uuid),
    /// The leads owned by this manager or by a rep of their team.
    TeamOf(Uuid),
}

impl Caller {
    /// The caller that the bootstrap admin key from the settings stands for.
    pub fn bootstrap_admin() -> Self {
        Caller {
            key_id: None,
            role: Role::Admin,
            rep_id: None,
            key_prefix: "bootstrap".to_owned(),
        }
    }

    /// Who did it, for transition logs and review records: the rep for rep-bound keys
    /// (`rep:<uuid>`, `manager:<uuid>`), else the role and the key's prefix
    /// (`ops:lr_1a2b3c4d`, `admin:bootstrap`), never any secret part of the key.
    pub fn actor(&self) -> String {
        match self.rep_id {
            Some(rep_id) => format!("{}:{rep_id}", self.role),
            None => format!("{}:{}", self.role, self.key_prefix),
        }
    }

    /// The leads this caller may act on (DESIGN §3: reps their own, managers their team's).
    /// Lead ownership arrives with handoff; the use cases that read or change a lead apply
    /// this scope then.
    pub fn lead_scope(&self) -> LeadScope {
        match (self.role, self.rep_id) {
            (Role::Rep, Some(rep_id)) => LeadScope::OwnedBy(rep_id),
            (Role::Manager, Some(rep_id)) => LeadScope::TeamOf(rep_id),
            _ => LeadScope::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        let error = "Admin".parse::<Role>().unwrap_err().to_string();
        assert_eq!(
            error,
            "unknown role \"Admin\"; allowed: admin, ops, manager, rep, source"
        );
        let error = serde_json::from_str::<Role>("\"boss\"").unwrap_err();
        assert!(error.to_string().contains("allowed: admin"), "{error}");
    }

    #[test]
    fn only_reps_and_managers_are_bound_to_a_rep() {
        let bound: Vec<Role> = Role::ALL.into_iter().filter(|r| r.is_rep_bound()).collect();
        assert_eq!(bound, [Role::Manager, Role::Rep]);
    }

    #[test]
    fn the_actor_names_the_rep_or_the_key_never_the_secret() {
        let rep_id = Uuid::nil();
        let rep = Caller {
            key_id: Some(Uuid::nil()),
            role: Role::Rep,
            rep_id: Some(rep_id),
            key_prefix: "lr_1a2b3c4d".to_owned(),
        };
        assert_eq!(rep.actor(), format!("rep:{rep_id}"));
        assert_eq!(rep.lead_scope(), LeadScope::OwnedBy(rep_id));
        let manager = Caller {
            role: Role::Manager,
            ..rep.clone()
        };
        assert_eq!(manager.actor(), format!("manager:{rep_id}"));
        assert_eq!(manager.lead_scope(), LeadScope::TeamOf(rep_id));
        let ops = Caller {
            role: Role::Ops,
            rep_id: None,
            ..rep
        };
        assert_eq!(ops.actor(), "ops:lr_1a2b3c4d");
        assert_eq!(ops.lead_scope(), LeadScope::All);
        assert_eq!(Caller::bootstrap_admin().actor(), "admin:bootstrap");
    }
}
