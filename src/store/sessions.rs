//! SSO sessions: what a browser's session cookie stands for, the
//! organizations and the clients each session was used for.

use sqlx::Row;

use super::{
    Backend, Columns, Page, Param, QueuedWrite, Store, StoreResult, expect_one, sqlite_sync,
};

/// An SSO session: what the browser's session cookie stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The public id, the `sid` claim.
    pub id: String,
    pub user_id: String,
    /// The connection the user authenticated with.
    pub connection_id: String,
    /// When the user last authenticated (unix seconds).
    pub auth_time: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

const SESSION_COLUMNS: &str =
    "id, user_id, connection_id, auth_time, created_at, last_used_at, expires_at";

fn session_from_row(row: &impl Columns) -> StoreResult<StoredSession> {
    Ok(StoredSession {
        id: row.get("id")?,
        user_id: row.get("user_id")?,
        connection_id: row.get("connection_id")?,
        auth_time: row.get("auth_time")?,
        created_at: row.get("created_at")?,
        last_used_at: row.get("last_used_at")?,
        expires_at: row.get("expires_at")?,
    })
}

/// An organization the session was used for, once.
const ADD_SESSION_ORGANIZATION: &str = "insert into session_organizations (session_id, \
     organization_id, created_at) values ($1, $2, $3) on conflict do nothing";

impl Store {
    pub async fn insert_session(
        &self,
        session: &StoredSession,
        cookie_hash: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into sessions (id, cookie_hash, user_id, connection_id, auth_time, created_at, last_used_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(cookie_hash)
        .bind(&session.user_id)
        .bind(&session.connection_id)
        .bind(session.auth_time)
        .bind(session.created_at)
        .bind(session.last_used_at)
        .bind(session.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The live session of a cookie: not ended, before its absolute end
    /// (`now`), used since `idle_cutoff` (both unix ms), and of a user who
    /// is not blocked (a blocked user's session opens nothing).
    pub async fn get_live_session(
        &self,
        cookie_hash: &str,
        now: i64,
        idle_cutoff: i64,
    ) -> StoreResult<StoredSession> {
        // A hot read: every authorization request of a signed-in browser.
        self.read_hot_row(
            "select s.id, s.user_id, s.connection_id, s.auth_time, s.created_at, s.last_used_at, s.expires_at \
             from sessions s join users u on u.user_id = s.user_id \
             where s.cookie_hash = $1 and s.ended_at is null and s.expires_at > $2 and s.last_used_at > $3 \
             and not u.blocked",
            &[
                Param::Text(cookie_hash),
                Param::Integer(now),
                Param::Integer(idle_cutoff),
            ],
            |row| session_from_row(row),
        )
        .await
    }

    pub async fn get_session(&self, id: &str) -> StoreResult<StoredSession> {
        let row = sqlx::query(&format!(
            "select {SESSION_COLUMNS} from sessions where id = $1 and ended_at is null"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        session_from_row(&row)
    }

    /// Records that the session was used at `now` (its idle timeout counts
    /// from there).
    pub async fn touch_session(&self, session_id: &str, now: i64) -> StoreResult<()> {
        let result =
            sqlx::query("update sessions set last_used_at = $2 where id = $1 and ended_at is null")
                .bind(session_id)
                .bind(now)
                .execute(self.writer())
                .await?;
        expect_one(result)
    }

    /// Records an organization the session was used for (once).
    pub async fn add_session_organization(
        &self,
        session_id: &str,
        organization_id: &str,
    ) -> StoreResult<()> {
        let now = self.now_millis();
        match self.backend() {
            // Queued: it is written with every code issued for an
            // organization.
            Backend::Sqlite => {
                self.queued_write(QueuedWrite {
                    data: (session_id.to_owned(), organization_id.to_owned(), now),
                    statements: |(session_id, organization_id, now), conn| {
                        sqlite_sync::execute(
                            conn,
                            ADD_SESSION_ORGANIZATION,
                            &[session_id, organization_id, now],
                        )?;
                        Ok(())
                    },
                })
                .await
            }
            Backend::Postgres => {
                sqlx::query(ADD_SESSION_ORGANIZATION)
                    .bind(session_id)
                    .bind(organization_id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    }

    /// The organizations a session was used for, oldest first.
    pub async fn list_session_organizations(&self, session_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select organization_id from session_organizations where session_id = $1 \
             order by created_at, organization_id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("organization_id")?))
            .collect()
    }

    /// One page of the user's live sessions at `now` (idle ones excluded),
    /// by id (Auth0 pages them by checkpoint).
    pub async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
        idle_cutoff: i64,
        page: &Page,
    ) -> StoreResult<Vec<StoredSession>> {
        let rows = sqlx::query(&format!(
            "select {SESSION_COLUMNS} from sessions where user_id = $1 and ended_at is null \
             and expires_at > $2 and last_used_at > $3 and id > $4 order by id limit $5 offset $6"
        ))
        .bind(user_id)
        .bind(now)
        .bind(idle_cutoff)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Ends every session of a user; the ids of those that were live.
    pub async fn end_user_sessions(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "update sessions set ended_at = $2 where user_id = $1 and ended_at is null returning id",
        )
        .bind(user_id)
        .bind(self.now_millis())
        .fetch_all(self.writer())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// Ends a session; its user if this call ended it.
    pub async fn end_session(&self, session_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query(
            "update sessions set ended_at = $2 where id = $1 and ended_at is null returning user_id",
        )
        .bind(session_id)
        .bind(self.now_millis())
        .fetch_optional(self.writer())
        .await?
        .map(|row| row.try_get("user_id"))
        .transpose()?)
    }

    /// Records that a session was used to log in to `client_id` (done for
    /// clients that take back-channel logout tokens only), if the session is
    /// still live: false when it has ended (a logout that raced this login
    /// announced it without this client).
    pub async fn add_session_client(&self, session_id: &str, client_id: &str) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "insert into session_clients (session_id, client_id, created_at) \
             select $1, $2, $3 where exists (select 1 from sessions where id = $1 and ended_at is null) \
             on conflict do nothing",
        )
        .bind(session_id)
        .bind(client_id)
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        // Recorded by an earlier login counts too, if the session is live.
        Ok(sqlx::query(
            "select 1 as one from session_clients c join sessions s on s.id = c.session_id \
             where c.session_id = $1 and c.client_id = $2 and s.ended_at is null",
        )
        .bind(session_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Ends the live sessions opened through a connection (before it is
    /// deleted); (session id, user id) of each.
    pub async fn end_connection_sessions(
        &self,
        connection_id: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "update sessions set ended_at = $2 where connection_id = $1 and ended_at is null \
             returning id, user_id",
        )
        .bind(connection_id)
        .bind(self.now_millis())
        .fetch_all(self.writer())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("user_id")?)))
            .collect()
    }

    /// The clients recorded for a session, oldest first.
    pub async fn list_session_clients(&self, session_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select client_id from session_clients where session_id = $1 order by created_at, client_id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("client_id")?))
            .collect()
    }
}
