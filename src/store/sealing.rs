//! The store's secret columns, sealed under the key-encryption key
//! (`crate::secrets`): signing keys' `private_key_der`, SAML SP keys'
//! `private_key` and the
//! [`SEALED_CONNECTION_OPTIONS`] inside a connection's `options`. The
//! aggregates seal as they write and open as they read; this file also walks
//! every secret of the database, to seal what older versions stored in the
//! clear (at start-up) and to re-seal everything under a new key (rotation).

use serde_json::Value;
use sqlx::Row;

use super::{Backend, Store, StoreError, StoreResult, from_json};
use crate::model::connection::ConnectionOptions;
use crate::model::secret::Secret;
use crate::secrets::{
    KeyEncryptionKey, SEALED_CONNECTION_OPTIONS, SealError, SealedField, is_sealed, sealed_under,
};

/// How many secrets a walk over the database sealed (or re-sealed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealedRows {
    pub signing_keys: usize,
    pub connection_secrets: usize,
    pub saml_sp_keys: usize,
}

impl SealedRows {
    pub fn total(&self) -> usize {
        self.signing_keys + self.connection_secrets + self.saml_sp_keys
    }
}

/// What the secret columns hold, as read without a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSecrets {
    /// Secrets an earlier version stored in the clear.
    pub in_the_clear: usize,
    /// The key-encryption key the first sealed secret was sealed under.
    pub sealed_under: Option<String>,
}

impl StoredSecrets {
    pub fn is_empty(&self) -> bool {
        self.in_the_clear == 0 && self.sealed_under.is_none()
    }
}

impl Store {
    /// Counts what the secret columns hold, opening nothing: whether a new
    /// key-encryption key could be made without losing anything.
    pub async fn stored_secrets(&self) -> StoreResult<StoredSecrets> {
        let rows = SecretRows::read(&mut *self.pool.acquire().await?).await?;
        let connection_secrets = rows.connections.iter().flat_map(|(_, options)| {
            SEALED_CONNECTION_OPTIONS
                .iter()
                .filter_map(|pointer| options.pointer(pointer)?.as_str())
        });
        let values = rows
            .keys
            .iter()
            .map(|(_, stored)| stored.as_str())
            .chain(rows.saml_sp_keys.iter().map(|(_, stored)| stored.as_str()))
            .chain(connection_secrets);
        let mut secrets = StoredSecrets::default();
        for stored in values {
            match sealed_under(stored) {
                Some(kek_id) => {
                    secrets
                        .sealed_under
                        .get_or_insert_with(|| kek_id.to_owned());
                }
                None => secrets.in_the_clear += 1,
            }
        }
        Ok(secrets)
    }

    fn kek(&self, field: &SealedField) -> StoreResult<&KeyEncryptionKey> {
        self.key_encryption_key.as_ref().ok_or_else(|| {
            StoreError::Sealed(SealError::NoKey {
                field: field.to_string(),
            })
        })
    }

    /// `plaintext` sealed for `field`, as the column stores it.
    pub(crate) fn seal(&self, field: &SealedField, plaintext: &str) -> StoreResult<String> {
        Ok(self.kek(field)?.seal(field, plaintext)?)
    }

    /// The column's sealed value for `field`, opened.
    pub(crate) fn open(&self, field: &SealedField, stored: &str) -> StoreResult<Secret> {
        Ok(self.kek(field)?.open(field, stored)?)
    }

    /// A connection's `options` as stored: its secret options sealed.
    pub(crate) fn seal_connection_options(
        &self,
        connection_id: &str,
        options: &ConnectionOptions,
    ) -> StoreResult<String> {
        let mut options = serde_json::to_value(options)
            .map_err(|e| StoreError::Corrupt(format!("connections.options: {e}")))?;
        for pointer in SEALED_CONNECTION_OPTIONS {
            if let Some(Value::String(secret)) = options.pointer_mut(pointer) {
                let field = SealedField::connection_option(connection_id, pointer);
                *secret = self.seal(&field, secret)?;
            }
        }
        Ok(super::to_json(&options))
    }

    /// A connection's stored `options`, its secret options opened.
    pub(crate) fn open_connection_options(
        &self,
        connection_id: &str,
        stored: &str,
    ) -> StoreResult<serde_json::Map<String, Value>> {
        let mut options: Value = from_json("connections.options", stored)?;
        for pointer in SEALED_CONNECTION_OPTIONS {
            if let Some(Value::String(sealed)) = options.pointer_mut(pointer) {
                let field = SealedField::connection_option(connection_id, pointer);
                *sealed = self.open(&field, sealed)?.expose().to_owned();
            }
        }
        match options {
            Value::Object(options) => Ok(options),
            _ => Err(StoreError::Corrupt(
                "connections.options: not an object".into(),
            )),
        }
    }

    /// Seals every secret still stored in the clear (written by a version
    /// before sealing), and checks that every sealed one opens under the
    /// configured key: a wrong key fails here, at start-up, naming the key
    /// the data needs. Once everything is sealed it writes nothing.
    pub async fn seal_secrets_in_the_clear(&self) -> StoreResult<SealedRows> {
        let kek = self.kek(&SealedField::signing_key("*"))?.clone();
        self.rewrite_secrets(|field, stored| {
            if is_sealed(stored) {
                kek.open(field, stored)?;
                Ok(None)
            } else {
                Ok(Some(kek.seal(field, stored)?))
            }
        })
        .await
    }

