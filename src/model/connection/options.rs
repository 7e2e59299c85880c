//! [`ConnectionOptions`]: a connection's `options`, typed by its strategy.
//!
//! Reading options is two steps. [`ConnectionOptions::decode`] is serde: each
//! known option must have its JSON type (a refusal names it, `options.<key>`,
//! as Auth0 does), unknown options are kept in the struct's `extra` map.
//! [`ConnectionOptions::check`] then applies the rules between options (what
//! a login cannot do without, URLs, domain names, certificates). The
//! Management API does both ([`ConnectionOptions::parse`]); the store only
//! decodes what it wrote after checking it.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::Strategy;
use super::database::{DatabaseOptions, PasswordPolicy};
use super::oidc::{OidcChannel, OidcMappingMode, OidcOptions};
use super::saml::{SamlDigestAlgorithm, SamlOptions, SamlProtocolBinding, SamlSignatureAlgorithm};
use super::social::{GithubOptions, GoogleOptions, OAuth2Options, WindowsLiveOptions};
use crate::model::secret::Secret;
use crate::model::{ValidationError, check_url};

/// The options of one connection, one variant per strategy. On the wire the
/// variant is implied by the connection's `strategy`: the options are the
/// inner struct's JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ConnectionOptions {
    /// `strategy: auth0`
    Database(DatabaseOptions),
    /// `strategy: google-oauth2`
    Google(GoogleOptions),
    /// `strategy: github`
    Github(GithubOptions),
    /// `strategy: windowslive`
    WindowsLive(WindowsLiveOptions),
    /// `strategy: oauth2`
    OAuth2(OAuth2Options),
    /// `strategy: oidc`
    Oidc(OidcOptions),
    /// `strategy: samlp`
    Saml(SamlOptions),
}

