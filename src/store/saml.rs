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
        let mut tx = self.writer().begin().await?;
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
        let mut tx = self.writer().begin().await?;
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
        .execute(self.writer())
        .await?;
        Ok(remembered.rows_affected() == 1)
    }
}

/// The subject a session's SAML login was asserted for: what a
/// LogoutRequest names when the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSessionSubject {
    pub connection_id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
    pub session_index: Option<String>,
}

/// A LogoutRequest sent to an IdP, waiting for its LogoutResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSamlLogout {
    /// SHA-256 of the RelayState sent with the request.
    pub relay_state_hash: String,
    pub connection_id: String,
    /// The LogoutRequest's ID: the response's InResponseTo.
    pub request_id: String,
    /// Where the browser goes afterwards; `None`: the logged-out page.
    pub return_to: Option<String>,
    pub expires_at: i64,
}

impl Store {
    /// Keeps `subject` with the session `session_id` (once).
    pub async fn insert_saml_session_subject(
        &self,
        session_id: &str,
        subject: &SamlSessionSubject,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into saml_session_subjects (session_id, connection_id, name_id, name_id_format, \
             name_qualifier, sp_name_qualifier, session_index) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session_id)
        .bind(&subject.connection_id)
        .bind(&subject.name_id)
        .bind(&subject.name_id_format)
        .bind(&subject.name_qualifier)
        .bind(&subject.sp_name_qualifier)
        .bind(&subject.session_index)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The SAML subject of a session (ended or not), if its login was SAML.
    pub async fn get_saml_session_subject(
        &self,
        session_id: &str,
    ) -> StoreResult<Option<SamlSessionSubject>> {
        let row = sqlx::query(
            "select connection_id, name_id, name_id_format, name_qualifier, sp_name_qualifier, \
             session_index from saml_session_subjects where session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SamlSessionSubject {
                connection_id: row.try_get("connection_id")?,
                name_id: row.try_get("name_id")?,
                name_id_format: row.try_get("name_id_format")?,
                name_qualifier: row.try_get("name_qualifier")?,
                sp_name_qualifier: row.try_get("sp_name_qualifier")?,
                session_index: row.try_get("session_index")?,
            })
        })
        .transpose()
    }

    pub async fn insert_saml_logout_request(&self, logout: &StoredSamlLogout) -> StoreResult<()> {
        sqlx::query(
            "insert into saml_logout_requests (relay_state_hash, connection_id, request_id, \
             return_to, expires_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(&logout.relay_state_hash)
        .bind(&logout.connection_id)
        .bind(&logout.request_id)
        .bind(&logout.return_to)
        .bind(logout.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Takes the unexpired logout request of a RelayState: it is deleted,
    /// so a second response to it finds nothing (on any node).
    pub async fn take_saml_logout_request(
        &self,
        relay_state_hash: &str,
        now: i64,
    ) -> StoreResult<StoredSamlLogout> {
        let row = sqlx::query(
            "delete from saml_logout_requests where relay_state_hash = $1 and expires_at > $2 \
             returning relay_state_hash, connection_id, request_id, return_to, expires_at",
        )
        .bind(relay_state_hash)
        .bind(now)
        .fetch_one(self.writer())
        .await?;
        Ok(StoredSamlLogout {
            relay_state_hash: row.try_get("relay_state_hash")?,
            connection_id: row.try_get("connection_id")?,
            request_id: row.try_get("request_id")?,
            return_to: row.try_get("return_to")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}
