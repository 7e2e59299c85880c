//! Resource servers (APIs), their scopes, the permissions roles hold on them,
//! and the one query token issuance needs: a member's roles and permissions.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Page, Store, StoreError, StoreResult, expect_one, from_json, get_bool, parse_enum, to_json,
};
use crate::model::client::SigningAlg;
use crate::model::resource_server::{ResourceServer, Scope, TokenDialect};

const COLUMNS: &str = "rs.id, rs.name, rs.identifier, rs.signing_alg, rs.token_lifetime, rs.allow_offline_access, \
     rs.skip_consent_for_verifiable_first_party_clients, rs.enforce_policies, rs.token_dialect, rs.inert_settings";

/// A resource server without its scopes, from a row of `COLUMNS`.
fn resource_server_from_row(row: &AnyRow) -> StoreResult<ResourceServer> {
    Ok(ResourceServer {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        identifier: row.try_get("identifier")?,
        scopes: Vec::new(),
        signing_alg: parse_enum(
            "resource_servers.signing_alg",
            &row.try_get::<String, _>("signing_alg")?,
            SigningAlg::parse,
        )?,
        token_lifetime: row.try_get("token_lifetime")?,
        allow_offline_access: get_bool(row, "allow_offline_access")?,
        skip_consent_for_verifiable_first_party_clients: get_bool(
            row,
            "skip_consent_for_verifiable_first_party_clients",
        )?,
        enforce_policies: get_bool(row, "enforce_policies")?,
        token_dialect: parse_enum(
            "resource_servers.token_dialect",
            &row.try_get::<String, _>("token_dialect")?,
            TokenDialect::parse,
        )?,
        inert_settings: from_json(
            "resource_servers.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
    })
}

/// Resource servers from rows of `COLUMNS` left-joined with their scopes
/// (`scope_value`, `scope_description`), ordered by server then scope position.
fn resource_servers_from_rows(rows: &[AnyRow]) -> StoreResult<Vec<ResourceServer>> {
    let mut servers: Vec<ResourceServer> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        if servers.last().is_none_or(|last| last.id != id) {
            servers.push(resource_server_from_row(row)?);
        }
        let Some(current) = servers.last_mut() else {
            continue;
        };
        if let Some(value) = row.try_get::<Option<String>, _>("scope_value")? {
            current.scopes.push(Scope {
                value,
                description: row.try_get("scope_description")?,
            });
        }
    }
    Ok(servers)
}

/// One permission of a role, in the shape Auth0 lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermission {
    pub permission_name: String,
    pub description: Option<String>,
    pub resource_server_name: String,
    pub resource_server_identifier: String,
}

/// A (resource server id, scope value) pair given to or taken from a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRef {
    pub resource_server_id: String,
    pub permission_name: String,
}

