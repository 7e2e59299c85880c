//! Connections (where identities come from) and their enablement on organizations.
//!
//! A connection's `options` are typed per strategy ([`ConnectionOptions`]):
//! `database` (auth0), `social` (google-oauth2, github, windowslive, oauth2),
//! `oidc` and `saml` (samlp), each a serde struct with Auth0's spellings that
//! keeps the options it does not know, so nothing a tool sent is lost.

mod database;
mod oidc;
mod options;
mod profile;
mod saml;
mod saml_metadata;
mod social;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::organization::Metadata;
use super::{ValidationError, check_display_text, check_metadata};

pub use database::{DatabaseOptions, PasswordComplexityOptions, PasswordPolicy};
pub use oidc::{OidcAttributeMap, OidcChannel, OidcMappingMode, OidcOptions};
pub use options::{AccountLinking, ConnectionOptions, Scope};
pub use profile::{Field, ProfileMap};
pub use saml::{
    DEFAULT_CLOCK_SKEW_SECONDS, IdpInitiated, MAX_CLOCK_SKEW_SECONDS, SamlAttributeNames,
    SamlDigestAlgorithm, SamlIdpInitiatedOptions, SamlOptions, SamlProtocolBinding,
    SamlSignatureAlgorithm,
};
pub use saml_metadata::{
    CertificateFacts, IdentityProvider, IdpCertificate, MAX_METADATA_BYTES, certificate_facts,
    parse_metadata,
};
#[cfg(test)]
pub use saml_metadata::{test_certificate, test_metadata};
pub use social::{
    GithubOptions, GoogleOptions, OAUTH2_PROFILE_MAP, OAUTH2_USERINFO_URL, OAuth2Options,
    WindowsLiveOptions,
};

/// The upstream kinds Switchyard speaks, spelled as Auth0 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Strategy {
    /// A password database kept by Switchyard.
    #[serde(rename = "auth0")]
    Database,
    #[serde(rename = "google-oauth2")]
    Google,
    #[serde(rename = "github")]
    Github,
    #[serde(rename = "windowslive")]
    WindowsLive,
    #[serde(rename = "oauth2")]
    OAuth2,
    #[serde(rename = "oidc")]
    Oidc,
    #[serde(rename = "samlp")]
    Saml,
}

impl Strategy {
    pub const ALL: [Strategy; 7] = [
        Strategy::Database,
        Strategy::Google,
        Strategy::Github,
        Strategy::WindowsLive,
        Strategy::OAuth2,
        Strategy::Oidc,
        Strategy::Saml,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Database => "auth0",
            Strategy::Google => "google-oauth2",
            Strategy::Github => "github",
            Strategy::WindowsLive => "windowslive",
            Strategy::OAuth2 => "oauth2",
            Strategy::Oidc => "oidc",
            Strategy::Saml => "samlp",
        }
    }

    /// Enterprise connections belong to one organization's IdP: they may be
    /// shown as buttons and administered by the organization's own admins.
    pub fn is_enterprise(self) -> bool {
        matches!(self, Strategy::Oidc | Strategy::Saml)
    }

    /// The strategies whose verified ID token names the tenant of the person
    /// (Entra's `tid`, Google Workspace's `hd`): one connection of them may
    /// serve many organizations, each login going to its tenant's. (The
    /// `google-oauth2` connector reads userinfo, not the ID token: a shared
    /// Workspace connection is an `oidc` one to accounts.google.com.)
    pub fn routes_by_upstream_tenant(self) -> bool {
        matches!(self, Strategy::Oidc)
    }

    /// Social providers: one upstream account per person, shared by every tenant.
    pub fn is_social(self) -> bool {
        matches!(
            self,
            Strategy::Google | Strategy::Github | Strategy::WindowsLive | Strategy::OAuth2
        )
    }

    pub fn is_database(self) -> bool {
        self == Strategy::Database
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
                ValidationError::new(
                    "strategy",
                    format!(
                        "unknown strategy '{s}', expected one of: {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: Strategy,
    pub display_name: Option<String>,
    /// Strategy-specific settings, of the variant of `strategy`. Secrets in
    /// here (`client_secret`) redact their `Debug`.
    pub options: ConnectionOptions,
    pub metadata: Metadata,
    pub is_domain_connection: bool,
    pub show_as_button: Option<bool>,
    pub realms: Vec<String>,
    /// Auth0 properties kept and returned without effect (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

impl Connection {
    /// What a person is shown: the display name, else the name.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    /// Whether people may create their own accounts here outside an
    /// organization: a database connection without `options.disable_signup: true`.
    pub fn allows_signup(&self) -> bool {
        matches!(&self.options, ConnectionOptions::Database(db) if db.disable_signup != Some(true))
    }
}

/// Connection names as in Auth0: 1 to 128 characters of letters, digits and
/// single hyphens, starting and ending with a letter or digit.
pub fn check_name(name: &str) -> Result<(), ValidationError> {
    let b = name.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= 128
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            "must be 1 to 128 letters, digits and single hyphens, starting and ending with a letter or digit",
        ))
    }
}

