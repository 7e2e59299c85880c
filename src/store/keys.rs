//! Signing keys. Rotation is one transaction: `current` → `previous` (with
//! the moment it stopped signing and the moment it stops verifying),
//! `next` → `current`, and a new `next` is inserted, so every node that
//! reloads sees a consistent ring. A `previous` key verifies until its
//! `verifies_until`, or until it is revoked; keys past that are deleted at
//! the next rotation.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
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
    /// When a `previous` key stops verifying (null while it signs or waits).
    pub verifies_until: Option<i64>,
    /// A self-signed X.509 certificate of the public key, PEM.
    pub certificate: Option<String>,
}

/// What the Management API shows of a key: never its private part, which
/// these queries do not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: i64,
    pub current_since: Option<i64>,
    pub current_until: Option<i64>,
    pub verifies_until: Option<i64>,
    pub revoked_at: Option<i64>,
    pub certificate: Option<String>,
}

/// How long a key that stops signing stays published: as long as any token
/// it signed can live, plus a margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRetention {
    /// The longest lifetime of a token signed now, other than an API's access
    /// token (those follow the APIs' `token_lifetime`, which the rotation
    /// reads in its own transaction).
    pub fixed_lifetime_ms: i64,
    /// On top of the lifetime: the verification leeway, nodes that go on
    /// signing until they learn of the rotation, clock skew between nodes.
    pub margin_ms: i64,
}

/// Columns of [`SigningKeyRecord`].
const RECORD_COLUMNS: &str = "kid, alg, state, created_at, current_since, current_until, \
     verifies_until, revoked_at, certificate";

fn record(row: &sqlx::any::AnyRow) -> Result<SigningKeyRecord, sqlx::Error> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        current_since: row.try_get("current_since")?,
        current_until: row.try_get("current_until")?,
        verifies_until: row.try_get("verifies_until")?,
        revoked_at: row.try_get("revoked_at")?,
        certificate: row.try_get("certificate")?,
    })
}

impl Store {
    /// Every key that still verifies: `next`, `current`, and `previous` ones
    /// neither revoked nor past their `verifies_until`.
    pub async fn list_live_signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "select kid, alg, state, private_key_der, created_at, verifies_until, certificate \
             from signing_keys where state in ('next', 'current', 'previous') \
             and revoked_at is null and (verifies_until is null or verifies_until > $1) \
             order by created_at, kid",
        )
        .bind(self.now_millis())
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
                    verifies_until: row.try_get("verifies_until")?,
                    certificate: row.try_get("certificate")?,
                })
            })
            .collect()
    }

    /// The keys not yet past their `verifies_until`, revoked ones included
    /// (what the Management API lists), oldest first.
    pub async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(&format!(
            "select {RECORD_COLUMNS} from signing_keys \
             where verifies_until is null or verifies_until > $1 order by created_at, kid"
        ))
        .bind(self.now_millis())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }

    /// One key of [`Store::list_signing_keys`]; `NotFound` when there is no
    /// such key or it is past its `verifies_until`.
    pub async fn get_signing_key(&self, kid: &str) -> StoreResult<SigningKeyRecord> {
        let row = sqlx::query(&format!(
            "select {RECORD_COLUMNS} from signing_keys \
             where kid = $1 and (verifies_until is null or verifies_until > $2)"
        ))
        .bind(kid)
        .bind(self.now_millis())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(record(&row)?)
    }

    /// Revokes a `previous` key: it stops verifying at once. False when
    /// `kid` is no such key (a current or next key is never revoked).
    /// Revoking a revoked key again changes nothing and is true.
    pub async fn revoke_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let now = self.now_millis();
        let revoked = sqlx::query(
            "update signing_keys set revoked_at = coalesce(revoked_at, $2), updated_at = $2 \
             where kid = $1 and state = 'previous' and verifies_until > $2",
        )
        .bind(kid)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(revoked.rows_affected() > 0)
    }

    /// Gives a key made before keys had certificates its certificate; a
    /// certificate already there (another node's) is kept.
    pub async fn set_signing_key_certificate(&self, kid: &str, pem: &str) -> StoreResult<()> {
        sqlx::query(
            "update signing_keys set certificate = $2 where kid = $1 and certificate is null",
        )
        .bind(kid)
        .bind(pem)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn insert_signing_key(&self, key: &StoredKey) -> StoreResult<()> {
        sqlx::query(
            "insert into signing_keys (kid, alg, state, private_key_der, created_at, updated_at, \
             certificate, current_since) \
             values ($1, $2, $3, $4, $5, $5, $6, case when $3 = 'current' then $5 end)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.state)
        .bind(self.seal(
            &SealedField::signing_key(&key.kid),
            key.private_key_der.expose(),
        )?)
        .bind(key.created_at)
        .bind(key.certificate.as_deref())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Rotates the keys of one algorithm and inserts `new_next` as the next
    /// key. The key that stops signing verifies for `retention` (its fixed
    /// part, or the longest `token_lifetime` of any API or ID-token lifetime of
    /// any client if longer) from now;
    /// keys of any algorithm past their `verifies_until` are deleted.
    pub async fn rotate_signing_keys(
        &self,
        alg: &str,
        new_next: &StoredKey,
        retention: KeyRetention,
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        let now = self.now_millis();
        // Write-lock the algorithm's keys first, so that concurrent rotations
        // run one after the other (PostgreSQL row locks; SQLite's write lock)
        // and each sees the states the previous one committed.
        sqlx::query("update signing_keys set updated_at = updated_at where alg = $1")
            .bind(alg)
            .execute(&mut *tx)
            .await?;
        // An API's access tokens and a client's ID tokens live as configured.
        let longest_configured_secs: i64 = sqlx::query(
            "select max(longest) as longest from ( \
             select coalesce(max(token_lifetime), 0) as longest from resource_servers \
             union all select coalesce(max(id_token_lifetime), 0) as longest from clients) as lifetimes",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("longest")?;
        let lifetime_ms = retention
            .fixed_lifetime_ms
            .max(longest_configured_secs.saturating_mul(1000));
        let verifies_until = now
            .saturating_add(lifetime_ms)
            .saturating_add(retention.margin_ms);
        sqlx::query(
            "update signing_keys set state = 'previous', current_until = $2, \
             verifies_until = $3, updated_at = $2 where alg = $1 and state = 'current'",
        )
        .bind(alg)
        .bind(now)
        .bind(verifies_until)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update signing_keys set state = 'current', current_since = $2, updated_at = $2 \
             where alg = $1 and state = 'next'",
        )
        .bind(alg)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into signing_keys (kid, alg, state, private_key_der, created_at, updated_at, \
             certificate) values ($1, $2, 'next', $3, $4, $4, $5)",
        )
        .bind(&new_next.kid)
        .bind(alg)
        .bind(self.seal(
            &SealedField::signing_key(&new_next.kid),
            new_next.private_key_der.expose(),
        )?)
        .bind(now)
        .bind(new_next.certificate.as_deref())
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from signing_keys where verifies_until <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
