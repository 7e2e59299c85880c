//! Connections (where identities come from) and their enablement on organizations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::organization::Metadata;
use super::{ValidationError, check_display_text, check_metadata, check_url};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: Strategy,
    pub display_name: Option<String>,
    /// Strategy-specific settings, validated by [`check_options`]. Secrets in here
    /// (`client_secret`) are never logged.
    pub options: Map<String, Value>,
    pub metadata: Metadata,
    pub is_domain_connection: bool,
    pub show_as_button: Option<bool>,
    pub realms: Vec<String>,
}

impl Connection {
    /// Whether people may create their own accounts here outside an
    /// organization: a database connection without `options.disable_signup: true`.
    pub fn allows_signup(&self) -> bool {
        self.strategy.is_database()
            && self.options.get("disable_signup").and_then(Value::as_bool) != Some(true)
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

/// Validates `options` for a strategy. Known keys are type-checked and the
/// ones a login cannot do without are required; other keys are kept as given
/// (Auth0 options carry many provider-specific settings).
pub fn check_options(
    strategy: Strategy,
    options: &Map<String, Value>,
) -> Result<(), ValidationError> {
    let opts = Options(options);
    match strategy {
        Strategy::Database => {
            opts.optional_str_in(
                "passwordPolicy",
                &["none", "low", "fair", "good", "excellent"],
            )?;
            if let Some(complexity) = options.get("password_complexity_options") {
                let min = complexity
                    .get("min_length")
                    .map(|v| v.as_u64().filter(|n| (1..=128).contains(n)));
                if min == Some(None) {
                    return Err(ValidationError::new(
                        "options.password_complexity_options.min_length",
                        "must be an integer from 1 to 128",
                    ));
                }
            }
            opts.optional_bool("brute_force_protection")?;
            opts.optional_bool("disable_signup")?;
            opts.optional_bool("requires_username")?;
        }
        Strategy::Google | Strategy::Github | Strategy::WindowsLive => {
            opts.optional_string("client_id")?;
            opts.optional_string("client_secret")?;
            opts.optional_scope()?;
        }
        Strategy::OAuth2 => {
            opts.required_url("authorizationURL")?;
            opts.required_url("tokenURL")?;
            opts.required_string("client_id")?;
            opts.required_string("client_secret")?;
            opts.optional_scope()?;
        }
        Strategy::Oidc => {
            opts.required_string("client_id")?;
            let channel = opts.optional_str_in("type", &["front_channel", "back_channel"])?;
            let has_secret = opts.optional_string("client_secret")?.is_some();
            if channel != Some("front_channel") && !has_secret {
                return Err(ValidationError::new(
                    "options.client_secret",
                    "is required for back_channel (authorization code) OIDC connections",
                ));
            }
            let discovery = opts.optional_url("discovery_url")?;
            let issuer = opts.optional_url("issuer")?;
            if discovery.is_none() && issuer.is_none() {
                return Err(ValidationError::new(
                    "options.issuer",
                    "is required (or options.discovery_url)",
                ));
            }
            for endpoint in [
                "authorization_endpoint",
                "token_endpoint",
                "userinfo_endpoint",
                "jwks_uri",
            ] {
                opts.optional_url(endpoint)?;
            }
            opts.optional_scope()?;
            opts.optional_domain_aliases()?;
        }
        Strategy::Saml => {
            let has_metadata = opts.optional_string("metadataXml")?.is_some()
                || opts.optional_url("metadataUrl")?.is_some();
            let sign_in = opts.optional_url("signInEndpoint")?;
            let cert = opts.optional_string("signingCert")?;
            if !has_metadata {
                if sign_in.is_none() {
                    return Err(ValidationError::new(
                        "options.signInEndpoint",
                        "is required (or options.metadataXml / options.metadataUrl)",
                    ));
                }
                match cert {
                    None => {
                        return Err(ValidationError::new(
                            "options.signingCert",
                            "is required (or options.metadataXml / options.metadataUrl)",
                        ));
                    }
                    Some(cert) => check_certificate("options.signingCert", cert)?,
                }
            }
            opts.optional_str_in(
                "signatureAlgorithm",
                &["rsa-sha256", "rsa-sha384", "rsa-sha512"],
            )?;
            opts.optional_str_in("digestAlgorithm", &["sha256", "sha384", "sha512"])?;
            opts.optional_bool("signSAMLRequest")?;
            opts.optional_domain_aliases()?;
        }
    }
    Ok(())
}

/// An X.509 certificate given as PEM or as base64 DER (Auth0 accepts both).
fn check_certificate(field: &str, value: &str) -> Result<(), ValidationError> {
    use base64::Engine;
    let der = if value.contains("-----BEGIN") {
        x509_parser::pem::parse_x509_pem(value.as_bytes())
            .map(|(_, pem)| pem.contents)
            .map_err(|_| ValidationError::new(field, "is not a PEM certificate"))?
    } else {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| ValidationError::new(field, "must be a PEM or base64 DER certificate"))?
    };
    x509_parser::parse_x509_certificate(&der)
        .map(|_| ())
        .map_err(|_| ValidationError::new(field, "is not a valid X.509 certificate"))
}

struct Options<'a>(&'a Map<String, Value>);