impl ConnectionOptions {
    /// No options set (a database connection's defaults).
    pub fn empty(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Database => Self::Database(DatabaseOptions::default()),
            Strategy::Google => Self::Google(GoogleOptions::default()),
            Strategy::Github => Self::Github(GithubOptions::default()),
            Strategy::WindowsLive => Self::WindowsLive(WindowsLiveOptions::default()),
            Strategy::OAuth2 => Self::OAuth2(OAuth2Options::default()),
            Strategy::Oidc => Self::Oidc(OidcOptions::default()),
            Strategy::Saml => Self::Saml(SamlOptions::default()),
        }
    }

    /// Options as a Management API client sent them: decoded and checked.
    pub fn parse(strategy: Strategy, options: Map<String, Value>) -> Result<Self, ValidationError> {
        let options = Self::decode(strategy, options)?;
        options.check()?;
        Ok(options)
    }

    /// The JSON object as the options of `strategy`: every known option must
    /// have its type; nothing else is checked.
    pub fn decode(
        strategy: Strategy,
        options: Map<String, Value>,
    ) -> Result<Self, ValidationError> {
        let options = Value::Object(options);
        Ok(match strategy {
            Strategy::Database => Self::Database(decode(options)?),
            Strategy::Google => Self::Google(decode(options)?),
            Strategy::Github => Self::Github(decode(options)?),
            Strategy::WindowsLive => Self::WindowsLive(decode(options)?),
            Strategy::OAuth2 => Self::OAuth2(decode(options)?),
            Strategy::Oidc => Self::Oidc(decode(options)?),
            Strategy::Saml => Self::Saml(decode(options)?),
        })
    }

    /// Options that replace `previous` (an update): decoded as the same
    /// strategy's; a `client_secret` left out keeps the stored one (given as
    /// `null`, it is removed).
    pub fn decode_update(
        previous: &ConnectionOptions,
        options: Map<String, Value>,
    ) -> Result<Self, ValidationError> {
        let leaves_secret_out = !options.contains_key(CLIENT_SECRET);
        let mut options = Self::decode(previous.strategy(), options)?;
        if leaves_secret_out {
            options.keep_client_secret(previous);
        }
        Ok(options)
    }

    /// The rules between options that a decoded value may still break.
    pub fn check(&self) -> Result<(), ValidationError> {
        self.check_account_linking()?;
        self.check_flag(
            ALLOW_OTHER_EMAIL_DOMAINS,
            Strategy::is_enterprise,
            "enterprise connections (oidc, samlp)",
        )?;
        self.check_flag(
            ORGANIZATION_FROM_UPSTREAM_TENANT,
            Strategy::routes_by_upstream_tenant,
            "oidc connections",
        )?;
        match self {
            Self::Database(_) | Self::Google(_) | Self::Github(_) | Self::WindowsLive(_) => Ok(()),
            Self::OAuth2(options) => options.check(),
            Self::Oidc(options) => options.check(),
            Self::Saml(options) => options.check(),
        }
    }

    /// Sets the options derived from the others, as Auth0 does on a write:
    /// a samlp connection's certificate thumbprints and expiry, from its
    /// inline certificates or `fetched_metadata` (what its `metadataUrl`
    /// served at this write); `previous` are the options replaced, if any.
    pub fn derive(&mut self, previous: Option<&ConnectionOptions>, fetched_metadata: Option<&str>) {
        if let Self::Saml(options) = self {
            let previous = match previous {
                Some(Self::Saml(previous)) => Some(previous),
                _ => None,
            };
            options.derive_certificate_options(previous, fetched_metadata);
        }
    }

    /// The `metadataUrl` the Management API must fetch at this write (a
    /// samlp connection described by it alone, set or changed from
    /// `previous`), so that its certificates are checked and shown.
    pub fn metadata_url_to_fetch(&self, previous: Option<&ConnectionOptions>) -> Option<&str> {
        let Self::Saml(options) = self else {
            return None;
        };
        let url = options
            .metadata_url
            .as_deref()
            .filter(|_| options.metadata_xml.is_none())?;
        let unchanged = matches!(previous, Some(Self::Saml(p))
            if p.metadata_xml.is_none() && p.metadata_url.as_deref() == Some(url));
        (!unchanged).then_some(url)
    }

    pub fn strategy(&self) -> Strategy {
        match self {
            Self::Database(_) => Strategy::Database,
            Self::Google(_) => Strategy::Google,
            Self::Github(_) => Strategy::Github,
            Self::WindowsLive(_) => Strategy::WindowsLive,
            Self::OAuth2(_) => Strategy::OAuth2,
            Self::Oidc(_) => Strategy::Oidc,
            Self::Saml(_) => Strategy::Saml,
        }
    }

    pub fn database(&self) -> Option<&DatabaseOptions> {
        match self {
            Self::Database(options) => Some(options),
            _ => None,
        }
    }

    pub fn oidc(&self) -> Option<&OidcOptions> {
        match self {
            Self::Oidc(options) => Some(options),
            _ => None,
        }
    }

    pub fn saml(&self) -> Option<&SamlOptions> {
        match self {
            Self::Saml(options) => Some(options),
            _ => None,
        }
    }

    /// `options.domain_aliases` of the enterprise strategies that have it
    /// (as given: compare them normalized).
    pub fn domain_aliases(&self) -> &[String] {
        let aliases = match self {
            Self::Oidc(options) => options.domain_aliases.as_deref(),
            Self::Saml(options) => options.domain_aliases.as_deref(),
            _ => None,
        };
        aliases.unwrap_or_default()
    }

    /// The options no strategy knows, as given.
    pub fn extra(&self) -> &Map<String, Value> {
        match self {
            Self::Database(options) => &options.extra,
            Self::Google(options) => &options.extra,
            Self::Github(options) => &options.extra,
            Self::WindowsLive(options) => &options.extra,
            Self::OAuth2(options) => &options.extra,
            Self::Oidc(options) => &options.extra,
            Self::Saml(options) => &options.extra,
        }
    }

    fn extra_mut(&mut self) -> &mut Map<String, Value> {
        match self {
            Self::Database(options) => &mut options.extra,
            Self::Google(options) => &mut options.extra,
            Self::Github(options) => &mut options.extra,
            Self::WindowsLive(options) => &mut options.extra,
            Self::OAuth2(options) => &mut options.extra,
            Self::Oidc(options) => &mut options.extra,
            Self::Saml(options) => &mut options.extra,
        }
    }

    /// The typed `client_secret` of the strategies that have one.
    fn client_secret_mut(&mut self) -> Option<&mut Option<Secret>> {
        match self {
            Self::Database(_) | Self::Saml(_) => None,
            Self::Google(options) => Some(&mut options.client_secret),
            Self::Github(options) => Some(&mut options.client_secret),
            Self::WindowsLive(options) => Some(&mut options.client_secret),
            Self::OAuth2(options) => Some(&mut options.client_secret),
            Self::Oidc(options) => Some(&mut options.client_secret),
        }
    }

    /// The `client_id` an upstream knows Switchyard by, for the strategies that have one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Database(_) | Self::Saml(_) => None,
            Self::Google(options) => options.client_id.as_deref(),
            Self::Github(options) => options.client_id.as_deref(),
            Self::WindowsLive(options) => options.client_id.as_deref(),
            Self::OAuth2(options) => options.client_id.as_deref(),
            Self::Oidc(options) => options.client_id.as_deref(),
        }
    }

    pub fn client_secret(&self) -> Option<&Secret> {
        match self {
            Self::Database(_) | Self::Saml(_) => None,
            Self::Google(options) => options.client_secret.as_ref(),
            Self::Github(options) => options.client_secret.as_ref(),
            Self::WindowsLive(options) => options.client_secret.as_ref(),
            Self::OAuth2(options) => options.client_secret.as_ref(),
            Self::Oidc(options) => options.client_secret.as_ref(),
        }
    }

    /// For an update whose options left `client_secret` out: the secret of
    /// `previous` (the stored options) stays. A strategy without a typed
    /// secret keeps an untyped `client_secret` the same way.
    fn keep_client_secret(&mut self, previous: &ConnectionOptions) {
        match self.client_secret_mut() {
            Some(secret) => *secret = previous.client_secret().cloned(),
            None => {
                if let Some(stored) = previous.extra().get(CLIENT_SECRET) {
                    self.extra_mut()
                        .insert(CLIENT_SECRET.to_owned(), stored.clone());
                }
            }
        }
    }

    /// `options.account_linking`: what a first login through this upstream
    /// does when a user with its email exists. Stored options were checked
    /// when written; anything else reads as the default, `never`.
    pub fn account_linking(&self) -> AccountLinking {
        match self.extra().get(ACCOUNT_LINKING) {
            Some(Value::String(given)) if !self.strategy().is_database() => AccountLinking::ALL
                .into_iter()
                .find(|policy| policy.as_str() == given)
                .unwrap_or_default(),
            _ => AccountLinking::default(),
        }
    }

    /// `options.allow_other_email_domains` (Switchyard's, enterprise
    /// connections): the email-domain guard is off for this connection, so
    /// its identities log in to an organization whatever their email's
    /// domain (or with none) — for an IdP that asserts addresses outside the
    /// organization's verified domains (contractors, acquired brands).
    pub fn allows_other_email_domains(&self) -> bool {
        let allowed = match self {
            Self::Oidc(options) => options.allow_other_email_domains,
            Self::Saml(options) => options.allow_other_email_domains,
            _ => None,
        };
        allowed == Some(true)
    }

    /// `options.organization_from_upstream_tenant` (Switchyard's, `oidc`):
    /// one connection shared by many organizations, whose
    /// ID token's tenant (`tid`, `hd`) decides the organization of a login.
    pub fn organization_from_upstream_tenant(&self) -> bool {
        matches!(self, Self::Oidc(options) if options.organization_from_upstream_tenant == Some(true))
    }

    /// A boolean option of Switchyard's own that only `fits` strategies take
    /// (typed in their options; any other strategy keeps it among the
    /// unknown options, and is refused it here).
    fn check_flag(
        &self,
        name: &str,
        fits: fn(Strategy) -> bool,
        which: &str,
    ) -> Result<(), ValidationError> {
        let Some(given) = self.extra().get(name) else {
            return Ok(());
        };
        let field = format!("options.{name}");
        if !given.is_boolean() {
            return Err(ValidationError::new(field, "must be a boolean"));
        }
        if !fits(self.strategy()) {
            return Err(ValidationError::new(
                field,
                format!("is taken by {which} only"),
            ));
        }
        Ok(())
    }

    fn check_account_linking(&self) -> Result<(), ValidationError> {
        let Some(given) = self.extra().get(ACCOUNT_LINKING) else {
            return Ok(());
        };
        let field = "options.account_linking";
        if self.strategy().is_database() {
            return Err(ValidationError::new(
                field,
                "only connections to an identity provider link accounts",
            ));
        }
        let known = AccountLinking::ALL
            .iter()
            .any(|policy| given.as_str() == Some(policy.as_str()));
        if !known {
            let allowed: Vec<&str> = AccountLinking::ALL.iter().map(|p| p.as_str()).collect();
            return Err(ValidationError::new(
                field,
                format!("must be one of: {}", allowed.join(", ")),
            ));
        }
        Ok(())
    }

    /// The options as the Management API shows them: secrets are write-only.
    #[must_use]
    pub fn without_secrets(&self) -> Self {
        let mut options = self.clone();
        if let Some(secret) = options.client_secret_mut() {
            *secret = None;
        }
        options.extra_mut().remove(CLIENT_SECRET);
        options
    }
}

