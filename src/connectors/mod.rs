//! Where identities come from. The password database checks a password
//! itself; the redirect-style upstreams (OAuth2, social, OIDC, SAML) send the
//! browser away and come back with an [`Identity`], normalized here so that
//! the login flow never sees a protocol's own claim names.

pub mod database;
mod http;
pub mod oauth2;
pub mod oidc;
pub mod presets;
mod refresh;
pub mod saml;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::model::connection::{Connection, ConnectionOptions};
use crate::model::user::User;
use crate::outbound::Outbound;
use crate::store::{Store, StoreError};

/// A person as an upstream identity provider described them, in one shape
/// for every protocol: what `finish` of a redirect connector returns and what
/// turns into one of Switchyard's users (by `(connection_id, subject)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The connection the identity came through.
    pub connection_id: String,
    /// The upstream's stable identifier of the person (OIDC `sub`, SAML
    /// NameID or the mapped `user_id_attribute`, a social provider's id).
    pub subject: String,
    /// Normalized (see `model::user::normalize_email`); `None` when the
    /// upstream sent none or an invalid one: such a person still logs in.
    pub email: Option<String>,
    /// Only what the upstream asserted; a missing claim is `false`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    /// Group names the upstream sent, for role mapping later.
    pub groups: Vec<String>,
    /// Every claim or attribute as the upstream sent it (ID token claims
    /// merged with userinfo, a SAML assertion's attributes, a social
    /// profile), kept for mappings and for the Management API's view.
    pub raw: Map<String, Value>,
    /// The person's tenant at a multi-tenant upstream, from its verified
    /// ID token alone.
    pub tenant: UpstreamTenant,
}

/// The tenant a multi-tenant upstream puts the person in: what decides the
/// organization of a login through one connection shared by many
/// organizations. Read from the verified ID token only — never from
/// userinfo or a SAML attribute, which the ID token's signature (or the
/// token endpoint's TLS) does not cover in the same answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTenant {
    /// Entra ID's `tid`: the directory the account lives in.
    pub tid: Option<String>,
    /// Google Workspace's `hd`: the hosted domain (none for a consumer account).
    pub hd: Option<String>,
}

impl UpstreamTenant {
    /// `tid` and `hd` of an ID token's verified claims (strings of at most
    /// 255 printable characters; anything else is no tenant).
    pub fn of_id_token(claims: &Map<String, Value>) -> Self {
        let claim = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty() && v.len() <= 255 && !v.chars().any(char::is_control))
                .map(str::to_owned)
        };
        UpstreamTenant {
            tid: claim("tid"),
            hd: claim("hd"),
        }
    }

    pub fn is_none(&self) -> bool {
        self.tid.is_none() && self.hd.is_none()
    }
}

/// The longest name an upstream may give a person (as the Management API allows).
const MAX_PROFILE_TEXT: usize = 300;

impl Identity {
    /// The identity with each profile field that Switchyard would refuse
    /// from its own Management API left out (blank, over 300 characters,
    /// control characters — PostgreSQL refuses a NUL —, a picture that is
    /// not an https URL): an upstream's odd profile never stops a login and
    /// never reaches Switchyard's tokens.
    #[must_use]
    pub fn with_usable_profile(mut self) -> Self {
        for (field, value) in [
            ("name", &mut self.name),
            ("given_name", &mut self.given_name),
            ("family_name", &mut self.family_name),
            ("nickname", &mut self.nickname),
        ] {
            if value.as_deref().is_some_and(|text| {
                crate::model::check_display_text(field, text, MAX_PROFILE_TEXT).is_err()
            }) {
                *value = None;
            }
        }
        if self
            .picture
            .as_deref()
            .is_some_and(|url| crate::model::check_url("picture", url, false).is_err())
        {
            self.picture = None;
        }
        self.groups.retain(|group| {
            crate::model::check_display_text("groups", group, MAX_PROFILE_TEXT).is_ok()
        });
        self
    }
}