pub fn check_display_name(value: &str) -> Result<(), ValidationError> {
    check_display_text("display_name", value, 128)
}

pub fn check_connection_metadata(metadata: &Metadata) -> Result<(), ValidationError> {
    check_metadata("metadata", metadata)
}

/// Who may administer an enterprise connection through the My Organization API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrganizationAccessLevel {
    #[default]
    None,
    Readonly,
    Limited,
    Full,
}

impl OrganizationAccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Readonly => "readonly",
            Self::Limited => "limited",
            Self::Full => "full",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::None, Self::Readonly, Self::Limited, Self::Full]
            .into_iter()
            .find(|level| level.as_str() == value)
    }
}

/// A connection enabled on an organization, with the properties that say how
/// it behaves there.
#[derive(Debug, Clone, PartialEq)]
pub struct EnabledConnection {
    pub organization_id: String,
    pub connection_id: String,
    pub assign_membership_on_login: bool,
    pub is_signup_enabled: bool,
    pub show_as_button: bool,
    pub organization_connection_name: Option<String>,
    pub organization_access_level: OrganizationAccessLevel,
    /// The upstream tenant (Entra's `tid`) whose people log in to this
    /// organization through this connection, when one connection serves
    /// many organizations: unique per connection.
    pub upstream_tenant_id: Option<String>,
}

/// The requested properties of an enabled connection, before they are checked
/// against the connection's strategy. `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct EnabledConnectionRequest {
    pub assign_membership_on_login: Option<bool>,
    pub is_signup_enabled: Option<bool>,
    pub show_as_button: Option<bool>,
    pub organization_connection_name: Option<Option<String>>,
    pub organization_access_level: Option<OrganizationAccessLevel>,
    pub upstream_tenant_id: Option<Option<String>>,
}

/// The longest upstream tenant id kept (Entra's are GUIDs).
const MAX_UPSTREAM_TENANT_ID: usize = 255;