const CLIENT_SECRET: &str = "client_secret";
const ACCOUNT_LINKING: &str = "account_linking";
const ALLOW_OTHER_EMAIL_DOMAINS: &str = "allow_other_email_domains";
const ORGANIZATION_FROM_UPSTREAM_TENANT: &str = "organization_from_upstream_tenant";

/// `options.account_linking` of a connection to an upstream (Switchyard's
/// own option: Auth0 links accounts with Actions). When a first login brings
/// an email that an existing user has:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountLinking {
    /// `never` (the default): a new user, whatever users exist.
    #[default]
    Never,
    /// `verified_email`: the identity joins the one existing user with that
    /// email when the upstream says the email is verified and the existing
    /// user's email is verified too.
    VerifiedEmail,
    /// `prove_existing`: when one password user has the email the upstream
    /// sent, the person is asked to log in to it (or to go on with a new
    /// account); the identity joins it once they have.
    ProveExisting,
}

impl AccountLinking {
    pub const ALL: [AccountLinking; 3] = [
        AccountLinking::Never,
        AccountLinking::VerifiedEmail,
        AccountLinking::ProveExisting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountLinking::Never => "never",
            AccountLinking::VerifiedEmail => "verified_email",
            AccountLinking::ProveExisting => "prove_existing",
        }
    }
}

