//! Options of the social connections (`google-oauth2`, `github`,
//! `windowslive`) and of a generic OAuth 2.0 upstream (`oauth2`). The social
//! ones may leave the client out (a preset's development keys, as Auth0);
//! the flags ask the provider for more (Auth0's names, one scope each).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::options::{Scope, check_optional_url, decode, field, require};
use super::profile::ProfileMap;
use crate::model::ValidationError;
use crate::model::secret::Secret;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoogleOptions {
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// Write-only: never returned.
    #[serde(
        default,
        deserialize_with = "field::secret",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Ask for the email address (`email` scope).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<bool>,
    /// Ask for the basic profile (`profile` scope).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile: Option<bool>,
    /// Other options, kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GithubOptions {
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// Write-only: never returned.
    #[serde(
        default,
        deserialize_with = "field::secret",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Ask for the email addresses (`user:email`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<bool>,
    /// Ask for the profile (`read:user`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_user: Option<bool>,
    /// Ask for the organizations and teams (`read:org`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_org: Option<bool>,
    /// Other options, kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowsLiveOptions {
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// Write-only: never returned.
    #[serde(
        default,
        deserialize_with = "field::secret",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Single sign-in (`wl.signin`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub signin: Option<bool>,
    /// Ask for the basic profile (`wl.basic`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub basic: Option<bool>,
    /// Ask for the email addresses (`wl.emails`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub emails: Option<bool>,
    /// Access while the user is away (`wl.offline_access`).
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub offline_access: Option<bool>,
    /// Other options, kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// A generic OAuth 2.0 upstream: its two endpoints and a client are required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuth2Options {
    #[serde(
        rename = "authorizationURL",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorization_url: Option<String>,
    #[serde(
        rename = "tokenURL",
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// Write-only: never returned.
    #[serde(
        default,
        deserialize_with = "field::secret",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Other options (`scripts`, `customHeaders`, …), kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// The `oauth2` option naming the userinfo endpoint (Switchyard's: Auth0
/// runs `scripts.fetchUserProfile` instead, which Switchyard does not run).
pub const OAUTH2_USERINFO_URL: &str = "userInfoURL";
/// The `oauth2` option holding the profile mapping (a [`ProfileMap`] as
/// JSON); without it, the OpenID Connect standard claims.
pub const OAUTH2_PROFILE_MAP: &str = "profile_map";

impl OAuth2Options {
    /// A present [`OAUTH2_USERINFO_URL`] or [`OAUTH2_PROFILE_MAP`] must be
    /// usable; a missing `userInfoURL` is accepted here (an Auth0 export
    /// carries `scripts.fetchUserProfile` instead, and provisioning tools
    /// sync it as it is): such a connection cannot log anyone in until it
    /// has one.
    pub(super) fn check(&self) -> Result<(), ValidationError> {
        for (key, url) in [
            ("authorizationURL", &self.authorization_url),
            ("tokenURL", &self.token_url),
        ] {
            check_optional_url(key, Some(require(key, url.as_deref())?))?;
        }
        require("client_id", self.client_id.as_deref())?;
        require(
            "client_secret",
            self.client_secret.as_ref().map(Secret::expose),
        )?;
        self.userinfo_url()?;
        self.profile_map()?;
        Ok(())
    }

    /// [`OAUTH2_USERINFO_URL`], when given: https (http only on loopback).
    pub fn userinfo_url(&self) -> Result<Option<url::Url>, ValidationError> {
        let url: Option<String> = self.decode_extra(OAUTH2_USERINFO_URL)?;
        check_optional_url(OAUTH2_USERINFO_URL, url.as_deref())
    }

    /// [`OAUTH2_PROFILE_MAP`], when given.
    pub fn profile_map(&self) -> Result<Option<ProfileMap>, ValidationError> {
        let map: Option<ProfileMap> = self.decode_extra(OAUTH2_PROFILE_MAP)?;
        if let Some(map) = &map {
            map.check().map_err(|(key, reason)| {
                ValidationError::new(format!("options.{OAUTH2_PROFILE_MAP}.{key}"), reason)
            })?;
        }
        Ok(map)
    }

    /// The option `key` of the untyped ones, decoded (a refusal names it as
    /// `options.<key>…`); `None` when absent.
    fn decode_extra<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ValidationError> {
        let Some(value) = self.extra.get(key) else {
            return Ok(None);
        };
        // Decoded as `{key: value}`, so that a refusal's path starts at `key`.
        let one: Map<String, Value> = [(key.to_owned(), value.clone())].into_iter().collect();
        let decoded: BTreeMap<String, Option<T>> = decode(Value::Object(one))?;
        Ok(decoded.into_values().flatten().next())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::options::tests::{map, refusal, refused};
    use super::super::{ConnectionOptions, Strategy};
    use super::*;

    #[test]
    fn social_accepted_shapes() {
        let google = ConnectionOptions::parse(
            Strategy::Google,
            map(
                json!({"client_id": "g", "client_secret": "gs", "scope": ["openid"],
                "email": true, "profile": false, "allowed_audiences": ["x"]}),
            ),
        );
        let Ok(ConnectionOptions::Google(google)) = google else {
            panic!("{google:?}")
        };
        assert_eq!(google.client_id.as_deref(), Some("g"));
        assert_eq!(
            google.client_secret.as_ref().map(Secret::expose),
            Some("gs")
        );
        assert_eq!(google.scope, Some(Scope::List(vec!["openid".into()])));
        assert_eq!((google.email, google.profile), (Some(true), Some(false)));
        assert_eq!(google.extra["allowed_audiences"], json!(["x"]));

        let github = ConnectionOptions::parse(
            Strategy::Github,
            map(json!({"read_user": true, "read_org": true, "email": true, "gist": 1})),
        );
        let Ok(ConnectionOptions::Github(github)) = github else {
            panic!("{github:?}")
        };
        assert_eq!(
            (github.read_user, github.read_org, github.email),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(github.client_id, None, "social clients are optional");
        assert_eq!(github.extra["gist"], 1);

        let live = ConnectionOptions::parse(
            Strategy::WindowsLive,
            map(
                json!({"client_id": "w", "scope": "wl.basic", "signin": true,
                "basic": true, "emails": true, "offline_access": false}),
            ),
        );
        let Ok(ConnectionOptions::WindowsLive(live)) = live else {
            panic!("{live:?}")
        };
        assert_eq!(
            (live.signin, live.basic, live.emails, live.offline_access),
            (Some(true), Some(true), Some(true), Some(false))
        );
        assert_eq!(live.scope, Some(Scope::Text("wl.basic".into())));
    }

    #[test]
    fn social_refusals() {
        for strategy in [Strategy::Google, Strategy::Github, Strategy::WindowsLive] {
            assert_eq!(
                refusal(strategy, json!({"client_id": 7})),
                refused("options.client_id", "must be a string")
            );
            assert_eq!(
                refusal(strategy, json!({"client_secret": "  "})),
                refused("options.client_secret", "must not be empty")
            );
            assert_eq!(
                refusal(strategy, json!({"scope": 5})),
                refused("options.scope", "must be a string or an array of strings")
            );
        }
        assert_eq!(
            refusal(Strategy::Google, json!({"email": "yes"})),
            refused("options.email", "must be a boolean")
        );
        assert_eq!(
            refusal(Strategy::Github, json!({"read_org": 1})),
            refused("options.read_org", "must be a boolean")
        );
        assert_eq!(
            refusal(Strategy::WindowsLive, json!({"signin": "true"})),
            refused("options.signin", "must be a boolean")
        );
    }

    fn oauth2() -> Value {
        json!({"authorizationURL": "https://idp.example.com/authorize",
               "tokenURL": "https://idp.example.com/token",
               "client_id": "c", "client_secret": "s", "scope": "openid",
               "scripts": {"fetchUserProfile": "function () {}"}})
    }

    #[test]
    fn oauth2_accepted_shape() {
        let parsed = ConnectionOptions::parse(Strategy::OAuth2, map(oauth2()));
        let Ok(ConnectionOptions::OAuth2(options)) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            options.authorization_url.as_deref(),
            Some("https://idp.example.com/authorize")
        );
        assert_eq!(
            options.token_url.as_deref(),
            Some("https://idp.example.com/token")
        );
        assert_eq!(
            options.client_secret.as_ref().map(Secret::expose),
            Some("s")
        );
        assert!(options.extra.contains_key("scripts"));
    }

    #[test]
    fn oauth2_refusals() {
        let without = |key: &str| {
            let mut options = oauth2();
            options.as_object_mut().map(|o| o.remove(key));
            refusal(Strategy::OAuth2, options)
        };
        for key in ["authorizationURL", "tokenURL", "client_id", "client_secret"] {
            assert_eq!(
                without(key),
                refused(&format!("options.{key}"), "is required")
            );
        }
        let with = |key: &str, value: Value| {
            let mut options = oauth2();
            options[key] = value;
            refusal(Strategy::OAuth2, options)
        };
        assert_eq!(
            with("authorizationURL", json!("http://idp.example.com/auth")),
            refused("options.authorizationURL", "must be an https URL")
        );
        assert_eq!(
            with("tokenURL", json!("https://idp.example.com/token#x")),
            refused("options.tokenURL", "must not contain a fragment")
        );
        assert_eq!(
            with("tokenURL", json!(["https://idp.example.com/token"])),
            refused("options.tokenURL", "must be a string")
        );
        assert_eq!(
            with("client_secret", json!("")),
            refused("options.client_secret", "must not be empty")
        );
        assert_eq!(
            with("scope", json!(false)),
            refused("options.scope", "must be a string or an array of strings")
        );
    }

    #[test]
    fn oauth2_profile_options_are_checked_when_given() {
        let with = |key: &str, value: Value| {
            let mut options = oauth2();
            options[key] = value;
            options
        };
        let accepted = |options: Value| {
            ConnectionOptions::parse(Strategy::OAuth2, map(options.clone()))
                .unwrap_or_else(|e| panic!("{options} refused: {e:?}"))
        };
        // Left out, as in an Auth0 export (scripts.fetchUserProfile): accepted.
        let ConnectionOptions::OAuth2(synced) = accepted(oauth2()) else {
            panic!("not oauth2")
        };
        assert_eq!(synced.userinfo_url(), Ok(None));
        assert_eq!(synced.profile_map(), Ok(None));
        let ConnectionOptions::OAuth2(local) =
            accepted(with(OAUTH2_USERINFO_URL, json!("http://127.0.0.1:4000/me")))
        else {
            panic!("not oauth2")
        };
        assert_eq!(
            local.userinfo_url().map(|url| url.map(String::from)),
            Ok(Some("http://127.0.0.1:4000/me".to_owned())),
            "loopback over http, as check_url allows"
        );
        let ConnectionOptions::OAuth2(mapped) = accepted(with(
            OAUTH2_PROFILE_MAP,
            json!({"subject": "user_id", "email": ["mail", "/contact/email"]}),
        )) else {
            panic!("not oauth2")
        };
        assert!(mapped.profile_map().is_ok_and(|map| map.is_some()));

        let refusal = |key: &str, value: Value| refusal(Strategy::OAuth2, with(key, value));
        assert_eq!(
            refusal(OAUTH2_USERINFO_URL, json!("http://idp.example.com/me")),
            refused("options.userInfoURL", "must be an https URL")
        );
        assert_eq!(
            refusal(OAUTH2_USERINFO_URL, json!(7)),
            refused("options.userInfoURL", "must be a string")
        );
        assert_eq!(
            refusal(OAUTH2_USERINFO_URL, json!("/me")).0,
            "options.userInfoURL"
        );
        assert_eq!(
            refusal(OAUTH2_PROFILE_MAP, json!("sub")),
            refused("options.profile_map", "must be an object")
        );
        let (field, reason) = refusal(OAUTH2_PROFILE_MAP, json!({"email": "mail"}));
        assert_eq!(field, "options.profile_map");
        assert!(reason.contains("subject"), "{reason}");
        let (field, reason) = refusal(OAUTH2_PROFILE_MAP, json!({"subject": "id", "mail": "x"}));
        assert_eq!(field, "options.profile_map.mail");
        assert!(reason.contains("unknown field"), "{reason}");
        assert_eq!(
            refusal(OAUTH2_PROFILE_MAP, json!({"subject": "id", "email": 3})),
            refused(
                "options.profile_map.email",
                "must be a field name, a JSON pointer, or an array of them"
            )
        );
        assert_eq!(
            refusal(OAUTH2_PROFILE_MAP, json!({"subject": ["id", ""]})),
            refused("options.profile_map.subject", "must name a profile field")
        );
    }
}
