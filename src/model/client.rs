//! Clients (applications) and the grants that let them call APIs.

use serde::{Deserialize, Serialize};

use super::address::Destinations;
use super::origin::{OriginSet, check_origin};
use super::{ValidationError, check_display_text, check_url};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            pub fn parse(value: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == value)
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// Auth0's application types; they decide how a client authenticates.
    AppType {
        Spa = "spa",
        RegularWeb = "regular_web",
        Native = "native",
        NonInteractive = "non_interactive",
    }
);

wire_enum!(
    /// Whether users of this client log in to an organization.
    OrganizationUsage {
        Deny = "deny",
        Allow = "allow",
        Require = "require",
    }
);

wire_enum!(
    /// With `organization_usage: require` and no organization in the request:
    /// ask for it before login, let the user pick after login, or fail.
    OrganizationRequireBehavior {
        NoPrompt = "no_prompt",
        PreLoginPrompt = "pre_login_prompt",
        PostLoginPrompt = "post_login_prompt",
    }
);

wire_enum!(
    /// Auth0's `organization_discovery_methods`: how `pre_login_prompt`
    /// finds the organization — by its name, or by the email's verified
    /// domain.
    OrganizationDiscoveryMethod {
        Email = "email",
        OrganizationName = "organization_name",
    }
);

wire_enum!(
    /// How a client authenticates at the token, revocation and introspection
    /// endpoints (OIDC Core §9): only this way (`flows::client_auth`).
    /// Public clients have `none`; a confidential client created without one
    /// gets `client_secret_post`, as in Auth0.
    TokenEndpointAuthMethod {
        None = "none",
        ClientSecretPost = "client_secret_post",
        ClientSecretBasic = "client_secret_basic",
    }
);

wire_enum!(
    /// JWS algorithms Switchyard signs with.
    SigningAlg {
        RS256 = "RS256",
        ES256 = "ES256",
        EdDSA = "EdDSA",
    }
);

wire_enum!(
    GrantType {
        AuthorizationCode = "authorization_code",
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
        Implicit = "implicit",
    }
);

wire_enum!(
    /// Auth0's `refresh_token.rotation_type`: whether each use of a refresh
    /// token returns a new one and retires the one used.
    RotationType {
        Rotating = "rotating",
        NonRotating = "non-rotating",
    }
);

wire_enum!(
    /// Auth0's `refresh_token.expiration_type`: whether the lifetimes apply.
    ExpirationType {
        Expiring = "expiring",
        NonExpiring = "non-expiring",
    }
);

/// Default and bounds of an ID token's lifetime in seconds
/// (`jwt_configuration.lifetime_in_seconds`). The default is the hour this
/// server always gave (Auth0's is 10 hours); the bound is Auth0's, 30 days.
pub const DEFAULT_ID_TOKEN_LIFETIME: i64 = 3600;
pub const MAX_ID_TOKEN_LIFETIME: i64 = 2_592_000;

/// Longest refresh-token lifetime Auth0 takes (5 years, in seconds).
pub const MAX_REFRESH_TOKEN_LIFETIME: i64 = 157_788_000;

/// Auth0's per-client `refresh_token` settings, which drive the refresh
/// grant (`flows::refresh`). Lifetimes and leeway are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefreshTokenSettings {
    pub rotation_type: RotationType,
    pub expiration_type: ExpirationType,
    /// After a rotating token is used, how long it may be presented again
    /// (a retried request) without being taken for a stolen one.
    pub leeway: i64,
    /// Absolute lifetime of a family, from the login.
    pub token_lifetime: i64,
    pub infinite_token_lifetime: bool,
    /// How long a token lives unused.
    pub idle_token_lifetime: i64,
    pub infinite_idle_token_lifetime: bool,
}

impl Default for RefreshTokenSettings {
    /// What a client that never set them gets: Auth0's lifetimes (30 days,
    /// 15 days idle) and leeway (0), and rotation with expiry as this
    /// server always did, where Auth0 defaults to non-rotating,
    /// non-expiring tokens (RFC 9700 §4.14.2 wants rotation for public
    /// clients).
    fn default() -> Self {
        RefreshTokenSettings {
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway: 0,
            token_lifetime: 2_592_000,
            infinite_token_lifetime: false,
            idle_token_lifetime: 1_296_000,
            infinite_idle_token_lifetime: false,
        }
    }
}

