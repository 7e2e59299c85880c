//! Connections and the clients they are enabled for.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Page, Store, StoreError, StoreResult, expect_one, from_json, get_bool, get_optional_bool,
    parse_from_str, to_json,
};
use crate::model::connection::{Connection, ConnectionOptions, Strategy};

const COLUMNS: &str = "id, name, strategy, display_name, options, metadata, is_domain_connection, show_as_button, realms, \
     inert_settings";

fn connection_from_row(store: &Store, row: &AnyRow) -> StoreResult<Connection> {
    let id: String = row.try_get("id")?;
    let strategy = parse_from_str(
        "connections.strategy",
        &row.try_get::<String, _>("strategy")?,
    )?;
    // Checked when written: decoding only gives them their types back.
    let options = ConnectionOptions::decode(
        strategy,
        store.open_connection_options(&id, &row.try_get::<String, _>("options")?)?,
    )
    .map_err(|e| StoreError::Corrupt(format!("connections.options: {e}")))?;
    Ok(Connection {
        id,
        name: row.try_get("name")?,
        strategy,
        display_name: row.try_get("display_name")?,
        options,
        metadata: from_json(
            "connections.metadata",
            &row.try_get::<String, _>("metadata")?,
        )?,
        is_domain_connection: get_bool(row, "is_domain_connection")?,
        show_as_button: get_optional_bool(row, "show_as_button")?,
        realms: from_json("connections.realms", &row.try_get::<String, _>("realms")?)?,
        inert_settings: from_json(
            "connections.inert_settings",
            &row.try_get::<String, _>("inert_settings")?,
        )?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub strategy: Option<Strategy>,
    pub name: Option<String>,
}

impl Store {
    pub async fn insert_connection(
        &self,
        connection: &Connection,
        enabled_clients: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        let now = self.now_millis();
        sqlx::query(
            "insert into connections (id, name, strategy, display_name, options, metadata, is_domain_connection, \
             show_as_button, realms, inert_settings, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&connection.id)
        .bind(&connection.name)
        .bind(connection.strategy.as_str())
        .bind(&connection.display_name)
        .bind(self.seal_connection_options(&connection.id, &connection.options)?)
        .bind(to_json(&connection.metadata))
        .bind(connection.is_domain_connection)
        .bind(connection.show_as_button)
        .bind(to_json(&connection.realms))
        .bind(to_json(&connection.inert_settings))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for client_id in enabled_clients {
            sqlx::query(
                "insert into connection_clients (connection_id, client_id) values ($1, $2)",
            )
            .bind(&connection.id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_connection(&self, id: &str) -> StoreResult<Connection> {
        select_connection(self, &self.pool, id).await
    }

    pub async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from connections where ($1 = '' or strategy = $1) and ($2 = '' or name = $2) \
             and id > $3 order by id limit $4 offset $5"
        ))
        .bind(filter.strategy.map_or("", Strategy::as_str))
        .bind(filter.name.as_deref().unwrap_or(""))
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| connection_from_row(self, row))
            .collect()
    }

    pub async fn count_connections(&self, filter: &ConnectionFilter) -> StoreResult<i64> {
        Ok(sqlx::query(
            "select count(*) as n from connections where ($1 = '' or strategy = $1) and ($2 = '' or name = $2)",
        )
        .bind(filter.strategy.map_or("", Strategy::as_str))
        .bind(filter.name.as_deref().unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Replaces the connection's settings and, when given, its enabled clients.
    pub async fn update_connection(
        &self,
        connection: &Connection,
        enabled_clients: Option<&[String]>,
    ) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        write_connection(self, &mut tx, connection, enabled_clients).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Read-modify-write of a connection in one transaction, as
    /// [`Store::update_client_with`] (id, name and strategy are kept); the
    /// enabled clients, when given, replace the stored ones.
    pub async fn update_connection_with<E>(
        &self,
        id: &str,
        enabled_clients: Option<&[String]>,
        change: impl FnOnce(Connection) -> Result<Connection, E>,
    ) -> StoreResult<Result<Connection, E>> {
        let mut tx = self
            .begin_update(
                "select 1 as one from connections where id = $1 for no key update",
                &[id],
            )
            .await?;
        let current = select_connection(self, &mut *tx, id).await?;
        let (name, strategy) = (current.name.clone(), current.strategy);
        let next = match change(current) {
            Ok(next) => Connection {
                id: id.to_owned(),
                name,
                strategy,
                ..next
            },
            Err(refused) => return Ok(Err(refused)),
        };
        write_connection(self, &mut tx, &next, enabled_clients).await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// Deletes a connection. Domains bound to it stay their organizations',
    /// routed to the default: their names are returned (what the routing
    /// table must read again).
    pub async fn delete_connection(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.writer().begin().await?;
        let rebound: Vec<String> = sqlx::query_scalar(
            "update discovery_domains set connection_id = null where connection_id = $1 \
             returning domain",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let result = sqlx::query("delete from connections where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        expect_one(result)?;
        tx.commit().await?;
        Ok(rebound)
    }

    /// The connections enabled for a client, in one query (login routing
    /// without an organization).
    pub async fn list_client_connections(&self, client_id: &str) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(
            "select c.* from connections c join connection_clients cc on cc.connection_id = c.id \
             where cc.client_id = $1 order by c.id",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| connection_from_row(self, row))
            .collect()
    }

    /// The enabled clients of several connections, in one query (a page of
    /// the connection list).
    pub async fn list_clients_of_connections(
        &self,
        connection_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut by_connection: HashMap<String, Vec<String>> = HashMap::new();
        if connection_ids.is_empty() {
            return Ok(by_connection);
        }
        let placeholders = super::placeholders(connection_ids.len());
        let sql = format!(
            "select connection_id, client_id from connection_clients \
             where connection_id in ({placeholders}) order by connection_id, client_id"
        );
        let mut query = sqlx::query(&sql);
        for id in connection_ids {
            query = query.bind(id);
        }
        for row in query.fetch_all(&self.pool).await? {
            by_connection
                .entry(row.try_get("connection_id")?)
                .or_default()
                .push(row.try_get("client_id")?);
        }
        Ok(by_connection)
    }

    pub async fn list_connection_clients(&self, connection_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select client_id from connection_clients where connection_id = $1 order by client_id",
        )
        .bind(connection_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("client_id")?))
            .collect()
    }
}

async fn select_connection<'e>(
    store: &Store,
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> StoreResult<Connection> {
    let row = sqlx::query(&format!("select {COLUMNS} from connections where id = $1"))
        .bind(id)
        .fetch_one(executor)
        .await?;
    connection_from_row(store, &row)
}

/// Stores what of a connection can change and, when given, its enabled
/// clients (inside the caller's transaction).
async fn write_connection(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    connection: &Connection,
    enabled_clients: Option<&[String]>,
) -> StoreResult<()> {
    let result = sqlx::query(
        "update connections set display_name = $2, options = $3, metadata = $4, is_domain_connection = $5, \
         show_as_button = $6, realms = $7, inert_settings = $8, updated_at = $9 where id = $1",
    )
    .bind(&connection.id)
    .bind(&connection.display_name)
    .bind(store.seal_connection_options(&connection.id, &connection.options)?)
    .bind(to_json(&connection.metadata))
    .bind(connection.is_domain_connection)
    .bind(connection.show_as_button)
    .bind(to_json(&connection.realms))
    .bind(to_json(&connection.inert_settings))
    .bind(store.now_millis())
    .execute(&mut *conn)
    .await?;
    expect_one(result)?;
    if let Some(client_ids) = enabled_clients {
        sqlx::query("delete from connection_clients where connection_id = $1")
            .bind(&connection.id)
            .execute(&mut *conn)
            .await?;
        for client_id in client_ids {
            sqlx::query(
                "insert into connection_clients (connection_id, client_id) values ($1, $2)",
            )
            .bind(&connection.id)
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
