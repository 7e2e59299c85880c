//! Home-realm discovery: where a login goes, as a pure function of the
//! email typed, the login's context and a snapshot of the connections
//! available in that context, with the verified domain covering the email.
//!
//! In an organization's login: the organization's verified domain bound to
//! a connection, then a connection whose `domain_aliases` name the email's
//! domain, then the organization's database connection, else the buttons.
//! Without an organization: a verified domain picks its organization (and
//! the login goes on in it) when the client logs in to organizations, or
//! only the connection it is bound to when the client denies them; then
//! the client's connections' `domain_aliases`, then the database
//! connection, else the buttons, or a page saying no account uses the domain.

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
    /// The organization the login is in, if any.
    pub organization_id: Option<String>,
    /// The verified domain that covers the email's domain, if any (filled
    /// once an email is known).
    pub domain_route: Option<DomainRoute>,
    /// Without an organization, when the client logs in to organizations:
    /// the organization of `domain_route`, with the connections the login
    /// could use in it. `None` when the client denies organizations.
    pub routed_organization: Option<RoutedOrganization>,
}

impl Snapshot {
    /// Whether the login is in an organization's context.
    pub fn in_organization(&self) -> bool {
        self.organization_id.is_some()
    }
}

/// The organization an email's verified domain names, seen from a login
/// without one: the connections enabled on it and for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedOrganization {
    pub organization_id: String,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ask for the password of the user in this database connection.
    Password {
        connection_id: String,
        signup_allowed: bool,
        /// The organization the email's domain chose: the login goes on in
        /// it (`None`: in the login's own context).
        organization_id: Option<String>,
    },
    /// Send the browser to this upstream connection's identity provider.
    Redirect {
        connection_id: String,
        /// As for `Password`.
        organization_id: Option<String>,
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
    /// No connection of this login serves the email's domain, and there is
    /// no database connection to look the account up in.
    UnknownDomain(String),
}

impl Rejection {
    pub fn message(&self) -> String {
        match self {
            Rejection::NoConnections => {
                "No connections are enabled for this application or organization.".into()
            }
            Rejection::NoVisibleConnections => {
                "No connections enabled for the organization are visible.".into()
            }
            Rejection::UnknownDomain(domain) => format!(
                "No account for the domain {domain} can log in here. Check the email address, \
                 or ask your administrator how to log in."
            ),
        }
    }
}

/// The database connection password logins in this context use.
fn database_candidate(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates.iter().find(|c| c.strategy.is_database())
}

/// The database connection new accounts would be created in, when sign-up
/// is allowed in this context (before any email is typed: the sign-up form
/// still goes through [`decide`] with the email).
#[must_use]
pub fn signup_connection(snapshot: &Snapshot) -> Option<&Candidate> {
    database_candidate(&snapshot.candidates).filter(|c| c.is_signup_enabled)
}

/// The upstream connections the login page offers as buttons: enterprise
/// connections only when `show_as_button` (the others are reached by the
/// email's domain, or by `connection=NAME`).
#[must_use]
pub fn buttons(snapshot: &Snapshot) -> Vec<Candidate> {
    snapshot
        .candidates
        .iter()
        .filter(|c| !c.strategy.is_database())
        .filter(|c| c.show_as_button)
        .cloned()
        .collect()
}

/// The one upstream connection of a login that has no other (an explicit
/// `connection=NAME` narrows it to one, shown as a button or not): the
/// browser goes straight there.
#[must_use]
pub fn only_upstream(snapshot: &Snapshot) -> Option<&Candidate> {
    lone_upstream(&snapshot.candidates)
}

fn lone_upstream(candidates: &[Candidate]) -> Option<&Candidate> {
    match candidates {
        [only] if !only.strategy.is_database() => Some(only),
        _ => None,
    }
}

/// The domain of an email (`None`: a username).
fn domain_of(email: &str) -> Option<&str> {
    email.rsplit_once('@').map(|(_, domain)| domain)
}

/// The connection the email's domain picks among an organization's
/// `candidates`: the one its verified domain (`route`, of this
/// organization) is bound to, else one whose `domain_aliases` name the
/// domain exactly.
fn by_domain<'a>(
    domain: Option<&str>,
    route: Option<&DomainRoute>,
    candidates: &'a [Candidate],
) -> Option<&'a Candidate> {
    let bound = route
        .and_then(|r| r.connection_id.as_deref())
        .and_then(|id| candidates.iter().find(|c| c.connection_id == id));
    bound.or_else(|| {
        let domain = domain?;
        candidates
            .iter()
            .find(|c| c.domain_aliases.iter().any(|alias| alias == domain))
    })
}

