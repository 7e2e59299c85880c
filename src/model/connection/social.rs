//! Options of the social connections (`google-oauth2`, `github`,
//! `windowslive`) and of a generic OAuth 2.0 upstream (`oauth2`). The social
//! ones may leave the client out (a preset's development keys, as Auth0);
//! the flags ask the provider for more (Auth0's names, one scope each).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::options::{Scope, check_optional_url, field, require};
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

impl OAuth2Options {
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
        Ok(())
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
}