/// In the OpenAPI document: `anyOf` the strategies' shapes (every option is
/// optional and unknown ones are kept, so an object may fit several shapes;
/// `strategy` says which one applies).
impl utoipa::PartialSchema for ConnectionOptions {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, Ref};
        fn shape<T: utoipa::ToSchema>(strategy: Strategy) -> Ref {
            let mut shape = Ref::from_schema_name(T::name());
            shape.description = format!("`strategy: {strategy}`");
            shape
        }
        AnyOfBuilder::new()
            .item(shape::<DatabaseOptions>(Strategy::Database))
            .item(shape::<GoogleOptions>(Strategy::Google))
            .item(shape::<GithubOptions>(Strategy::Github))
            .item(shape::<WindowsLiveOptions>(Strategy::WindowsLive))
            .item(shape::<OAuth2Options>(Strategy::OAuth2))
            .item(shape::<OidcOptions>(Strategy::Oidc))
            .item(shape::<SamlOptions>(Strategy::Saml))
            .description(Some(
                "The options of the connection's `strategy`, in the shape named for it. \
                 Options not listed are kept as given; `client_secret` is write-only.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ConnectionOptions {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        fn add<T: utoipa::ToSchema>(
            schemas: &mut Vec<(
                String,
                utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
            )>,
        ) {
            schemas.push((T::name().into_owned(), T::schema()));
            T::schemas(schemas);
        }
        add::<DatabaseOptions>(schemas);
        add::<GoogleOptions>(schemas);
        add::<GithubOptions>(schemas);
        add::<WindowsLiveOptions>(schemas);
        add::<OAuth2Options>(schemas);
        add::<OidcOptions>(schemas);
        add::<SamlOptions>(schemas);
    }
}

