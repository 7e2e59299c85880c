//! Login transactions: the server-side half of one /authorize request.

use sqlx::Row;

use super::{Store, StoreResult, expect_one};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransaction {
    pub id: String,
    pub browser_hash: String,
    pub csrf_token: String,
    /// The validated authorization request, as JSON.
    pub request: String,
    pub email: Option<String>,
    /// The SSO session the browser had when the login began.
    pub previous_session_id: Option<String>,
    /// The session started by this login while the user picks an organization.
    pub authenticated_session_id: Option<String>,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_login_transaction(&self, txn: &StoredTransaction) -> StoreResult<()> {
        sqlx::query(
            "insert into login_transactions (id, browser_hash, csrf_token, request, email, previous_session_id, \
             created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&txn.id)
        .bind(&txn.browser_hash)
        .bind(&txn.csrf_token)
        .bind(&txn.request)
        .bind(&txn.email)
        .bind(&txn.previous_session_id)
        .bind(self.now_millis())
        .bind(txn.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The transaction if it exists and has not expired at `now` (unix ms).
    pub async fn get_login_transaction(
        &self,
        id: &str,
        now: i64,
    ) -> StoreResult<StoredTransaction> {
        let row = sqlx::query(
            "select id, browser_hash, csrf_token, request, email, previous_session_id, authenticated_session_id, \
             expires_at from login_transactions \
             where id = $1 and expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(StoredTransaction {
            id: row.try_get("id")?,
            browser_hash: row.try_get("browser_hash")?,
            csrf_token: row.try_get("csrf_token")?,
            request: row.try_get("request")?,
            email: row.try_get("email")?,
            previous_session_id: row.try_get("previous_session_id")?,
            authenticated_session_id: row.try_get("authenticated_session_id")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    pub async fn set_login_transaction_email(&self, id: &str, email: &str) -> StoreResult<()> {
        let result = sqlx::query("update login_transactions set email = $2 where id = $1")
            .bind(id)
            .bind(email)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }

    /// Replaces the transaction's authorization request (JSON): the
    /// organization prompts fill in the organization.
    pub async fn set_login_transaction_request(&self, id: &str, request: &str) -> StoreResult<()> {
        let result = sqlx::query("update login_transactions set request = $2 where id = $1")
            .bind(id)
            .bind(request)
            .execute(self.writer())
            .await?;
        expect_one(result)
    }

    /// Records the session a login started before its organization is chosen.
    pub async fn set_login_transaction_session(
        &self,
        id: &str,
        session_id: &str,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "update login_transactions set authenticated_session_id = $2 where id = $1",
        )
        .bind(id)
        .bind(session_id)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// Ends a transaction; true if this call ended it (a transaction
    /// completes once, even if its last form is posted twice).
    pub async fn delete_login_transaction(&self, id: &str) -> StoreResult<bool> {
        let result = sqlx::query("delete from login_transactions where id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