impl RefreshTokenSettings {
    /// The absolute lifetime of a family, if it has one (ms).
    pub fn absolute_lifetime_ms(&self) -> Option<i64> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_token_lifetime)
            .then(|| self.token_lifetime.saturating_mul(1000))
    }

    /// How long a token may go unused, if limited (ms).
    pub fn idle_lifetime_ms(&self) -> Option<i64> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_idle_token_lifetime)
            .then(|| self.idle_token_lifetime.saturating_mul(1000))
    }

    pub fn is_rotating(&self) -> bool {
        self.rotation_type == RotationType::Rotating
    }

    /// Auth0's bounds, and what a client of `app_type` may use.
    fn check(&self, app_type: AppType) -> Result<(), ValidationError> {
        for (field, value, max) in [
            (
                "refresh_token.token_lifetime",
                self.token_lifetime,
                MAX_REFRESH_TOKEN_LIFETIME,
            ),
            (
                "refresh_token.idle_token_lifetime",
                self.idle_token_lifetime,
                MAX_REFRESH_TOKEN_LIFETIME,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(ValidationError::new(
                    field,
                    format!("must be from 1 to {max} seconds"),
                ));
            }
        }
        if !(0..=MAX_REFRESH_TOKEN_LIFETIME).contains(&self.leeway) {
            return Err(ValidationError::new(
                "refresh_token.leeway",
                "must be a number of seconds, at least 0",
            ));
        }
        if self.is_rotating() && self.expiration_type == ExpirationType::NonExpiring {
            return Err(ValidationError::new(
                "refresh_token.expiration_type",
                "must be 'expiring' when rotation_type is 'rotating', as in Auth0",
            ));
        }
        if !self.is_rotating() && app_type.is_public() {
            return Err(ValidationError::new(
                "refresh_token.rotation_type",
                "must be 'rotating' for public clients (spa, native): a refresh token they \
                 hold must be retired on use (RFC 9700 §4.14.2)",
            ));
        }
        Ok(())
    }
}

impl GrantType {
    /// Grants a public client may use with its client_id alone: the code
    /// grant binds it by PKCE, a refresh token by its rotation.
    pub fn allows_public_clients(self) -> bool {
        matches!(self, GrantType::AuthorizationCode | GrantType::RefreshToken)
    }
}

impl AppType {
    /// Public clients cannot keep a secret: they authenticate with PKCE only.
    pub fn is_public(self) -> bool {
        matches!(self, AppType::Spa | AppType::Native)
    }

    /// What a new client of this type may do when the caller does not say.
    pub fn default_grant_types(self) -> Vec<GrantType> {
        match self {
            AppType::NonInteractive => vec![GrantType::ClientCredentials],
            AppType::Spa | AppType::Native => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            AppType::RegularWeb => vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
        }
    }

    pub fn default_auth_method(self) -> TokenEndpointAuthMethod {
        if self.is_public() {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretPost
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: Option<String>,
    pub app_type: AppType,
    /// SHA-256 of the secret; the secret itself is shown once, at creation or rotation.
    pub client_secret_hash: Option<String>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// Auth0's "Allowed Web Origins" and "Allowed Origins (CORS)": with the
    /// callbacks' origins, the pages that may call the token, revocation
    /// and userinfo endpoints from JavaScript ([`Client::cors_origins`]).
    pub web_origins: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub organization_usage: OrganizationUsage,
    pub organization_require_behavior: OrganizationRequireBehavior,
    /// As set; `None`: never set (the organization's name, as Auth0).
    pub organization_discovery_methods: Option<Vec<OrganizationDiscoveryMethod>>,
    pub signing_alg: SigningAlg,
    pub is_first_party: bool,
    pub client_metadata: serde_json::Map<String, serde_json::Value>,
    /// Where the client takes OpenID Connect Back-Channel Logout tokens
    /// (checked by [`check_backchannel_logout_url`], which needs to know
    /// where the server runs).
    pub backchannel_logout_url: Option<String>,
    pub refresh_token: RefreshTokenSettings,
    /// Auth0's "Application Login URI": an https URL that starts a login
    /// at the application (kept and returned, not used here).
    pub initiate_login_uri: Option<String>,
    /// Lifetime of the ID tokens issued to this client, in seconds.
    pub id_token_lifetime: i64,
    /// Auth0 properties taken, stored and returned as sent, with no effect
    /// here (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

/// As Auth0: one method at least, each once.
fn check_discovery_methods(methods: &[OrganizationDiscoveryMethod]) -> Result<(), ValidationError> {
    let field = "organization_discovery_methods";
    if methods.is_empty() {
        return Err(ValidationError::new(field, "must name at least one method"));
    }
    for (i, method) in methods.iter().enumerate() {
        if methods[..i].contains(method) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!("names {} twice", method.as_str()),
            ));
        }
    }
    Ok(())
}

