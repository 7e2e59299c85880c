//! Secrets held in memory (an upstream `client_secret`, later keys): a value
//! whose `Debug` never shows it, so a logged struct does not leak it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string. `Debug` prints `Secret([redacted])`; the value is read
/// with [`Secret::expose`], by the code that sends it upstream. It serializes
/// as the plain string (the store keeps it): wire types that must not return
/// it leave it out themselves.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Reads as the `str` it holds (`as_deref()` on an `Option<Secret>`), so
/// code that uses the value need not unwrap it; only `Debug` is redacted,
/// and there is no `Display`: printing it takes a deliberate `&*secret`.
impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value_and_serde_keeps_it() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"hunter2\"");
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), secret);
    }

    #[test]
    fn structs_holding_secrets_do_not_print_them() {
        let params = crate::flows::request::TokenParams {
            client_secret: Some("client-secret-1".into()),
            code: Some("code-2".into()),
            code_verifier: Some("verifier-3".into()),
            refresh_token: Some("refresh-4".into()),
            ..Default::default()
        };
        let response = crate::flows::issue::TokenResponse {
            access_token: "access-5".into(),
            id_token: Some("id-6".into()),
            refresh_token: Some("refresh-7".into()),
            token_type: "Bearer",
            expires_in: 60,
            scope: None,
        };
        let bootstrap = crate::config::BootstrapClient {
            client_id: "ops".into(),
            client_secret: "bootstrap-8".into(),
        };
        let printed = format!("{params:?} {response:?} {bootstrap:?}");
        for secret in [
            "client-secret-1",
            "code-2",
            "verifier-3",
            "refresh-4",
            "access-5",
            "id-6",
            "refresh-7",
            "bootstrap-8",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        // On the wire the response carries the tokens themselves.
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["access_token"], "access-5");
        assert_eq!(json["refresh_token"], "refresh-7");
    }
}
