//! Tenant-wide settings and once-only flags.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};

impl Store {
    pub async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query("select value from tenant_settings where key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("value"))
                .transpose()?,
        )
    }

    /// Sets a setting only if it is not set yet; true if this call set it.
    /// Used as a once-only guard that concurrent nodes agree on.
    pub async fn claim_setting(&self, key: &str, value: &str) -> StoreResult<bool> {
        match sqlx::query("insert into tenant_settings (key, value) values ($1, $2)")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}
