//! The store's secret columns, sealed under the key-encryption key
//! (`crate::secrets`): signing keys' `private_key_der` and the
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
    KeyEncryptionKey, SEALED_CONNECTION_OPTIONS, SealError, SealedField, is_sealed,
};

/// How many secrets a walk over the database sealed (or re-sealed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealedRows {
    pub signing_keys: usize,
    pub connection_secrets: usize,
}

impl SealedRows {
    pub fn total(&self) -> usize {
        self.signing_keys + self.connection_secrets
    }
}

impl Store {
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
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // Nodes starting together walk one after the other.
                sqlx::query("lock table signing_keys, connections in share row exclusive mode")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let mut sealed = SealedRows::default();
        let keys = sqlx::query("select kid, private_key_der from signing_keys order by kid")
            .fetch_all(&mut *tx)
            .await?;
        for row in &keys {
            let kid: String = row.try_get("kid")?;
            let stored: String = row.try_get("private_key_der")?;
            if let Some(next) = rewrite(&SealedField::signing_key(&kid), &stored)? {
                sqlx::query("update signing_keys set private_key_der = $2 where kid = $1")
                    .bind(&kid)
                    .bind(next)
                    .execute(&mut *tx)
                    .await?;
                sealed.signing_keys += 1;
            }
        }
        let connections = sqlx::query("select id, options from connections order by id")
            .fetch_all(&mut *tx)
            .await?;
        for row in &connections {
            let id: String = row.try_get("id")?;
            let mut options: Value =
                from_json("connections.options", &row.try_get::<String, _>("options")?)?;
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
