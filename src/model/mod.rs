//! Plain types of the tenant and the rules they obey. No I/O: every rule here
//! is a pure function, unit-tested beside it, and the only way to build a
//! valid value is through the constructor that checks it.

pub mod address;
pub mod client;
pub mod connection;
pub mod domain;
pub mod ids;
pub mod organization;
pub mod origin;
pub mod resource_server;
pub mod role;
pub mod secret;
pub mod tenant;
pub mod user;

use std::fmt;

/// An input that breaks a model rule. `field` names the property as the wire
/// format spells it, so the Management API can tell the caller exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on property {}", self.reason, self.field)
    }
}

/// Checks a free-text display value: present, not blank, at most `max` characters.
pub fn check_display_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a URL that a browser or a server will be sent to: absolute, http(s),
/// no fragment, no credentials. Plain `http` is allowed only for loopback hosts
/// (local development, test peers) unless `allow_http` is set.
pub fn check_url(field: &str, value: &str, allow_http: bool) -> Result<url::Url, ValidationError> {
    let url = url::Url::parse(value)
        .map_err(|e| ValidationError::new(field, format!("must be an absolute URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback_host(&url) => {}
        _ => return Err(ValidationError::new(field, "must be an https URL")),
    }
    if url.fragment().is_some() {
        return Err(ValidationError::new(field, "must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationError::new(field, "must not contain credentials"));
    }
    Ok(url)
}

/// Whether `url` names this machine: a loopback address, or a name that
/// means it whatever DNS says (`localhost.`, `app.localhost`, …).
pub fn is_loopback_host(url: &url::Url) -> bool {
    url.host().is_some_and(|host| address::is_loopback(&host))
}

/// Metadata maps (organization, connection): Auth0 allows at most 25 string
/// properties, keys up to 255 and values up to 255 characters.
pub fn check_metadata(
    field: &str,
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ValidationError> {
    if metadata.len() > 25 {
        return Err(ValidationError::new(
            field,
            "must have at most 25 properties",
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > 255 {
            return Err(ValidationError::new(
                format!("{field}.{key}"),
                "keys must be 1 to 255 characters",
            ));
        }
        match value {
            serde_json::Value::String(s) if s.chars().count() <= 255 => {}
            serde_json::Value::String(_) => {
                return Err(ValidationError::new(
                    format!("{field}.{key}"),
                    "must be at most 255 characters",
                ));
            }
            _ => {
                return Err(ValidationError::new(
                    format!("{field}.{key}"),
                    "must be a string",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(check_url("u", "https://app.example.com/cb", false).is_ok());
        assert!(check_url("u", "http://localhost:3000/callback", false).is_ok());
        assert!(check_url("u", "http://127.0.0.1:3000/callback", false).is_ok());
        assert!(check_url("u", "http://app.example.com/cb", false).is_err());
        assert!(check_url("u", "javascript:alert(1)", false).is_err());
        assert!(check_url("u", "https://app.example.com/cb#frag", false).is_err());
        assert!(check_url("u", "https://user:pw@app.example.com/", false).is_err());
        assert!(check_url("u", "/relative", false).is_err());
    }

    #[test]
    fn display_text_rejects_blank_long_and_control() {
        assert!(check_display_text("d", "Acme", 10).is_ok());
        assert!(check_display_text("d", "   ", 10).is_err());
        assert!(check_display_text("d", "abcdefghijk", 10).is_err());
        assert!(check_display_text("d", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn metadata_limits() {
        let mut m = serde_json::Map::new();
        m.insert("tier".into(), "gold".into());
        assert!(check_metadata("metadata", &m).is_ok());
        m.insert("n".into(), serde_json::json!(3));
        assert_eq!(
            check_metadata("metadata", &m).map_err(|e| e.field),
            Err("metadata.n".to_string())
        );
    }
}
