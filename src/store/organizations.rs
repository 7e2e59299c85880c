//! Organizations, their enabled connections, members and member roles.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Page, Store, StoreError, StoreResult, expect_one, from_json, get_bool, parse_from_str, to_json,
};
use crate::model::connection::{EnabledConnection, OrganizationAccessLevel, Strategy};
use crate::model::organization::{DomainMembership, Organization};

const ORG_COLUMNS: &str =
    "id, name, display_name, branding, metadata, inert_settings, domain_membership";

/// [`ORG_COLUMNS`] of the organizations table aliased `o`.
const ORG_COLUMNS_OF_O: &str = "o.id, o.name, o.display_name, o.branding, o.metadata, \
     o.inert_settings, o.domain_membership";

fn organization_from_row(row: &AnyRow) -> StoreResult<Organization> {
    let branding: Option<String> = row.try_get("branding")?;
    let domain_membership: String = row.try_get("domain_membership")?;
    Ok(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        branding: branding
            .map(|b| from_json("organizations.branding", &b))
            .transpose()?,
        metadata: from_json(
            "organizations.metadata",
            &row.try_get::<String, _>("metadata")?,
        )?,
        inert_settings: from_json(
            "organizations.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
        domain_membership: DomainMembership::parse(&domain_membership).ok_or_else(|| {
            StoreError::Corrupt(format!("domain_membership: {domain_membership:?}"))
        })?,
    })
}

/// An enabled connection joined with the connection's name and strategy,
/// as the Management API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct EnabledConnectionView {
    pub enabled: EnabledConnection,
    pub connection_name: String,
    /// The connection's `display_name`, for the login page's buttons.
    pub connection_display_name: Option<String>,
    pub strategy: Strategy,
}

fn enabled_from_row(row: &AnyRow) -> StoreResult<EnabledConnectionView> {
    let level: String = row.try_get("organization_access_level")?;
    Ok(EnabledConnectionView {
        enabled: EnabledConnection {
            organization_id: row.try_get("organization_id")?,
            connection_id: row.try_get("connection_id")?,
            assign_membership_on_login: get_bool(row, "assign_membership_on_login")?,
            is_signup_enabled: get_bool(row, "is_signup_enabled")?,
            show_as_button: get_bool(row, "show_as_button")?,
            organization_connection_name: row.try_get("organization_connection_name")?,
            organization_access_level: OrganizationAccessLevel::parse(&level).ok_or_else(|| {
                StoreError::Corrupt(format!("organization_access_level: {level:?}"))
            })?,
            upstream_tenant_id: row.try_get("upstream_tenant_id")?,
        },
        connection_name: row.try_get("connection_name")?,
        connection_display_name: row.try_get("connection_display_name")?,
        strategy: parse_from_str(
            "connections.strategy",
            &row.try_get::<String, _>("strategy")?,
        )?,
    })
}

const ENABLED_SELECT: &str = "select oc.organization_id, oc.connection_id, oc.assign_membership_on_login, \
     oc.is_signup_enabled, oc.show_as_button, oc.organization_connection_name, oc.organization_access_level, \
     oc.upstream_tenant_id, c.name as connection_name, c.display_name as connection_display_name, c.strategy \
     from organization_connections oc join connections c on c.id = oc.connection_id";

