//! Tenant settings: switches that change what every login or token carries.

/// The typed view of the `tenant_settings` key/value table. Every setting has
/// a default, so a fresh tenant needs no rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Put `org_name` beside `org_id` in ID and access tokens (Auth0's
    /// `allow_organization_name_in_authentication_api`).
    pub allow_organization_name_in_authentication_api: bool,
}

impl TenantSettings {
    pub const ALLOW_ORGANIZATION_NAME: &'static str =
        "allow_organization_name_in_authentication_api";

    /// Each setting as the key and value stored for it.
    pub fn to_entries(&self) -> Vec<(&'static str, String)> {
        vec![(
            Self::ALLOW_ORGANIZATION_NAME,
            self.allow_organization_name_in_authentication_api
                .to_string(),
        )]
    }

    /// Applies one stored entry; unknown keys (once-only flags kept in the same
    /// table) are not settings and are skipped. `None` for a value that is not
    /// what the key needs.
    pub fn apply_entry(&mut self, key: &str, value: &str) -> Option<()> {
        if key == Self::ALLOW_ORGANIZATION_NAME {
            self.allow_organization_name_in_authentication_api = value.parse().ok()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_other_keys_are_skipped() {
        let settings = TenantSettings {
            allow_organization_name_in_authentication_api: true,
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
