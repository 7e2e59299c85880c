//! Options of an enterprise OpenID Connect connection (`strategy: oidc`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::options::{Scope, check_domain_aliases, check_optional_url, field, require};
use crate::model::ValidationError;
use crate::model::client::wire_enum;
use crate::model::secret::Secret;

wire_enum!(
    /// How the upstream answers: `back_channel` is the authorization code
    /// flow (needs a client secret), `front_channel` the implicit
    /// `id_token` by form post.
    OidcChannel {
        FrontChannel = "front_channel",
        BackChannel = "back_channel",
    }
);

wire_enum!(
    /// How upstream claims become the user's profile (Auth0's `mapping_mode`).
    OidcMappingMode {
        UseMap = "use_map",
        BindAll = "bind_all",
        BasicProfile = "basic_profile",
    }
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OidcOptions {
    /// `back_channel` when not given.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub channel: Option<OidcChannel>,
    /// Required unless `discovery_url` is given; compared with `iss` as an
    /// exact string, except under Entra's multi-tenant template
    /// (`…/{tenantid}/v2.0`, announced by `…/organizations/v2.0` and
    /// `…/common/v2.0`), where `iss` must name the token's own `tid`.
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub issuer: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub discovery_url: Option<String>,
    /// Required.
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<String>,
    /// Required for `back_channel`. Write-only: never returned.
    #[serde(
        default,
        deserialize_with = "field::secret",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorization_endpoint: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_endpoint: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub userinfo_endpoint: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::nonblank",
        skip_serializing_if = "Option::is_none"
    )]
    pub jwks_uri: Option<String>,
    /// Email domains whose users log in here (home-realm discovery).
    #[serde(
        default,
        deserialize_with = "field::domain_aliases",
        skip_serializing_if = "Option::is_none"
    )]
    pub domain_aliases: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub icon_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_map: Option<OidcAttributeMap>,
    /// Switchyard's: lifts the email-domain guard for this IdP (its people's
    /// emails may lie outside the organization's verified domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_other_email_domains: Option<bool>,
    /// Switchyard's: one connection shared by many organizations; the
    /// verified ID token's `tid` (or `hd`) decides the organization of a
    /// login (see `upstream_tenant_id` on enabled connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_from_upstream_tenant: Option<bool>,
    /// Other options (`upstream_params`, `connection_settings`, …), kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// Which upstream claims fill which profile attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(expecting = "an object")]
pub struct OidcAttributeMap {
    #[serde(
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub mapping_mode: Option<OidcMappingMode>,
    /// Scopes asked of the userinfo endpoint.
    #[serde(
        default,
        deserialize_with = "field::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub userinfo_scope: Option<String>,
    /// Profile attribute → upstream claim (a name, or a `${…}` template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl OidcOptions {
    /// The authorization code flow (the default) rather than `front_channel`.
    pub fn is_back_channel(&self) -> bool {
        self.channel != Some(OidcChannel::FrontChannel)
    }

