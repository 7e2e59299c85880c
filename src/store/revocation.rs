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
        list_revoked(&self.pool, jti, expires_at).await
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

    /// A used authorization code presented again by `client_id`, the
    /// client it was issued to: marks it replayed and revokes the access
    /// token its exchange issued and the refresh-token family it started
    /// (with that family's access tokens). False when it is not a used code
    /// of that client (unknown, unused, or another client's: a client that
    /// got hold of someone else's used code must not revoke their tokens).
    pub async fn revoke_what_code_issued(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Marking the code replayed takes its row lock: an exchange that is
        // still linking a family to it either linked it before (and the
        // family is revoked below) or will find it replayed and start none.
        let Some(row) = sqlx::query(
            "update authorization_codes set replayed_at = $3 \
             where code_hash = $1 and client_id = $2 and consumed_at is not null \
             returning access_token_id, grant_id",
        )
        .bind(code_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let access_token_id: Option<String> = row.try_get("access_token_id")?;
        let grant_id: Option<String> = row.try_get("grant_id")?;
        if let Some(jti) = access_token_id {
            list_revoked(&mut *tx, &jti, now + ACCESS_TOKEN_MAX_LIFETIME_MS).await?;
        }
        if let Some(grant_id) = &grant_id {
            super::sessions::revoke_grant(&mut tx, grant_id, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Lists one access token as revoked until `expires_at` (once: listing it
/// again changes nothing).
async fn list_revoked<'e, E>(executor: E, jti: &str, expires_at: i64) -> StoreResult<()>
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
