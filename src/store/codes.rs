//! Authorization codes: stored hashed, consumed at most once; a used code
//! presented again revokes what its exchange issued.

use sqlx::Row;

use super::refresh_grants::revoke_grant;
use super::revocation::{ACCESS_TOKEN_MAX_LIFETIME_MS, list_revoked};
use super::{Backend, QueuedWrite, Store, StoreError, StoreResult, sqlite_sync};

/// A code to store, for the write queue.
struct NewCode {
    code_hash: String,
    client_id: String,
    grant_data: String,
    created_at: i64,
    expires_at: i64,
}

const INSERT_CODE: &str = "insert into authorization_codes (code_hash, client_id, grant_data, \
     created_at, expires_at) values ($1, $2, $3, $4, $5)";

/// One statement (RETURNING: SQLite ≥ 3.35 and PostgreSQL): the code is
/// consumed, read, and given the id of the access token its exchange will
/// issue (to revoke it if the code is replayed) in the same round trip.
const CONSUME_CODE: &str = "update authorization_codes set consumed_at = $2, access_token_id = $3 \
     where code_hash = $1 and client_id = $4 and consumed_at is null \
     and expires_at > $2 returning grant_data";

/// A code's consumption, for the write queue.
struct Consumption {
    code_hash: String,
    client_id: String,
    now: i64,
    access_token_id: String,
}

impl Store {
    /// Stores a code (on SQLite a queued write: `Store::queued_write`).
    pub async fn insert_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
        grant_data: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let code = NewCode {
            code_hash: code_hash.to_owned(),
            client_id: client_id.to_owned(),
            grant_data: grant_data.to_owned(),
            created_at: self.now_millis(),
            expires_at,
        };
        match self.backend() {
            Backend::Sqlite => {
                self.queued_write(QueuedWrite {
                    data: code,
                    statements: |code, conn| {
                        sqlite_sync::execute(
                            conn,
                            INSERT_CODE,
                            &[
                                &code.code_hash,
                                &code.client_id,
                                &code.grant_data,
                                &code.created_at,
                                &code.expires_at,
                            ],
                        )?;
                        Ok(())
                    },
                })
                .await
            }
            Backend::Postgres => {
                sqlx::query(INSERT_CODE)
                    .bind(&code.code_hash)
                    .bind(&code.client_id)
                    .bind(&code.grant_data)
                    .bind(code.created_at)
                    .bind(code.expires_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    }

    /// Consumes a code of `client_id`: returns its grant data if it existed,
    /// was that client's, unexpired at `now` and not consumed before. A
    /// second call for the same code returns `Err(NotFound)`, and so does
    /// another client's code, which stays unconsumed (presenting someone
    /// else's code must not burn it); [`Store::revoke_what_code_issued`]
    /// tells a replay from an unknown code.
    pub async fn consume_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
        access_token_id: &str,
    ) -> StoreResult<String> {
        let consumption = Consumption {
            code_hash: code_hash.to_owned(),
            client_id: client_id.to_owned(),
            now,
            access_token_id: access_token_id.to_owned(),
        };
        let grant_data = match self.backend() {
            Backend::Sqlite => {
                self.queued_write(QueuedWrite {
                    data: consumption,
                    statements: |consumption, conn| {
                        sqlite_sync::first_value(
                            conn,
                            CONSUME_CODE,
                            &[
                                &consumption.code_hash,
                                &consumption.now,
                                &consumption.access_token_id,
                                &consumption.client_id,
                            ],
                        )
                    },
                })
                .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar(CONSUME_CODE)
                    .bind(&consumption.code_hash)
                    .bind(consumption.now)
                    .bind(&consumption.access_token_id)
                    .bind(&consumption.client_id)
                    .fetch_optional(self.writer())
                    .await?
            }
        };
        grant_data.ok_or(StoreError::NotFound)
    }

    /// A used authorization code presented again by `client_id`, the
    /// client it was issued to: marks it replayed and revokes the access
    /// token its exchange issued and the refresh-token family it started
    /// (with that family's access tokens). False when it is not a used code
    /// of that client (unknown, unused, or another client's: a client that
    /// got hold of someone else's used code must not revoke their tokens).
    pub async fn revoke_what_code_issued(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        // Marking the code replayed takes its row lock: an exchange that is
        // still linking a family to it either linked it before (and the
        // family is revoked below) or will find it replayed and start none.
        let Some(row) = sqlx::query(
            "update authorization_codes set replayed_at = $3 \
             where code_hash = $1 and client_id = $2 and consumed_at is not null \
             returning access_token_id, grant_id",
        )
        .bind(code_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let access_token_id: Option<String> = row.try_get("access_token_id")?;
        let grant_id: Option<String> = row.try_get("grant_id")?;
        if let Some(jti) = access_token_id {
            list_revoked(&mut *tx, &jti, now + ACCESS_TOKEN_MAX_LIFETIME_MS).await?;
        }
        if let Some(grant_id) = &grant_id {
            revoke_grant(&mut tx, grant_id, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