/// A boxed future, so that connectors of every protocol share one trait
/// object type.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The parameters the upstream's callback brought back (query or form post).
pub type CallbackParams = BTreeMap<String, String>;

/// One round trip to an upstream, as its server-side record holds it.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// Where the upstream sends the browser back (`/login/callback`).
    pub callback_url: String,
    /// The `state` sent upstream: the record's single-use key.
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: Option<String>,
    /// The email the user typed, or the client's `login_hint`.
    pub login_hint: Option<String>,
    /// More authorization parameters (Auth0's `upstream_params`, resolved).
    pub extra_params: Vec<(String, String)>,
}

impl UpstreamRequest {
    /// The authorization request's parameters beyond the protocol's own:
    /// `login_hint`, then `extra_params`. A `login_hint` that the
    /// connection's `upstream_params` set wins over the typed one (sent once).
    pub fn authorization_params(&self) -> Vec<(String, String)> {
        let hint_set = self
            .extra_params
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("login_hint"));
        self.login_hint
            .iter()
            .filter(|_| !hint_set)
            .map(|hint| ("login_hint".to_owned(), hint.clone()))
            .chain(self.extra_params.iter().cloned())
            .collect()
    }
}

/// How the browser is sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    Redirect(String),
    /// A form the page posts by itself (SAML's POST binding).
    AutoPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// Why a round trip to an upstream failed. What the person is shown is
