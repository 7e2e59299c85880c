//! Refresh-token families: a family starts with a code exchange, rotates
//! one token at a time, and is revoked as a whole (with the access tokens
//! issued with it) when a rotated-away token is used again.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::revocation::revoke_family_access_tokens;
use super::{Page, Store, StoreError, StoreResult};
use crate::model::ids;

/// One family of rotated refresh tokens, and what they were issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub organization_id: Option<String>,
    pub session_id: Option<String>,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    /// When the user authenticated (unix seconds), for `auth_time`.
    pub auth_time: i64,
    /// The family's absolute end (unix ms).
    pub expires_at: i64,
}

const GRANT_COLUMNS: &str = "g.id, g.client_id, g.user_id, g.organization_id, g.session_id, g.scope, g.audience, \
     g.auth_time, g.expires_at";

fn grant_from_row(row: &AnyRow) -> StoreResult<RefreshGrant> {
    Ok(RefreshGrant {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        organization_id: row.try_get("organization_id")?,
        session_id: row.try_get("session_id")?,
        scope: row
            .try_get::<String, _>("scope")?
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        audience: row.try_get("audience")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: it is now used, and the new token stored.
    Rotated(RefreshGrant),
    /// The token had been used before: the whole family is now revoked.
    Reused { grant_id: String },
    /// The token is expired, or its family revoked or expired.
    Inactive,
}

/// One presentation of a refresh token (see [`Store::use_refresh_token`]).
#[derive(Debug, Clone, Copy)]
pub struct RefreshUse<'a> {
    pub token_hash: &'a str,
    /// When it is presented (unix ms).
    pub now: i64,
    /// Until when the token the client holds next (the new one, or the one
    /// presented) works unused (unix ms); capped by the family's end.
    pub expires_at: i64,
    /// The access token issued with this use.
    pub access_token_id: &'a str,
    pub renewal: Renewal<'a>,
}

/// What a use does to the token presented.
#[derive(Debug, Clone, Copy)]
pub enum Renewal<'a> {
    /// Retire it and store `next_hash`; within `leeway_ms` of its use, the
    /// family's last used token may be presented again.
    Rotate { next_hash: &'a str, leeway_ms: i64 },
    /// Keep it (Auth0's non-rotating refresh tokens).
    Keep,
}

/// A refresh token as introspection and revocation see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenState {
    pub grant: RefreshGrant,
    pub created_at: i64,
    pub expires_at: i64,
    /// Live: not used, not expired, family neither revoked nor expired.
    pub active: bool,
}

