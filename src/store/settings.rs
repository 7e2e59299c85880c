//! Tenant-wide settings and once-only flags.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::model::tenant::TenantSettings;

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

    /// The tenant's settings, defaults filled in for those never set.
    pub async fn tenant_settings(&self) -> StoreResult<TenantSettings> {
        let rows = sqlx::query("select key, value from tenant_settings")
            .fetch_all(&self.pool)
            .await?;
        let mut settings = TenantSettings::default();
        for row in &rows {
            let key: String = row.try_get("key")?;
            let value: String = row.try_get("value")?;
            settings.apply_entry(&key, &value).ok_or_else(|| {
                StoreError::Corrupt(format!("tenant_settings.{key}: unexpected value {value:?}"))
            })?;
        }
        Ok(settings)
    }

    /// Stores every setting of `settings` (one transaction).
    pub async fn update_tenant_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (key, value) in settings.to_entries() {
            sqlx::query(
                "insert into tenant_settings (key, value) values ($1, $2) \
                 on conflict (key) do update set value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
