//! Clients (applications) and client grants.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Page, Store, StoreError, StoreResult, expect_one, from_json, get_bool, parse_enum, to_json,
};
use crate::model::client::{
    AppType, Client, ClientGrant, GrantType, OrganizationDiscoveryMethod,
    OrganizationRequireBehavior, OrganizationUsage, RefreshTokenSettings, SigningAlg,
    TokenEndpointAuthMethod,
};
use crate::model::origin::OriginSet;

const COLUMNS: &str = "client_id, name, description, app_type, client_secret_hash, callbacks, allowed_logout_urls, \
     web_origins, grant_types, token_endpoint_auth_method, organization_usage, organization_require_behavior, \
     signing_alg, is_first_party, client_metadata, backchannel_logout_url, allowed_origins, \
     refresh_token, initiate_login_uri, id_token_lifetime, inert_settings, organization_discovery_methods";

fn client_from_row(row: &AnyRow) -> StoreResult<Client> {
    let grant_names: Vec<String> = from_json(
        "clients.grant_types",
        &row.try_get::<String, _>("grant_types")?,
    )?;
    let grant_types = grant_names
        .iter()
        .map(|g| parse_enum("clients.grant_types", g, GrantType::parse))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Client {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        app_type: parse_enum(
            "clients.app_type",
            &row.try_get::<String, _>("app_type")?,
            AppType::parse,
        )?,
        client_secret_hash: row.try_get("client_secret_hash")?,
        callbacks: from_json("clients.callbacks", &row.try_get::<String, _>("callbacks")?)?,
        allowed_logout_urls: from_json(
            "clients.allowed_logout_urls",
            &row.try_get::<String, _>("allowed_logout_urls")?,
        )?,
        web_origins: from_json(
            "clients.web_origins",
            &row.try_get::<String, _>("web_origins")?,
        )?,
        grant_types,
        token_endpoint_auth_method: parse_enum(
            "clients.token_endpoint_auth_method",
            &row.try_get::<String, _>("token_endpoint_auth_method")?,
            TokenEndpointAuthMethod::parse,
        )?,
        organization_usage: parse_enum(
            "clients.organization_usage",
            &row.try_get::<String, _>("organization_usage")?,
            OrganizationUsage::parse,
        )?,
        organization_require_behavior: parse_enum(
            "clients.organization_require_behavior",
            &row.try_get::<String, _>("organization_require_behavior")?,
            OrganizationRequireBehavior::parse,
        )?,
        signing_alg: parse_enum(
            "clients.signing_alg",
            &row.try_get::<String, _>("signing_alg")?,
            SigningAlg::parse,
        )?,
        is_first_party: get_bool(row, "is_first_party")?,
        client_metadata: from_json(
            "clients.client_metadata",
            &row.try_get::<String, _>("client_metadata")?,
        )?,
        backchannel_logout_url: row.try_get("backchannel_logout_url")?,
        allowed_origins: from_json(
            "clients.allowed_origins",
            &row.try_get::<String, _>("allowed_origins")?,
        )?,
        refresh_token: row
            .try_get::<Option<String>, _>("refresh_token")?
            .map(|json| from_json("clients.refresh_token", &json))
            .transpose()?
            .unwrap_or_default(),
        initiate_login_uri: row.try_get("initiate_login_uri")?,
        id_token_lifetime: row.try_get("id_token_lifetime")?,
        inert_settings: from_json(
            "clients.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
        organization_discovery_methods: row
            .try_get::<Option<String>, _>("organization_discovery_methods")?
            .map(|json| {
                let names: Vec<String> =
                    from_json("clients.organization_discovery_methods", &json)?;
                names
                    .iter()
                    .map(|name| {
                        parse_enum(
                            "clients.organization_discovery_methods",
                            name,
                            OrganizationDiscoveryMethod::parse,
                        )
                    })
                    .collect::<StoreResult<Vec<_>>>()
            })
            .transpose()?,
    })
}

/// A client's `organization_discovery_methods` as stored: null while never set.
fn stored_discovery_methods(client: &Client) -> Option<String> {
    client
        .organization_discovery_methods
        .as_ref()
        .map(|methods| {
            to_json(
                &methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<&'static str>>(),
            )
        })
}

/// A client's refresh-token settings as stored: null while they are the
/// defaults, so that a client that never set them follows the defaults.
fn stored_refresh_token(client: &Client) -> Option<String> {
    (client.refresh_token != RefreshTokenSettings::default())
        .then(|| to_json(&client.refresh_token))
}

fn grant_names(client: &Client) -> Vec<&'static str> {
    client.grant_types.iter().map(|g| g.as_str()).collect()
}

const GRANT_COLUMNS: &str =
    "id, client_id, audience, scope, organization_usage, allow_any_organization, inert_settings";
/// [`GRANT_COLUMNS`] of `client_grants g` in a join.
pub(super) const GRANT_COLUMNS_QUALIFIED: &str = "g.id, g.client_id, g.audience, g.scope, g.organization_usage, g.allow_any_organization, \
     g.inert_settings";