/// Deserializes options, turning serde's refusal into `options.<path>` and a
/// reason in the words of the field helpers below.
pub(crate) fn decode<T: DeserializeOwned>(options: Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(options).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            "options".to_owned()
        } else {
            format!("options.{path}")
        };
        ValidationError::new(field, reason(&error.inner().to_string()))
    })
}

/// serde's own refusals ("invalid type: string \"x\", expected a map") said
/// as ours ("must be a map"); the field helpers' messages pass unchanged.
fn reason(message: &str) -> String {
    match message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        Some((_, expected)) => format!("must be {expected}"),
        None => message.to_owned(),
    }
}

/// `scope`: a space-separated string or an array of strings, kept in the
/// form given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Scope {
    Text(String),
    List(Vec<String>),
}

impl Scope {
    /// The scope values, whichever form was given.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Scope::Text(text) => text.split_whitespace().collect(),
            Scope::List(items) => items.iter().map(String::as_str).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Scope::Text(text)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .map(Scope::List)
                .ok_or_else(|| D::Error::custom(SCOPE_TYPE)),
            _ => Err(D::Error::custom(SCOPE_TYPE)),
        }
    }
}

const SCOPE_TYPE: &str = "must be a string or an array of strings";

/// A closed set of option values (`passwordPolicy`, `type`, …).
pub(super) trait Keyword: Copy + 'static {
    fn all() -> &'static [Self];
    fn wire(self) -> &'static str;
}