impl EnabledConnection {
    /// Applies `request` on top of `self` (for an update) and checks the rules
    /// that tie the properties to the connection's strategy:
    /// - `is_signup_enabled` only on database connections, and only together
    ///   with `assign_membership_on_login` (a sign-up must land in the organization);
    /// - `show_as_button` is taken on every connection, as Auth0 does, but
    ///   only enterprise connections' buttons follow it;
    /// - an `organization_access_level` above `none` only on enterprise connections.
    pub fn apply(
        mut self,
        strategy: Strategy,
        request: &EnabledConnectionRequest,
    ) -> Result<Self, ValidationError> {
        if let Some(v) = request.assign_membership_on_login {
            self.assign_membership_on_login = v;
        }
        if let Some(v) = request.is_signup_enabled {
            if v && !strategy.is_database() {
                return Err(ValidationError::new(
                    "is_signup_enabled",
                    "can only be set on database connections",
                ));
            }
            self.is_signup_enabled = v;
        }
        if let Some(v) = request.show_as_button {
            self.show_as_button = v;
        }
        if let Some(name) = &request.organization_connection_name {
            if let Some(name) = name {
                check_name(name)
                    .map_err(|e| ValidationError::new("organization_connection_name", e.reason))?;
            }
            self.organization_connection_name = name.clone();
        }
        if let Some(level) = request.organization_access_level {
            if level != OrganizationAccessLevel::None && !strategy.is_enterprise() {
                return Err(ValidationError::new(
                    "organization_access_level",
                    "can only be above 'none' on enterprise connections (oidc, samlp)",
                ));
            }
            self.organization_access_level = level;
        }
        if let Some(tenant) = &request.upstream_tenant_id {
            if tenant.is_some() && !strategy.routes_by_upstream_tenant() {
                return Err(ValidationError::new(
                    "upstream_tenant_id",
                    "can only be set on oidc connections (an upstream tenant decides their organization)",
                ));
            }
            if let Some(tenant) = tenant {
                if tenant.is_empty()
                    || tenant.len() > MAX_UPSTREAM_TENANT_ID
                    || tenant.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(ValidationError::new(
                        "upstream_tenant_id",
                        "must be 1 to 255 characters without spaces or control characters",
                    ));
                }
            }
            self.upstream_tenant_id = tenant.clone();
        }
        if self.is_signup_enabled && !self.assign_membership_on_login {
            return Err(ValidationError::new(
                "is_signup_enabled",
                "requires assign_membership_on_login to be true",
            ));
        }
        Ok(self)
    }

    /// The defaults of a newly enabled connection: `show_as_button` true, as
    /// Auth0 documents it (it matters for enterprise connections only);
    /// nothing is granted by default.
    pub fn new_default(organization_id: &str, connection_id: &str) -> Self {
        Self {
            organization_id: organization_id.to_owned(),
            connection_id: connection_id.to_owned(),
            assign_membership_on_login: false,
            is_signup_enabled: false,
            show_as_button: true,
            organization_connection_name: None,
            organization_access_level: OrganizationAccessLevel::None,
            upstream_tenant_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_round_trip_and_unknown() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
        let err = "ldap".parse::<Strategy>().err().map(|e| e.field);
        assert_eq!(err.as_deref(), Some("strategy"));
    }

    #[test]
    fn connection_names() {
        assert!(check_name("Username-Password-Authentication").is_ok());
        assert!(check_name("acme-oidc").is_ok());
        for bad in ["", "-a", "a-", "a--b", "a b", "a_b", &"a".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_upstream_tenant_id_only_on_oidc_connections() {
        let base = EnabledConnection::new_default("org_a", "con_a");
        let tenant = |id: &str| EnabledConnectionRequest {
            upstream_tenant_id: Some(Some(id.to_owned())),
            ..Default::default()
        };
        let set = base
            .clone()
            .apply(Strategy::Oidc, &tenant("9188040d-6c67"))
            .unwrap();
        assert_eq!(set.upstream_tenant_id.as_deref(), Some("9188040d-6c67"));
        for (strategy, id) in [
            (Strategy::Saml, "t"),
            (Strategy::Google, "acme.example"),
            (Strategy::Oidc, ""),
            (Strategy::Oidc, "a b"),
        ] {
            let refused = base
                .clone()
                .apply(strategy, &tenant(id))
                .map_err(|e| e.field);
            assert_eq!(
                refused,
                Err("upstream_tenant_id".into()),
                "{strategy:?} {id:?}"
            );
        }
        let cleared = EnabledConnectionRequest {
            upstream_tenant_id: Some(None),
            ..Default::default()
        };
        assert_eq!(
            set.apply(Strategy::Oidc, &cleared)
                .unwrap()
                .upstream_tenant_id,
            None
        );
    }

    #[test]
    fn signup_only_on_database_with_membership() {
        let base = EnabledConnection::new_default("org_a", "con_a");
        let signup_alone = EnabledConnectionRequest {
            is_signup_enabled: Some(true),
            ..Default::default()
        };
        assert_eq!(
            base.clone()
                .apply(Strategy::Database, &signup_alone)
                .map_err(|e| e.field),
            Err("is_signup_enabled".into())
        );
        let signup_with_membership = EnabledConnectionRequest {
            is_signup_enabled: Some(true),
            assign_membership_on_login: Some(true),
            ..Default::default()
        };
        assert!(
            base.clone()
                .apply(Strategy::Database, &signup_with_membership)
                .is_ok()
        );
        let oidc = EnabledConnection::new_default("org_a", "con_b");
        assert!(oidc.apply(Strategy::Oidc, &signup_with_membership).is_err());
        // Turning membership off later must not leave sign-up dangling.
        let enabled = base
            .apply(Strategy::Database, &signup_with_membership)
            .map_err(|e| e.field);
        let off = EnabledConnectionRequest {
            assign_membership_on_login: Some(false),
            ..Default::default()
        };
        assert!(enabled.map(|e| e.apply(Strategy::Database, &off).is_err()) == Ok(true));
    }

    #[test]
    fn buttons_and_admin_access_only_for_enterprise() {
        let db = EnabledConnection::new_default("org_a", "con_a");
        assert!(db.show_as_button, "Auth0's default, whatever the strategy");
        let button = EnabledConnectionRequest {
            show_as_button: Some(false),
            ..Default::default()
        };
        assert!(db.clone().apply(Strategy::Database, &button).is_ok());
        let admin = EnabledConnectionRequest {
            organization_access_level: Some(OrganizationAccessLevel::Full),
            ..Default::default()
        };
        assert!(db.apply(Strategy::Database, &admin).is_err());
        let saml = EnabledConnection::new_default("org_a", "con_s");
        assert!(saml.show_as_button);
        assert!(saml.clone().apply(Strategy::Saml, &admin).is_ok());
        assert!(
            saml.apply(Strategy::Saml, &button)
                .is_ok_and(|e| !e.show_as_button)
        );
    }
}
