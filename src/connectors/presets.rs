//! Provider presets: what Switchyard knows of a social provider (its
//! endpoints, the scopes to ask for, where its profile keeps the subject, the
//! email and the names), as data. Each `connectors/<strategy>.toml` at the
//! top of the repository is one preset, embedded at build time (build.rs
//! lists the folder), so adding a provider is adding a file;
//! `connectors/README.md` describes the format. A generic `oauth2`
//! connection brings its own preset in its options
//! ([`Preset::from_oauth2_options`]).
//!
//! An OAuth 2.0 connector uses a preset so:
//! 1. send the browser to `authorization_endpoint` asking [`Preset::scopes`];
//! 2. redeem the code at `token_endpoint`;
//! 3. GET `userinfo_endpoint` with the access token (and `headers`), and turn
//!    the JSON into an [`Identity`] with [`identity_from_profile`];
//! 4. when `emails_endpoint` is set, GET it the same way and [`apply_emails`].
//!
//! Everything here is pure: no I/O, no clock.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::Identity;
use crate::model::connection::{ConnectionOptions, OAuth2Options, Scope};
pub use crate::model::connection::{Field, OAUTH2_PROFILE_MAP, OAUTH2_USERINFO_URL, ProfileMap};
use crate::model::user::normalize_email;
use crate::model::{ValidationError, check_url};

/// `(name, TOML)` of every `connectors/*.toml`, sorted by name (build.rs).
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/connector_presets.rs"));

/// The embedded presets, parsed once. A file that does not parse stays an
/// error here (a test parses them all, so a released build has none).
static PRESETS: LazyLock<Vec<(&'static str, Result<Preset, String>)>> = LazyLock::new(|| {
    EMBEDDED
        .iter()
        .map(|(name, text)| (*name, Preset::parse(name, text)))
        .collect()
});

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PresetError {
    #[error("no provider preset is named '{0}'")]
    Unknown(String),
    #[error("the provider preset '{name}' is invalid: {reason}")]
    Invalid { name: String, reason: String },
    /// An `oauth2` connection's options that make no preset.
    #[error("{}: {}", .0.field, .0.reason)]
    Options(#[from] ValidationError),
    #[error("the {preset} profile is not a JSON object")]
    ProfileNotObject { preset: String },
    /// The one thing a login cannot do without: who the person is upstream.
    #[error(
        "the {preset} profile has no subject: {field} is missing, empty, or neither a string nor an integer"
    )]
    MissingSubject { preset: String, field: String },
}

/// One provider: where to send the browser, where to redeem the code and
/// read the profile, and how the profile maps onto an [`Identity`].
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// The file's name without `.toml`: the strategy it serves
    /// (`google-oauth2`); `oauth2` for one built from a connection's options.
    pub name: String,
    /// The provider's name for a login button ("Google").
    pub display_name: Option<String>,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    /// Answers the profile (JSON) for the access token.
    pub userinfo_endpoint: Url,
    /// Set when the provider speaks OpenID Connect: where its metadata is.
    pub discovery_url: Option<Url>,
    /// What the provider names itself in an authorization response's `iss`
    /// (RFC 9207): a response naming another issuer is a mix-up, refused.
    pub issuer: Option<String>,
    /// A list of the person's addresses, GitHub's shape (see [`apply_emails`]).
    pub emails_endpoint: Option<Url>,
    /// Asked for on every login.
    pub scopes: Vec<String>,
    /// Auth0's connection flags (`read_org`) → the scope each asks for.
    pub option_scopes: BTreeMap<String, String>,
    /// Sent with the userinfo and emails requests.
    pub headers: BTreeMap<String, String>,
    pub profile: ProfileMap,
}

/// The embedded preset for a strategy (`github`), by its file's name.
pub fn preset(name: &str) -> Result<&'static Preset, PresetError> {
    match PRESETS.iter().find(|(known, _)| *known == name) {
        Some((_, Ok(preset))) => Ok(preset),
        Some((_, Err(reason))) => Err(PresetError::Invalid {
            name: name.to_owned(),
            reason: reason.clone(),
        }),
        None => Err(PresetError::Unknown(name.to_owned())),
    }
}

