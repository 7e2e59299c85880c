//! Upstream requests: the server-side half of a round trip to an upstream
//! identity provider, found by the SHA-256 of the `state` sent upstream.
//! The callback records the response once; the resumed login takes the
//! record once. Neither works after it expires.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpstreamRequest {
    /// SHA-256 (hex) of the `state` parameter sent upstream.
    pub state_hash: String,
    /// The login transaction the round trip resumes.
    pub transaction_id: String,
    pub connection_id: String,
    pub nonce: String,
    /// PKCE `code_verifier` of an authorization code request.
    pub pkce_verifier: Option<String>,
    /// The callback's parameters (JSON), once it came back.
    pub response: Option<String>,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "state_hash, transaction_id, connection_id, nonce, pkce_verifier, response, expires_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<StoredUpstreamRequest> {
    Ok(StoredUpstreamRequest {
        state_hash: row.try_get("state_hash")?,
        transaction_id: row.try_get("transaction_id")?,
        connection_id: row.try_get("connection_id")?,
        nonce: row.try_get("nonce")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        response: row.try_get("response")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// The unexpired upstream requests one login transaction may hold.
pub const MAX_UPSTREAM_REQUESTS_PER_LOGIN: i64 = 10;

impl Store {
    /// Stores a request, unless its login transaction already holds
    /// [`MAX_UPSTREAM_REQUESTS_PER_LOGIN`] unexpired ones (each button press
    /// makes one; a script pressing without end would fill the table):
    /// `Ok(false)` then.
    pub async fn insert_upstream_request(
        &self,
        request: &StoredUpstreamRequest,
    ) -> StoreResult<bool> {
        let now = self.now_millis();
        let inserted = sqlx::query(
            "insert into upstream_requests (state_hash, transaction_id, connection_id, nonce, \
             pkce_verifier, response, created_at, expires_at) \
             select $1, $2, $3, $4, $5, $6, $7, $8 \
             where (select count(*) from upstream_requests \
                    where transaction_id = $2 and expires_at > $7) < $9",
        )
        .bind(&request.state_hash)
        .bind(&request.transaction_id)
        .bind(&request.connection_id)
        .bind(&request.nonce)
        .bind(&request.pkce_verifier)
        .bind(&request.response)
        .bind(now)
        .bind(request.expires_at)
        .bind(MAX_UPSTREAM_REQUESTS_PER_LOGIN)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Records the upstream's response on the request it answers, once:
    /// `Err(NotFound)` for an unknown or expired state, and for a state
    /// whose response was already recorded (a replayed callback).
    pub async fn record_upstream_response(
        &self,
        state_hash: &str,
        response: &str,
        now: i64,
    ) -> StoreResult<StoredUpstreamRequest> {
        let row = sqlx::query(&format!(
            "update upstream_requests set response = $2 \
             where state_hash = $1 and response is null and expires_at > $3 returning {COLUMNS}"
        ))
        .bind(state_hash)
        .bind(response)
        .bind(now)
        .fetch_optional(self.writer())
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// The unexpired request, without taking it.
    pub async fn get_upstream_request(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<StoredUpstreamRequest> {
        let row = sqlx::query(&format!(
            "select {COLUMNS} from upstream_requests where state_hash = $1 and expires_at > $2"
        ))
        .bind(state_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        from_row(&row)
    }

    /// Takes (deletes) the unexpired request once its response is recorded:
    /// of two resumes racing, one gets it and the other `Err(NotFound)`.
    pub async fn take_upstream_request(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<StoredUpstreamRequest> {
        let row = sqlx::query(&format!(
            "delete from upstream_requests \
             where state_hash = $1 and response is not null and expires_at > $2 returning {COLUMNS}"
        ))
        .bind(state_hash)
        .bind(now)
        .fetch_optional(self.writer())
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }
}
