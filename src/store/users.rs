//! Users of the tenant.

use sqlx::Row;

use super::{Columns, Page, Param, Store, StoreResult, expect_one, from_json, get_bool, to_json};
use crate::model::user::User;

/// The columns a new user's row is written with (`inert_settings` starts
/// empty, by its default).
macro_rules! written_columns {
    () => {
        "user_id, connection_id, email, email_verified, name, given_name, family_name, nickname, \
         picture, blocked, app_metadata, user_metadata, created_at, updated_at"
    };
}
const WRITTEN_COLUMNS: &str = written_columns!();
/// What [`user_from_row`] reads.
const READ_COLUMNS: &str = concat!(written_columns!(), ", inert_settings");

/// [`READ_COLUMNS`] of the table aliased `alias`, for joins.
pub(super) fn qualified_columns(alias: &str) -> String {
    READ_COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which users a list holds; `None` selects all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Users made in the connection or with an identity of it.
    pub connection_name: Option<String>,
    /// A normalized email.
    pub email: Option<String>,
}

/// [`UserFilter`] as SQL: `$1` the connection name, `$2` the email ('' for
/// any). A user is of a connection when it was made there or has an
/// identity of it (Auth0's `identities.connection`).
const USER_FILTER: &str = "($1 = '' or connection_id in (select id from connections where name = $1) \
     or user_id in (select i.user_id from user_identities i join connections c on c.id = i.connection_id \
     where c.name = $1)) \
     and ($2 = '' or email = $2)";

/// A user with the bookkeeping the Management API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUser {
    pub user: User,
    pub created_at: i64,
    pub updated_at: i64,
    /// Auth0 properties kept and returned without effect (see the README).
    pub inert_settings: serde_json::Map<String, serde_json::Value>,
}

pub(super) fn user_from_row(row: &impl Columns) -> StoreResult<StoredUser> {
    Ok(StoredUser {
        user: User {
            user_id: row.get("user_id")?,
            connection_id: row.get("connection_id")?,
            email: row.get("email")?,
            email_verified: get_bool(row, "email_verified")?,
            name: row.get("name")?,
            given_name: row.get("given_name")?,
            family_name: row.get("family_name")?,
            nickname: row.get("nickname")?,
            picture: row.get("picture")?,
            blocked: get_bool(row, "blocked")?,
            app_metadata: from_json("users.app_metadata", &row.get::<String>("app_metadata")?)?,
            user_metadata: from_json("users.user_metadata", &row.get::<String>("user_metadata")?)?,
        },
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        inert_settings: from_json(
            "users.inert_settings",
            &row.get::<String>("inert_settings")?,
        )?,
    })
}

/// [`Store::get_user_and_membership`]'s row.
fn user_and_membership(row: &impl Columns) -> StoreResult<(User, bool)> {
    Ok((user_from_row(row)?.user, get_bool(row, "member")?))
}

impl Store {
    /// Inserts a user with an optional password hash (database connections).
    /// A second user with the same email in the same connection fails on
    /// `users_connection_email_key`.
    pub async fn insert_user(&self, user: &User, password_hash: Option<&str>) -> StoreResult<()> {
        let mut conn = self.writer().acquire().await?;
        insert_user_row(&mut conn, user, password_hash, self.now_millis()).await
    }

    pub async fn get_user(&self, user_id: &str) -> StoreResult<StoredUser> {
        select_user(&self.pool, user_id).await
    }

    /// A user, and whether they are a member of `organization_id` (false
    /// without one), in one read: what a grant checks before it issues.
    pub async fn get_user_and_membership(
        &self,
        user_id: &str,
        organization_id: Option<&str>,
    ) -> StoreResult<(User, bool)> {
        let sql = format!(
            "select {READ_COLUMNS}, exists (select 1 from organization_members m \
             where m.organization_id = $2 and m.user_id = users.user_id) as member \
             from users where user_id = $1"
        );
        let organization_id = organization_id.unwrap_or("");
        self.read_hot_row(
            &sql,
            &[Param::Text(user_id), Param::Text(organization_id)],
            |row| user_and_membership(row),
        )
        .await
    }