/// The names of the embedded presets, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}

impl Preset {
    /// The preset a connection logs in with: its strategy's embedded one, or
    /// for `oauth2` the one its options describe.
    pub fn for_options(options: &ConnectionOptions) -> Result<Cow<'static, Preset>, PresetError> {
        match options {
            ConnectionOptions::OAuth2(oauth2) => Ok(Cow::Owned(Self::from_oauth2_options(oauth2)?)),
            other => preset(other.strategy().as_str()).map(Cow::Borrowed),
        }
    }

    /// An `oauth2` connection's preset, from Auth0's `authorizationURL`,
    /// `tokenURL` and `scope`, and Switchyard's [`OAUTH2_USERINFO_URL`] and
    /// [`OAUTH2_PROFILE_MAP`]; a refusal names the option as `options.<path>`.
    pub fn from_oauth2_options(options: &OAuth2Options) -> Result<Preset, ValidationError> {
        let url = |key: &str, value: Option<&str>| {
            let field = format!("options.{key}");
            let value = value.ok_or_else(|| ValidationError::new(&field, "is required"))?;
            check_url(&field, value, false)
        };
        let userinfo_endpoint = options.userinfo_url()?.ok_or_else(|| {
            ValidationError::new(format!("options.{OAUTH2_USERINFO_URL}"), "is required")
        })?;
        let profile = options
            .profile_map()?
            .unwrap_or_else(ProfileMap::standard_claims);
        Ok(Preset {
            name: "oauth2".to_owned(),
            display_name: None,
            authorization_endpoint: url("authorizationURL", options.authorization_url.as_deref())?,
            token_endpoint: url("tokenURL", options.token_url.as_deref())?,
            userinfo_endpoint,
            discovery_url: None,
            issuer: None,
            emails_endpoint: None,
            scopes: Vec::new(),
            option_scopes: BTreeMap::new(),
            headers: BTreeMap::new(),
            profile,
        })
    }

    /// Whether the provider speaks OpenID Connect (ID tokens, discovery).
    pub fn is_oidc(&self) -> bool {
        self.discovery_url.is_some()
    }

    /// The scopes to ask for: the preset's own, then one for each of Auth0's
    /// flags the options turn on, then the options' `scope`; each once.
    pub fn scopes(&self, options: &ConnectionOptions) -> Vec<String> {
        let options = serde_json::to_value(options.without_secrets()).unwrap_or_default();
        let flagged = self
            .option_scopes
            .iter()
            .filter(|(flag, _)| options.get(flag.as_str()) == Some(&Value::Bool(true)))
            .map(|(_, scope)| scope.as_str());
        let given = options
            .get("scope")
            .and_then(|scope| Scope::deserialize(scope).ok());
        let given = given.as_ref().map(Scope::values).unwrap_or_default();
        let mut scopes: Vec<String> = Vec::new();
        for scope in self
            .scopes
            .iter()
            .map(String::as_str)
            .chain(flagged)
            .chain(given)
        {
            if !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        scopes
    }

    /// A preset file: TOML of the shape `connectors/README.md` describes.
    fn parse(name: &str, text: &str) -> Result<Preset, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PresetFile {
            display_name: Option<String>,
            authorization_endpoint: String,
            token_endpoint: String,
            userinfo_endpoint: String,
            discovery_url: Option<String>,
            issuer: Option<String>,
            emails_endpoint: Option<String>,
            #[serde(default)]
            scopes: Vec<String>,
            #[serde(default)]
            option_scopes: BTreeMap<String, String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
            profile: ProfileMap,
        }
        let file: PresetFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let url = |key: &str, value: &str| {
            check_url(key, value, false).map_err(|e| format!("{}: {}", e.field, e.reason))
        };
        let optional_url = |key: &str, value: Option<&str>| value.map(|v| url(key, v)).transpose();
        file.profile
            .check()
            .map_err(|(key, reason)| format!("profile.{key}: {reason}"))?;
        for (header, value) in &file.headers {
            HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("headers: '{header}' is not a header name"))?;
            HeaderValue::from_str(value)
                .map_err(|_| format!("headers.{header}: not a header value"))?;
        }
        Ok(Preset {
            name: name.to_owned(),
            display_name: file.display_name,
            authorization_endpoint: url("authorization_endpoint", &file.authorization_endpoint)?,
            token_endpoint: url("token_endpoint", &file.token_endpoint)?,
            userinfo_endpoint: url("userinfo_endpoint", &file.userinfo_endpoint)?,
            discovery_url: optional_url("discovery_url", file.discovery_url.as_deref())?,
            issuer: match file.issuer {
                Some(issuer) => Some(url("issuer", &issuer).map(|_| issuer)?),
                None => None,
            },
            emails_endpoint: optional_url("emails_endpoint", file.emails_endpoint.as_deref())?,
            scopes: file.scopes,
            option_scopes: file.option_scopes,
            headers: file.headers,
            profile: file.profile,
        })
    }
}

