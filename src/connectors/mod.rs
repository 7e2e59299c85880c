//! Where identities come from. The password database checks a password
//! itself; the redirect-style upstreams (OAuth2, social, OIDC, SAML) send the
//! browser away and come back with an [`Identity`], normalized here so that
//! the login flow never sees a protocol's own claim names.

pub mod database;
pub mod presets;

use serde_json::{Map, Value};

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
}
