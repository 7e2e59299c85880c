//! What every request handler shares.

use std::sync::Arc;

use crate::cache::{ClientCache, SettingsCache};
use crate::keys::KeyRing;
use crate::store::Store;

/// The issuer identifier and the URLs derived from it. The identifier is used
/// byte for byte as configured (`iss`); endpoint URLs hang off it without a
/// doubled slash.
#[derive(Debug, Clone)]
pub struct Issuer {
    identifier: String,
    base: String,
}

impl Issuer {
    pub fn new(identifier: &str) -> Self {
        Issuer {
            identifier: identifier.to_owned(),
            base: identifier.trim_end_matches('/').to_owned(),
        }
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The audience of Management API tokens, as Auth0 spells it
    /// (`https://tenant/api/v2/`, trailing slash included).
    pub fn management_audience(&self) -> String {
        self.url("/api/v2/")
    }
}

pub struct AppInner {
    pub issuer: Issuer,
    pub store: Store,
    pub keys: KeyRing,
    pub clients: ClientCache,
    pub settings: SettingsCache,
    /// Whether `X-Forwarded-For` names the client (see `http::ClientIp`).
    pub trust_forwarded_for: bool,
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}