macro_rules! keywords {
    ($($name:ty),+) => {
        $(impl Keyword for $name {
            fn all() -> &'static [Self] {
                <$name>::ALL
            }
            fn wire(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}

keywords!(
    PasswordPolicy,
    OidcChannel,
    OidcMappingMode,
    SamlSignatureAlgorithm,
    SamlDigestAlgorithm,
    SamlProtocolBinding
);

/// `deserialize_with` helpers for option fields. Each reads the JSON value,
/// takes `null` as "not set", and refuses with the reason Auth0-compatible
/// tools have seen from Switchyard since the first slice.
pub(super) mod field {
    use super::*;

    fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => None,
            value => Some(value),
        })
    }

    /// A string that is not blank.
    pub fn nonblank<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        match value(deserializer)? {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(D::Error::custom("must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(D::Error::custom("must be a string")),
        }
    }

    /// Any string (a label, an icon URL shown as given).
    pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        match value(deserializer)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(D::Error::custom("must be a string")),
        }
    }

    /// A secret: a string that is not blank.
    pub fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
        Ok(nonblank(deserializer)?.map(Secret::new))
    }

    pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
        match value(deserializer)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(D::Error::custom("must be a boolean")),
        }
    }

    pub fn keyword<'de, D: Deserializer<'de>, K: Keyword>(
        deserializer: D,
    ) -> Result<Option<K>, D::Error> {
        let Some(given) = nonblank(deserializer)? else {
            return Ok(None);
        };
        K::all()
            .iter()
            .copied()
            .find(|k| k.wire() == given)
            .map(Some)
            .ok_or_else(|| {
                let allowed: Vec<&str> = K::all().iter().map(|k| k.wire()).collect();
                D::Error::custom(format!("must be one of: {}", allowed.join(", ")))
            })
    }

    /// `domain_aliases`: an array of strings; a refusal of an item names its
    /// index (`options.domain_aliases[2]`). Whether each is a domain name is
    /// for [`check_domain_aliases`].
    pub fn domain_aliases<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<String>>, D::Error> {
        deserializer.deserialize_any(DomainAliases)
    }

    struct DomainAliases;

    impl<'de> Visitor<'de> for DomainAliases {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of domain names")
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut aliases = Vec::new();
            while let Some(AliasItem(alias)) = seq.next_element()? {
                aliases.push(alias);
            }
            Ok(Some(aliases))
        }
    }

    struct AliasItem(String);

    impl<'de> Deserialize<'de> for AliasItem {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match Value::deserialize(deserializer)? {
                Value::String(s) => Ok(AliasItem(s)),
                _ => Err(D::Error::custom("must be a string")),
            }
        }
    }
}

/// `options.<key> is required` unless `value` is set.
pub(super) fn require<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, ValidationError> {
    value.ok_or_else(|| ValidationError::new(format!("options.{key}"), "is required"))
}

/// An upstream URL, when given: https (http only on loopback).
pub(super) fn check_optional_url(
    key: &str,
    value: Option<&str>,
) -> Result<Option<url::Url>, ValidationError> {
    value
        .map(|v| check_url(&format!("options.{key}"), v, false))
        .transpose()
}