impl Client {
    /// How `pre_login_prompt` finds the organization: as set, else by its name.
    pub fn discovers_organizations_by(&self, method: OrganizationDiscoveryMethod) -> bool {
        match &self.organization_discovery_methods {
            Some(methods) => methods.contains(&method),
            None => method == OrganizationDiscoveryMethod::OrganizationName,
        }
    }

    /// The rules that tie a client's settings together, checked after every
    /// create and update.
    pub fn check(&self) -> Result<(), ValidationError> {
        check_display_text("name", &self.name, 255)?;
        if let Some(description) = &self.description {
            if description.chars().count() > 140 {
                return Err(ValidationError::new(
                    "description",
                    "must be at most 140 characters",
                ));
            }
        }
        if let Some(methods) = &self.organization_discovery_methods {
            check_discovery_methods(methods)?;
        }
        for (i, url) in self.callbacks.iter().enumerate() {
            check_redirect_uri(&format!("callbacks[{i}]"), url)?;
        }
        for (i, url) in self.allowed_logout_urls.iter().enumerate() {
            check_redirect_uri(&format!("allowed_logout_urls[{i}]"), url)?;
        }
        for (i, origin) in self.web_origins.iter().enumerate() {
            check_origin(&format!("web_origins[{i}]"), origin)?;
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            check_origin(&format!("allowed_origins[{i}]"), origin)?;
        }
        if self.app_type.is_public()
            && self.token_endpoint_auth_method != TokenEndpointAuthMethod::None
        {
            return Err(ValidationError::new(
                "token_endpoint_auth_method",
                "must be 'none' for public clients (spa, native)",
            ));
        }
        if !self.app_type.is_public()
            && self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
        {
            return Err(ValidationError::new(
                "token_endpoint_auth_method",
                "must be client_secret_post or client_secret_basic for confidential clients",
            ));
        }
        if self.app_type.is_public() && self.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(ValidationError::new(
                "grant_types",
                "client_credentials needs a confidential client",
            ));
        }
        if let Some(uri) = &self.initiate_login_uri {
            check_initiate_login_uri(uri)?;
        }
        if !(1..=MAX_ID_TOKEN_LIFETIME).contains(&self.id_token_lifetime) {
            return Err(ValidationError::new(
                "jwt_configuration.lifetime_in_seconds",
                format!("must be from 1 to {MAX_ID_TOKEN_LIFETIME} seconds"),
            ));
        }
        self.refresh_token.check(self.app_type)?;
        if self.grant_types.contains(&GrantType::Implicit) {
            return Err(ValidationError::new(
                "grant_types",
                "implicit is not supported (OAuth 2.0 Security BCP); use authorization_code with PKCE",
            ));
        }
        Ok(())
    }

    /// The origins whose pages may read this client's answers (CORS): its
    /// `allowed_origins` and `web_origins`, and, as Auth0 does, the origins
    /// of its callback URLs.
    pub fn cors_origins(&self) -> OriginSet {
        let mut origins = OriginSet::default();
        self.add_cors_origins(&mut origins);
        origins
    }

    /// Adds [`Client::cors_origins`] to `origins`.
    pub fn add_cors_origins(&self, origins: &mut OriginSet) {
        origins.add_origins(&self.allowed_origins);
        origins.add_origins(&self.web_origins);
        origins.add_callback_origins(&self.callbacks);
    }
}

