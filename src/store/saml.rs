//! SAML connections, the service provider's side: each connection's SP keys
//! (a ring of `next`, `current` and `previous` keys, as the signing keys
//! have) and the IDs of the assertions it accepted (the replay cache).
//!
//! A rotation is one transaction: `current` → `previous` (decrypting until a
//! date), `next` → `current`, a new `next` inserted; every node that reads
//! the keys afterwards sees a consistent ring.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::model::secret::Secret;
use crate::secrets::SealedField;

/// One SP key pair of a SAML connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSpKey {
    pub id: String,
    pub connection_id: String,
    /// `next`, `current` or `previous`.
    pub state: String,
    /// PKCS#8 DER, base64. Never logged, never served, stored sealed.
    pub private_key_pkcs8: Secret,
    /// The self-signed X.509 certificate of the public key, PEM.
    pub certificate: String,
    pub created_at: i64,
    /// When the key started signing (null while it waits as `next`).
    pub current_since: Option<i64>,
    /// When a `previous` key stopped signing.
    pub current_until: Option<i64>,
    /// When a `previous` key stops decrypting (and is deleted).
    pub decrypts_until: Option<i64>,
}

impl Store {
    /// The SP keys of `connection_id` that still decrypt: `next`, `current`,
    /// and `previous` ones before their `decrypts_until`; oldest first.
    pub async fn list_saml_sp_keys(&self, connection_id: &str) -> StoreResult<Vec<StoredSpKey>> {
        let rows = sqlx::query(
            "select id, connection_id, state, private_key, certificate, created_at, current_since, \
             current_until, decrypts_until from saml_sp_keys where connection_id = $1 \
             and (decrypts_until is null or decrypts_until > $2) order by created_at, id",
        )
        .bind(connection_id)
        .bind(self.now_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok(StoredSpKey {
                    private_key_pkcs8: self.open(
                        &SealedField::saml_sp_key(&id),
                        &row.try_get::<String, _>("private_key")?,
                    )?,
                    id,
                    connection_id: row.try_get("connection_id")?,
                    state: row.try_get("state")?,
                    certificate: row.try_get("certificate")?,
                    created_at: row.try_get("created_at")?,
                    current_since: row.try_get("current_since")?,
                    current_until: row.try_get("current_until")?,
                    decrypts_until: row.try_get("decrypts_until")?,
                })
            })
            .collect()
    }

    /// Inserts `keys` together, or none of them: a `current` or `next` key
    /// where the connection has one already is refused with
    /// `Conflict("saml_sp_keys_connection_state_key")` (another node was
    /// first), a missing connection with `MissingReference`.
    pub async fn insert_saml_sp_keys(&self, keys: &[StoredSpKey]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query(
                "insert into saml_sp_keys (id, connection_id, state, private_key, certificate, \
                 created_at, current_since) \
                 values ($1, $2, $3, $4, $5, $6, case when $3 = 'current' then $6 end)",
            )
            .bind(&key.id)
            .bind(&key.connection_id)
            .bind(&key.state)
            .bind(self.seal(
                &SealedField::saml_sp_key(&key.id),
                key.private_key_pkcs8.expose(),
            )?)
            .bind(&key.certificate)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rotates the SP keys of `new_next.connection_id`: the current key
    /// becomes `previous` and decrypts for `overlap_ms` more, the next key
    /// becomes current, `new_next` is the next key. Previous keys past their
    /// date are deleted. `NotFound` when the connection has no next key.
    pub async fn rotate_saml_sp_keys(
        &self,
        new_next: &StoredSpKey,
        overlap_ms: i64,
    ) -> StoreResult<()> {
        let connection_id = new_next.connection_id.as_str();
        let mut tx = self.pool.begin().await?;
        let now = self.now_millis();
        // Write-lock the connection's keys first, so that concurrent
        // rotations run one after the other and each sees the last's states.
        sqlx::query("update saml_sp_keys set state = state where connection_id = $1")
            .bind(connection_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "update saml_sp_keys set state = 'previous', current_until = $2, decrypts_until = $3 \
             where connection_id = $1 and state = 'current'",
        )
        .bind(connection_id)
        .bind(now)
        .bind(now.saturating_add(overlap_ms))
        .execute(&mut *tx)
        .await?;
        let promoted = sqlx::query(
            "update saml_sp_keys set state = 'current', current_since = $2 \
             where connection_id = $1 and state = 'next'",
        )
        .bind(connection_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() == 0 {
            // Dropping the transaction rolls the demotion back.
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "insert into saml_sp_keys (id, connection_id, state, private_key, certificate, created_at) \
             values ($1, $2, 'next', $3, $4, $5)",
        )
        .bind(&new_next.id)
        .bind(connection_id)
        .bind(self.seal(
            &SealedField::saml_sp_key(&new_next.id),
            new_next.private_key_pkcs8.expose(),
        )?)
        .bind(&new_next.certificate)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from saml_sp_keys where connection_id = $1 and decrypts_until <= $2")
            .bind(connection_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `connection_id` accepted the assertion `assertion_id`,
    /// remembered until `expires_at` (unix ms). False when it already had,
    /// and that record has not expired: a replay, on whichever node. One
    /// statement, so that of two concurrent uses exactly one is first.
    pub async fn remember_saml_assertion(
        &self,
        connection_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        // A record that expired but was not purged yet is taken over.
        let remembered = sqlx::query(
            "insert into saml_assertion_ids (connection_id, assertion_id, expires_at) \
             values ($1, $2, $3) on conflict (connection_id, assertion_id) do update \
             set expires_at = excluded.expires_at where saml_assertion_ids.expires_at <= $4",
        )
        .bind(connection_id)
        .bind(assertion_id)
        .bind(expires_at)
        .bind(self.now_millis())
        .execute(&self.pool)
        .await?;
        Ok(remembered.rows_affected() == 1)
    }
}
