//! Tenant settings: switches that change what every login or token carries.

/// The typed view of the `tenant_settings` key/value table. Every setting has
/// a default, so a fresh tenant needs no rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Put `org_name` beside `org_id` in ID and access tokens (Auth0's
    /// `allow_organization_name_in_authentication_api`).
    pub allow_organization_name_in_authentication_api: bool,
    /// Auth0 tenant settings kept and returned without effect (see the
    /// README), under one key.
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

impl TenantSettings {
    pub const ALLOW_ORGANIZATION_NAME: &'static str =
        "allow_organization_name_in_authentication_api";
    pub const INERT_SETTINGS: &'static str = "inert_settings";

    /// Each setting as the key and value stored for it.
    pub fn to_entries(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                Self::ALLOW_ORGANIZATION_NAME,
                self.allow_organization_name_in_authentication_api
                    .to_string(),
            ),
            (
                Self::INERT_SETTINGS,
                serde_json::Value::Object(self.inert_settings.clone()).to_string(),
            ),
        ]
    }

    /// Applies one stored entry; unknown keys (once-only flags kept in the same
    /// table) are not settings and are skipped. `None` for a value that is not
    /// what the key needs.
    pub fn apply_entry(&mut self, key: &str, value: &str) -> Option<()> {
        if key == Self::ALLOW_ORGANIZATION_NAME {
            self.allow_organization_name_in_authentication_api = value.parse().ok()?;
        } else if key == Self::INERT_SETTINGS {
            self.inert_settings = serde_json::from_str(value).ok()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_other_keys_are_skipped() {
        let mut inert_settings = serde_json::Map::new();
        inert_settings.insert("friendly_name".into(), "Acme".into());
        let settings = TenantSettings {
            allow_organization_name_in_authentication_api: true,
            inert_settings,
        };
        let mut read = TenantSettings::default();
        for (key, value) in settings.to_entries() {
            assert_eq!(read.apply_entry(key, &value), Some(()));
        }
        assert_eq!(read, settings);
        assert_eq!(read.apply_entry("demo_seeded", "anything"), Some(()));
        assert_eq!(
            read.apply_entry(TenantSettings::ALLOW_ORGANIZATION_NAME, "yes"),
            None
        );
    }
}
