//! Access tokens revoked before they expire. They are self-contained JWTs,
//! so "revoked" means listed here by `jti`; this server's own endpoints
//! check the list, an API that verifies tokens offline cannot.
//!
//! A listed id is kept until no access token can still be live
//! ([`ACCESS_TOKEN_MAX_LIFETIME_MS`] after it was listed, or the token's own
//! expiry when known), then purged.
//!
//! The bottom of the store's token modules: codes and refresh-token
//! families list what they issued here (through [`list_revoked`] and
//! [`revoke_family_access_tokens`], inside their own transactions); this
//! module calls none of them.

use super::{Store, StoreResult};
use crate::model::resource_server::MAX_TOKEN_LIFETIME;

/// The longest an access token lives: an API's longest `token_lifetime`.
pub const ACCESS_TOKEN_MAX_LIFETIME_MS: i64 = MAX_TOKEN_LIFETIME * 1000;

impl Store {
    /// Lists an access token as revoked until `expires_at` (unix ms).
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        list_revoked(self.writer(), jti, expires_at).await
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
}

/// Lists one access token as revoked until `expires_at` (once: listing it
/// again changes nothing).
pub(super) async fn list_revoked<'e, E>(executor: E, jti: &str, expires_at: i64) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) values ($1, $2) on conflict (jti) do nothing",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Lists the access tokens issued with the refresh tokens of family
/// `grant_id` as revoked.
pub(super) async fn revoke_family_access_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) \
         select access_token_id, $2 from refresh_tokens \
         where grant_id = $1 and access_token_id is not null \
         on conflict (jti) do nothing",
    )
    .bind(grant_id)
    .bind(now + ACCESS_TOKEN_MAX_LIFETIME_MS)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