/// The server POSTs to it: an absolute http(s) URL without a fragment
/// (Back-Channel Logout §2.2) that `destinations` allows (no loopback or
/// private address literal, no `localhost`, unless allowed). A host name
/// is checked again each time it is resolved, when a token is sent.
pub fn check_backchannel_logout_url(
    value: &str,
    destinations: &Destinations,
) -> Result<(), ValidationError> {
    const FIELD: &str = "oidc_logout.backchannel_logout_urls[0]";
    let url = url::Url::parse(value)
        .map_err(|_| ValidationError::new(FIELD, "must be an absolute URL"))?;
    if url.fragment().is_some() || !matches!(url.scheme(), "https" | "http") {
        return Err(ValidationError::new(
            FIELD,
            "must be an http(s) URL without a fragment",
        ));
    }
    destinations.check_url(&url).map_err(|refused| {
        ValidationError::new(
            FIELD,
            format!("must be an https URL of a public host: {refused}"),
        )
    })
}

/// Auth0 takes an absolute https URL (no fragment, no credentials) as the
/// application's login URI, whatever its host.
fn check_initiate_login_uri(value: &str) -> Result<(), ValidationError> {
    const FIELD: &str = "initiate_login_uri";
    let url = check_url(FIELD, value, false)?;
    if url.scheme() != "https" {
        return Err(ValidationError::new(FIELD, "must be an https URL"));
    }
    Ok(())
}