impl Store {
    pub async fn insert_resource_server(&self, rs: &ResourceServer) -> StoreResult<()> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "insert into resource_servers (id, name, identifier, signing_alg, token_lifetime, allow_offline_access, \
             skip_consent_for_verifiable_first_party_clients, enforce_policies, token_dialect, inert_settings, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&rs.id)
        .bind(&rs.name)
        .bind(&rs.identifier)
        .bind(rs.signing_alg.as_str())
        .bind(rs.token_lifetime)
        .bind(rs.allow_offline_access)
        .bind(rs.skip_consent_for_verifiable_first_party_clients)
        .bind(rs.enforce_policies)
        .bind(rs.token_dialect.as_str())
        .bind(to_json(&rs.inert_settings))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (position, scope) in rs.scopes.iter().enumerate() {
            sqlx::query(
                "insert into resource_server_scopes (resource_server_id, value, description, position) \
                 values ($1, $2, $3, $4)",
            )
            .bind(&rs.id)
            .bind(&scope.value)
            .bind(&scope.description)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_resource_server(&self, column: &str, value: &str) -> StoreResult<ResourceServer> {
        select_resource_server(&self.pool, column, value).await
    }

    pub async fn get_resource_server(&self, id: &str) -> StoreResult<ResourceServer> {
        self.find_resource_server("id", id).await
    }

    /// The resource server whose identifier (audience) is `identifier`.
    pub async fn get_resource_server_by_identifier(
        &self,
        identifier: &str,
    ) -> StoreResult<ResourceServer> {
        self.find_resource_server("identifier", identifier).await
    }

    pub async fn list_resource_servers(&self, page: &Page) -> StoreResult<Vec<ResourceServer>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS}, s.value as scope_value, s.description as scope_description \
             from (select * from resource_servers where id > $1 order by id limit $2 offset $3) rs \
             left join resource_server_scopes s on s.resource_server_id = rs.id \
             order by rs.id, s.position"
        ))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        resource_servers_from_rows(&rows)
    }

    pub async fn count_resource_servers(&self) -> StoreResult<i64> {
        Ok(sqlx::query("select count(*) as n from resource_servers")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Updates everything but the identifier. Scopes no longer listed are
    /// deleted, and with them (by foreign key) the role permissions naming them.
    pub async fn update_resource_server(&self, rs: &ResourceServer) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        write_resource_server(&mut tx, rs, self.now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Read-modify-write of a resource server (with its scopes) in one
    /// transaction, as [`Store::update_client_with`] (id and identifier
    /// are kept).
    pub async fn update_resource_server_with<E>(
        &self,
        id: &str,
        change: impl FnOnce(ResourceServer) -> Result<ResourceServer, E>,
    ) -> StoreResult<Result<ResourceServer, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from resource_servers where id = $1 for no key update",
                &[id],
            )
            .await?;
        let current = select_resource_server(&mut *tx, "id", id).await?;
        let identifier = current.identifier.clone();
        let next = match change(current) {
            Ok(next) => ResourceServer {
                id: id.to_owned(),
                identifier,
                ..next
            },
            Err(refused) => return Ok(Err(refused)),
        };
        write_resource_server(&mut tx, &next, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// Deletes a resource server, its scopes and the role permissions on it
    /// (by foreign key), and the client grants for its audience, which could
    /// otherwise outlive it. Returns the client ids whose grant was deleted.
    pub async fn delete_resource_server(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.writer().begin().await?;
        let identifier: String =
            sqlx::query("select identifier from resource_servers where id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("identifier")?;
        let client_ids: Vec<String> =
            sqlx::query("select client_id from client_grants where audience = $1")
                .bind(&identifier)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get("client_id"))
                .collect::<Result<_, _>>()?;
        sqlx::query("delete from client_grants where audience = $1")
            .bind(&identifier)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query("delete from resource_servers where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        expect_one(result)?;
        tx.commit().await?;
        Ok(client_ids)
    }

    /// Gives `role_id` the permissions; ones it already has are left as they are.
    /// `MissingReference` if a role or scope does not exist (any more).
    pub async fn insert_role_permissions(
        &self,
        role_id: &str,
        permissions: &[PermissionRef],
    ) -> StoreResult<()> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        for p in permissions {
            sqlx::query(
                "insert into role_permissions (role_id, resource_server_id, permission_name, created_at) \
                 values ($1, $2, $3, $4) on conflict (role_id, resource_server_id, permission_name) do nothing",
            )
            .bind(role_id)
            .bind(&p.resource_server_id)
            .bind(&p.permission_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_role_permissions(
        &self,
        role_id: &str,
        permissions: &[PermissionRef],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        for p in permissions {
            sqlx::query(
                "delete from role_permissions where role_id = $1 and resource_server_id = $2 and permission_name = $3",
            )
            .bind(role_id)
            .bind(&p.resource_server_id)
            .bind(&p.permission_name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The permissions of a role, ordered by API identifier then permission
    /// (offset paging only: a permission has no single id to resume after).
    pub async fn list_role_permissions(
        &self,
        role_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<RolePermission>> {
        let rows = sqlx::query(
            "select rp.permission_name, s.description, rs.name as resource_server_name, \
             rs.identifier as resource_server_identifier \
             from role_permissions rp \
             join resource_server_scopes s on s.resource_server_id = rp.resource_server_id and s.value = rp.permission_name \
             join resource_servers rs on rs.id = rp.resource_server_id \
             where rp.role_id = $1 order by rs.identifier, rp.permission_name limit $2 offset $3",
        )
        .bind(role_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RolePermission {
                    permission_name: row.try_get("permission_name")?,
                    description: row.try_get("description")?,
                    resource_server_name: row.try_get("resource_server_name")?,
                    resource_server_identifier: row.try_get("resource_server_identifier")?,
                })
            })
            .collect()
    }

    pub async fn count_role_permissions(&self, role_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query("select count(*) as n from role_permissions where role_id = $1")
                .bind(role_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// What an access token for `audience` says about a user logged in to an
    /// organization, in one round trip: the names of the user's roles in that
    /// organization, and the union of those roles' permissions on the resource
    /// server whose identifier is `audience`; both sorted, without duplicates.
    /// A user without roles, or an audience no resource server has, gives
    /// empty lists (the roles still count for an unknown audience).
    pub async fn organization_authorization(
        &self,
        organization_id: &str,
        user_id: &str,
        audience: &str,
    ) -> StoreResult<(Vec<String>, Vec<String>)> {
        let rows = sqlx::query(
            "select r.name as role_name, rp.permission_name \
             from organization_member_roles mr \
             join roles r on r.id = mr.role_id \
             left join role_permissions rp on rp.role_id = r.id \
               and rp.resource_server_id = (select id from resource_servers where identifier = $3) \
             where mr.organization_id = $1 and mr.user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(audience)
        .fetch_all(&self.pool)
        .await?;
        let mut roles = BTreeSet::new();
        let mut permissions = BTreeSet::new();
        for row in &rows {
            roles.insert(row.try_get::<String, _>("role_name")?);
            if let Some(permission) = row.try_get::<Option<String>, _>("permission_name")? {
                permissions.insert(permission);
            }
        }
        Ok((
            roles.into_iter().collect(),
            permissions.into_iter().collect(),
        ))
    }
}

/// The resource server whose `column` (`id` or `identifier`) is `value`.
async fn select_resource_server<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    column: &str,
    value: &str,
) -> StoreResult<ResourceServer> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS}, s.value as scope_value, s.description as scope_description \
         from resource_servers rs left join resource_server_scopes s on s.resource_server_id = rs.id \
         where rs.{column} = $1 order by s.position"
    ))
    .bind(value)
    .fetch_all(executor)
    .await?;
    resource_servers_from_rows(&rows)?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Stores everything of `rs` but its identifier, scopes included (inside
/// the caller's transaction).
async fn write_resource_server(
    conn: &mut sqlx::AnyConnection,
    rs: &ResourceServer,
    updated_at: i64,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update resource_servers set name = $2, signing_alg = $3, token_lifetime = $4, allow_offline_access = $5, \
         skip_consent_for_verifiable_first_party_clients = $6, enforce_policies = $7, token_dialect = $8, \
         inert_settings = $9, updated_at = $10 where id = $1",
    )
    .bind(&rs.id)
    .bind(&rs.name)
    .bind(rs.signing_alg.as_str())
    .bind(rs.token_lifetime)
    .bind(rs.allow_offline_access)
    .bind(rs.skip_consent_for_verifiable_first_party_clients)
    .bind(rs.enforce_policies)
    .bind(rs.token_dialect.as_str())
    .bind(to_json(&rs.inert_settings))
    .bind(updated_at)
    .execute(&mut *conn)
    .await?;
    expect_one(result)?;
    let stored: Vec<String> =
        sqlx::query("select value from resource_server_scopes where resource_server_id = $1")
            .bind(&rs.id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("value"))
            .collect::<Result<_, _>>()?;
    for value in stored.iter().filter(|v| !rs.has_scope(v)) {
        sqlx::query(
            "delete from resource_server_scopes where resource_server_id = $1 and value = $2",
        )
        .bind(&rs.id)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    }
    for (position, scope) in rs.scopes.iter().enumerate() {
        // Kept scopes are updated in place: their role permissions stay.
        sqlx::query(
            "insert into resource_server_scopes (resource_server_id, value, description, position) \
             values ($1, $2, $3, $4) on conflict (resource_server_id, value) \
             do update set description = excluded.description, position = excluded.position",
        )
        .bind(&rs.id)
        .bind(&scope.value)
        .bind(&scope.description)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
