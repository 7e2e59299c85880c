//! Roles.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Page, Store, StoreResult, expect_one, from_json, to_json};
use crate::model::role::Role;

pub(super) fn role_from_row(row: &AnyRow) -> StoreResult<Role> {
    Ok(Role {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        inert_settings: from_json(
            "roles.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
    })
}

impl Store {
    pub async fn insert_role(&self, role: &Role) -> StoreResult<()> {
        sqlx::query(
            "insert into roles (id, name, description, inert_settings, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(to_json(&role.inert_settings))
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn get_role(&self, id: &str) -> StoreResult<Role> {
        select_role(&self.pool, id).await
    }

    pub async fn list_roles(&self, page: &Page) -> StoreResult<Vec<Role>> {
        let rows = sqlx::query(
            "select id, name, description, inert_settings from roles where id > $1 order by id limit $2 offset $3",
        )
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(role_from_row).collect()
    }

    pub async fn count_roles(&self) -> StoreResult<i64> {
        Ok(sqlx::query("select count(*) as n from roles")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn update_role(&self, role: &Role) -> StoreResult<()> {
        write_role(
            &mut *self.writer().acquire().await?,
            role,
            self.now_millis(),
        )
        .await
    }

    /// Read-modify-write of a role in one transaction, as
    /// [`Store::update_client_with`] (its id is kept).
    pub async fn update_role_with<E>(
        &self,
        id: &str,
        change: impl FnOnce(Role) -> Result<Role, E>,
    ) -> StoreResult<Result<Role, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from roles where id = $1 for no key update",
                &[id],
            )
            .await?;
        let mut next = match change(select_role(&mut *tx, id).await?) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        id.clone_into(&mut next.id);
        write_role(&mut tx, &next, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    pub async fn delete_role(&self, id: &str) -> StoreResult<()> {
        let result = sqlx::query("delete from roles where id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }
}

async fn select_role<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> StoreResult<Role> {
    let row = sqlx::query("select id, name, description, inert_settings from roles where id = $1")
        .bind(id)
        .fetch_one(executor)
        .await?;
    role_from_row(&row)
}

async fn write_role(
    conn: &mut sqlx::AnyConnection,
    role: &Role,
    updated_at: i64,
) -> StoreResult<()> {
    let result =
        sqlx::query("update roles set name = $2, description = $3, inert_settings = $4, updated_at = $5 where id = $1")
            .bind(&role.id)
            .bind(&role.name)
            .bind(&role.description)
            .bind(to_json(&role.inert_settings))
            .bind(updated_at)
            .execute(&mut *conn)
            .await?;
    expect_one(result)
}