pub(super) fn grant_from_row(row: &AnyRow) -> StoreResult<ClientGrant> {
    let usage: Option<String> = row.try_get("organization_usage")?;
    Ok(ClientGrant {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        audience: row.try_get("audience")?,
        scope: from_json("client_grants.scope", &row.try_get::<String, _>("scope")?)?,
        organization_usage: usage
            .map(|u| {
                parse_enum(
                    "client_grants.organization_usage",
                    &u,
                    OrganizationUsage::parse,
                )
            })
            .transpose()?,
        allow_any_organization: get_bool(row, "allow_any_organization")?,
        inert_settings: from_json(
            "client_grants.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct ClientGrantFilter {
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

impl Store {
    pub async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        sqlx::query(&format!(
            "insert into clients ({COLUMNS}, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $23, $22, $22)"
        ))
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.description)
        .bind(client.app_type.as_str())
        .bind(&client.client_secret_hash)
        .bind(to_json(&client.callbacks))
        .bind(to_json(&client.allowed_logout_urls))
        .bind(to_json(&client.web_origins))
        .bind(to_json(&grant_names(client)))
        .bind(client.token_endpoint_auth_method.as_str())
        .bind(client.organization_usage.as_str())
        .bind(client.organization_require_behavior.as_str())
        .bind(client.signing_alg.as_str())
        .bind(client.is_first_party)
        .bind(to_json(&client.client_metadata))
        .bind(&client.backchannel_logout_url)
        .bind(to_json(&client.allowed_origins))
        .bind(stored_refresh_token(client))
        .bind(&client.initiate_login_uri)
        .bind(client.id_token_lifetime)
        .bind(to_json(&client.inert_settings))
        .bind(self.now_millis())
        .bind(stored_discovery_methods(client))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn get_client(&self, client_id: &str) -> StoreResult<Client> {
        select_client(&self.pool, client_id).await
    }

    pub async fn list_clients(&self, page: &Page) -> StoreResult<Vec<Client>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from clients where client_id > $1 order by client_id limit $2 offset $3"
        ))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(client_from_row).collect()
    }

    pub async fn count_clients(&self) -> StoreResult<i64> {
        Ok(sqlx::query("select count(*) as n from clients")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn update_client(&self, client: &Client) -> StoreResult<()> {
        write_client(
            &mut *self.writer().acquire().await?,
            client,
            self.now_millis(),
        )
        .await
    }

    /// Read-modify-write of a client in one transaction: `change` gets the
    /// stored client and returns the one to store (its `client_id` is kept),
    /// or a refusal (`Ok(Err(_))`, nothing written). Concurrent updates of
    /// one client run one after the other.
    pub async fn update_client_with<E>(
        &self,
        client_id: &str,
        change: impl FnOnce(Client) -> Result<Client, E>,
    ) -> StoreResult<Result<Client, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from clients where client_id = $1 for no key update",
                &[client_id],
            )
            .await?;
        let mut next = match change(select_client(&mut *tx, client_id).await?) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        client_id.clone_into(&mut next.client_id);
        write_client(&mut tx, &next, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// The origins any client registers for CORS (see
    /// [`Client::cors_origins`]): what a preflight, which names no client,
    /// is checked against.
    pub async fn registered_origins(&self) -> StoreResult<OriginSet> {
        let rows = sqlx::query(&format!("select {COLUMNS} from clients"))
            .fetch_all(&self.pool)
            .await?;
        let mut origins = OriginSet::default();
        for row in &rows {
            client_from_row(row)?.add_cors_origins(&mut origins);
        }
        Ok(origins)
    }

    pub async fn delete_client(&self, client_id: &str) -> StoreResult<()> {
        let result = sqlx::query("delete from clients where client_id = $1")
            .bind(client_id)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }

    pub async fn insert_client_grant(&self, grant: &ClientGrant) -> StoreResult<()> {
        sqlx::query(&format!(
            "insert into client_grants ({GRANT_COLUMNS}, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&grant.id)
        .bind(&grant.client_id)
        .bind(&grant.audience)
        .bind(to_json(&grant.scope))
        .bind(grant.organization_usage.map(OrganizationUsage::as_str))
        .bind(grant.allow_any_organization)
        .bind(to_json(&grant.inert_settings))
        .bind(self.now_millis())
        .execute(self.writer())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    pub async fn get_client_grant(&self, id: &str) -> StoreResult<ClientGrant> {
        select_client_grant(&self.pool, id).await
    }

    /// The grant of `client_id` for `audience`, if any: what a client-credentials
    /// token for that API may carry.
    pub async fn find_client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>> {
        let row = sqlx::query(&format!(
            "select {GRANT_COLUMNS} from client_grants where client_id = $1 and audience = $2"
        ))
        .bind(client_id)
        .bind(audience)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    pub async fn list_client_grants(
        &self,
        filter: &ClientGrantFilter,
        page: &Page,
    ) -> StoreResult<Vec<ClientGrant>> {
        let rows = sqlx::query(&format!(
            "select {GRANT_COLUMNS} from client_grants where ($1 = '' or client_id = $1) and ($2 = '' or audience = $2) \
             and id > $3 order by id limit $4 offset $5"
        ))
        .bind(filter.client_id.as_deref().unwrap_or(""))
        .bind(filter.audience.as_deref().unwrap_or(""))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    pub async fn count_client_grants(&self, filter: &ClientGrantFilter) -> StoreResult<i64> {
        Ok(sqlx::query(
            "select count(*) as n from client_grants where ($1 = '' or client_id = $1) and ($2 = '' or audience = $2)",
        )
        .bind(filter.client_id.as_deref().unwrap_or(""))
        .bind(filter.audience.as_deref().unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    pub async fn update_client_grant(&self, grant: &ClientGrant) -> StoreResult<()> {
        write_client_grant(&mut *self.writer().acquire().await?, grant).await
    }

    /// Read-modify-write of a client grant in one transaction, as
    /// [`Store::update_client_with`] (its id, client and audience are kept).
    pub async fn update_client_grant_with<E>(
        &self,
        id: &str,
        change: impl FnOnce(ClientGrant) -> Result<ClientGrant, E>,
    ) -> StoreResult<Result<ClientGrant, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from client_grants where id = $1 for no key update",
                &[id],
            )
            .await?;
        let current = select_client_grant(&mut *tx, id).await?;
        let (client_id, audience) = (current.client_id.clone(), current.audience.clone());
        let next = match change(current) {
            Ok(next) => ClientGrant {
                id: id.to_owned(),
                client_id,
                audience,
                ..next
            },
            Err(refused) => return Ok(Err(refused)),
        };
        write_client_grant(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    pub async fn delete_client_grant(&self, id: &str) -> StoreResult<()> {
        let result = sqlx::query("delete from client_grants where id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }
}

async fn select_client<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    client_id: &str,
) -> StoreResult<Client> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} from clients where client_id = $1"
    ))
    .bind(client_id)
    .fetch_one(executor)
    .await?;
    client_from_row(&row)
}

/// Stores every field of `client` but its id.
async fn write_client(
    conn: &mut sqlx::AnyConnection,
    client: &Client,
    updated_at: i64,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update clients set name = $2, description = $3, app_type = $4, client_secret_hash = $5, callbacks = $6, \
         allowed_logout_urls = $7, web_origins = $8, grant_types = $9, token_endpoint_auth_method = $10, \
         organization_usage = $11, organization_require_behavior = $12, signing_alg = $13, is_first_party = $14, \
         client_metadata = $15, backchannel_logout_url = $16, allowed_origins = $17, refresh_token = $18, \
         initiate_login_uri = $19, id_token_lifetime = $20, inert_settings = $21, updated_at = $22, \
         organization_discovery_methods = $23 where client_id = $1",
    )
    .bind(&client.client_id)
    .bind(&client.name)
    .bind(&client.description)
    .bind(client.app_type.as_str())
    .bind(&client.client_secret_hash)
    .bind(to_json(&client.callbacks))
    .bind(to_json(&client.allowed_logout_urls))
    .bind(to_json(&client.web_origins))
    .bind(to_json(&grant_names(client)))
    .bind(client.token_endpoint_auth_method.as_str())
    .bind(client.organization_usage.as_str())
    .bind(client.organization_require_behavior.as_str())
    .bind(client.signing_alg.as_str())
    .bind(client.is_first_party)
    .bind(to_json(&client.client_metadata))
    .bind(&client.backchannel_logout_url)
    .bind(to_json(&client.allowed_origins))
    .bind(stored_refresh_token(client))
    .bind(&client.initiate_login_uri)
    .bind(client.id_token_lifetime)
    .bind(to_json(&client.inert_settings))
    .bind(updated_at)
    .bind(stored_discovery_methods(client))
    .execute(&mut *conn)
    .await?;
    expect_one(result)
}

async fn select_client_grant<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> StoreResult<ClientGrant> {
    let row = sqlx::query(&format!(
        "select {GRANT_COLUMNS} from client_grants where id = $1"
    ))
    .bind(id)
    .fetch_one(executor)
    .await?;
    grant_from_row(&row)
}

/// Stores what of a grant can change: scope, organization settings and the
/// properties without effect.
async fn write_client_grant(
    conn: &mut sqlx::AnyConnection,
    grant: &ClientGrant,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update client_grants set scope = $2, organization_usage = $3, allow_any_organization = $4, \
         inert_settings = $5 where id = $1",
    )
    .bind(&grant.id)
    .bind(to_json(&grant.scope))
    .bind(grant.organization_usage.map(OrganizationUsage::as_str))
    .bind(grant.allow_any_organization)
    .bind(to_json(&grant.inert_settings))
    .execute(&mut *conn)
    .await?;
    expect_one(result)
}
