//! Access tokens revoked before they expire. They are self-contained JWTs,
//! so "revoked" means listed here by `jti`; this server's own endpoints
//! check the list, an API that verifies tokens offline cannot.
//!
//! A listed id is kept until no access token can still be live
//! ([`ACCESS_TOKEN_MAX_LIFETIME_MS`] after it was listed, or the token's own
//! expiry when known), then purged.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::model::resource_server::MAX_TOKEN_LIFETIME;

/// The longest an access token lives: an API's longest `token_lifetime`.
pub const ACCESS_TOKEN_MAX_LIFETIME_MS: i64 = MAX_TOKEN_LIFETIME * 1000;

impl Store {
    /// Lists an access token as revoked until `expires_at` (unix ms).
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query(
            "insert into revoked_access_tokens (jti, expires_at) values ($1, $2) on conflict (jti) do nothing",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("select 1 as one from revoked_access_tokens where jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// A replayed authorization code: revokes the access token its exchange
    /// issued and the refresh-token family it started (with the access
    /// tokens of that family). Returns the family's id, if there was one.
    pub async fn revoke_what_code_issued(
        &self,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "select access_token_id, grant_id from authorization_codes where code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let access_token_id: Option<String> = row.try_get("access_token_id")?;
        let grant_id: Option<String> = row.try_get("grant_id")?;
        if let Some(jti) = access_token_id {
            sqlx::query(
                "insert into revoked_access_tokens (jti, expires_at) values ($1, $2) on conflict (jti) do nothing",
            )
            .bind(jti)
            .bind(now + ACCESS_TOKEN_MAX_LIFETIME_MS)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(grant_id) = &grant_id {
            super::sessions::revoke_grant(&mut tx, grant_id, now).await?;
        }
        tx.commit().await?;
        Ok(grant_id)
    }
}

/// Lists the access tokens issued with the refresh tokens of the families
/// `grant_condition` selects (a condition on `refresh_tokens.grant_id`, with
/// `$1` bound to `grant_key`).
pub(super) async fn revoke_family_access_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_condition: &str,
    grant_key: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "insert into revoked_access_tokens (jti, expires_at) \
         select access_token_id, $2 from refresh_tokens \
         where {grant_condition} and access_token_id is not null \
         on conflict (jti) do nothing"
    ))
    .bind(grant_key)
    .bind(now + ACCESS_TOKEN_MAX_LIFETIME_MS)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