impl Store {
    /// Starts the refresh-token family of the exchange of code `code_hash`,
    /// with its first token, issued with the access token `access_token_id`.
    /// The family is linked to the code first, in the same transaction, and
    /// only if the code has not been replayed meanwhile: false (and no
    /// family) if it has.
    pub async fn insert_refresh_grant(
        &self,
        code_hash: &str,
        grant: &RefreshGrant,
        token_hash: &str,
        token_expires_at: i64,
        access_token_id: &str,
    ) -> StoreResult<bool> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        let linked = sqlx::query(
            "update authorization_codes set grant_id = $2 where code_hash = $1 and replayed_at is null",
        )
        .bind(code_hash)
        .bind(&grant.id)
        .execute(&mut *tx)
        .await?;
        if linked.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "insert into refresh_grants (id, client_id, user_id, organization_id, session_id, scope, audience, \
             auth_time, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&grant.id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.organization_id)
        .bind(&grant.session_id)
        .bind(grant.scope.join(" "))
        .bind(&grant.audience)
        .bind(grant.auth_time)
        .bind(now)
        .bind(grant.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_refresh_token(
            &mut tx,
            token_hash,
            &grant.id,
            now,
            token_expires_at,
            access_token_id,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Presents a refresh token at `now` (unix ms) and rotates it: a live
    /// token is marked used and `next_hash` stored in its family (expiring
    /// at `next_expires_at`, capped by the family's end, issued with the
    /// access token `access_token_id`); a token used before revokes its
    /// family. [`Store::use_refresh_token`] with no reuse leeway.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next_hash: &str,
        now: i64,
        next_expires_at: i64,
        access_token_id: &str,
    ) -> StoreResult<RefreshOutcome> {
        self.use_refresh_token(&RefreshUse {
            token_hash,
            now,
            expires_at: next_expires_at,
            access_token_id,
            renewal: Renewal::Rotate {
                next_hash,
                leeway_ms: 0,
            },
        })
        .await
    }

    /// Presents a refresh token. Rotating: a live token is marked used and
    /// the next one stored; a token used before revokes its family, unless
    /// it is the family's last used token and was used less than the
    /// leeway ago (a retried request: it rotates again). Not rotating: a
    /// live token stays live, its idle end pushed to `expires_at`. Of two
    /// concurrent rotations of one token exactly one rotates: the first
    /// statement is the conditional write.
    pub async fn use_refresh_token(&self, use_: &RefreshUse<'_>) -> StoreResult<RefreshOutcome> {
        let now = use_.now;
        let mut tx = self.writer().begin().await?;
        let claimed = match use_.renewal {
            Renewal::Rotate { .. } => {
                sqlx::query(
                    "update refresh_tokens set used_at = $2 \
                     where token_hash = $1 and used_at is null and expires_at > $2",
                )
                .bind(use_.token_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
            }
            Renewal::Keep => {
                sqlx::query(
                    "update refresh_tokens set expires_at = $3 \
                     where token_hash = $1 and used_at is null and expires_at > $2",
                )
                .bind(use_.token_hash)
                .bind(now)
                .bind(use_.expires_at)
                .execute(&mut *tx)
                .await?
            }
        };
        let row = sqlx::query(&format!(
            "select {GRANT_COLUMNS}, g.revoked_at, t.used_at, t.expires_at as token_expires_at \
             from refresh_tokens t join refresh_grants g on g.id = t.grant_id where t.token_hash = $1"
        ))
        .bind(use_.token_hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let grant = grant_from_row(&row)?;
        let revoked = row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
        if claimed.rows_affected() == 0 {
            let Some(used_at) = row.try_get::<Option<i64>, _>("used_at")? else {
                return Ok(RefreshOutcome::Inactive);
            };
            let retried = match use_.renewal {
                Renewal::Rotate { leeway_ms, .. } => {
                    leeway_ms > 0
                        && now < used_at.saturating_add(leeway_ms)
                        && row.try_get::<i64, _>("token_expires_at")? > now
                        && !used_after(&mut tx, &grant.id, used_at).await?
                }
                Renewal::Keep => false,
            };
            if !retried {
                revoke_grant(&mut tx, &grant.id, now).await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused { grant_id: grant.id });
            }
        }
        // Writing the family row takes its lock until commit: a concurrent
        // revocation (which writes it first, see `revoke_grant`) either
        // finished before, and the family is no longer live here, or waits
        // and then also lists the access token issued with the new token.
        let live = sqlx::query(
            "update refresh_grants set revoked_at = revoked_at \
             where id = $1 and revoked_at is null and expires_at > $2",
        )
        .bind(&grant.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if revoked || live.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(RefreshOutcome::Inactive);
        }
        let (next_hash, used_at) = match use_.renewal {
            Renewal::Rotate { next_hash, .. } => (next_hash.to_owned(), None),
            // The token stays as it is; the access token issued now is
            // linked to the family (for revocation) by a row of its own,
            // spent at once, under a key no token hashes to (not 64 hex
            // digits).
            Renewal::Keep => (format!("link-{}", ids::random_alphanumeric(32)), Some(now)),
        };
        insert_refresh_token(
            &mut tx,
            &next_hash,
            &grant.id,
            now,
            use_.expires_at.min(grant.expires_at),
            use_.access_token_id,
        )
        .await?;
        if let Some(used_at) = used_at {
            sqlx::query("update refresh_tokens set used_at = $2 where token_hash = $1")
                .bind(&next_hash)
                .bind(used_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated(grant))
    }

    /// A refresh token's family and whether the token is live at `now`.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<RefreshTokenState> {
        let row = sqlx::query(&format!(
            "select {GRANT_COLUMNS}, g.revoked_at, t.created_at as token_created_at, \
             t.expires_at as token_expires_at, t.used_at from refresh_tokens t \
             join refresh_grants g on g.id = t.grant_id where t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await?;
        let grant = grant_from_row(&row)?;
        let expires_at: i64 = row.try_get("token_expires_at")?;
        let active = row.try_get::<Option<i64>, _>("revoked_at")?.is_none()
            && row.try_get::<Option<i64>, _>("used_at")?.is_none()
            && expires_at > now
            && grant.expires_at > now;
        Ok(RefreshTokenState {
            grant,
            created_at: row.try_get("token_created_at")?,
            expires_at,
            active,
        })
    }

    /// One page of the user's live refresh-token families at `now` (not
    /// revoked, not expired), by id (Auth0 pages them by checkpoint).
    pub async fn list_user_refresh_grants(
        &self,
        user_id: &str,
        now: i64,
        page: &Page,
    ) -> StoreResult<Vec<RefreshGrant>> {
        let rows = sqlx::query(&format!(
            "select {GRANT_COLUMNS} from refresh_grants g where g.user_id = $1 and g.revoked_at is null \
             and g.expires_at > $2 and g.id > $3 order by g.id limit $4 offset $5"
        ))
        .bind(user_id)
        .bind(now)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// A live refresh-token family by id.
    pub async fn get_refresh_grant(&self, id: &str, now: i64) -> StoreResult<RefreshGrant> {
        let row = sqlx::query(&format!(
            "select {GRANT_COLUMNS} from refresh_grants g where g.id = $1 and g.revoked_at is null \
             and g.expires_at > $2"
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        grant_from_row(&row)
    }

    /// Revokes every refresh-token family of a user, with the access tokens
    /// issued with them; how many families were live.
    pub async fn revoke_user_refresh_grants(&self, user_id: &str) -> StoreResult<u64> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        // As in `revoke_grant`: the families are written (locked) first,
        // then their access tokens listed.
        let revoked = sqlx::query(
            "update refresh_grants set revoked_at = $2 where user_id = $1 and revoked_at is null \
             returning id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &revoked {
            let grant_id: String = row.try_get("id")?;
            revoke_family_access_tokens(&mut tx, &grant_id, now).await?;
        }
        tx.commit().await?;
        Ok(revoked.len() as u64)
    }

    /// Revokes a refresh-token family; true if this call revoked it.
    pub async fn revoke_refresh_grant(&self, grant_id: &str) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        let revoked = revoke_grant(&mut tx, grant_id, self.now_millis()).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}

/// Revokes the user's live refresh-token families of `client_id` for
/// `audience` (`None`: the families without an API), with their access
/// tokens: what a deleted consent had allowed.
pub(super) async fn revoke_consented_families(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    client_id: &str,
    audience: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    // As in `revoke_grant`: the families are written (locked) first, then
    // their access tokens listed.
    let revoked = sqlx::query(
        "update refresh_grants set revoked_at = $4 where user_id = $1 and client_id = $2 \
         and coalesce(audience, '') = $3 and revoked_at is null returning id",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(audience.unwrap_or(""))
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for row in &revoked {
        let grant_id: String = row.try_get("id")?;
        revoke_family_access_tokens(tx, &grant_id, now).await?;
    }
    Ok(())
}

/// Whether a token of the family was used after `used_at`: then a token
/// used at `used_at` is no longer the one a retry may present.
async fn used_after(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    used_at: i64,
) -> StoreResult<bool> {
    Ok(
        sqlx::query("select 1 as one from refresh_tokens where grant_id = $1 and used_at > $2")
            .bind(grant_id)
            .bind(used_at)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

async fn insert_refresh_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token_hash: &str,
    grant_id: &str,
    now: i64,
    expires_at: i64,
    access_token_id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "insert into refresh_tokens (token_hash, grant_id, created_at, expires_at, access_token_id) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(now)
    .bind(expires_at)
    .bind(access_token_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes a refresh-token family and the access tokens issued with it
/// (RFC 7009 §2.1); true if this call revoked the family. The family row is
/// written first: that takes its lock, so a rotation in flight (see
/// `rotate_refresh_token`) has either committed its new token, which the
/// listing then sees, or will find the family revoked.
pub(super) async fn revoke_grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    now: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "update refresh_grants set revoked_at = $2 where id = $1 and revoked_at is null",
    )
    .bind(grant_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    revoke_family_access_tokens(tx, grant_id, now).await?;
    Ok(result.rows_affected() == 1)
}
