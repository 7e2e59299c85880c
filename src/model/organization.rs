//! Organizations: the business customers of the apps, each with its own
//! enabled connections, members and branding.

use serde::{Deserialize, Serialize};

use super::{ValidationError, check_display_text, check_metadata, check_url};

pub type Metadata = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub branding: Option<Branding>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    /// Auth0 properties kept and returned without effect (see the README).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
    /// Who may join by a verified email domain (an extension, see the README).
    #[serde(default)]
    pub domain_membership: DomainMembership,
}

/// What a logged-in user whose verified email lies in one of the
/// organization's verified discovery domains may do in the post-login
/// picker. A Switchyard extension: Auth0 has no such setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainMembership {
    /// Nothing: membership only through the Management API or a
    /// connection that assigns it on login.
    #[default]
    Off,
    /// Listed among the user's organizations; picking it makes them a member.
    Auto,
    /// Suggested apart; joining takes the user's explicit confirmation.
    Suggest,
    /// The user may ask to join; an admin approves or denies the request.
    AdminApproval,
}

impl DomainMembership {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainMembership::Off => "off",
            DomainMembership::Auto => "auto",
            DomainMembership::Suggest => "suggest",
            DomainMembership::AdminApproval => "admin_approval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DomainMembership::Off,
            DomainMembership::Auto,
            DomainMembership::Suggest,
            DomainMembership::AdminApproval,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colors: Option<BrandingColors>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingColors {
    pub primary: String,
    pub page_background: String,
}

/// Organization names are lowercase slugs, as in Auth0: 1 to 50 characters of
/// `a-z 0-9 - _`, starting and ending with a letter or digit. They appear in
/// `/authorize?organization=` and in the pre-login prompt, so they stay simple.
pub fn check_name(name: &str) -> Result<(), ValidationError> {
    let bytes = name.as_bytes();
    let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if name.is_empty() || name.len() > 50 {
        return Err(ValidationError::new("name", "must be 1 to 50 characters"));
    }
    if !bytes.iter().all(ok_char) || !edge(bytes.first()) || !edge(bytes.last()) {
        return Err(ValidationError::new(
            "name",
            "must contain only lowercase letters, digits, '-' and '_', and start and end with a letter or digit",
        ));
    }
    if super::ids::has_prefix(name, super::ids::ORGANIZATION) {
        return Err(ValidationError::new(
            "name",
            "must not look like an organization id (org_…)",
        ));
    }
    Ok(())
}

pub fn check_display_name(value: &str) -> Result<(), ValidationError> {
    check_display_text("display_name", value, 255)
}

pub fn check_branding(branding: &Branding) -> Result<(), ValidationError> {
    if let Some(logo) = &branding.logo_url {
        check_url("branding.logo_url", logo, false)?;
    }
    if let Some(colors) = &branding.colors {
        check_color("branding.colors.primary", &colors.primary)?;
        check_color("branding.colors.page_background", &colors.page_background)?;
    }
    Ok(())
}

/// Colours go into the login page's CSS, so only `#rgb` / `#rrggbb` pass.
fn check_color(field: &str, value: &str) -> Result<(), ValidationError> {
    let hex = value.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be a hex colour like #1a2b3c",
        ))
    }
}

pub fn check_organization_metadata(metadata: &Metadata) -> Result<(), ValidationError> {
    check_metadata("metadata", metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_slugs() {
        for ok in ["hoekstra", "acme-corp", "a", "a_1", "x9"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "acme!",
            "é",
            &"a".repeat(51),
            "org_abc",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branding_colours_and_logo() {
        let good = Branding {
            logo_url: Some("https://cdn.example.com/logo.png".into()),
            colors: Some(BrandingColors {
                primary: "#0059d6".into(),
                page_background: "#fff".into(),
            }),
        };
        assert!(check_branding(&good).is_ok());
        let bad_colour = Branding {
            colors: Some(BrandingColors {
                primary: "red;}</style>".into(),
                page_background: "#fff".into(),
            }),
            ..Branding::default()
        };
        assert_eq!(
            check_branding(&bad_colour).map_err(|e| e.field),
            Err("branding.colors.primary".into())
        );
        let bad_logo = Branding {
            logo_url: Some("javascript:alert(1)".into()),
            colors: None,
        };
        assert!(check_branding(&bad_logo).is_err());
    }
}