impl<'a> Options<'a> {
    fn field(key: &str) -> String {
        format!("options.{key}")
    }

    fn optional_string(&self, key: &str) -> Result<Option<&'a str>, ValidationError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(ValidationError::new(Self::field(key), "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ValidationError::new(Self::field(key), "must be a string")),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, ValidationError> {
        self.optional_string(key)?
            .ok_or_else(|| ValidationError::new(Self::field(key), "is required"))
    }

    fn optional_str_in(
        &self,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<&'a str>, ValidationError> {
        match self.optional_string(key)? {
            Some(v) if !allowed.contains(&v) => Err(ValidationError::new(
                Self::field(key),
                format!("must be one of: {}", allowed.join(", ")),
            )),
            other => Ok(other),
        }
    }

    fn optional_url(&self, key: &str) -> Result<Option<url::Url>, ValidationError> {
        self.optional_string(key)?
            .map(|v| check_url(&Self::field(key), v, false))
            .transpose()
    }

    fn required_url(&self, key: &str) -> Result<url::Url, ValidationError> {
        check_url(&Self::field(key), self.required_string(key)?, false)
    }

    fn optional_bool(&self, key: &str) -> Result<(), ValidationError> {
        match self.0.get(key) {
            None | Some(Value::Null | Value::Bool(_)) => Ok(()),
            Some(_) => Err(ValidationError::new(Self::field(key), "must be a boolean")),
        }
    }

    /// `scope` is a space-separated string or an array of strings.
    fn optional_scope(&self) -> Result<(), ValidationError> {
        match self.0.get("scope") {
            None | Some(Value::Null | Value::String(_)) => Ok(()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            Some(_) => Err(ValidationError::new(
                "options.scope",
                "must be a string or an array of strings",
            )),
        }
    }

    fn optional_domain_aliases(&self) -> Result<(), ValidationError> {
        match self.0.get("domain_aliases") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("options.domain_aliases[{i}]");
                    let domain = item
                        .as_str()
                        .ok_or_else(|| ValidationError::new(&field, "must be a string"))?;
                    check_domain_name(&field, domain)?;
                }
                Ok(())
            }
            Some(_) => Err(ValidationError::new(
                "options.domain_aliases",
                "must be an array of domain names",
            )),
        }
    }
}

/// A DNS name as a domain alias: IDNA-encodable, at least two labels.
fn check_domain_name(field: &str, domain: &str) -> Result<(), ValidationError> {
    let ascii = url::Host::parse(domain)
        .ok()
        .and_then(|host| match host {
            url::Host::Domain(d) => Some(d),
            _ => None,
        })
        .ok_or_else(|| ValidationError::new(field, "must be a domain name"))?;
    if !ascii.contains('.') || ascii.ends_with('.') {
        return Err(ValidationError::new(
            field,
            "must be a domain name like example.com",
        ));
    }
    Ok(())
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
}

