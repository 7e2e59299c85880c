//! Refresh-token families: a family starts with a code exchange, rotates
//! one token at a time, and is revoked as a whole (with the access tokens
//! issued with it) when a rotated-away token is used again.

use std::borrow::Cow;

use sqlx::Row;

use super::revocation::revoke_family_access_tokens;
use super::users::{qualified_columns, user_from_row};
use super::{
    Backend, Columns, Page, Param, QueuedWrite, Store, StoreError, StoreResult, get_bool,
    sqlite_sync,
};
use crate::model::ids;
use crate::model::user::User;

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

fn grant_from_row(row: &impl Columns) -> StoreResult<RefreshGrant> {
    Ok(RefreshGrant {
        id: row.get("id")?,
        client_id: row.get("client_id")?,
        user_id: row.get("user_id")?,
        organization_id: row.get("organization_id")?,
        session_id: row.get("session_id")?,
        scope: row
            .get::<String>("scope")?
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        audience: row.get("audience")?,
        auth_time: row.get("auth_time")?,
        expires_at: row.get("expires_at")?,
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
    /// The family the token was found in ([`Store::find_refresh_token`]),
    /// returned when it rotates (what a family was issued for never
    /// changes; only its revocation does, which the use checks).
    pub family: &'a RefreshGrant,
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
        match self.backend {
            // One round trip: linking the code takes its row lock, so a
            // replay (which marks the code first, see
            // `revoke_what_code_issued`) either ran before and nothing is
            // inserted, or waits and then revokes the family inserted here.
            Backend::Postgres => {
                let query = sqlx::query(
                    "with linked as (\
                       update authorization_codes set grant_id = $2 \
                       where code_hash = $1 and replayed_at is null returning code_hash), \
                     family as (\
                       insert into refresh_grants (id, client_id, user_id, organization_id, session_id, \
                       scope, audience, auth_time, created_at, expires_at) \
                       select $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 from linked returning id), \
                     first_token as (\
                       insert into refresh_tokens (token_hash, grant_id, created_at, expires_at, \
                       access_token_id) select $12, id, $10, $13, $14 from family returning grant_id) \
                     select count(*) as started from first_token",
                );
                let row = bind_family(query, code_hash, grant, now)
                    .bind(token_hash)
                    .bind(token_expires_at)
                    .bind(access_token_id)
                    .fetch_one(self.writer())
                    .await?;
                Ok(row.try_get::<i64, _>("started")? == 1)
            }
            // SQLite has no data-modifying CTEs: three statements, queued
            // together ([`start_family`]).
            Backend::Sqlite => self
                .queued_write(QueuedWrite {
                    data: FamilyStart {
                        code_hash: code_hash.to_owned(),
                        grant: grant.clone(),
                        token_hash: token_hash.to_owned(),
                        token_expires_at,
                        access_token_id: access_token_id.to_owned(),
                        now,
                    },
                    statements: start_family,
                })
                .await
                .or_else(|err| match err {
                    StoreError::NotFound => Ok(false),
                    other => Err(other),
                }),
        }
    }

    /// Presents a refresh token at `now` (unix ms) and rotates it: a live
    /// token is marked used and `next_hash` stored in its family (expiring
    /// at `next_expires_at`, capped by the family's end, issued with the
    /// access token `access_token_id`); a token used before revokes its
    /// family. [`Store::find_refresh_token`], then
    /// [`Store::use_refresh_token`] with no reuse leeway.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next_hash: &str,
        now: i64,
        next_expires_at: i64,
        access_token_id: &str,
    ) -> StoreResult<RefreshOutcome> {
        let found = self.find_refresh_token(token_hash, now).await?;
        self.use_refresh_token(&RefreshUse {
            family: &found.grant,
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

    /// Presents a refresh token of `use_.family`. Rotating: a live token is
    /// marked used and the next one stored; a token used before revokes its
    /// family, unless it is the family's last used token and was used less
    /// than the leeway ago (a retried request: it rotates again). Not
    /// rotating: a live token stays live, its idle end pushed to
    /// `expires_at`. Of two concurrent rotations of one token exactly one
    /// rotates: the first statement is the conditional write.
    ///
    /// A live token takes one round trip on PostgreSQL and two on SQLite
    /// (see [`Store::claim_refresh_token`]); anything else (a token used
    /// before, expired or unknown) takes [`Store::use_refresh_token_slowly`].
    pub async fn use_refresh_token(&self, use_: &RefreshUse<'_>) -> StoreResult<RefreshOutcome> {
        match self.claim_refresh_token(use_).await? {
            Claim::Rotated => Ok(RefreshOutcome::Rotated(use_.family.clone())),
            Claim::FamilyEnded => Ok(RefreshOutcome::Inactive),
            Claim::NotLive => self.use_refresh_token_slowly(use_).await,
        }
    }

    /// The way of a live token: claim it (the conditional write), then
    /// store the next token in its family if the family is live.
    ///
    /// PostgreSQL: one statement. Writing the family row takes its lock
    /// until commit: a concurrent revocation (which writes it first, see
    /// `revoke_grant`) either finished before, and the family is no longer
    /// live here, or waits and then also lists the access token issued with
    /// the new token.
    ///
    /// SQLite (no data-modifying CTEs): two statements, queued together
    /// ([`claim_and_store_next`]): the claim, then the next token inserted only into
    /// a family not revoked. In one transaction, not two commits: a request
    /// cut off between them (the client gone, an error) must not leave the
    /// token used and no next one, which the client's retry would present
    /// as a reuse and so revoke the family.
    async fn claim_refresh_token(&self, use_: &RefreshUse<'_>) -> StoreResult<Claim> {
        match self.backend {
            Backend::Postgres => {
                let next = NextToken::of(use_);
                let claim_set = claim_set(&use_.renewal);
                let row = sqlx::query(&format!(
                    "with claimed as (\
                       update refresh_tokens set {claim_set} \
                       where token_hash = $1 and grant_id = $3 and used_at is null and expires_at > $2 \
                       returning grant_id), \
                     live as (\
                       update refresh_grants set revoked_at = revoked_at \
                       where id in (select grant_id from claimed) and revoked_at is null \
                       and expires_at > $2 returning id, expires_at), \
                     next_token as (\
                       insert into refresh_tokens (token_hash, grant_id, created_at, expires_at, \
                       access_token_id, used_at) \
                       select $5, id, $2, least($4, expires_at), $6, cast($7 as bigint) from live \
                       returning grant_id) \
                     select (select count(*) from claimed) as claimed, \
                     (select count(*) from next_token) as rotated"
                ))
                .bind(use_.token_hash)
                .bind(use_.now)
                .bind(&use_.family.id)
                .bind(next.expires_at)
                .bind(next.token_hash.as_ref())
                .bind(next.access_token_id)
                .bind(next.used_at)
                .fetch_one(self.writer())
                .await?;
                Ok(
                    match (
                        row.try_get::<i64, _>("claimed")?,
                        row.try_get::<i64, _>("rotated")?,
                    ) {
                        (0, _) => Claim::NotLive,
                        (_, 0) => Claim::FamilyEnded,
                        _ => Claim::Rotated,
                    },
                )
            }
            Backend::Sqlite => {
                self.queued_write(QueuedWrite {
                    data: OwnedRefreshUse::of(use_),
                    statements: claim_and_store_next,
                })
                .await
            }
        }
    }

    /// [`Store::use_refresh_token`] of a token that was not live when
    /// claimed: tells a reuse (which revokes the family) from a retry
    /// within the leeway (which rotates again) and from an expired token,
    /// in one transaction that begins with the claim again (a write: on
    /// SQLite the transaction holds the write lock from its first
    /// statement).
    async fn use_refresh_token_slowly(&self, use_: &RefreshUse<'_>) -> StoreResult<RefreshOutcome> {
        let now = use_.now;
        let mut tx = self.writer().begin().await?;
        let claimed = claim_token(&mut *tx, use_).await?;
        // The family is the caller's (`use_.family`, the token's own by the
        // `grant_id` condition); whether it is still live is the write below.
        let row = sqlx::query(
            "select used_at, expires_at from refresh_tokens where token_hash = $1 and grant_id = $2",
        )
        .bind(use_.token_hash)
        .bind(&use_.family.id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let grant_id = &use_.family.id;
        if !claimed {
            let Some(used_at) = row.try_get::<Option<i64>, _>("used_at")? else {
                return Ok(RefreshOutcome::Inactive);
            };
            let retried = match use_.renewal {
                Renewal::Rotate { leeway_ms, .. } => {
                    leeway_ms > 0
                        && now < used_at.saturating_add(leeway_ms)
                        && row.try_get::<i64, _>("expires_at")? > now
                        && !used_after(&mut tx, grant_id, used_at).await?
                }
                Renewal::Keep => false,
            };
            if !retried {
                revoke_grant(&mut tx, grant_id, now).await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused {
                    grant_id: grant_id.clone(),
                });
            }
        }
        // As in `claim_refresh_token`: the family row is written (locked)
        // before the next token goes in.
        let live = sqlx::query(
            "update refresh_grants set revoked_at = revoked_at \
             where id = $1 and revoked_at is null and expires_at > $2",
        )
        .bind(grant_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if live.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(RefreshOutcome::Inactive);
        }
        let inserted = insert_into_live_family(&mut *tx, &NextToken::of(use_)).await?;
        tx.commit().await?;
        Ok(if inserted {
            RefreshOutcome::Rotated(use_.family.clone())
        } else {
            RefreshOutcome::Inactive
        })
    }

    /// A refresh token's family and whether the token is live at `now`.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<RefreshTokenState> {
        let row = sqlx::query(&format!(
            "select {GRANT_COLUMNS}, {TOKEN_COLUMNS} from refresh_tokens t \
             join refresh_grants g on g.id = t.grant_id where t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await?;
        token_state_from_row(&row, now)
    }

    /// [`Store::find_refresh_token`] with the family's user and whether
    /// they are a member of its organization (false without one), in one
    /// read: what a refresh checks before it rotates. (A deleted user's
    /// families are deleted with them.)
    pub async fn find_refresh_token_with_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<(RefreshTokenState, User, bool)> {
        let sql = format!(
            "select {GRANT_COLUMNS}, {TOKEN_COLUMNS}, {user_columns}, \
             exists (select 1 from organization_members m \
               where m.organization_id = g.organization_id and m.user_id = g.user_id) as member \
             from refresh_tokens t join refresh_grants g on g.id = t.grant_id \
             join users u on u.user_id = g.user_id where t.token_hash = $1",
            user_columns = qualified_columns("u"),
        );
        self.read_hot_row(&sql, &[Param::Text(token_hash)], |row| {
            token_state_with_user(row, now)
        })
        .await
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

/// The first token of a family, with the family and the code it starts
/// from, for the write queue.
struct FamilyStart {
    code_hash: String,
    grant: RefreshGrant,
    token_hash: String,
    token_expires_at: i64,
    access_token_id: String,
    now: i64,
}

/// [`Store::insert_refresh_grant`] on SQLite: three statements, each
/// conditional on the one before: a family is inserted only for a linked
/// code not replayed, a token only in a family not revoked. False when the
/// code is not linked (nothing written); `NotFound` when a later statement
/// found its condition gone, which rolls the earlier ones back.
fn start_family(start: &FamilyStart, conn: &rusqlite::Connection) -> StoreResult<bool> {
    let grant = &start.grant;
    let linked = sqlite_sync::execute(
        conn,
        "update authorization_codes set grant_id = $2 \
         where code_hash = $1 and replayed_at is null",
        &[&start.code_hash, &grant.id],
    )?;
    if linked == 0 {
        return Ok(false);
    }
    let family = sqlite_sync::execute(
        conn,
        "insert into refresh_grants (id, client_id, user_id, organization_id, session_id, \
         scope, audience, auth_time, created_at, expires_at) \
         select $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 where exists (\
           select 1 from authorization_codes \
           where code_hash = $1 and grant_id = $2 and replayed_at is null)",
        &[
            &start.code_hash,
            &grant.id,
            &grant.client_id,
            &grant.user_id,
            &grant.organization_id,
            &grant.session_id,
            &grant.scope.join(" "),
            &grant.audience,
            &grant.auth_time,
            &start.now,
            &grant.expires_at,
        ],
    )?;
    if family == 0 {
        // An error, so that the code's link above is rolled back.
        return Err(StoreError::NotFound);
    }
    let first = sqlite_sync::execute(
        conn,
        "insert into refresh_tokens (token_hash, grant_id, created_at, expires_at, \
         access_token_id) select $1, id, $3, $4, $5 from refresh_grants \
         where id = $2 and revoked_at is null",
        &[
            &start.token_hash,
            &grant.id,
            &start.now,
            &start.token_expires_at,
            &start.access_token_id,
        ],
    )?;
    if first == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(true)
}

/// [`Store::find_refresh_token_with_user`]'s row: the token, its family's
/// user, and whether they are a member of its organization.
fn token_state_with_user(
    row: &impl Columns,
    now: i64,
) -> StoreResult<(RefreshTokenState, User, bool)> {
    Ok((
        token_state_from_row(row, now)?,
        user_from_row(row)?.user,
        get_bool(row, "member")?,
    ))
}

/// The token's columns [`token_state_from_row`] reads beside the family's.
const TOKEN_COLUMNS: &str = "g.revoked_at, t.created_at as token_created_at, \
     t.expires_at as token_expires_at, t.used_at";

fn token_state_from_row(row: &impl Columns, now: i64) -> StoreResult<RefreshTokenState> {
    let grant = grant_from_row(row)?;
    let expires_at: i64 = row.get("token_expires_at")?;
    let active = row.get::<Option<i64>>("revoked_at")?.is_none()
        && row.get::<Option<i64>>("used_at")?.is_none()
        && expires_at > now
        && grant.expires_at > now;
    Ok(RefreshTokenState {
        grant,
        created_at: row.get("token_created_at")?,
        expires_at,
        active,
    })
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

/// `query` bound as both statements that start a family read it: `$1` the
/// code, `$2`–`$11` the family's columns.
fn bind_family<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    code_hash: &'q str,
    grant: &'q RefreshGrant,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(code_hash)
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
}

/// A [`RefreshUse`] that owns what it borrows, for the write queue.
struct OwnedRefreshUse {
    family: RefreshGrant,
    token_hash: String,
    now: i64,
    expires_at: i64,
    access_token_id: String,
    /// `Some(next_hash, leeway_ms)` rotating, `None` keeping.
    rotate: Option<(String, i64)>,
}

impl OwnedRefreshUse {
    fn of(use_: &RefreshUse<'_>) -> Self {
        OwnedRefreshUse {
            family: use_.family.clone(),
            token_hash: use_.token_hash.to_owned(),
            now: use_.now,
            expires_at: use_.expires_at,
            access_token_id: use_.access_token_id.to_owned(),
            rotate: match use_.renewal {
                Renewal::Rotate {
                    next_hash,
                    leeway_ms,
                } => Some((next_hash.to_owned(), leeway_ms)),
                Renewal::Keep => None,
            },
        }
    }

    fn as_use(&self) -> RefreshUse<'_> {
        RefreshUse {
            family: &self.family,
            token_hash: &self.token_hash,
            now: self.now,
            expires_at: self.expires_at,
            access_token_id: &self.access_token_id,
            renewal: match &self.rotate {
                Some((next_hash, leeway_ms)) => Renewal::Rotate {
                    next_hash,
                    leeway_ms: *leeway_ms,
                },
                None => Renewal::Keep,
            },
        }
    }
}

/// [`Store::claim_refresh_token`] on SQLite: the claim, then the next token
/// stored if the family is live.
fn claim_and_store_next(use_: &OwnedRefreshUse, conn: &rusqlite::Connection) -> StoreResult<Claim> {
    let use_ = use_.as_use();
    let claimed = sqlite_sync::execute(
        conn,
        &claim_sql(&use_.renewal),
        &[
            &use_.token_hash,
            &use_.now,
            &use_.family.id,
            &use_.expires_at,
        ],
    )?;
    if claimed == 0 {
        return Ok(Claim::NotLive);
    }
    let next = NextToken::of(&use_);
    let inserted = sqlite_sync::execute(
        conn,
        INSERT_INTO_LIVE_FAMILY,
        &[
            &next.token_hash.as_ref(),
            &next.now,
            &next.expires_at,
            &next.access_token_id,
            &next.used_at,
            &next.grant_id,
        ],
    )?;
    Ok(if inserted == 1 {
        Claim::Rotated
    } else {
        Claim::FamilyEnded
    })
}

/// What [`Store::claim_refresh_token`] did.
enum Claim {
    /// The token was live and its family too: the next token is stored.
    Rotated,
    /// The token was live, its family revoked or ended: nothing stored.
    FamilyEnded,
    /// The token was not live (used, expired, unknown, or not of the
    /// family): nothing written.
    NotLive,
}

/// The token a use stores in its family.
struct NextToken<'a> {
    token_hash: Cow<'a, str>,
    grant_id: &'a str,
    now: i64,
    /// Capped by the family's end when stored.
    expires_at: i64,
    access_token_id: &'a str,
    /// Set for a link row (see [`NextToken::of`]).
    used_at: Option<i64>,
}

impl<'a> NextToken<'a> {
    fn of(use_: &RefreshUse<'a>) -> Self {
        let (token_hash, used_at) = match use_.renewal {
            Renewal::Rotate { next_hash, .. } => (Cow::Borrowed(next_hash), None),
            // The token stays as it is; the access token issued now is
            // linked to the family (for revocation) by a row of its own,
            // spent at once, under a key no token hashes to (not 64 hex
            // digits).
            Renewal::Keep => (
                Cow::Owned(format!("link-{}", ids::random_alphanumeric(32))),
                Some(use_.now),
            ),
        };
        NextToken {
            token_hash,
            grant_id: &use_.family.id,
            now: use_.now,
            expires_at: use_.expires_at,
            access_token_id: use_.access_token_id,
            used_at,
        }
    }
}

/// What claiming a live token writes: rotating marks it used (`$2`, now);
/// keeping pushes its idle end (`$4`).
fn claim_set(renewal: &Renewal<'_>) -> &'static str {
    match renewal {
        Renewal::Rotate { .. } => "used_at = $2",
        Renewal::Keep => "expires_at = $4",
    }
}

/// The write every use of a refresh token begins with: claims the token
/// (`$1`) if it is live (unused, unexpired at `$2`, of the family `$3`);
/// rotating marks it used, keeping pushes its idle end (`$4`).
fn claim_sql(renewal: &Renewal<'_>) -> String {
    format!(
        "update refresh_tokens set {} \
         where token_hash = $1 and grant_id = $3 and used_at is null and expires_at > $2",
        claim_set(renewal)
    )
}

/// Claims `use_`'s token if it is live ([`claim_sql`]); whether it was.
async fn claim_token<'e, E>(executor: E, use_: &RefreshUse<'_>) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = claim_sql(&use_.renewal);
    let claim = sqlx::query(&sql)
        .bind(use_.token_hash)
        .bind(use_.now)
        .bind(&use_.family.id);
    let claim = match use_.renewal {
        Renewal::Rotate { .. } => claim,
        Renewal::Keep => claim.bind(use_.expires_at),
    };
    Ok(claim.execute(executor).await?.rows_affected() > 0)
}

/// Stores the next token (`$1`, created at `$2`, expiring at `$3` capped
/// by the family's end, issued with the access token `$4`, used at `$5`
/// for a link row) in its family (`$6`) if the family is live (neither
/// revoked nor ended at `$2`).
const INSERT_INTO_LIVE_FAMILY: &str = "insert into refresh_tokens (token_hash, grant_id, \
     created_at, expires_at, access_token_id, used_at) select $1, id, $2, \
     case when $3 < expires_at then $3 else expires_at end, $4, cast($5 as bigint) \
     from refresh_grants where id = $6 and revoked_at is null and expires_at > $2";

/// Stores `next` in its family if the family is live
/// ([`INSERT_INTO_LIVE_FAMILY`]); whether it was stored.
async fn insert_into_live_family<'e, E>(executor: E, next: &NextToken<'_>) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let inserted = sqlx::query(INSERT_INTO_LIVE_FAMILY)
        .bind(next.token_hash.as_ref())
        .bind(next.now)
        .bind(next.expires_at)
        .bind(next.access_token_id)
        .bind(next.used_at)
        .bind(next.grant_id)
        .execute(executor)
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Revokes a refresh-token family and the access tokens issued with it
/// (RFC 7009 §2.1); true if this call revoked the family. The family row is
/// written first: that takes its lock, so a rotation in flight (see
/// `claim_refresh_token`) has either committed its new token, which the
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