    /// A page of users by id, as `filter` selects them.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: &Page,
    ) -> StoreResult<Vec<StoredUser>> {
        let rows = sqlx::query(&format!(
            "select {READ_COLUMNS} from users where {USER_FILTER} \
             and user_id > $3 order by user_id limit $4 offset $5"
        ))
        .bind(filter.connection_name.as_deref().unwrap_or(""))
        .bind(filter.email.as_deref().unwrap_or(""))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn count_users(&self, filter: &UserFilter) -> StoreResult<i64> {
        Ok(sqlx::query(&format!(
            "select count(*) as n from users where {USER_FILTER}"
        ))
        .bind(filter.connection_name.as_deref().unwrap_or(""))
        .bind(filter.email.as_deref().unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Users with this (normalized) email, across connections.
    pub async fn list_users_by_email(&self, email: &str) -> StoreResult<Vec<StoredUser>> {
        let rows = sqlx::query(&format!(
            "select {READ_COLUMNS} from users where email = $1 order by user_id"
        ))
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The user of a database connection and its password hash, for login.
    pub async fn find_password_user(
        &self,
        connection_id: &str,
        email: &str,
    ) -> StoreResult<Option<(StoredUser, Option<String>)>> {
        let row = sqlx::query(&format!(
            "select {READ_COLUMNS}, password_hash from users where connection_id = $1 and email = $2"
        ))
        .bind(connection_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    pub async fn update_user(&self, user: &User) -> StoreResult<()> {
        write_user(
            &mut *self.writer().acquire().await?,
            user,
            self.now_millis(),
        )
        .await
    }

    /// Read-modify-write of a user's profile in one transaction, as
    /// [`Store::update_client_with`] (id and connection are kept).
    pub async fn update_user_with<E>(
        &self,
        user_id: &str,
        change: impl FnOnce(User) -> Result<User, E>,
    ) -> StoreResult<Result<User, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from users where user_id = $1 for no key update",
                &[user_id],
            )
            .await?;
        let current = select_user(&mut *tx, user_id).await?.user;
        let connection_id = current.connection_id.clone();
        let next = match change(current) {
            Ok(next) => User {
                user_id: user_id.to_owned(),
                connection_id,
                ..next
            },
            Err(refused) => return Ok(Err(refused)),
        };
        write_user(&mut tx, &next, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// Read-modify-write of a user's properties without effect, in one
    /// transaction; what `change` leaves is stored and returned.
    pub async fn update_user_inert_settings(
        &self,
        user_id: &str,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> StoreResult<serde_json::Map<String, serde_json::Value>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from users where user_id = $1 for no key update",
                &[user_id],
            )
            .await?;
        let mut settings = select_user(&mut *tx, user_id).await?.inert_settings;
        change(&mut settings);
        let result = sqlx::query("update users set inert_settings = $2 where user_id = $1")
            .bind(user_id)
            .bind(to_json(&settings))
            .execute(&mut *tx)
            .await?;
        expect_one(result)?;
        tx.commit().await?;
        Ok(settings)
    }

    pub async fn update_user_password(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> StoreResult<()> {
        let result =
            sqlx::query("update users set password_hash = $2, updated_at = $3 where user_id = $1")
                .bind(user_id)
                .bind(password_hash)
                .bind(self.now_millis())
                .execute(self.writer())
                .await?;
        expect_one(result)
    }

    pub async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        let result = sqlx::query("delete from users where user_id = $1")
            .bind(user_id)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }
}

async fn select_user<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
) -> StoreResult<StoredUser> {
    let row = sqlx::query(&format!(
        "select {READ_COLUMNS} from users where user_id = $1"
    ))
    .bind(user_id)
    .fetch_one(executor)
    .await?;
    user_from_row(&row)
}

/// Stores a user's profile (not its id, connection or password).
async fn write_user(
    conn: &mut sqlx::AnyConnection,
    user: &User,
    updated_at: i64,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update users set email = $2, email_verified = $3, name = $4, given_name = $5, family_name = $6, \
         nickname = $7, picture = $8, blocked = $9, app_metadata = $10, user_metadata = $11, updated_at = $12 \
         where user_id = $1",
    )
    .bind(&user.user_id)
    .bind(&user.email)
    .bind(user.email_verified)
    .bind(&user.name)
    .bind(&user.given_name)
    .bind(&user.family_name)
    .bind(&user.nickname)
    .bind(&user.picture)
    .bind(user.blocked)
    .bind(to_json(&user.app_metadata))
    .bind(to_json(&user.user_metadata))
    .bind(updated_at)
    .execute(&mut *conn)
    .await?;
    expect_one(result)
}

/// Inserts a user's row, created and updated `now`.
pub(super) async fn insert_user_row(
    conn: &mut sqlx::AnyConnection,
    user: &User,
    password_hash: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "insert into users ({WRITTEN_COLUMNS}, password_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)"
    ))
    .bind(&user.user_id)
    .bind(&user.connection_id)
    .bind(&user.email)
    .bind(user.email_verified)
    .bind(&user.name)
    .bind(&user.given_name)
    .bind(&user.family_name)
    .bind(&user.nickname)
    .bind(&user.picture)
    .bind(user.blocked)
    .bind(to_json(&user.app_metadata))
    .bind(to_json(&user.user_metadata))
    .bind(now)
    .bind(password_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
