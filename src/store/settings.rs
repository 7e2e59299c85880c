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
            .execute(self.writer())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Sets a setting, replacing what it held.
    pub async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        write_setting(self.writer(), key, value).await
    }

    /// The tenant's settings, defaults filled in for those never set.
    pub async fn tenant_settings(&self) -> StoreResult<TenantSettings> {
        select_tenant_settings(&self.pool).await
    }

    /// Stores every setting of `settings` (one transaction).
    pub async fn update_tenant_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        write_tenant_settings(&mut tx, settings).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Read-modify-write of the tenant's settings in one transaction, as
    /// [`Store::update_client_with`]. On PostgreSQL the table is locked
    /// against other writers: a setting never set has no row to lock.
    pub async fn update_tenant_settings_with<E>(
        &self,
        change: impl FnOnce(TenantSettings) -> Result<TenantSettings, E>,
    ) -> StoreResult<Result<TenantSettings, E>> {
        let mut tx = self
            .begin_update("lock table tenant_settings in exclusive mode", &[])
            .await?;
        let next = match change(select_tenant_settings(&mut *tx).await?) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        write_tenant_settings(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }
}

async fn select_tenant_settings<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> StoreResult<TenantSettings> {
    let rows = sqlx::query("select key, value from tenant_settings")
        .fetch_all(executor)
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

async fn write_tenant_settings(
    conn: &mut sqlx::AnyConnection,
    settings: &TenantSettings,
) -> StoreResult<()> {
    for (key, value) in settings.to_entries() {
        write_setting(&mut *conn, key, &value).await?;
    }
    Ok(())
}

/// Writes one setting, replacing its value.
async fn write_setting<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    key: &str,
    value: &str,
) -> StoreResult<()> {
    sqlx::query(
        "insert into tenant_settings (key, value) values ($1, $2) \
         on conflict (key) do update set value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(executor)
    .await?;
    Ok(())
}
