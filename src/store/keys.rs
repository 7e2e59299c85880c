//! Signing keys. Rotation is one transaction: `previous` → `retired`,
//! `current` → `previous`, `next` → `current`, and a new `next` is inserted,
//! so every node that reloads sees a consistent ring.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::model::secret::Secret;
use crate::secrets::SealedField;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub state: String,
    /// PKCS#8 DER, base64. Private: never logged, never served, stored
    /// sealed (the store seals and opens it).
    pub private_key_der: Secret,
    pub created_at: i64,
}

impl Store {
    /// Every key that still verifies (`next`, `current`, `previous`).
    pub async fn list_live_signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "select kid, alg, state, private_key_der, created_at from signing_keys \
             where state <> 'retired' order by created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kid: String = row.try_get("kid")?;
                Ok(StoredKey {
                    private_key_der: self.open(
                        &SealedField::signing_key(&kid),
                        &row.try_get::<String, _>("private_key_der")?,
                    )?,
                    kid,
                    alg: row.try_get("alg")?,
                    state: row.try_get("state")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn insert_signing_key(&self, key: &StoredKey) -> StoreResult<()> {
        sqlx::query(
            "insert into signing_keys (kid, alg, state, private_key_der, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.state)
        .bind(self.seal(
            &SealedField::signing_key(&key.kid),
            key.private_key_der.expose(),
        )?)
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rotates the keys of one algorithm and inserts `new_next` as the next key.
    pub async fn rotate_signing_keys(&self, alg: &str, new_next: &StoredKey) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let now = self.now_millis();
        // Write-lock the algorithm's keys first, so that concurrent rotations
        // run one after the other (PostgreSQL row locks; SQLite's write lock)
        // and each sees the states the previous one committed.
        sqlx::query("update signing_keys set updated_at = updated_at where alg = $1")
            .bind(alg)
            .execute(&mut *tx)
            .await?;
        for (from, to) in [
            ("previous", "retired"),
            ("current", "previous"),
            ("next", "current"),
        ] {
            sqlx::query(
                "update signing_keys set state = $3, updated_at = $4 where alg = $1 and state = $2",
            )
            .bind(alg)
            .bind(from)
            .bind(to)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "insert into signing_keys (kid, alg, state, private_key_der, created_at, updated_at) \
             values ($1, $2, 'next', $3, $4, $4)",
        )
        .bind(&new_next.kid)
        .bind(alg)
        .bind(self.seal(
            &SealedField::signing_key(&new_next.kid),
            new_next.private_key_der.expose(),
        )?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