impl EnabledConnection {
    /// Applies `request` on top of `self` (for an update) and checks the rules
    /// that tie the properties to the connection's strategy:
    /// - `is_signup_enabled` only on database connections, and only together
    ///   with `assign_membership_on_login` (a sign-up must land in the organization);
    /// - `show_as_button` only on enterprise connections;
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
            if !strategy.is_enterprise() {
                return Err(ValidationError::new(
                    "show_as_button",
                    "can only be set on enterprise connections (oidc, samlp)",
                ));
            }
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
        if self.is_signup_enabled && !self.assign_membership_on_login {
            return Err(ValidationError::new(
                "is_signup_enabled",
                "requires assign_membership_on_login to be true",
            ));
        }
        Ok(self)
    }

    /// The defaults of a newly enabled connection: enterprise connections show
    /// as a button, as in Auth0; nothing else is granted by default.
    pub fn new_default(organization_id: &str, connection_id: &str, strategy: Strategy) -> Self {
        Self {
            organization_id: organization_id.to_owned(),
            connection_id: connection_id.to_owned(),
            assign_membership_on_login: false,
            is_signup_enabled: false,
            show_as_button: strategy.is_enterprise(),
            organization_connection_name: None,
            organization_access_level: OrganizationAccessLevel::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

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
    fn oidc_options_need_client_issuer_and_secret() {
        let good = map(
            json!({"client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com", "type": "back_channel"}),
        );
        assert!(check_options(Strategy::Oidc, &good).is_ok());
        let no_secret = map(json!({"client_id": "c", "issuer": "https://idp.example.com"}));
        assert_eq!(
            check_options(Strategy::Oidc, &no_secret).map_err(|e| e.field),
            Err("options.client_secret".into())
        );
        let front = map(
            json!({"client_id": "c", "issuer": "https://idp.example.com", "type": "front_channel"}),
        );
        assert!(check_options(Strategy::Oidc, &front).is_ok());
        let no_issuer = map(json!({"client_id": "c", "client_secret": "s"}));
        assert_eq!(
            check_options(Strategy::Oidc, &no_issuer).map_err(|e| e.field),
            Err("options.issuer".into())
        );
        let http_issuer = map(
            json!({"client_id": "c", "client_secret": "s", "issuer": "http://idp.example.com"}),
        );
        assert!(check_options(Strategy::Oidc, &http_issuer).is_err());
        let loopback =
            map(json!({"client_id": "c", "client_secret": "s", "issuer": "http://127.0.0.1:4000"}));
        assert!(check_options(Strategy::Oidc, &loopback).is_ok());
        let bad_alias = map(
            json!({"client_id": "c", "client_secret": "s", "issuer": "https://i.example", "domain_aliases": ["not a domain"]}),
        );
        assert_eq!(
            check_options(Strategy::Oidc, &bad_alias).map_err(|e| e.field),
            Err("options.domain_aliases[0]".into())
        );
    }

    #[test]
    fn saml_options_need_endpoint_and_certificate() {
        let no_cert = map(json!({"signInEndpoint": "https://idp.example.com/sso"}));
        assert_eq!(
            check_options(Strategy::Saml, &no_cert).map_err(|e| e.field),
            Err("options.signingCert".into())
        );
        let bad_cert = map(
            json!({"signInEndpoint": "https://idp.example.com/sso", "signingCert": "bm90IGEgY2VydA=="}),
        );
        assert!(check_options(Strategy::Saml, &bad_cert).is_err());
        let with_metadata = map(json!({"metadataXml": "<EntityDescriptor/>"}));
        assert!(check_options(Strategy::Saml, &with_metadata).is_ok());
    }

    #[test]
    fn database_and_oauth2_options() {
        assert!(check_options(Strategy::Database, &map(json!({"passwordPolicy": "good"}))).is_ok());
        assert!(
            check_options(Strategy::Database, &map(json!({"passwordPolicy": "weak"}))).is_err()
        );
        assert!(
            check_options(
                Strategy::Database,
                &map(json!({"password_complexity_options": {"min_length": 0}}))
            )
            .is_err()
        );
        assert!(check_options(Strategy::OAuth2, &map(json!({"client_id": "c"}))).is_err());
        assert!(check_options(Strategy::Google, &map(json!({"scope": 5}))).is_err());
    }

    #[test]
    fn signup_only_on_database_with_membership() {
        let base = EnabledConnection::new_default("org_a", "con_a", Strategy::Database);
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
        let oidc = EnabledConnection::new_default("org_a", "con_b", Strategy::Oidc);
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
        let db = EnabledConnection::new_default("org_a", "con_a", Strategy::Database);
        assert!(!db.show_as_button);
        let button = EnabledConnectionRequest {
            show_as_button: Some(true),
            ..Default::default()
        };
        assert!(db.clone().apply(Strategy::Database, &button).is_err());
        let admin = EnabledConnectionRequest {
            organization_access_level: Some(OrganizationAccessLevel::Full),
            ..Default::default()
        };
        assert!(db.apply(Strategy::Database, &admin).is_err());
        let saml = EnabledConnection::new_default("org_a", "con_s", Strategy::Saml);
        assert!(saml.show_as_button);
        assert!(saml.clone().apply(Strategy::Saml, &admin).is_ok());
        assert!(saml.apply(Strategy::Saml, &button).is_ok());
    }
}