/// [`UpstreamError::public_message`]; the `Display` text (logged with the
/// request id) has the details, never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The identity provider answered with an OAuth error (`access_denied`, …).
    #[error("the identity provider answered {error}: {description}")]
    Denied { error: String, description: String },
    /// Its metadata, keys or token endpoint could not be reached or read.
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    /// What it sent back failed validation (signature, issuer, audience,
    /// expiry, nonce, …).
    #[error("the identity provider's answer is invalid: {0}")]
    Invalid(String),
    /// A claim Switchyard needs is missing.
    #[error("the identity provider sent no {0}")]
    MissingClaim(&'static str),
    /// The connection's options cannot work (no connector for its strategy yet).
    #[error("the connection is not usable: {0}")]
    Misconfigured(String),
    /// A SAML response was refused: its own text says why (a wrong
    /// certificate, a clock off by minutes, …), so an admin can act on it.
    #[error("the SAML response was refused: {0}")]
    Saml(#[from] saml::validate::SamlError),
}

/// Text an upstream sent, fit for a log line or a page: printable
/// characters only (no forged line breaks), at most `max` of them.
pub(crate) fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

impl UpstreamError {
    /// The OAuth error an upstream's callback carries (`error`, RFC 6749
    /// §4.1.2.1), if it carries one.
    /// Its text is the upstream's, so it is cut short and kept to printable
    /// characters: a log line cannot be forged through it.
    pub fn in_callback(response: &CallbackParams) -> Option<Self> {
        Some(UpstreamError::Denied {
            error: printable(response.get("error")?, 64),
            description: printable(
                response
                    .get("error_description")
                    .map(String::as_str)
                    .unwrap_or_default(),
                300,
            ),
        })
    }

    /// What the person is told, after the connection's name.
    pub fn public_message(&self) -> String {
        match self {
            UpstreamError::Denied { error, .. } if error == "access_denied" => {
                "The identity provider did not allow the sign-in.".into()
            }
            UpstreamError::Denied { error, .. } => {
                format!("The identity provider refused the sign-in ({error}).")
            }
            UpstreamError::Unreachable(_) => {
                "The identity provider could not be reached. Try again later.".into()
            }
            UpstreamError::Invalid(_) => {
                "The identity provider's answer could not be verified.".into()
            }
            UpstreamError::MissingClaim(claim) => {
                format!("The identity provider did not send the user's {claim}.")
            }
            UpstreamError::Misconfigured(_) => {
                "This connection is not set up for sign-in yet.".into()
            }
            UpstreamError::Saml(error) => error.public_message(),
        }
    }
}

/// An upstream that the browser is sent to and comes back from: OIDC,
/// OAuth2 and social providers, SAML. The login flow and the callback know
/// only this trait.
pub trait RedirectConnector: Send + Sync {
    /// Whether its requests carry a PKCE challenge.
    fn uses_pkce(&self) -> bool;

    /// Where to send the browser for `request`.
    fn begin<'a>(
        &'a self,
        request: &'a UpstreamRequest,
    ) -> BoxFuture<'a, Result<Begin, UpstreamError>>;

    /// The identity the upstream's `response` to `request` vouches for,
    /// once everything in it is verified.
    fn finish<'a>(
        &'a self,
        request: &'a UpstreamRequest,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>>;

    /// The IdP a SAML connector keeps (the periodic pass refreshes its
    /// metadata and warns of expiring certificates); none for the others.
    fn saml_idp(&self) -> Option<&saml::idp::IdpSource> {
        None
    }

    /// The identity an answer the upstream sent unasked vouches for (SAML's
    /// IdP-initiated SSO, at `callback_url`), verified as `finish` verifies
    /// an answer; only a connector whose connection accepts them has any.
    fn finish_unsolicited<'a>(
        &'a self,
        callback_url: &'a str,
        response: &'a CallbackParams,
    ) -> BoxFuture<'a, Result<Identity, UpstreamError>> {
        let _ = (callback_url, response);
        Box::pin(async {
            Err(UpstreamError::Invalid(
                "an unsolicited response, which this connection does not accept".into(),
            ))
        })
    }

    /// Where to send the browser to end the upstream's own session of
    /// `logout` (SAML single logout), or `None` when the upstream has no
    /// logout of its own or the connection turns it off.
    fn begin_logout<'a>(
        &'a self,
        logout: &'a UpstreamLogout,
    ) -> BoxFuture<'a, Result<Option<Begin>, UpstreamError>> {
        let _ = logout;
        Box::pin(async { Ok(None) })
    }

    /// Verifies the upstream's answer to the logout request `request_id`,
    /// which came back to `logout_url` (`raw_query`: the query as sent, when
    /// it came by redirect). `Ok` with the failure the answer reports, if
    /// it reports one (the local session is gone either way).
    fn finish_logout<'a>(
        &'a self,
        request_id: &'a str,
        logout_url: &'a str,
        response: &'a CallbackParams,
        raw_query: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, UpstreamError>> {
        let _ = (request_id, logout_url, response, raw_query);
        Box::pin(async {
            Err(UpstreamError::Invalid(
                "a logout response, and this connection sends no logout requests".into(),
            ))
        })
    }
}

/// A logout request to an upstream: the session it ends there.
#[derive(Debug, Clone)]
pub struct UpstreamLogout {
    /// The request's ID (its answer's InResponseTo).
    pub request_id: String,
    /// The single-use key of the request's server-side record.
    pub relay_state: String,
    /// The subject and session the login was asserted for.
    pub subject: crate::store::SamlSessionSubject,
}

/// What a password connector says of an email and a password.
#[derive(Debug)]
pub enum PasswordCheck {
    Valid(Box<User>),
    /// The password is right, but the user is blocked.
    Blocked,
    WrongPassword,
    UnknownUser,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] database::PasswordError),
}

/// A connection that checks a password itself: the password database. An
/// unknown email costs as much as a wrong password (no enumeration by timing).
pub trait PasswordConnector: Send + Sync {
    fn check<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<PasswordCheck, PasswordCheckError>>;
}

/// The password connector of the database connection `connection_id`.
pub fn password_connector<'a>(
    store: &'a Store,
    connection_id: &'a str,
) -> impl PasswordConnector + 'a {
    database::PasswordDatabase::new(store, connection_id)
}