    /// After secrets were rewritten: pages that held their earlier form are
    /// rebuilt, so that no copy is left in the file's free pages or in the
    /// write-ahead log (SQLite: `vacuum`, then the log truncated;
    /// PostgreSQL: `vacuum full` of the two tables, when this role may).
    pub async fn purge_rewritten_secrets(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("vacuum").execute(self.writer()).await?;
                sqlx::query("pragma wal_checkpoint(truncate)")
                    .execute(self.writer())
                    .await?;
            }
            Backend::Postgres => {
                if let Err(e) = sqlx::query("vacuum full signing_keys, connections, saml_sp_keys")
                    .execute(self.writer())
                    .await
                {
                    tracing::warn!(error = %e, "could not vacuum the rewritten secrets: run `vacuum full signing_keys, connections, saml_sp_keys` as the tables' owner");
                }
            }
        }
        Ok(())
    }

    /// Re-seals every secret under `new` in one transaction. The store keeps
    /// opening with its own key: reconnect with `new` afterwards.
    pub async fn reseal_secrets(&self, new: &KeyEncryptionKey) -> StoreResult<SealedRows> {
        let old = self.kek(&SealedField::signing_key("*"))?.clone();
        self.rewrite_secrets(|field, stored| {
            let plaintext = if is_sealed(stored) {
                old.open(field, stored)?
            } else {
                Secret::new(stored)
            };
            Ok(Some(new.seal(field, &plaintext)?))
        })
        .await
    }

    /// Runs `rewrite` over every stored secret in one transaction; a `Some`
    /// replaces it. Every key, retired ones too: a row left sealed under an
    /// old key could no longer be read.
    async fn rewrite_secrets(
        &self,
        rewrite: impl Fn(&SealedField, &str) -> Result<Option<String>, SealError>,
    ) -> StoreResult<SealedRows> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.writer().begin_with("begin immediate").await?,
            Backend::Postgres => {
                let mut tx = self.writer().begin().await?;
                // Nodes starting together walk one after the other.
                sqlx::query(
                    "lock table signing_keys, connections, saml_sp_keys in share row exclusive mode",
                )
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let mut sealed = SealedRows::default();
        let rows = SecretRows::read(&mut tx).await?;
        sealed.signing_keys = rewrite_keys(
            &mut tx,
            &rows.keys,
            SealedField::signing_key,
            "update signing_keys set private_key_der = $2 where kid = $1",
            &rewrite,
        )
        .await?;
        sealed.saml_sp_keys = rewrite_keys(
            &mut tx,
            &rows.saml_sp_keys,
            SealedField::saml_sp_key,
            "update saml_sp_keys set private_key = $2 where id = $1",
            &rewrite,
        )
        .await?;
        for (id, mut options) in rows.connections {
            let mut changed = 0;
            for pointer in SEALED_CONNECTION_OPTIONS {
                if let Some(Value::String(stored)) = options.pointer_mut(pointer) {
                    let field = SealedField::connection_option(&id, pointer);
                    if let Some(next) = rewrite(&field, stored)? {
                        *stored = next;
                        changed += 1;
                    }
                }
            }
            if changed > 0 {
                sqlx::query("update connections set options = $2 where id = $1")
                    .bind(&id)
                    .bind(super::to_json(&options))
                    .execute(&mut *tx)
                    .await?;
                sealed.connection_secrets += changed;
            }
        }
        tx.commit().await?;
        Ok(sealed)
    }
}

/// Runs `rewrite` over the private keys of one table (`rows`: each key's id
/// and stored value), writing each `Some` with `update` (`$1` the id, `$2`
/// the value); how many it wrote.
async fn rewrite_keys(
    tx: &mut sqlx::AnyConnection,
    rows: &[(String, String)],
    field: fn(&str) -> SealedField,
    update: &'static str,
    rewrite: &impl Fn(&SealedField, &str) -> Result<Option<String>, SealError>,
) -> StoreResult<usize> {
    let mut written = 0;
    for (id, stored) in rows {
        if let Some(next) = rewrite(&field(id), stored)? {
            sqlx::query(update)
                .bind(id)
                .bind(next)
                .execute(&mut *tx)
                .await?;
            written += 1;
        }
    }
    Ok(written)
}

/// The secret columns as stored.
struct SecretRows {
    /// Every signing key's `kid` and `private_key_der`, retired ones too.
    keys: Vec<(String, String)>,
    /// Every connection's id and `options`.
    connections: Vec<(String, Value)>,
    /// Every SAML SP key's `id` and `private_key`.
    saml_sp_keys: Vec<(String, String)>,
}

impl SecretRows {
    async fn read(conn: &mut sqlx::AnyConnection) -> StoreResult<Self> {
        let keys = sqlx::query("select kid, private_key_der from signing_keys order by kid")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("kid")?, row.try_get("private_key_der")?)))
            .collect::<StoreResult<_>>()?;
        let connections = sqlx::query("select id, options from connections order by id")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| {
                let options = row.try_get::<String, _>("options")?;
                Ok((
                    row.try_get("id")?,
                    from_json("connections.options", &options)?,
                ))
            })
            .collect::<StoreResult<_>>()?;
        let saml_sp_keys = sqlx::query("select id, private_key from saml_sp_keys order by id")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("private_key")?)))
            .collect::<StoreResult<_>>()?;
        Ok(SecretRows {
            keys,
            connections,
            saml_sp_keys,
        })
    }
}