async fn insert_enabled(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    enabled: &EnabledConnection,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "insert into organization_connections (organization_id, connection_id, assign_membership_on_login, \
         is_signup_enabled, show_as_button, organization_connection_name, organization_access_level, \
         upstream_tenant_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&enabled.organization_id)
    .bind(&enabled.connection_id)
    .bind(enabled.assign_membership_on_login)
    .bind(enabled.is_signup_enabled)
    .bind(enabled.show_as_button)
    .bind(&enabled.organization_connection_name)
    .bind(enabled.organization_access_level.as_str())
    .bind(&enabled.upstream_tenant_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_organization_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &Organization,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "insert into organizations (id, name, display_name, branding, metadata, inert_settings, \
         domain_membership, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&org.id)
    .bind(&org.name)
    .bind(&org.display_name)
    .bind(org.branding.as_ref().map(to_json))
    .bind(to_json(&org.metadata))
    .bind(to_json(&org.inert_settings))
    .bind(org.domain_membership.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A member of an organization, with the user's display fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

fn member_from_row(row: &AnyRow) -> StoreResult<Member> {
    Ok(Member {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        picture: row.try_get("picture")?,
    })
}

/// Makes `user_id` a member of `organization_id`, if not already.
async fn insert_member(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
    user_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "insert into organization_members (organization_id, user_id, created_at) values ($1, $2, $3) \
         on conflict (organization_id, user_id) do nothing",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A user's pending request to join an organization (`admin_approval`).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    pub user: Member,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `s` with LIKE's wildcards (and the escape character) escaped by `\`.
fn escape_like(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl Store {
    /// Inserts an organization together with the connections enabled on it at
    /// creation, in one transaction.
    pub async fn insert_organization(
        &self,
        org: &Organization,
        enabled: &[EnabledConnection],
    ) -> StoreResult<()> {
        self.insert_organizations(&[(org.clone(), enabled.to_vec())])
            .await
    }

    /// Inserts many organizations, each with its enabled connections, in one
    /// transaction (a bulk import: thousands of organizations sharing one
    /// IdP are seeded in seconds, not one round trip each).
    pub async fn insert_organizations(
        &self,
        organizations: &[(Organization, Vec<EnabledConnection>)],
    ) -> StoreResult<()> {
        let now = self.now_millis();
        let mut tx = self.writer().begin().await?;
        for (org, enabled) in organizations {
            insert_organization_row(&mut tx, org, now).await?;
            for connection in enabled {
                insert_enabled(&mut tx, connection, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_organization(&self, id: &str) -> StoreResult<Organization> {
        select_organization(&self.pool, id).await
    }

    pub async fn get_organization_by_name(&self, name: &str) -> StoreResult<Organization> {
        let row = sqlx::query(&format!(
            "select {ORG_COLUMNS} from organizations where name = $1"
        ))
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        organization_from_row(&row)
    }

    pub async fn list_organizations(&self, page: &Page) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query(&format!(
            "select {ORG_COLUMNS} from organizations where id > $1 order by id limit $2 offset $3"
        ))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(organization_from_row).collect()
    }

    pub async fn count_organizations(&self) -> StoreResult<i64> {
        Ok(sqlx::query("select count(*) as n from organizations")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn update_organization(&self, org: &Organization) -> StoreResult<()> {
        write_organization(&mut *self.writer().acquire().await?, org, self.now_millis()).await
    }

    /// Read-modify-write of an organization in one transaction, as
    /// [`Store::update_client_with`] (its id is kept). A new name taken by
    /// another organization fails on `organizations_name_key`.
    pub async fn update_organization_with<E>(
        &self,
        id: &str,
        change: impl FnOnce(Organization) -> Result<Organization, E>,
    ) -> StoreResult<Result<Organization, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from organizations where id = $1 for no key update",
                &[id],
            )
            .await?;
        let mut next = match change(select_organization(&mut *tx, id).await?) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        id.clone_into(&mut next.id);
        write_organization(&mut tx, &next, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// Deletes an organization and what is its own; the names of the
    /// domains it held are returned (deleted in the same transaction, so
    /// none claimed meanwhile is missed: the routing table must drop each).
    pub async fn delete_organization(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.writer().begin().await?;
        let domains: Vec<String> = sqlx::query_scalar(
            "delete from discovery_domains where organization_id = $1 returning domain",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let result = sqlx::query("delete from organizations where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        expect_one(result)?;
        tx.commit().await?;
        Ok(domains)
    }

    /// Enables a connection on an organization; a second enable of the same
    /// pair fails on `organization_connections_pkey`.
    pub async fn insert_enabled_connection(&self, enabled: &EnabledConnection) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        insert_enabled(&mut tx, enabled, self.now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn update_enabled_connection(&self, enabled: &EnabledConnection) -> StoreResult<()> {
        write_enabled(&mut *self.writer().acquire().await?, enabled).await
    }

    /// Read-modify-write of an enabled connection in one transaction, as
    /// [`Store::update_client_with`]: `change` gets it with its connection's
    /// name and strategy; what it returns is stored but for the pair of ids.
    pub async fn update_enabled_connection_with<E>(
        &self,
        organization_id: &str,
        connection_id: &str,
        change: impl FnOnce(EnabledConnectionView) -> Result<EnabledConnectionView, E>,
    ) -> StoreResult<Result<EnabledConnectionView, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from organization_connections \
                 where organization_id = $1 and connection_id = $2 for no key update",
                &[organization_id, connection_id],
            )
            .await?;
        let current = select_enabled(&mut *tx, organization_id, connection_id).await?;
        let mut next = match change(current) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        organization_id.clone_into(&mut next.enabled.organization_id);
        connection_id.clone_into(&mut next.enabled.connection_id);
        write_enabled(&mut tx, &next.enabled).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    pub async fn get_enabled_connection(
        &self,
        organization_id: &str,
        connection_id: &str,
    ) -> StoreResult<EnabledConnectionView> {
        select_enabled(&self.pool, organization_id, connection_id).await
    }

    pub async fn list_enabled_connections(
        &self,
        organization_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<EnabledConnectionView>> {
        let rows = sqlx::query(&format!(
            "{ENABLED_SELECT} where oc.organization_id = $1 and oc.connection_id > $2 \
             order by oc.connection_id limit $3 offset $4"
        ))
        .bind(organization_id)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(enabled_from_row).collect()
    }

    pub async fn count_enabled_connections(&self, organization_id: &str) -> StoreResult<i64> {
        self.count_of_organization("organization_connections", organization_id)
            .await
    }

    /// Disables a connection on an organization. Its domains bound to it
    /// stay the organization's, routed to its default: their names are
    /// returned (what the routing table must read again).
    pub async fn delete_enabled_connection(
        &self,
        organization_id: &str,
        connection_id: &str,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.writer().begin().await?;
        let rebound: Vec<String> = sqlx::query_scalar(
            "update discovery_domains set connection_id = null \
             where organization_id = $1 and connection_id = $2 returning domain",
        )
        .bind(organization_id)
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        let result = sqlx::query(
            "delete from organization_connections where organization_id = $1 and connection_id = $2",
        )
        .bind(organization_id)
        .bind(connection_id)
        .execute(&mut *tx)
        .await?;
        expect_one(result)?;
        tx.commit().await?;
        Ok(rebound)
    }

    /// Adds members; users already members are left as they are. One
    /// statement per member, so concurrent adds of the same member cannot
    /// conflict (and SQLite never has to upgrade a read transaction).
    pub async fn insert_members(
        &self,
        organization_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        let now = self.now_millis();
        for user_id in user_ids {
            insert_member(&mut tx, organization_id, user_id, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_members(
        &self,
        organization_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        for user_id in user_ids {
            sqlx::query(
                "delete from organization_members where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_members(
        &self,
        organization_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(
            "select u.user_id, u.email, u.name, u.picture from organization_members m \
             join users u on u.user_id = m.user_id \
             where m.organization_id = $1 and m.user_id > $2 order by m.user_id limit $3 offset $4",
        )
        .bind(organization_id)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    pub async fn count_members(&self, organization_id: &str) -> StoreResult<i64> {
        self.count_of_organization("organization_members", organization_id)
            .await
    }

    /// How many rows of `table` belong to `organization_id`.
    async fn count_of_organization(
        &self,
        table: &'static str,
        organization_id: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query(&format!(
            "select count(*) as n from {table} where organization_id = $1"
        ))
        .bind(organization_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// One page of the organizations `user_id` is a member of that have
    /// `connection_id` enabled, by name: where a user who logged in through
    /// that connection may go. `search` keeps those whose name or display
    /// name contains it (case-insensitive). The walk starts from the user's
    /// memberships (`organization_members_user_idx`), never from every
    /// organization.
    pub async fn list_member_organizations(
        &self,
        user_id: &str,
        connection_id: &str,
        search: &str,
        page: &Page,
    ) -> StoreResult<Vec<Organization>> {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let rows = sqlx::query(&format!(
            "select {ORG_COLUMNS_OF_O} from organization_members m \
             join organizations o on o.id = m.organization_id \
             join organization_connections c on c.organization_id = o.id and c.connection_id = $2 \
             where m.user_id = $1 and (o.name like $3 escape '\\' \
             or lower(coalesce(o.display_name, '')) like $3 escape '\\') \
             order by o.name limit $4 offset $5"
        ))
        .bind(user_id)
        .bind(connection_id)
        .bind(pattern)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(organization_from_row).collect()
    }

    /// The organization `organization_id` if `user_id` is a member of it and
    /// it has `connection_id` enabled: one the picker may enter.
    pub async fn get_member_organization(
        &self,
        user_id: &str,
        connection_id: &str,
        organization_id: &str,
    ) -> StoreResult<Option<Organization>> {
        let row = sqlx::query(&format!(
            "select {ORG_COLUMNS_OF_O} from organization_members m \
             join organizations o on o.id = m.organization_id \
             join organization_connections c on c.organization_id = o.id and c.connection_id = $2 \
             where m.user_id = $1 and m.organization_id = $3"
        ))
        .bind(user_id)
        .bind(connection_id)
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(organization_from_row).transpose()
    }

    /// Records that `user_id` asks to join `organization_id`; false if they
    /// had asked already.
    pub async fn insert_join_request(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "insert into organization_join_requests (organization_id, user_id, created_at) \
             values ($1, $2, $3) on conflict (organization_id, user_id) do nothing",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn has_join_request(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "select 1 as one from organization_join_requests where organization_id = $1 and user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// One page of the requests to join `organization_id`, by user id.
    pub async fn list_join_requests(
        &self,
        organization_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<JoinRequest>> {
        let rows = sqlx::query(
            "select u.user_id, u.email, u.name, u.picture, r.created_at from organization_join_requests r \
             join users u on u.user_id = r.user_id \
             where r.organization_id = $1 and r.user_id > $2 order by r.user_id limit $3 offset $4",
        )
        .bind(organization_id)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JoinRequest {
                    user: member_from_row(row)?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn count_join_requests(&self, organization_id: &str) -> StoreResult<i64> {
        self.count_of_organization("organization_join_requests", organization_id)
            .await
    }

    /// Approves a request to join: the request goes and its user becomes a
    /// member, in one transaction. `NotFound` when there is no such request.
    pub async fn approve_join_request(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        let result = sqlx::query(
            "delete from organization_join_requests where organization_id = $1 and user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        expect_one(result)?;
        insert_member(&mut tx, organization_id, user_id, self.now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Denies (drops) a request to join. `NotFound` when there is none.
    pub async fn delete_join_request(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "delete from organization_join_requests where organization_id = $1 and user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// The ids of the organizations `user_id` is a member of.
    pub async fn list_user_organization_ids(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.organization_ids("organization_members", "user_id", user_id)
            .await
    }

    /// The ids of the organizations that enable `connection_id`.
    pub async fn list_connection_organization_ids(
        &self,
        connection_id: &str,
    ) -> StoreResult<Vec<String>> {
        self.organization_ids("organization_connections", "connection_id", connection_id)
            .await
    }

    /// The `organization_id`s of the rows of `table` whose `column` is `value`.
    async fn organization_ids(
        &self,
        table: &'static str,
        column: &'static str,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(&format!(
            "select organization_id from {table} where {column} = $1 order by organization_id"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("organization_id")?))
            .collect()
    }

    pub async fn is_member(&self, organization_id: &str, user_id: &str) -> StoreResult<bool> {
        Ok(sqlx::query(
            "select 1 as one from organization_members where organization_id = $1 and user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Grants roles to a member; roles already granted are left as they are.
    pub async fn insert_member_roles(
        &self,
        organization_id: &str,
        user_id: &str,
        role_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        for role_id in role_ids {
            sqlx::query(
                "insert into organization_member_roles (organization_id, user_id, role_id) values ($1, $2, $3) \
                 on conflict (organization_id, user_id, role_id) do nothing",
            )
            .bind(organization_id)
            .bind(user_id)
            .bind(role_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_member_roles(
        &self,
        organization_id: &str,
        user_id: &str,
        role_ids: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        for role_id in role_ids {
            sqlx::query(
                "delete from organization_member_roles where organization_id = $1 and user_id = $2 and role_id = $3",
            )
            .bind(organization_id)
            .bind(user_id)
            .bind(role_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_member_roles(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<Vec<crate::model::role::Role>> {
        self.list_member_roles_page(organization_id, user_id, &Page::all())
            .await
    }

    /// One page of a member's roles, by name (offset paging only, as Auth0).
    pub async fn list_member_roles_page(
        &self,
        organization_id: &str,
        user_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<crate::model::role::Role>> {
        let rows = sqlx::query(
            "select r.id, r.name, r.description, r.inert_settings from organization_member_roles mr \
             join roles r on r.id = mr.role_id \
             where mr.organization_id = $1 and mr.user_id = $2 order by r.name, r.id \
             limit $3 offset $4",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::roles::role_from_row).collect()
    }

    pub async fn count_member_roles(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query(
            "select count(*) as n from organization_member_roles \
             where organization_id = $1 and user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}

async fn select_organization<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> StoreResult<Organization> {
    let row = sqlx::query(&format!(
        "select {ORG_COLUMNS} from organizations where id = $1"
    ))
    .bind(id)
    .fetch_one(executor)
    .await?;
    organization_from_row(&row)
}

/// Stores every field of `org` but its id.
async fn write_organization(
    conn: &mut sqlx::AnyConnection,
    org: &Organization,
    updated_at: i64,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update organizations set name = $2, display_name = $3, branding = $4, metadata = $5, \
         inert_settings = $6, domain_membership = $7, updated_at = $8 where id = $1",
    )
    .bind(&org.id)
    .bind(&org.name)
    .bind(&org.display_name)
    .bind(org.branding.as_ref().map(to_json))
    .bind(to_json(&org.metadata))
    .bind(to_json(&org.inert_settings))
    .bind(org.domain_membership.as_str())
    .bind(updated_at)
    .execute(&mut *conn)
    .await?;
    expect_one(result)
}

async fn select_enabled<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    organization_id: &str,
    connection_id: &str,
) -> StoreResult<EnabledConnectionView> {
    let row = sqlx::query(&format!(
        "{ENABLED_SELECT} where oc.organization_id = $1 and oc.connection_id = $2"
    ))
    .bind(organization_id)
    .bind(connection_id)
    .fetch_one(executor)
    .await?;
    enabled_from_row(&row)
}

/// Stores the settings of an enabled connection (not its pair of ids).
async fn write_enabled(
    conn: &mut sqlx::AnyConnection,
    enabled: &EnabledConnection,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update organization_connections set assign_membership_on_login = $3, is_signup_enabled = $4, \
         show_as_button = $5, organization_connection_name = $6, organization_access_level = $7, \
         upstream_tenant_id = $8 where organization_id = $1 and connection_id = $2",
    )
    .bind(&enabled.organization_id)
    .bind(&enabled.connection_id)
    .bind(enabled.assign_membership_on_login)
    .bind(enabled.is_signup_enabled)
    .bind(enabled.show_as_button)
    .bind(&enabled.organization_connection_name)
    .bind(enabled.organization_access_level.as_str())
    .bind(&enabled.upstream_tenant_id)
    .execute(&mut *conn)
    .await?;
    expect_one(result)
}

impl Store {
    /// The organization whose enabled `connection_id` records the upstream
    /// tenant `tenant_id` (at most one: the pair is unique).
    pub async fn find_upstream_tenant_organization(
        &self,
        connection_id: &str,
        tenant_id: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "select organization_id from organization_connections \
             where connection_id = $1 and upstream_tenant_id = $2",
        )
        .bind(connection_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get("organization_id").map_err(StoreError::from))
            .transpose()
    }
}