/// Logging in through `candidate`, in `organization_id` when the domain chose it.
fn through(candidate: &Candidate, organization_id: Option<&String>) -> Decision {
    let organization_id = organization_id.cloned();
    if candidate.strategy.is_database() {
        Decision::Password {
            connection_id: candidate.connection_id.clone(),
            signup_allowed: candidate.is_signup_enabled,
            organization_id,
        }
    } else {
        Decision::Redirect {
            connection_id: candidate.connection_id.clone(),
            organization_id,
        }
    }
}

/// Decides the next step after the identifier page. `email` is normalized
/// (an email, or a username without `@`).
#[must_use]
pub fn decide(email: &str, snapshot: &Snapshot) -> Decision {
    if snapshot.candidates.is_empty() {
        return Decision::Reject(Rejection::NoConnections);
    }
    let domain = domain_of(email);
    // A username has no domain to route by.
    let route = domain.and(snapshot.domain_route.as_ref());
    if let Some(organization_id) = &snapshot.organization_id {
        // Another organization's domain decides nothing in this one.
        let own_route = route.filter(|r| &r.organization_id == organization_id);
        if let Some(chosen) = by_domain(domain, own_route, &snapshot.candidates) {
            return through(chosen, None);
        }
        return database_or_buttons(snapshot, None);
    }
    match (route, &snapshot.routed_organization) {
        // The domain picks its organization, and a connection of it the
        // login may use: the login goes on in that organization.
        (Some(route), Some(routed)) if routed.organization_id == route.organization_id => {
            let chosen = by_domain(domain, Some(route), &routed.candidates)
                .or_else(|| database_candidate(&routed.candidates))
                .or_else(|| lone_upstream(&routed.candidates));
            if let Some(chosen) = chosen {
                return through(chosen, Some(&routed.organization_id));
            }
        }
        // The client denies organizations: only the connection the domain
        // is bound to, when the client may use it, without the organization.
        (Some(route), None) => {
            let bound = route
                .connection_id
                .as_deref()
                .and_then(|id| snapshot.candidates.iter().find(|c| c.connection_id == id));
            if let Some(chosen) = bound {
                return through(chosen, None);
            }
        }
        _ => {}
    }
    if let Some(chosen) = by_domain(domain, None, &snapshot.candidates) {
        return through(chosen, None);
    }
    database_or_buttons(snapshot, domain)
}

