//! Home-realm discovery: where a login goes, as a pure function of the
//! email typed, the login's context and a snapshot of the connections
//! available in that context. The domain-routing issue extends the snapshot
//! with verified domains; the decision type already carries the outcomes.

pub mod table;

pub use table::{DomainRoute, RoutingTable};

use crate::model::connection::Strategy;

/// A connection the login may use, with its properties in this context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub connection_id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub strategy: Strategy,
    pub show_as_button: bool,
    pub is_signup_enabled: bool,
    /// The connection's `options.domain_aliases`, normalized: tenant-level
    /// routing of an email domain to this connection.
    pub domain_aliases: Vec<String>,
}

/// Every connection the login may use: the organization's enabled
/// connections, or without an organization the connections enabled for the client.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub candidates: Vec<Candidate>,
    /// Whether the login is in an organization's context.
    pub in_organization: bool,
    /// The verified domain that covers the email's domain, if any (filled
    /// once an email is known).
    pub domain_route: Option<DomainRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ask for the password of the user in this database connection.
    Password {
        connection_id: String,
        signup_allowed: bool,
    },
    /// Send the browser to this upstream connection's identity provider.
    Redirect {
        connection_id: String,
    },
    /// Offer these upstream connections as buttons.
    Buttons(Vec<Candidate>),
    Reject(Rejection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No connection is enabled in this context.
    NoConnections,
    /// Connections are enabled, but every one is hidden from the login page.
    NoVisibleConnections,
}

impl Rejection {
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::NoConnections => {
                "No connections are enabled for this application or organization."
            }
            Rejection::NoVisibleConnections => {
                "No connections enabled for the organization are visible."
            }
        }
    }
}

/// The database connection password logins in this context use.
fn database_candidate(snapshot: &Snapshot) -> Option<&Candidate> {
    snapshot
        .candidates
        .iter()
        .find(|c| c.strategy.is_database())
}

/// The database connection new accounts would be created in, when sign-up
/// is allowed in this context (before any email is typed: the sign-up form
/// still goes through [`decide`] with the email).
#[must_use]
pub fn signup_connection(snapshot: &Snapshot) -> Option<&Candidate> {
    database_candidate(snapshot).filter(|c| c.is_signup_enabled)
}

/// The upstream connections the login page offers as buttons: enterprise
/// connections of an organization only when `show_as_button`.
#[must_use]
pub fn buttons(snapshot: &Snapshot) -> Vec<Candidate> {
    snapshot
        .candidates
        .iter()
        .filter(|c| !c.strategy.is_database())
        .filter(|c| c.show_as_button || !snapshot.in_organization)
        .cloned()
        .collect()
}

/// The one upstream connection of a login that has no other (an explicit
/// `connection=NAME` narrows it to one, shown as a button or not): the
/// browser goes straight there.
#[must_use]
pub fn only_upstream(snapshot: &Snapshot) -> Option<&Candidate> {
    match snapshot.candidates.as_slice() {
        [only] if !only.strategy.is_database() => Some(only),
        _ => None,
    }
}

