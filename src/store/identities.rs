//! Upstream identities: (connection, upstream subject) → one user. A user
//! of a database connection has none (its password is its identity); a user
//! provisioned from an upstream has the identity it came with, and linking
//! adds others.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::{StoredUser, insert_user_row, user_from_row};
use super::{Store, StoreResult, expect_one, from_json, to_json};
use crate::model::user::User;

/// The profile an upstream sent at an identity's last login, as JSON.
pub type ProfileData = serde_json::Map<String, serde_json::Value>;

/// One upstream identity of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIdentity {
    pub connection_id: String,
    /// The upstream's id of the person (`sub`, NameID, a social id).
    pub subject: String,
    pub user_id: String,
    pub profile_data: ProfileData,
    pub created_at: i64,
    pub updated_at: i64,
}

fn identity_from_row(row: &AnyRow) -> StoreResult<StoredIdentity> {
    Ok(StoredIdentity {
        connection_id: row.try_get("connection_id")?,
        subject: row.try_get("subject")?,
        user_id: row.try_get("user_id")?,
        profile_data: from_json(
            "user_identities.profile_data",
            &row.try_get::<String, _>("profile_data")?,
        )?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An upstream identity waiting, within one login, for its person to prove
/// the existing account it will join (`account_linking: prove_existing`).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLink {
    pub connection_id: String,
    pub subject: String,
    /// The existing user to prove.
    pub user_id: String,
    pub profile_data: ProfileData,
}

const INSERT_IDENTITY: &str = "insert into user_identities \
     (connection_id, subject, user_id, profile_data, created_at, updated_at) \
     values ($1, $2, $3, $4, $5, $5)";

impl Store {
    /// The user an upstream identity is linked to, if any.
    pub async fn find_identity_user(
        &self,
        connection_id: &str,
        subject: &str,
    ) -> StoreResult<Option<StoredUser>> {
        let row = sqlx::query(&format!(
            "select {} from users u join user_identities i on i.user_id = u.user_id \
             where i.connection_id = $1 and i.subject = $2",
            super::users::qualified_columns("u")
        ))
        .bind(connection_id)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user provisioned from an upstream identity (no password), with that
    /// identity, in one transaction: of two first logins of one identity at
    /// once, one inserts and the other fails on `user_identities_pkey` (or
    /// `users_pkey`, the id being derived from the identity).
    pub async fn insert_user_with_identity(
        &self,
        user: &User,
        subject: &str,
        profile_data: &ProfileData,
    ) -> StoreResult<()> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        insert_user_row(&mut tx, user, None, now).await?;
        sqlx::query(INSERT_IDENTITY)
            .bind(&user.connection_id)
            .bind(subject)
            .bind(&user.user_id)
            .bind(to_json(profile_data))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Links an upstream identity to an existing user; one already linked
    /// (to anyone) fails on `user_identities_pkey`.
    pub async fn insert_identity(
        &self,
        connection_id: &str,
        subject: &str,
        user_id: &str,
        profile_data: &ProfileData,
    ) -> StoreResult<()> {
        sqlx::query(INSERT_IDENTITY)
            .bind(connection_id)
            .bind(subject)
            .bind(user_id)
            .bind(to_json(profile_data))
            .bind(self.now_millis())
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Stores the profile an identity's upstream sent at its latest login.
    pub async fn update_identity_profile(
        &self,
        connection_id: &str,
        subject: &str,
        profile_data: &ProfileData,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "update user_identities set profile_data = $3, updated_at = $4 \
             where connection_id = $1 and subject = $2",
        )
        .bind(connection_id)
        .bind(subject)
        .bind(to_json(profile_data))
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// The upstream identities of a user, oldest first (the one it was
    /// provisioned with leads).
    pub async fn list_user_identities(&self, user_id: &str) -> StoreResult<Vec<StoredIdentity>> {
        Ok(self
            .list_identities_of_users(&[user_id.to_owned()])
            .await?
            .remove(user_id)
            .unwrap_or_default())
    }

    /// The upstream identities of several users (a page of the user list)
    /// in one query, by user, each user's oldest first. A user with none
    /// is left out.
    pub async fn list_identities_of_users(
        &self,
        user_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<StoredIdentity>>> {
        let mut by_user: HashMap<String, Vec<StoredIdentity>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(by_user);
        }
        let sql = format!(
            "select connection_id, subject, user_id, profile_data, created_at, updated_at \
             from user_identities where user_id in ({}) \
             order by user_id, created_at, connection_id, subject",
            super::placeholders(user_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in user_ids {
            query = query.bind(id);
        }
        for row in query.fetch_all(&self.pool).await? {
            let identity = identity_from_row(&row)?;
            by_user
                .entry(identity.user_id.clone())
                .or_default()
                .push(identity);
        }
        Ok(by_user)
    }

    /// Unlinks an identity from its user: a later login through it finds no
    /// user. `NotFound` when the user has no such identity.
    pub async fn delete_identity(
        &self,
        user_id: &str,
        connection_id: &str,
        subject: &str,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "delete from user_identities where user_id = $1 and connection_id = $2 and subject = $3",
        )
        .bind(user_id)
        .bind(connection_id)
        .bind(subject)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// Account linking: every identity of `secondary` moves to `primary` and
    /// `secondary` is deleted (with its memberships, sessions and grants),
    /// in one transaction. `NotFound` when either user is missing.
    pub async fn merge_user_into(&self, secondary: &str, primary: &str) -> StoreResult<()> {
        let mut tx = self
            .begin_update(
                "select 1 as one from users where user_id = $1 or user_id = $2 for no key update",
                &[secondary, primary],
            )
            .await?;
        let present: i64 =
            sqlx::query("select count(*) as n from users where user_id = $1 or user_id = $2")
                .bind(secondary)
                .bind(primary)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if present != 2 || secondary == primary {
            return Err(super::StoreError::NotFound);
        }
        sqlx::query("update user_identities set user_id = $2, updated_at = $3 where user_id = $1")
            .bind(secondary)
            .bind(primary)
            .bind(self.now_millis())
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("delete from users where user_id = $1")
            .bind(secondary)
            .execute(&mut *tx)
            .await?;
        expect_one(deleted)?;
        tx.commit().await?;
        Ok(())
    }

    /// Remembers the link a login waits on (one per login transaction: a
    /// later one replaces it).
    pub async fn put_pending_link(
        &self,
        transaction_id: &str,
        pending: &PendingLink,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into pending_links \
             (transaction_id, connection_id, subject, user_id, profile_data, created_at) \
             values ($1, $2, $3, $4, $5, $6) \
             on conflict (transaction_id) do update set connection_id = excluded.connection_id, \
             subject = excluded.subject, user_id = excluded.user_id, \
             profile_data = excluded.profile_data, created_at = excluded.created_at",
        )
        .bind(transaction_id)
        .bind(&pending.connection_id)
        .bind(&pending.subject)
        .bind(&pending.user_id)
        .bind(to_json(&pending.profile_data))
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The link a login waits on; `NotFound` when it waits on none.
    pub async fn get_pending_link(&self, transaction_id: &str) -> StoreResult<PendingLink> {
        let row = sqlx::query(
            "select connection_id, subject, user_id, profile_data from pending_links \
             where transaction_id = $1",
        )
        .bind(transaction_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(PendingLink {
            connection_id: row.try_get("connection_id")?,
            subject: row.try_get("subject")?,
            user_id: row.try_get("user_id")?,
            profile_data: from_json(
                "pending_links.profile_data",
                &row.try_get::<String, _>("profile_data")?,
            )?,
        })
    }

    /// Ends the wait: `false` when another request ended it first.
    pub async fn delete_pending_link(&self, transaction_id: &str) -> StoreResult<bool> {
        let result = sqlx::query("delete from pending_links where transaction_id = $1")
            .bind(transaction_id)
            .execute(self.writer())
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