/// Redirect URIs are matched exactly, so they must be complete absolute URLs.
/// Native apps may use private-use schemes (`com.example.app:/callback`, RFC 8252).
fn check_redirect_uri(field: &str, value: &str) -> Result<(), ValidationError> {
    let url = url::Url::parse(value)
        .map_err(|e| ValidationError::new(field, format!("must be an absolute URL ({e})")))?;
    match url.scheme() {
        "https" | "http" => check_url(field, value, false).map(|_| ()),
        "javascript" | "data" | "file" | "vbscript" => {
            Err(ValidationError::new(field, "uses a forbidden scheme"))
        }
        scheme if scheme.contains('.') => {
            if url.fragment().is_some() {
                Err(ValidationError::new(field, "must not contain a fragment"))
            } else {
                Ok(())
            }
        }
        _ => Err(ValidationError::new(
            field,
            "must be https, http on loopback, or a private-use scheme like com.example.app",
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    pub organization_usage: Option<OrganizationUsage>,
    pub allow_any_organization: bool,
    /// Auth0 properties kept and returned without effect (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

/// Scope values are single tokens from RFC 6749's scope-token character set.
pub fn check_scope_values(field: &str, scope: &[String]) -> Result<(), ValidationError> {
    for (i, value) in scope.iter().enumerate() {
        let valid = !value.is_empty()
            && value
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                "must be a scope token without spaces or quotes",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_wire_enums_as_the_wire_spells_them() {
        let schema = serde_json::to_value(<AppType as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["spa", "regular_web", "native", "non_interactive"])
        );
    }

    #[test]
    fn backchannel_logout_urls_reach_public_hosts_only_in_production() {
        let public = Destinations::public_only();
        let local = Destinations::new(true, vec![]);
        let intranet = Destinations::new(false, vec!["10.0.0.0/8".parse().unwrap()]);
        for url in ["https://app.example.com/bcl", "https://93.184.216.34/bcl"] {
            for destinations in [&public, &local, &intranet] {
                assert!(
                    check_backchannel_logout_url(url, destinations).is_ok(),
                    "{url}"
                );
            }
        }
        // This machine: only on a local issuer.
        for url in [
            "http://127.0.0.1:3000/bcl",
            "https://localhost/bcl",
            "https://localhost./bcl",
            "https://localhost.localdomain/bcl",
            "https://app.localhost/bcl",
            "https://[::1]/bcl",
            "https://[::ffff:127.0.0.1]/bcl",
        ] {
            assert!(check_backchannel_logout_url(url, &public).is_err(), "{url}");
            assert!(
                check_backchannel_logout_url(url, &intranet).is_err(),
                "{url}"
            );
            assert!(check_backchannel_logout_url(url, &local).is_ok(), "{url}");
        }
        // The private network: only where allowed.
        let error = check_backchannel_logout_url("https://10.1.2.3/bcl", &public).unwrap_err();
        assert!(error.reason.contains("private-use"), "{error}");
        assert!(check_backchannel_logout_url("https://10.1.2.3/bcl", &intranet).is_ok());
        // Never: the other special ranges, whatever the issuer.
        for url in [
            "https://192.168.0.10/bcl",
            "https://169.254.169.254/latest",
            "https://100.100.100.200/latest",
            "https://198.18.0.1/bcl",
            "https://0.0.0.0/bcl",
            "https://255.255.255.255/bcl",
            "https://[fd00::1]/bcl",
            "https://[fe80::1]/bcl",
            "https://[::127.0.0.1]/bcl",
            "https://[64:ff9b::a9fe:a9fe]/latest",
            "https://[2002:a00:1::]/bcl",
            "http://app.example.com/bcl",
            "https://app.example.com/bcl#frag",
            "ftp://app.example.com/bcl",
            "not a url",
        ] {
            for destinations in [&public, &local, &intranet] {
                assert!(
                    check_backchannel_logout_url(url, destinations).is_err(),
                    "{url}"
                );
            }
        }
    }

    fn web_client() -> Client {
        Client {
            client_id: "c".into(),
            name: "Web".into(),
            description: None,
            app_type: AppType::RegularWeb,
            client_secret_hash: None,
            callbacks: vec!["http://localhost:3000/callback".into()],
            allowed_logout_urls: vec![],
            web_origins: vec![],
            allowed_origins: vec![],
            grant_types: AppType::RegularWeb.default_grant_types(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            organization_usage: OrganizationUsage::Deny,
            organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
            organization_discovery_methods: None,
            signing_alg: SigningAlg::RS256,
            is_first_party: true,
            client_metadata: serde_json::Map::new(),
            backchannel_logout_url: None,
            refresh_token: RefreshTokenSettings::default(),
            initiate_login_uri: None,
            id_token_lifetime: DEFAULT_ID_TOKEN_LIFETIME,
            inert_settings: serde_json::Map::new(),
        }
    }

    #[test]
    fn confidential_web_client_is_valid() {
        assert_eq!(web_client().check(), Ok(()));
    }

    #[test]
    fn callbacks_must_be_safe_absolute_urls() {
        for bad in [
            "/callback",
            "javascript:alert(1)",
            "http://evil.example/cb",
            "https://a.example/cb#x",
        ] {
            let mut client = web_client();
            client.callbacks = vec![bad.into()];
            assert_eq!(
                client.check().map_err(|e| e.field),
                Err("callbacks[0]".into()),
                "{bad}"
            );
        }
        let mut native = web_client();
        native.app_type = AppType::Native;
        native.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
        native.grant_types = AppType::Native.default_grant_types();
        native.callbacks = vec!["com.example.app:/callback".into()];
        assert_eq!(native.check(), Ok(()));
    }

    #[test]
    fn origins_are_checked_and_drive_cors() {
        let mut client = web_client();
        client.allowed_origins = vec!["https://spa.example.com/".into()];
        assert_eq!(
            client.check().map_err(|e| e.field),
            Err("allowed_origins[0]".into())
        );
        client.allowed_origins = vec!["https://*.spa.example.com".into()];
        client.web_origins = vec![
            "https://web.example.com".into(),
            "http://evil.example".into(),
        ];
        assert_eq!(
            client.check().map_err(|e| e.field),
            Err("web_origins[1]".into())
        );
        client.web_origins.pop();
        assert_eq!(client.check(), Ok(()));
        let origins = client.cors_origins();
        for allowed in [
            "https://a.spa.example.com",
            "https://web.example.com",
            "http://localhost:3000",
        ] {
            assert!(origins.allows(allowed), "{allowed}");
        }
        assert!(!origins.allows("https://spa.example.com"));
    }

    #[test]
    fn public_clients_have_no_secret_and_no_client_credentials() {
        let mut spa = web_client();
        spa.app_type = AppType::Spa;
        assert!(spa.check().is_err());
        spa.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
        spa.grant_types = vec![GrantType::ClientCredentials];
        assert_eq!(spa.check().map_err(|e| e.field), Err("grant_types".into()));
    }

    #[test]
    fn refresh_token_settings_follow_auth0s_rules() {
        let mut client = web_client();
        client.refresh_token.rotation_type = RotationType::NonRotating;
        client.refresh_token.expiration_type = ExpirationType::NonExpiring;
        assert_eq!(client.check(), Ok(()));
        assert_eq!(client.refresh_token.absolute_lifetime_ms(), None);
        assert_eq!(client.refresh_token.idle_lifetime_ms(), None);
        // Rotation needs expiring tokens.
        client.refresh_token.rotation_type = RotationType::Rotating;
        assert_eq!(
            client.check().map_err(|e| e.field),
            Err("refresh_token.expiration_type".into())
        );
        client.refresh_token.expiration_type = ExpirationType::Expiring;
        client.refresh_token.infinite_idle_token_lifetime = true;
        assert_eq!(client.check(), Ok(()));
        assert_eq!(
            client.refresh_token.absolute_lifetime_ms(),
            Some(2_592_000_000)
        );
        assert_eq!(client.refresh_token.idle_lifetime_ms(), None);
        for (field, bad) in [
            ("refresh_token.token_lifetime", 0),
            (
                "refresh_token.token_lifetime",
                MAX_REFRESH_TOKEN_LIFETIME + 1,
            ),
            ("refresh_token.idle_token_lifetime", -5),
            ("refresh_token.leeway", -1),
        ] {
            let mut client = web_client();
            match field {
                "refresh_token.token_lifetime" => client.refresh_token.token_lifetime = bad,
                "refresh_token.idle_token_lifetime" => {
                    client.refresh_token.idle_token_lifetime = bad;
                }
                _ => client.refresh_token.leeway = bad,
            }
            assert_eq!(client.check().map_err(|e| e.field), Err(field.into()));
        }
        // A public client's tokens rotate.
        let mut spa = web_client();
        spa.app_type = AppType::Spa;
        spa.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
        spa.grant_types = AppType::Spa.default_grant_types();
        assert_eq!(spa.check(), Ok(()));
        spa.refresh_token.rotation_type = RotationType::NonRotating;
        assert_eq!(
            spa.check().map_err(|e| e.field),
            Err("refresh_token.rotation_type".into())
        );
    }

    #[test]
    fn initiate_login_uri_is_an_https_url_and_id_token_lifetime_is_bounded() {
        let mut client = web_client();
        client.initiate_login_uri = Some("https://app.example.com/login?x=1".into());
        assert_eq!(client.check(), Ok(()));
        for bad in [
            "http://app.example.com/login",
            "http://localhost:3000/login",
            "/login",
            "https://app.example.com/login#x",
            "https://user:pw@app.example.com/login",
        ] {
            client.initiate_login_uri = Some(bad.into());
            assert_eq!(
                client.check().map_err(|e| e.field),
                Err("initiate_login_uri".into()),
                "{bad}"
            );
        }
        let mut client = web_client();
        for (lifetime, ok) in [
            (0, false),
            (1, true),
            (MAX_ID_TOKEN_LIFETIME, true),
            (MAX_ID_TOKEN_LIFETIME + 1, false),
        ] {
            client.id_token_lifetime = lifetime;
            assert_eq!(client.check().is_ok(), ok, "{lifetime}");
        }
    }

    #[test]
    fn implicit_grant_is_refused() {
        let mut client = web_client();
        client.grant_types.push(GrantType::Implicit);
        assert!(client.check().is_err());
    }

    #[test]
    fn scope_tokens() {
        assert!(check_scope_values("scope", &["read:users".into()]).is_ok());
        assert!(check_scope_values("scope", &["read users".into()]).is_err());
        assert!(check_scope_values("scope", &[String::new()]).is_err());
    }
}