/// Decides the next step after the identifier page. `email` is normalized.
#[must_use]
pub fn decide(_email: &str, snapshot: &Snapshot) -> Decision {
    if snapshot.candidates.is_empty() {
        return Decision::Reject(Rejection::NoConnections);
    }
    if let Some(database) = database_candidate(snapshot) {
        return Decision::Password {
            connection_id: database.connection_id.clone(),
            signup_allowed: database.is_signup_enabled,
        };
    }
    let buttons = buttons(snapshot);
    // The one connection there is, offered as a button: go there at once.
    if let (Some(only), [_]) = (only_upstream(snapshot), buttons.as_slice()) {
        return Decision::Redirect {
            connection_id: only.connection_id.clone(),
        };
    }
    if buttons.is_empty() {
        Decision::Reject(Rejection::NoVisibleConnections)
    } else {
        Decision::Buttons(buttons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, strategy: Strategy, show_as_button: bool) -> Candidate {
        Candidate {
            connection_id: format!("con_{name}"),
            name: name.into(),
            display_name: None,
            strategy,
            show_as_button,
            is_signup_enabled: false,
            domain_aliases: Vec::new(),
        }
    }

    #[test]
    fn database_connection_asks_for_the_password() {
        let snapshot = Snapshot {
            candidates: vec![
                candidate("sso", Strategy::Oidc, true),
                candidate("db", Strategy::Database, false),
            ],
            in_organization: true,
            domain_route: None,
        };
        assert_eq!(
            decide("a@acme.test", &snapshot),
            Decision::Password {
                connection_id: "con_db".into(),
                signup_allowed: false
            }
        );
    }

    #[test]
    fn signup_follows_the_database_connection() {
        let mut db = candidate("db", Strategy::Database, false);
        let mut snapshot = Snapshot {
            candidates: vec![candidate("sso", Strategy::Oidc, true), db.clone()],
            in_organization: true,
            domain_route: None,
        };
        assert_eq!(signup_connection(&snapshot), None);
        db.is_signup_enabled = true;
        snapshot.candidates[1] = db.clone();
        assert_eq!(signup_connection(&snapshot), Some(&db));
        assert_eq!(
            decide("a@acme.test", &snapshot),
            Decision::Password {
                connection_id: "con_db".into(),
                signup_allowed: true
            }
        );
        // Only a database connection takes sign-ups.
        let mut sso = candidate("sso", Strategy::Oidc, true);
        sso.is_signup_enabled = true;
        snapshot.candidates = vec![sso];
        assert_eq!(signup_connection(&snapshot), None);
    }

    #[test]
    fn hidden_enterprise_connections_are_reported_not_ignored() {
        let snapshot = Snapshot {
            candidates: vec![candidate("sso", Strategy::Saml, false)],
            in_organization: true,
            domain_route: None,
        };
        assert_eq!(
            decide("a@acme.test", &snapshot),
            Decision::Reject(Rejection::NoVisibleConnections)
        );
        assert_eq!(
            decide("a@acme.test", &Snapshot::default()),
            Decision::Reject(Rejection::NoConnections)
        );
    }

    #[test]
    fn visible_enterprise_connections_become_buttons() {
        let snapshot = Snapshot {
            candidates: vec![
                candidate("sso", Strategy::Oidc, true),
                candidate("hidden", Strategy::Saml, false),
            ],
            in_organization: true,
            domain_route: None,
        };
        match decide("a@acme.test", &snapshot) {
            Decision::Buttons(buttons) => assert_eq!(buttons.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
        // Beside a database connection, the buttons are offered too.
        let with_database = Snapshot {
            candidates: vec![
                candidate("db", Strategy::Database, true),
                candidate("sso", Strategy::Oidc, true),
                candidate("hidden", Strategy::Oidc, false),
                // The snapshot shows social connections as buttons always.
                candidate("google", Strategy::Google, true),
            ],
            in_organization: true,
            domain_route: None,
        };
        let names: Vec<String> = buttons(&with_database)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["sso", "google"]);
    }

    #[test]
    fn a_lone_upstream_connection_is_followed_at_once() {
        let snapshot = Snapshot {
            candidates: vec![candidate("sso", Strategy::Oidc, true)],
            in_organization: true,
            domain_route: None,
        };
        assert_eq!(
            decide("a@acme.test", &snapshot),
            Decision::Redirect {
                connection_id: "con_sso".into()
            }
        );
        // Hidden, it is still the one `connection=NAME` names.
        let hidden = Snapshot {
            candidates: vec![candidate("sso", Strategy::Oidc, false)],
            in_organization: true,
            domain_route: None,
        };
        assert_eq!(only_upstream(&hidden).map(|c| c.name.as_str()), Some("sso"));
        let database = Snapshot {
            candidates: vec![candidate("db", Strategy::Database, false)],
            in_organization: false,
            domain_route: None,
        };
        assert_eq!(only_upstream(&database), None);
    }
}
