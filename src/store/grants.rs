//! Consent: what a user allowed a third-party client (Auth0's grants), one
//! row per user, client and audience, with its scopes as rows of their own.
//! A consent adds scopes and never removes any, so two consents of one user
//! and client at once both land in the one row (the upsert of the row and
//! `on conflict do nothing` of each scope need no read-modify-write).
//!
//! Deleting a grant revokes what was issued under it, as Auth0 does: the
//! refresh-token families of its user, client and audience, with their
//! access tokens.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::refresh_grants::revoke_consented_families;
use super::{Page, Store, StoreError, StoreResult};

/// A user's consent to a client for one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// An API's identifier, or the issuer's `/userinfo` for the OpenID
    /// scopes alone (as Auth0 shows them).
    pub audience: String,
    /// Sorted, each once.
    pub scope: Vec<String>,
}

/// The `GET /api/v2/grants` filters; `None` matches any.
#[derive(Debug, Clone, Default)]
pub struct UserGrantFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

const FILTER: &str = "($1 = '' or g.user_id = $1) and ($2 = '' or g.client_id = $2) \
     and ($3 = '' or g.audience = $3)";

impl UserGrantFilter {
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        query
            .bind(self.user_id.as_deref().unwrap_or(""))
            .bind(self.client_id.as_deref().unwrap_or(""))
            .bind(self.audience.as_deref().unwrap_or(""))
    }
}

/// Groups rows of a grant joined with its scopes (ordered by grant id)
/// into grants; a grant without scopes has one row with a null value.
fn grants_from_rows(rows: &[AnyRow]) -> StoreResult<Vec<UserGrant>> {
    let mut grants: Vec<UserGrant> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        let value: Option<String> = row.try_get("value")?;
        match grants.last_mut() {
            Some(last) if last.id == id => last.scope.extend(value),
            _ => grants.push(UserGrant {
                id,
                user_id: row.try_get("user_id")?,
                client_id: row.try_get("client_id")?,
                audience: row.try_get("audience")?,
                scope: value.into_iter().collect(),
            }),
        }
    }
    Ok(grants)
}

impl Store {
    /// Records that the user consented to `scope` for the client and
    /// audience: the grant (new with id `new_id`, or the existing one)
    /// afterwards holds the union of what it held and `scope`.
    pub async fn grant_user_consent(
        &self,
        new_id: &str,
        user_id: &str,
        client_id: &str,
        audience: &str,
        scope: &[String],
    ) -> StoreResult<UserGrant> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        let id: String = sqlx::query(
            "insert into user_grants (id, user_id, client_id, audience, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $5) \
             on conflict (user_id, client_id, audience) do update set updated_at = excluded.updated_at \
             returning id",
        )
        .bind(new_id)
        .bind(user_id)
        .bind(client_id)
        .bind(audience)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        for value in scope.iter().collect::<BTreeSet<_>>() {
            sqlx::query(
                "insert into user_grant_scopes (grant_id, value) values ($1, $2) on conflict do nothing",
            )
            .bind(&id)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_user_grant(&id).await
    }

    pub async fn get_user_grant(&self, id: &str) -> StoreResult<UserGrant> {
        let rows = sqlx::query(
            "select g.id, g.user_id, g.client_id, g.audience, s.value from user_grants g \
             left join user_grant_scopes s on s.grant_id = g.id where g.id = $1 order by s.value",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        grants_from_rows(&rows)?.pop().ok_or(StoreError::NotFound)
    }

    /// The user's grant to the client for the audience, if any.
    pub async fn find_user_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<UserGrant>> {
        let filter = UserGrantFilter {
            user_id: Some(user_id.to_owned()),
            client_id: Some(client_id.to_owned()),
            audience: Some(audience.to_owned()),
        };
        Ok(self.list_user_grants(&filter, &Page::all()).await?.pop())
    }

    /// A page of the grants `filter` matches, by id.
    pub async fn list_user_grants(
        &self,
        filter: &UserGrantFilter,
        page: &Page,
    ) -> StoreResult<Vec<UserGrant>> {
        let query = format!(
            "select g.id, g.user_id, g.client_id, g.audience, s.value from \
             (select g.id, g.user_id, g.client_id, g.audience from user_grants g \
              where {FILTER} and g.id > $4 order by g.id limit $5 offset $6) g \
             left join user_grant_scopes s on s.grant_id = g.id order by g.id, s.value"
        );
        let rows = filter
            .bind(sqlx::query(&query))
            .bind(page.after_id.as_deref().unwrap_or(""))
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
        grants_from_rows(&rows)
    }

    pub async fn count_user_grants(&self, filter: &UserGrantFilter) -> StoreResult<i64> {
        let query = format!("select count(*) as n from user_grants g where {FILTER}");
        Ok(filter
            .bind(sqlx::query(&query))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Deletes a grant and revokes the refresh-token families issued under
    /// it (refresh families for the OpenID scopes alone have no audience:
    /// they are the grant's whose audience is `userinfo_audience`).
    pub async fn delete_user_grant(&self, id: &str, userinfo_audience: &str) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(
            "delete from user_grants where id = $1 returning user_id, client_id, audience",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        revoke_under_deleted(&mut tx, &[row], userinfo_audience, self.now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every grant of a user and revokes the refresh-token families
    /// issued under them; how many there were.
    pub async fn delete_user_grants_of_user(
        &self,
        user_id: &str,
        userinfo_audience: &str,
    ) -> StoreResult<u64> {
        let mut tx = self.writer().begin().await?;
        let deleted = sqlx::query(
            "delete from user_grants where user_id = $1 returning user_id, client_id, audience",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        revoke_under_deleted(&mut tx, &deleted, userinfo_audience, self.now_millis()).await?;
        tx.commit().await?;
        Ok(deleted.len() as u64)
    }
}

/// Revokes the refresh-token families issued under grants just deleted
/// (rows of `user_id, client_id, audience`); families for the OpenID scopes
/// alone have no audience: they are the grants whose audience is
/// `userinfo_audience`.
async fn revoke_under_deleted(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    deleted: &[sqlx::any::AnyRow],
    userinfo_audience: &str,
    now: i64,
) -> StoreResult<()> {
    for row in deleted {
        let audience: String = row.try_get("audience")?;
        revoke_consented_families(
            tx,
            &row.try_get::<String, _>("user_id")?,
            &row.try_get::<String, _>("client_id")?,
            (audience != userinfo_audience).then_some(audience.as_str()),
            now,
        )
        .await?;
    }
    Ok(())
}