/// No domain decided: the database connection, else the upstream buttons.
/// `unknown_domain`: without an organization, the email's domain that no
/// connection serves, when nothing is left to offer.
fn database_or_buttons(snapshot: &Snapshot, unknown_domain: Option<&str>) -> Decision {
    if let Some(database) = database_candidate(&snapshot.candidates) {
        return through(database, None);
    }
    let buttons = buttons(snapshot);
    // The one connection there is, offered as a button: go there at once.
    if let (Some(only), [_]) = (only_upstream(snapshot), buttons.as_slice()) {
        return through(only, None);
    }
    match unknown_domain {
        _ if !buttons.is_empty() => Decision::Buttons(buttons),
        Some(domain) => Decision::Reject(Rejection::UnknownDomain(domain.to_owned())),
        None => Decision::Reject(Rejection::NoVisibleConnections),
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

    fn aliased(name: &str, aliases: &[&str]) -> Candidate {
        Candidate {
            domain_aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            ..candidate(name, Strategy::Oidc, false)
        }
    }

    fn in_org(candidates: Vec<Candidate>) -> Snapshot {
        Snapshot {
            candidates,
            organization_id: Some("org_acme".into()),
            ..Snapshot::default()
        }
    }

    fn route(org: &str, domain: &str, connection: Option<&str>) -> Option<DomainRoute> {
        Some(DomainRoute {
            domain: domain.into(),
            organization_id: org.into(),
            connection_id: connection.map(|c| format!("con_{c}")),
        })
    }

    fn password(connection: &str, organization: Option<&str>) -> Decision {
        Decision::Password {
            connection_id: format!("con_{connection}"),
            signup_allowed: false,
            organization_id: organization.map(str::to_owned),
        }
    }

    fn redirect(connection: &str, organization: Option<&str>) -> Decision {
        Decision::Redirect {
            connection_id: format!("con_{connection}"),
            organization_id: organization.map(str::to_owned),
        }
    }

    #[test]
    fn database_connection_asks_for_the_password() {
        let snapshot = in_org(vec![
            candidate("sso", Strategy::Oidc, true),
            candidate("db", Strategy::Database, false),
        ]);
        assert_eq!(decide("a@acme.test", &snapshot), password("db", None));
    }

    #[test]
    fn signup_follows_the_database_connection() {
        let mut db = candidate("db", Strategy::Database, false);
        let mut snapshot = in_org(vec![candidate("sso", Strategy::Oidc, true), db.clone()]);
        assert_eq!(signup_connection(&snapshot), None);
        db.is_signup_enabled = true;
        snapshot.candidates[1] = db.clone();
        assert_eq!(signup_connection(&snapshot), Some(&db));
        assert_eq!(
            decide("a@acme.test", &snapshot),
            Decision::Password {
                connection_id: "con_db".into(),
                signup_allowed: true,
                organization_id: None,
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
        let snapshot = in_org(vec![candidate("sso", Strategy::Saml, false)]);
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
        let snapshot = in_org(vec![
            candidate("sso", Strategy::Oidc, true),
            candidate("hidden", Strategy::Saml, false),
        ]);
        match decide("a@acme.test", &snapshot) {
            Decision::Buttons(buttons) => assert_eq!(buttons.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
        // Beside a database connection, the buttons are offered too.
        let with_database = in_org(vec![
            candidate("db", Strategy::Database, true),
            candidate("sso", Strategy::Oidc, true),
            candidate("hidden", Strategy::Oidc, false),
            // The snapshot shows social connections as buttons always.
            candidate("google", Strategy::Google, true),
        ]);
        let names: Vec<String> = buttons(&with_database)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["sso", "google"]);
    }

    #[test]
    fn a_lone_upstream_connection_is_followed_at_once() {
        let snapshot = in_org(vec![candidate("sso", Strategy::Oidc, true)]);
        assert_eq!(decide("a@acme.test", &snapshot), redirect("sso", None));
        // Hidden, it is still the one `connection=NAME` names.
        let hidden = in_org(vec![candidate("sso", Strategy::Oidc, false)]);
        assert_eq!(only_upstream(&hidden).map(|c| c.name.as_str()), Some("sso"));
        let database = Snapshot {
            candidates: vec![candidate("db", Strategy::Database, false)],
            ..Snapshot::default()
        };
        assert_eq!(only_upstream(&database), None);
    }

    #[test]
    fn in_an_organization_its_bound_domain_wins_over_aliases_and_the_database() {
        let mut snapshot = in_org(vec![
            candidate("db", Strategy::Database, false),
            aliased("okta", &["acme.test"]),
            candidate("entra", Strategy::Oidc, false),
        ]);
        snapshot.domain_route = route("org_acme", "acme.test", Some("entra"));
        assert_eq!(decide("a@acme.test", &snapshot), redirect("entra", None));
        // Bound to the organization's default: the aliases decide.
        snapshot.domain_route = route("org_acme", "acme.test", None);
        assert_eq!(decide("a@acme.test", &snapshot), redirect("okta", None));
        // A connection the login may not use is never chosen.
        snapshot.domain_route = route("org_acme", "acme.test", Some("elsewhere"));
        assert_eq!(decide("a@acme.test", &snapshot), redirect("okta", None));
    }

    #[test]
    fn in_an_organization_another_organizations_domain_is_ignored() {
        let mut snapshot = in_org(vec![
            candidate("db", Strategy::Database, false),
            candidate("entra", Strategy::Oidc, false),
        ]);
        snapshot.domain_route = route("org_globex", "globex.test", Some("entra"));
        assert_eq!(decide("a@globex.test", &snapshot), password("db", None));
    }

    #[test]
    fn aliases_match_the_exact_domain_only() {
        let snapshot = in_org(vec![
            candidate("db", Strategy::Database, false),
            aliased("okta", &["acme.test"]),
        ]);
        assert_eq!(decide("a@acme.test", &snapshot), redirect("okta", None));
        assert_eq!(decide("a@eu.acme.test", &snapshot), password("db", None));
        assert_eq!(decide("a@notacme.test", &snapshot), password("db", None));
    }

    #[test]
    fn in_an_organization_without_a_database_the_buttons_remain() {
        let snapshot = in_org(vec![
            candidate("google", Strategy::Google, true),
            candidate("sso", Strategy::Oidc, true),
        ]);
        assert!(matches!(
            decide("a@elsewhere.test", &snapshot),
            Decision::Buttons(b) if b.len() == 2
        ));
    }

    fn tenant(candidates: Vec<Candidate>) -> Snapshot {
        Snapshot {
            candidates,
            ..Snapshot::default()
        }
    }

    #[test]
    fn without_an_organization_a_verified_domain_picks_its_organization() {
        let db = candidate("db", Strategy::Database, false);
        let entra = candidate("entra", Strategy::Oidc, false);
        let mut snapshot = tenant(vec![db.clone(), entra.clone()]);
        snapshot.domain_route = route("org_acme", "acme.test", Some("entra"));
        snapshot.routed_organization = Some(RoutedOrganization {
            organization_id: "org_acme".into(),
            candidates: vec![db.clone(), entra.clone()],
        });
        assert_eq!(
            decide("a@acme.test", &snapshot),
            redirect("entra", Some("org_acme"))
        );
        // Bound to the default: the organization's database connection.
        snapshot.domain_route = route("org_acme", "acme.test", None);
        assert_eq!(
            decide("a@acme.test", &snapshot),
            password("db", Some("org_acme"))
        );
        // ... or its only connection, even hidden.
        snapshot.routed_organization = Some(RoutedOrganization {
            organization_id: "org_acme".into(),
            candidates: vec![entra.clone()],
        });
        assert_eq!(
            decide("a@acme.test", &snapshot),
            redirect("entra", Some("org_acme"))
        );
    }

    #[test]
    fn a_domain_never_routes_to_a_connection_its_organization_does_not_enable() {
        let db = candidate("db", Strategy::Database, false);
        let entra = candidate("entra", Strategy::Oidc, false);
        let mut snapshot = tenant(vec![db.clone(), entra.clone()]);
        snapshot.domain_route = route("org_acme", "acme.test", Some("entra"));
        // Enabled for the client, but not on the organization.
        snapshot.routed_organization = Some(RoutedOrganization {
            organization_id: "org_acme".into(),
            candidates: vec![],
        });
        assert_eq!(decide("a@acme.test", &snapshot), password("db", None));
    }

    #[test]
    fn a_client_denying_organizations_takes_only_the_bound_connection() {
        let db = candidate("db", Strategy::Database, false);
        let entra = candidate("entra", Strategy::Oidc, false);
        let mut snapshot = tenant(vec![db.clone(), entra.clone()]);
        snapshot.domain_route = route("org_acme", "acme.test", Some("entra"));
        assert_eq!(decide("a@acme.test", &snapshot), redirect("entra", None));
        // Not enabled for the client: not followed.
        snapshot.candidates = vec![db.clone()];
        assert_eq!(decide("a@acme.test", &snapshot), password("db", None));
        // Bound to the organization's default: nothing to follow.
        snapshot.candidates = vec![db, entra];
        snapshot.domain_route = route("org_acme", "acme.test", None);
        assert_eq!(decide("a@acme.test", &snapshot), password("db", None));
    }

    #[test]
    fn without_an_organization_aliases_route_at_tenant_level() {
        let snapshot = tenant(vec![
            candidate("db", Strategy::Database, false),
            aliased("okta", &["acme.test"]),
        ]);
        assert_eq!(decide("a@acme.test", &snapshot), redirect("okta", None));
        assert_eq!(decide("a@other.test", &snapshot), password("db", None));
    }

    #[test]
    fn an_unknown_domain_falls_back_to_the_database_or_a_page_saying_so() {
        let with_database = tenant(vec![
            candidate("db", Strategy::Database, false),
            aliased("okta", &["acme.test"]),
        ]);
        assert_eq!(
            decide("a@unknown.test", &with_database),
            password("db", None)
        );
        let without = tenant(vec![
            aliased("okta", &["acme.test"]),
            aliased("entra", &["globex.test"]),
        ]);
        assert_eq!(
            decide("a@unknown.test", &without),
            Decision::Reject(Rejection::UnknownDomain("unknown.test".into()))
        );
        assert!(
            Rejection::UnknownDomain("unknown.test".into())
                .message()
                .contains("unknown.test")
        );
        // Hidden connections are reached by their domain only.
        assert_eq!(decide("a@globex.test", &without), redirect("entra", None));
    }

    #[test]
    fn a_username_takes_the_password_path() {
        let mut snapshot = tenant(vec![
            aliased("okta", &["acme.test"]),
            candidate("db", Strategy::Database, false),
        ]);
        snapshot.domain_route = route("org_acme", "acme.test", Some("okta"));
        assert_eq!(decide("ana", &snapshot), password("db", None));
        let mut in_organization = in_org(snapshot.candidates.clone());
        in_organization.domain_route = None;
        assert_eq!(decide("ana", &in_organization), password("db", None));
    }
}
