//! Resource servers (APIs): the audiences access tokens are issued for, the
//! scopes they define, and how their tokens are made. Roles are granted
//! permissions, which are scopes of a resource server.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::client::{SigningAlg, check_scope_values, wire_enum};
use super::{ValidationError, check_display_text};

wire_enum!(
    /// How RBAC permissions appear in access tokens: `access_token` puts them
    /// in `scope` only, `access_token_authz` adds a `permissions` claim.
    TokenDialect {
        AccessToken = "access_token",
        AccessTokenAuthz = "access_token_authz",
    }
);

/// Default and bounds of `token_lifetime`, in seconds (Auth0's: 1 day, at most 30 days).
pub const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;
pub const MAX_TOKEN_LIFETIME: i64 = 2_592_000;

/// Auth0's limits on identifiers, names and scopes.
pub const MAX_IDENTIFIER_CHARS: usize = 600;
const MAX_NAME_CHARS: usize = 200;
const MAX_SCOPE_VALUE_CHARS: usize = 280;
const MAX_SCOPE_DESCRIPTION_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// Named apart from the connections' `scope` (string or list) in the OpenAPI
// document, where two `Scope`s would be one.
#[schema(as = ResourceServerScope)]
pub struct Scope {
    /// The scope (permission) name, e.g. `read:invoices`.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceServer {
    pub id: String,
    pub name: String,
    /// The audience (`aud`) of its tokens; unique and never changed.
    pub identifier: String,
    pub scopes: Vec<Scope>,
    pub signing_alg: SigningAlg,
    /// Access token lifetime in seconds.
    pub token_lifetime: i64,
    /// Whether clients may get refresh tokens for this API.
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// RBAC: whether the permissions of the user's roles decide what tokens carry.
    pub enforce_policies: bool,
    pub token_dialect: TokenDialect,
    /// Auth0 properties kept and returned without effect (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

impl ResourceServer {
    /// The rules every stored resource server obeys, checked after create and update.
    pub fn check(&self) -> Result<(), ValidationError> {
        check_identifier(&self.identifier)?;
        check_display_text("name", &self.name, MAX_NAME_CHARS)?;
        if self.name.contains(['<', '>']) {
            return Err(ValidationError::new("name", "must not contain < or >"));
        }
        check_scopes(&self.scopes)?;
        if !(1..=MAX_TOKEN_LIFETIME).contains(&self.token_lifetime) {
            return Err(ValidationError::new(
                "token_lifetime",
                format!("must be from 1 to {MAX_TOKEN_LIFETIME} seconds"),
            ));
        }
        Ok(())
    }

    /// Whether `permission` is one of this API's scopes.
    pub fn has_scope(&self, permission: &str) -> bool {
        self.scopes.iter().any(|s| s.value == permission)
    }
}

/// The name of an API created without one: its identifier, cut to what a
/// name may hold.
pub fn default_name(identifier: &str) -> String {
    identifier
        .chars()
        .filter(|c| !matches!(c, '<' | '>'))
        .take(MAX_NAME_CHARS)
        .collect()
}

/// An audience: any non-blank string up to 600 characters (Auth0 recommends
/// but does not require a URL), without control characters or surrounding spaces.
pub fn check_identifier(identifier: &str) -> Result<(), ValidationError> {
    check_display_text("identifier", identifier, MAX_IDENTIFIER_CHARS)?;
    if identifier.trim() != identifier {
        return Err(ValidationError::new(
            "identifier",
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

fn check_scopes(scopes: &[Scope]) -> Result<(), ValidationError> {
    let mut seen = HashSet::new();
    for (i, scope) in scopes.iter().enumerate() {
        check_scope_values(
            &format!("scopes[{i}].value"),
            std::slice::from_ref(&scope.value),
        )
        .map_err(|e| ValidationError::new(format!("scopes[{i}].value"), e.reason))?;
        if scope.value.chars().count() > MAX_SCOPE_VALUE_CHARS {
            return Err(ValidationError::new(
                format!("scopes[{i}].value"),
                format!("must be at most {MAX_SCOPE_VALUE_CHARS} characters"),
            ));
        }
        if !seen.insert(scope.value.as_str()) {
            return Err(ValidationError::new(
                format!("scopes[{i}].value"),
                format!("'{}' is listed more than once", scope.value),
            ));
        }
        if let Some(description) = &scope.description {
            if description.chars().count() > MAX_SCOPE_DESCRIPTION_CHARS
                || description.chars().any(char::is_control)
            {
                return Err(ValidationError::new(
                    format!("scopes[{i}].description"),
                    format!(
                        "must be at most {MAX_SCOPE_DESCRIPTION_CHARS} characters, without control characters"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ResourceServer {
        ResourceServer {
            id: "api_x".into(),
            name: "Invoices".into(),
            identifier: "https://invoices.example.com/".into(),
            scopes: vec![Scope {
                value: "read:invoices".into(),
                description: Some("Read invoices".into()),
            }],
            signing_alg: SigningAlg::RS256,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            allow_offline_access: false,
            skip_consent_for_verifiable_first_party_clients: true,
            enforce_policies: false,
            token_dialect: TokenDialect::AccessToken,
            inert_settings: Default::default(),
        }
    }

    fn field_of(rs: &ResourceServer) -> Option<String> {
        rs.check().err().map(|e| e.field)
    }

    #[test]
    fn a_plain_api_is_valid_and_identifiers_need_not_be_urls() {
        assert_eq!(api().check(), Ok(()));
        let mut urn = api();
        urn.identifier = "urn:invoices".into();
        assert_eq!(urn.check(), Ok(()));
    }

    #[test]
    fn identifiers_are_bounded_and_trimmed() {
        for bad in ["", "   ", " https://a.example/", "a\u{7}b"] {
            let mut rs = api();
            rs.identifier = bad.into();
            assert_eq!(field_of(&rs).as_deref(), Some("identifier"), "{bad:?}");
        }
        let mut long = api();
        long.identifier = "x".repeat(600);
        assert_eq!(long.check(), Ok(()));
        long.identifier.push('x');
        assert_eq!(field_of(&long).as_deref(), Some("identifier"));
    }

    #[test]
    fn scope_values_are_unique_tokens() {
        let mut rs = api();
        rs.scopes.push(Scope {
            value: "read:invoices".into(),
            description: None,
        });
        assert_eq!(field_of(&rs).as_deref(), Some("scopes[1].value"));
        rs.scopes[1].value = "write invoices".into();
        assert_eq!(field_of(&rs).as_deref(), Some("scopes[1].value"));
        rs.scopes[1].value = "write:invoices".into();
        assert_eq!(rs.check(), Ok(()));
        assert!(rs.has_scope("write:invoices"));
        assert!(!rs.has_scope("delete:invoices"));
    }

    #[test]
    fn token_lifetime_bounds() {
        let mut rs = api();
        for (lifetime, ok) in [(0, false), (1, true), (2_592_000, true), (2_592_001, false)] {
            rs.token_lifetime = lifetime;
            assert_eq!(rs.check().is_ok(), ok, "{lifetime}");
        }
    }

    #[test]
    fn default_names_fit_the_name_rules() {
        let mut rs = api();
        rs.identifier = format!("urn:<{}>", "x".repeat(590));
        rs.name = default_name(&rs.identifier);
        assert_eq!(rs.check(), Ok(()));
        assert!(rs.name.starts_with("urn:xxx"));
    }

    #[test]
    fn names_refuse_markup() {
        let mut rs = api();
        rs.name = "<b>Invoices</b>".into();
        assert_eq!(field_of(&rs).as_deref(), Some("name"));
    }
}