/// Each domain alias is a DNS name: IDNA-encodable, at least two labels.
pub(super) fn check_domain_aliases(aliases: Option<&[String]>) -> Result<(), ValidationError> {
    for (i, domain) in aliases.unwrap_or_default().iter().enumerate() {
        check_domain_name(&format!("options.domain_aliases[{i}]"), domain)?;
    }
    Ok(())
}

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    pub fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    /// Decoded and checked, as the Management API does.
    pub fn check_options(
        strategy: Strategy,
        options: &Map<String, Value>,
    ) -> Result<(), ValidationError> {
        ConnectionOptions::parse(strategy, options.clone()).map(|_| ())
    }

    /// The refusal of `options` for `strategy`, as (field, reason).
    pub fn refusal(strategy: Strategy, options: Value) -> (String, String) {
        match ConnectionOptions::parse(strategy, map(options.clone())) {
            Ok(parsed) => panic!("{options} was accepted as {parsed:?}"),
            Err(e) => (e.field, e.reason),
        }
    }

    pub fn refused(field: &str, reason: &str) -> (String, String) {
        (field.to_owned(), reason.to_owned())
    }

    #[test]
    fn the_guard_exception_and_tenant_routing_are_switchyards_flags_of_their_strategies() {
        let oidc = json!({"issuer": "https://idp.example", "client_id": "c", "client_secret": "s",
            "allow_other_email_domains": true, "organization_from_upstream_tenant": true});
        let parsed = ConnectionOptions::parse(Strategy::Oidc, map(oidc)).unwrap();
        assert!(parsed.allows_other_email_domains());
        assert!(parsed.organization_from_upstream_tenant());
        let plain = ConnectionOptions::empty(Strategy::Saml);
        assert!(!plain.allows_other_email_domains());
        assert_eq!(
            refusal(Strategy::Github, json!({"allow_other_email_domains": true})),
            refused(
                "options.allow_other_email_domains",
                "is taken by enterprise connections (oidc, samlp) only"
            )
        );
        assert_eq!(
            refusal(
                Strategy::Google,
                json!({"organization_from_upstream_tenant": true})
            )
            .0,
            "options.organization_from_upstream_tenant"
        );
        assert_eq!(
            refusal(
                Strategy::Saml,
                json!({"organization_from_upstream_tenant": true})
            )
            .0,
            "options.organization_from_upstream_tenant"
        );
        assert_eq!(
            refusal(
                Strategy::Github,
                json!({"allow_other_email_domains": "yes"})
            )
            .0,
            "options.allow_other_email_domains"
        );
    }

    #[test]
    fn account_linking_is_a_keyword_of_upstream_connections() {
        let github = |policy: Value| map(json!({"account_linking": policy}));
        for policy in AccountLinking::ALL {
            let options =
                ConnectionOptions::parse(Strategy::Github, github(json!(policy.as_str())));
            assert_eq!(options.map(|o| o.account_linking()), Ok(policy));
        }
        assert_eq!(
            ConnectionOptions::empty(Strategy::Oidc).account_linking(),
            AccountLinking::Never
        );
        assert_eq!(
            refusal(Strategy::Github, json!({"account_linking": "always"})),
            refused(
                "options.account_linking",
                "must be one of: never, verified_email, prove_existing"
            )
        );
        assert_eq!(
            refusal(Strategy::Github, json!({"account_linking": true})).0,
            "options.account_linking"
        );
        assert_eq!(
            refusal(Strategy::Database, json!({"account_linking": "never"})),
            refused(
                "options.account_linking",
                "only connections to an identity provider link accounts"
            )
        );
    }

    // The option checks as they were before the options were typed.

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
        let cert = super::super::test_certificate(
            "idp.example.com",
            time::macros::datetime!(2031-01-01 0:00 UTC),
        );
        let metadata = super::super::test_metadata("urn:example:idp", &[cert.der()]);
        let with_metadata = map(json!({ "metadataXml": metadata }));
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

    // Shared behaviour of every strategy.

    #[test]
    fn unknown_options_are_kept_and_written_back_as_given() {
        let given = json!({
            "client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com/",
            "nested": {"a": [1, 2.5, -3, true, false, null], "b": {"c": "ü✓"}},
            "big": 9_007_199_254_740_991_i64,
            "upstream_params": {"screen_name": {"alias": "login_hint"}},
        });
        for strategy in Strategy::ALL {
            let Ok(options) = ConnectionOptions::decode(strategy, map(given.clone())) else {
                panic!("{strategy} refused {given}");
            };
            assert_eq!(options.strategy(), strategy);
            assert_eq!(serde_json::to_value(&options).ok(), Some(given.clone()));
            assert_eq!(options.extra()["big"], given["big"]);
        }
    }

    #[test]
    fn each_strategy_decodes_to_its_own_variant() {
        for strategy in Strategy::ALL {
            assert_eq!(ConnectionOptions::empty(strategy).strategy(), strategy);
            let decoded = ConnectionOptions::decode(strategy, Map::new());
            assert_eq!(decoded, Ok(ConnectionOptions::empty(strategy)));
            assert_eq!(
                serde_json::to_value(ConnectionOptions::empty(strategy)).ok(),
                Some(json!({}))
            );
        }
    }

    #[test]
    fn scope_is_a_string_or_a_list_of_strings() {
        for strategy in [
            Strategy::Google,
            Strategy::Github,
            Strategy::WindowsLive,
            Strategy::OAuth2,
            Strategy::Oidc,
        ] {
            for bad in [
                json!(5),
                json!(["openid", 5]),
                json!({"a": "b"}),
                json!(true),
            ] {
                assert_eq!(
                    ConnectionOptions::decode(strategy, map(json!({ "scope": bad }))),
                    Err(ValidationError::new(
                        "options.scope",
                        "must be a string or an array of strings"
                    )),
                    "{strategy}"
                );
            }
        }
        let text: Scope = serde_json::from_value(json!("openid  profile")).unwrap();
        assert_eq!(text.values(), ["openid", "profile"]);
        assert_eq!(
            serde_json::to_value(&text).unwrap(),
            json!("openid  profile")
        );
        let list: Scope = serde_json::from_value(json!(["openid", "email"])).unwrap();
        assert_eq!(list.values(), ["openid", "email"]);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!(["openid", "email"])
        );
    }

    #[test]
    fn domain_aliases_refusals_name_the_item() {
        let decode = |aliases: Value| {
            ConnectionOptions::decode(Strategy::Saml, map(json!({ "domain_aliases": aliases })))
                .map_err(|e| (e.field, e.reason))
        };
        assert_eq!(
            decode(json!("acme.test")),
            Err(refused(
                "options.domain_aliases",
                "must be an array of domain names"
            ))
        );
        assert_eq!(
            decode(json!({"a": "acme.test"})),
            Err(refused(
                "options.domain_aliases",
                "must be an array of domain names"
            ))
        );
        assert_eq!(
            decode(json!(["acme.test", 5])),
            Err(refused("options.domain_aliases[1]", "must be a string"))
        );
        for bad in ["localhost", "acme.test.", "a b.test", "127.0.0.1"] {
            assert_eq!(
                check_domain_aliases(Some(&["ok.test".to_owned(), bad.to_owned()]))
                    .map_err(|e| e.field),
                Err("options.domain_aliases[1]".to_owned()),
                "{bad}"
            );
        }
        assert!(check_domain_aliases(Some(&["bücher.example".to_owned()])).is_ok());
    }

    #[test]
    fn secrets_are_kept_across_updates_and_never_shown() {
        let stored = ConnectionOptions::parse(
            Strategy::Oidc,
            map(json!({"client_id": "c", "client_secret": "s", "issuer": "https://i.example"})),
        )
        .unwrap();
        assert!(!format!("{stored:?}").contains("\"s\""), "{stored:?}");
        let update = ConnectionOptions::decode_update(
            &stored,
            map(json!({"client_id": "c2", "issuer": "https://i.example"})),
        )
        .unwrap();
        assert_eq!(update.client_secret().map(Secret::expose), Some("s"));
        let new_secret = ConnectionOptions::decode_update(
            &stored,
            map(json!({"client_id": "c2", "client_secret": "t", "issuer": "https://i.example"})),
        );
        assert_eq!(
            new_secret.unwrap().client_secret().map(Secret::expose),
            Some("t")
        );
        let removed = ConnectionOptions::decode_update(
            &stored,
            map(json!({"client_id": "c2", "client_secret": null, "issuer": "https://i.example"})),
        );
        assert_eq!(
            removed.as_ref().map(ConnectionOptions::client_secret),
            Ok(None)
        );
        let shown = serde_json::to_value(update.without_secrets()).unwrap();
        assert_eq!(
            shown,
            json!({"client_id": "c2", "issuer": "https://i.example"})
        );

        // A strategy without a typed secret keeps and hides an untyped one alike.
        let saml = ConnectionOptions::decode(
            Strategy::Saml,
            map(json!({"metadataXml": "<x/>", "client_secret": "k"})),
        )
        .unwrap();
        let saml_update =
            ConnectionOptions::decode_update(&saml, map(json!({"metadataXml": "<y/>"}))).unwrap();
        assert_eq!(saml_update.extra()["client_secret"], "k");
        assert_eq!(
            serde_json::to_value(saml_update.without_secrets()).unwrap(),
            json!({"metadataXml": "<y/>"})
        );
    }

    #[test]
    fn serde_refusals_read_like_ours() {
        assert_eq!(
            reason("invalid type: string \"x\", expected an object"),
            "must be an object"
        );
        assert_eq!(reason("must be a boolean"), "must be a boolean");
    }
}
