//! Users and their email addresses.

use super::ValidationError;
use super::connection::Strategy;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: String,
    /// The connection that created the user (the first identity).
    pub connection_id: String,
    /// Normalized. Users of a database connection always have one; an
    /// upstream may send none (the user is then known by its identity).
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub blocked: bool,
    pub app_metadata: serde_json::Map<String, serde_json::Value>,
    pub user_metadata: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// How pages name the user to themselves ("continue as …"): the email,
    /// else the name, else the id (an upstream may send neither).
    pub fn label(&self) -> &str {
        self.email
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.user_id)
    }
}

/// The id of a user provisioned from an upstream identity, in Auth0's
/// `provider|connection|id` form (Auth0's for enterprise connections:
/// Switchyard may hold several connections of one strategy, so the
/// connection is always part of it). Database users keep their `usr_…` ids.
pub fn federated_user_id(strategy: Strategy, connection_name: &str, subject: &str) -> String {
    format!("{}|{connection_name}|{subject}", strategy.as_str())
}

/// A [`federated_user_id`] read back as (strategy, connection name,
/// subject). Only the first two `|` are Switchyard's: strategies and
/// connection names hold none, the upstream's subject may hold more.
pub fn parse_federated_user_id(user_id: &str) -> Option<(Strategy, &str, &str)> {
    let (strategy, rest) = user_id.split_once('|')?;
    let (connection_name, subject) = rest.split_once('|')?;
    let strategy: Strategy = strategy.parse().ok()?;
    let well_formed = !strategy.is_database()
        && super::connection::check_name(connection_name).is_ok()
        && !subject.is_empty();
    well_formed.then_some((strategy, connection_name, subject))
}

/// Normalizes an email for lookup and uniqueness: trimmed, the domain
/// IDNA-encoded and lowercased. The local part is lowercased too: no mail
/// provider in use today treats it as case-sensitive, and two accounts that
/// differ only in case are a phishing aid.
pub fn normalize_email(raw: &str) -> Result<String, ValidationError> {
    let invalid = || ValidationError::new("email", "must be a valid email address");
    let trimmed = raw.trim();
    let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || local.len() > 64
        || trimmed.len() > 254
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err(invalid());
    }
    // The fully qualified form (`example.com.`) is the same domain.
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let domain = match url::Host::parse(domain).map_err(|_| invalid())? {
        url::Host::Domain(d) if d.contains('.') && !d.ends_with('.') => d,
        _ => return Err(invalid()),
    };
    Ok(format!("{}@{}", local.to_lowercase(), domain))
}

/// The domain part of a normalized email, used by home-realm discovery.
pub fn email_domain(normalized: &str) -> Option<&str> {
    normalized.rsplit_once('@').map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federated_ids_split_at_switchyards_separators_only() {
        let id = federated_user_id(Strategy::Oidc, "acme", "abc|def");
        assert_eq!(id, "oidc|acme|abc|def");
        assert_eq!(
            parse_federated_user_id(&id),
            Some((Strategy::Oidc, "acme", "abc|def"))
        );
        for not_federated in [
            "usr_123",
            "oidc|acme",
            "oidc|acme|",
            "auth0|users|x",
            "saml|acme|x",
            "oidc|not a name|x",
            "oidc||x",
        ] {
            assert_eq!(
                parse_federated_user_id(not_federated),
                None,
                "{not_federated}"
            );
        }
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email(" Alice@Example.COM "),
            Ok("alice@example.com".into())
        );
        assert_eq!(
            normalize_email("bob@bücher.example"),
            Ok("bob@xn--bcher-kva.example".into())
        );
        assert_eq!(
            normalize_email("carol@Example.COM."),
            Ok("carol@example.com".into())
        );
        assert_eq!(email_domain("bob@acme.test"), Some("acme.test"));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "al ice@example.com",
            "a@localhost",
            "a@127.0.0.1",
            "a@example.com..",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