    pub(super) fn check(&self) -> Result<(), ValidationError> {
        require("client_id", self.client_id.as_deref())?;
        if self.is_back_channel() && self.client_secret.is_none() {
            return Err(ValidationError::new(
                "options.client_secret",
                "is required for back_channel (authorization code) OIDC connections",
            ));
        }
        let discovery = check_optional_url("discovery_url", self.discovery_url.as_deref())?;
        let issuer = check_optional_url("issuer", self.issuer.as_deref())?;
        if discovery.is_none() && issuer.is_none() {
            return Err(ValidationError::new(
                "options.issuer",
                "is required (or options.discovery_url)",
            ));
        }
        for (key, url) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ] {
            check_optional_url(key, url.as_deref())?;
        }
        check_domain_aliases(self.domain_aliases.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::options::tests::{map, refusal, refused};
    use super::super::{ConnectionOptions, Strategy};
    use super::*;

    fn full() -> Value {
        json!({
            "type": "back_channel",
            "issuer": "https://idp.example.com",
            "discovery_url": "https://idp.example.com/.well-known/openid-configuration",
            "client_id": "c",
            "client_secret": "s",
            "scope": "openid profile email",
            "authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token",
            "userinfo_endpoint": "https://idp.example.com/userinfo",
            "jwks_uri": "https://idp.example.com/jwks",
            "domain_aliases": ["acme.test", "acme.example"],
            "icon_url": "https://acme.test/logo.png",
            "tenant_domain": "acme.test",
            "attribute_map": {"mapping_mode": "use_map", "userinfo_scope": "openid email",
                              "attributes": {"nickname": "preferred_username"}},
            "upstream_params": {"screen_name": {"alias": "login_hint"}},
        })
    }

    #[test]
    fn accepted_shape() {
        let parsed = ConnectionOptions::parse(Strategy::Oidc, map(full()));
        let Ok(ConnectionOptions::Oidc(options)) = &parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(options.channel, Some(OidcChannel::BackChannel));
        assert!(options.is_back_channel());
        assert_eq!(options.issuer.as_deref(), Some("https://idp.example.com"));
        assert_eq!(
            options.client_secret.as_ref().map(Secret::expose),
            Some("s")
        );
        assert_eq!(
            options.scope.as_ref().map(Scope::values),
            Some(vec!["openid", "profile", "email"])
        );
        assert_eq!(
            options.domain_aliases.as_deref(),
            Some(&["acme.test".to_owned(), "acme.example".to_owned()][..])
        );
        let attribute_map = options.attribute_map.clone().unwrap_or_default();
        assert_eq!(attribute_map.mapping_mode, Some(OidcMappingMode::UseMap));
        assert_eq!(
            attribute_map.attributes.unwrap_or_default()["nickname"],
            "preferred_username"
        );
        assert!(options.extra.contains_key("upstream_params"));
        // Written back as given: the issuer keeps its exact spelling.
        assert_eq!(
            serde_json::to_value(parsed.as_ref().ok()).ok(),
            Some(full())
        );

        let front = ConnectionOptions::parse(
            Strategy::Oidc,
            map(json!({"type": "front_channel", "client_id": "c",
                       "discovery_url": "https://idp.example.com/.well-known/openid-configuration"})),
        );
        assert!(
            front
                .as_ref()
                .is_ok_and(|o| o.oidc().is_some_and(|o| !o.is_back_channel())),
            "{front:?}"
        );
    }

    #[test]
    fn refusals() {
        let with = |key: &str, value: Value| {
            let mut options = full();
            options[key] = value;
            refusal(Strategy::Oidc, options)
        };
        let without = |keys: &[&str]| {
            let mut options = full();
            for key in keys {
                options.as_object_mut().map(|o| o.remove(*key));
            }
            refusal(Strategy::Oidc, options)
        };
        assert_eq!(
            without(&["client_id"]),
            refused("options.client_id", "is required")
        );
        assert_eq!(
            without(&["client_secret"]),
            refused(
                "options.client_secret",
                "is required for back_channel (authorization code) OIDC connections"
            )
        );
        assert_eq!(
            without(&["client_secret", "type"]),
            refused(
                "options.client_secret",
                "is required for back_channel (authorization code) OIDC connections"
            )
        );
        assert_eq!(
            without(&["issuer", "discovery_url"]),
            refused("options.issuer", "is required (or options.discovery_url)")
        );
        assert_eq!(
            with("type", json!("hybrid")),
            refused(
                "options.type",
                "must be one of: front_channel, back_channel"
            )
        );
        assert_eq!(
            with("client_id", json!("")),
            refused("options.client_id", "must not be empty")
        );
        assert_eq!(
            with("client_secret", json!(42)),
            refused("options.client_secret", "must be a string")
        );
        for key in [
            "issuer",
            "discovery_url",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        ] {
            assert_eq!(
                with(key, json!("http://idp.example.com/x")),
                refused(&format!("options.{key}"), "must be an https URL")
            );
            assert_eq!(with(key, json!("/relative")).0, format!("options.{key}"));
        }
        assert_eq!(
            with("domain_aliases", json!(["acme.test", "not a domain"])),
            refused("options.domain_aliases[1]", "must be a domain name")
        );
        assert_eq!(
            with("scope", json!({"openid": true})),
            refused("options.scope", "must be a string or an array of strings")
        );
        assert_eq!(
            with("icon_url", json!(1)),
            refused("options.icon_url", "must be a string")
        );
        assert_eq!(
            with("attribute_map", json!("use_map")),
            refused("options.attribute_map", "must be an object")
        );
        assert_eq!(
            with("attribute_map", json!({"mapping_mode": "all"})),
            refused(
                "options.attribute_map.mapping_mode",
                "must be one of: use_map, bind_all, basic_profile"
            )
        );
    }
}
