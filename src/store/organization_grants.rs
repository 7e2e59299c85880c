//! Client grants associated with organizations (org-scoped machine tokens).

use sqlx::Row;

use super::clients::{GRANT_COLUMNS_QUALIFIED, grant_from_row};
use super::{Page, Store, StoreResult, expect_one};
use crate::model::client::ClientGrant;

impl Store {
    /// Associates a grant with an organization; associating twice is a no-op.
    pub async fn insert_organization_client_grant(
        &self,
        organization_id: &str,
        grant_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into organization_client_grants (organization_id, grant_id, created_at) \
             values ($1, $2, $3) on conflict do nothing",
        )
        .bind(organization_id)
        .bind(grant_id)
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn delete_organization_client_grant(
        &self,
        organization_id: &str,
        grant_id: &str,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "delete from organization_client_grants where organization_id = $1 and grant_id = $2",
        )
        .bind(organization_id)
        .bind(grant_id)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    pub async fn is_organization_client_grant(
        &self,
        organization_id: &str,
        grant_id: &str,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "select 1 as one from organization_client_grants where organization_id = $1 and grant_id = $2",
        )
        .bind(organization_id)
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    pub async fn list_organization_client_grants(
        &self,
        organization_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<ClientGrant>> {
        let rows = sqlx::query(&format!(
            "select {GRANT_COLUMNS_QUALIFIED} from organization_client_grants o \
             join client_grants g on g.id = o.grant_id \
             where o.organization_id = $1 and g.id > $2 order by g.id limit $3 offset $4"
        ))
        .bind(organization_id)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    pub async fn count_organization_client_grants(
        &self,
        organization_id: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query(
            "select count(*) as n from organization_client_grants where organization_id = $1",
        )
        .bind(organization_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}