/// The redirect connectors, built from their connections' typed options
/// and cached by connection id. An entry built from other options than the
/// connection's current ones is rebuilt; a change of any connection drops
/// them all on every node (`Change::Connections`).
#[derive(Clone)]
pub struct Connectors {
    cache: moka::future::Cache<String, (ConnectionOptions, Arc<dyn RedirectConnector>)>,
    outbound: Outbound,
    clock: Clock,
    /// SAML connectors keep their SP keys and the assertions used there.
    store: Store,
    /// In SAML SP entity IDs (`urn:auth0:<tenant>:<connection>`).
    tenant_name: String,
    /// Kept across rebuilds of the SAML connectors.
    expiry_warnings: saml::idp::ExpiryWarnings,
}

impl Connectors {
    pub fn new(outbound: Outbound, clock: Clock, store: Store, tenant_name: String) -> Self {
        Connectors {
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                // No time to live: a connector refreshes what it fetched
                // itself, keeping the last good copy while its upstream is
                // down (oidc::DISCOVERY_MAX_AGE_MS).
                .build(),
            outbound,
            clock,
            store,
            tenant_name,
            expiry_warnings: Default::default(),
        }
    }

    /// The connector of `connection`, built on first use.
    pub async fn redirect(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn RedirectConnector>, UpstreamError> {
        if let Some((options, connector)) = self.cache.get(&connection.id).await {
            if options == connection.options {
                return Ok(connector);
            }
        }
        let connector: Arc<dyn RedirectConnector> = match &connection.options {
            ConnectionOptions::Oidc(options) => Arc::new(oidc::OidcConnector::new(
                &connection.id,
                options.clone(),
                self.outbound.clone(),
                self.clock.clone(),
            )),
            ConnectionOptions::OAuth2(_)
            | ConnectionOptions::Google(_)
            | ConnectionOptions::Github(_)
            | ConnectionOptions::WindowsLive(_) => Arc::new(oauth2::OAuth2Connector::new(
                connection,
                self.outbound.clone(),
            )?),
            ConnectionOptions::Saml(options) => Arc::new(saml::connector::SamlConnector::new(
                connection,
                options.clone(),
                self.store.clone(),
                &self.tenant_name,
                self.outbound.clone(),
                self.clock.clone(),
                self.expiry_warnings.clone(),
            )),
            _ => {
                return Err(UpstreamError::Misconfigured(format!(
                    "no connector for strategy {}",
                    connection.strategy
                )));
            }
        };
        self.cache
            .insert(
                connection.id.clone(),
                (connection.options.clone(), Arc::clone(&connector)),
            )
            .await;
        Ok(connector)
    }

    /// A connection changed: every connector is built again.
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::connection::Strategy;

    #[test]
    fn a_login_hint_is_sent_once_and_upstream_params_win() {
        let mut request = UpstreamRequest {
            callback_url: "https://sy.example/login/callback".into(),
            state: "s".into(),
            nonce: "n".into(),
            pkce_verifier: None,
            login_hint: Some("ana@acme.example".into()),
            extra_params: vec![("prompt".into(), "login".into())],
        };
        let pairs = |request: &UpstreamRequest| request.authorization_params();
        assert_eq!(
            pairs(&request),
            [("login_hint", "ana@acme.example"), ("prompt", "login")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        request
            .extra_params
            .push(("Login_Hint".into(), "fixed@acme.example".into()));
        let sent = pairs(&request);
        assert_eq!(
            sent.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("login_hint"))
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>(),
            ["fixed@acme.example"]
        );
    }

    #[test]
    fn an_upstream_error_is_kept_short_and_printable() {
        let response: CallbackParams = [
            (
                "error".to_owned(),
                format!("access_denied\n{}", "x".repeat(100)),
            ),
            (
                "error_description".to_owned(),
                format!("no\r\nforged=log line{}", "y".repeat(400)),
            ),
        ]
        .into();
        let Some(UpstreamError::Denied { error, description }) =
            UpstreamError::in_callback(&response)
        else {
            panic!("an error callback is a denial")
        };
        assert_eq!(error.chars().count(), 64);
        assert!(error.starts_with("access_deniedxxx"), "{error}");
        assert_eq!(description.chars().count(), 300);
        assert!(
            description.starts_with("noforged=log line"),
            "{description}"
        );
        assert!(UpstreamError::in_callback(&CallbackParams::new()).is_none());
    }

    #[test]
    fn an_unusable_profile_field_is_left_out() {
        let identity = Identity {
            connection_id: "con_1".into(),
            subject: "u-1".into(),
            email: None,
            email_verified: false,
            name: Some("Ana\u{0}Admin".into()),
            given_name: Some("Ana".into()),
            family_name: Some("x".repeat(301)),
            nickname: Some("  ".into()),
            picture: Some("javascript:alert(1)".into()),
            groups: vec!["staff".into(), "bad\ngroup".into()],
            raw: Map::new(),
            tenant: UpstreamTenant::default(),
        }
        .with_usable_profile();
        assert_eq!(identity.name, None, "a NUL, refused by PostgreSQL");
        assert_eq!(identity.given_name.as_deref(), Some("Ana"));
        assert_eq!(identity.family_name, None);
        assert_eq!(identity.nickname, None);
        assert_eq!(identity.picture, None);
        assert_eq!(identity.groups, vec!["staff".to_owned()]);
    }

    fn connection(options: serde_json::Value) -> Connection {
        let options = ConnectionOptions::parse(
            Strategy::Oidc,
            options.as_object().cloned().unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        Connection {
            id: "con_1".into(),
            name: "acme".into(),
            strategy: Strategy::Oidc,
            display_name: None,
            options,
            metadata: Map::new(),
            is_domain_connection: false,
            show_as_button: None,
            realms: vec![],
            inert_settings: Map::new(),
        }
    }

    #[tokio::test]
    async fn a_connector_is_kept_until_its_connection_changes() {
        let outbound = Outbound::new(crate::outbound::Destinations::public_only())
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::connect(&crate::store::sqlite_url_for(&dir.path().join("t.db")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let connectors = Connectors::new(outbound, Clock::fixed(0), store, "sy".into());
        let options = serde_json::json!({"issuer": "https://idp.example.com",
            "client_id": "c", "client_secret": "s"});
        let first = connection(options.clone());
        let built = connectors
            .redirect(&first)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = connectors
            .redirect(&first)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&built, &again), "cached");
        // Other options (read from the store after a change): built anew.
        let mut changed = options;
        changed["client_id"] = "c2".into();
        let rebuilt = connectors
            .redirect(&connection(changed))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!Arc::ptr_eq(&built, &rebuilt));
        // A change heard from another node drops them all.
        connectors.invalidate_all();
        let after = connectors
            .redirect(&first)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!Arc::ptr_eq(&built, &after));
        // A samlp connection has the SAML connector (no PKCE: SAML has none).
        let idp_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let idp_certificate = rcgen::CertificateParams::new(vec!["idp.example.com".to_owned()])
            .and_then(|params| params.self_signed(&idp_key))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut saml = first.clone();
        saml.strategy = Strategy::Saml;
        saml.options = ConnectionOptions::parse(
            Strategy::Saml,
            serde_json::json!({"signInEndpoint": "https://idp.example.com/sso",
                "signingCert": idp_certificate.pem()})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let saml_connector = connectors
            .redirect(&saml)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!saml_connector.uses_pkce());
        // No connector for a password database.
        let mut database = first;
        database.strategy = Strategy::Database;
        database.options = ConnectionOptions::empty(Strategy::Database);
        assert!(matches!(
            connectors.redirect(&database).await,
            Err(UpstreamError::Misconfigured(_))
        ));
    }
}
