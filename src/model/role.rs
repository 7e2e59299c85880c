//! Roles, granted to members per organization; their permissions go into
//! access tokens.

use super::{ValidationError, check_display_text};

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Auth0 properties kept and returned without effect (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

pub fn check_name(name: &str) -> Result<(), ValidationError> {
    check_display_text("name", name, 50)
}

pub fn check_description(description: &str) -> Result<(), ValidationError> {
    if description.chars().count() > 255 {
        return Err(ValidationError::new(
            "description",
            "must be at most 255 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert!(check_name("admin").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"r".repeat(51)).is_err());
        assert!(check_description(&"d".repeat(256)).is_err());
    }
}