/// The [`Identity`] a provider's profile (its userinfo JSON) describes,
/// through the preset's mapping. The subject is required: a string as sent,
/// an integer as its decimal string. The email is normalized, and dropped
/// when it is not a valid address (the person still logs in); it is only
/// verified when the profile says so. `raw` keeps the whole profile.
pub fn identity_from_profile(
    preset: &Preset,
    connection_id: &str,
    profile: &Value,
) -> Result<Identity, PresetError> {
    let Value::Object(raw) = profile else {
        return Err(PresetError::ProfileNotObject {
            preset: preset.name.clone(),
        });
    };
    let map = &preset.profile;
    let subject = map
        .subject
        .find(profile)
        .and_then(subject_text)
        .ok_or_else(|| PresetError::MissingSubject {
            preset: preset.name.clone(),
            field: map.subject.to_string(),
        })?;
    let value = |field: &Option<Field>| field.as_ref().and_then(|field| field.find(profile));
    let text = |field: &Option<Field>| value(field).and_then(non_blank_text);
    let email = text(&map.email).and_then(|email| normalize_email(&email).ok());
    Ok(Identity {
        connection_id: connection_id.to_owned(),
        email_verified: email.is_some() && value(&map.email_verified).is_some_and(asserts_true),
        email,
        subject,
        name: text(&map.name),
        given_name: text(&map.given_name),
        family_name: text(&map.family_name),
        nickname: text(&map.nickname),
        picture: text(&map.picture),
        groups: value(&map.groups).map(group_names).unwrap_or_default(),
        raw: raw.clone(),
        tenant: super::UpstreamTenant::default(),
    })
}

/// The address of the primary entry of a list of addresses in GitHub's shape
/// (`[{"email", "primary", "verified", "visibility"}]`, from `GET
/// /user/emails`), normalized; `None` unless the provider verified it.
pub fn primary_verified_email(emails: &Value) -> Option<String> {
    let primary = emails
        .as_array()?
        .iter()
        .find(|entry| entry.get("primary") == Some(&Value::Bool(true)))?;
    if primary.get("verified") != Some(&Value::Bool(true)) {
        return None;
    }
    normalize_email(primary.get("email")?.as_str()?).ok()
}

/// The answer of a preset's `emails_endpoint` applied to the identity its
/// profile gave: a verified primary address replaces the profile's email,
/// verified; otherwise the identity stays as it was (its email unverified,
/// since such a profile does not say).
pub fn apply_emails(identity: &mut Identity, emails: &Value) {
    if let Some(email) = primary_verified_email(emails) {
        identity.email = Some(email);
        identity.email_verified = true;
    }
}

fn subject_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn non_blank_text(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn asserts_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn group_names(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(non_blank_text).collect(),
        other => non_blank_text(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests;
