//! SQLite statements run on the calling thread (rusqlite): the write
//! queue's (`write_queue.rs`), and the grants' hot reads ([`Readers`]).
//!
//! sqlx-sqlite runs each connection on a worker thread of its own, and each
//! statement is a hand-off to that thread and back: two thread switches,
//! and a third for the ping sqlx sends when a connection goes back to its
//! pool. A perf profile of refresh (ES256) put a fifth of the server's CPU
//! in the writer's worker thread and a sixth in the readers', mostly
//! switching (README, "Statements on the calling thread"). Here the
//! caller steps the statements itself.
//!
//! The statements keep the `$1` placeholders they share with sqlx's
//! queries: SQLite reads `$1` as a named parameter, numbered in order of
//! first appearance, so [`bind_numbered`] binds each by its name.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Row, Statement, ffi};

use super::{
    CONNECTION_PRAGMAS, READER_PRAGMAS, StoreError, StoreResult, WRITER_PRAGMAS, constraints,
};

/// Opens the database at `path` for writing, with the settings sqlx's
/// writer has.
pub(super) fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    open(path, &WRITER_PRAGMAS)
}

/// Opens the database at `path` with `CONNECTION_PRAGMAS` and
/// `role_pragmas`. Read-write even for a reader, as sqlx's readers are
/// (`query_only` keeps them from writing): a read-only connection could not
/// create WAL's shared-memory file were it missing.
fn open(path: &Path, role_pragmas: &[&str]) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    for pragma in CONNECTION_PRAGMAS.iter().chain(role_pragmas) {
        // Some pragmas answer with a row (the value set): stepped through.
        let mut statement = conn.prepare(pragma)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
    }
    Ok(conn)
}

/// The fewest connections [`Readers`] keeps open when idle. Each read
/// holds one for microseconds on a runtime worker, so about as many as the
/// runtime has workers (one per core) are in use at once: it keeps that
/// many, and at least this, so that a busy worker does not open and close
/// one per read.
const MIN_IDLE_READERS: usize = 4;

/// The connections of the grants' hot reads, each read run on the calling
/// thread, a runtime worker: a point read from SQLite's page cache takes
/// microseconds, less than the hand-offs to a sqlx reader's thread. One
/// idle for [`Readers::close_idle`]'s interval is closed (memory at rest).
pub(super) struct Readers {
    path: PathBuf,
    /// The most recently used last: taken first, the others idle out.
    idle: Mutex<Vec<IdleReader>>,
    /// The most kept idle.
    max_idle: usize,
}

struct IdleReader {
    conn: Connection,
    since: Instant,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle: cores.max(MIN_IDLE_READERS),
        }
    }

    /// Runs `read` on an idle connection, or on a new one if none is.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let idle = self.lock().pop();
        let conn = match idle {
            Some(reader) => reader.conn,
            None => open(&self.path, &READER_PRAGMAS)?,
        };
        let outcome = read(&conn);
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(IdleReader {
                conn,
                since: Instant::now(),
            });
        }
        outcome
    }

    /// Closes the connections idle for `interval` or longer.
    pub(super) fn close_idle(&self, interval: Duration) {
        let closed: Vec<IdleReader> = {
            let mut idle = self.lock();
            let (kept, closed) = idle
                .drain(..)
                .partition(|reader| reader.since.elapsed() < interval);
            *idle = kept;
            closed
        };
        // Closed outside the lock.
        drop(closed);
    }

    /// The most connections kept open when idle.
    pub(super) fn max_idle(&self) -> usize {
        self.max_idle
    }

    /// How many connections are open and idle (those in use are not
    /// counted: a read holds one for microseconds).
    pub(super) fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IdleReader>> {
        // A read that panicked held no lock (it runs outside it).
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `sql` as [`execute`] does; `map` of its first row, if it answered
/// one.
pub(super) fn first_row<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, params)?;
    let mut rows = statement.raw_query();
    let first = match rows.next()? {
        Some(row) => Some(map(row)?),
        None => None,
    };
    // Stepped to the end, so that the statement is done (and a `returning`
    // write has returned all it wrote) before it goes back to the cache.
    while rows.next()?.is_some() {}
    Ok(first)
}

/// Runs `sql` with its `$n` placeholders bound to `params[n - 1]`; the rows
/// it changed. Prepared once per connection (rusqlite's statement cache).
pub(super) fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> StoreResult<usize> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, params)?;
    Ok(statement.raw_execute()?)
}

/// Runs `sql` as [`execute`] does; its first row's first column, if it
/// answered a row (`returning …`).
pub(super) fn first_value<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> StoreResult<Option<T>> {
    first_row(conn, sql, params, |row| Ok(row.get(0)?))
}

/// Binds each `$n` of `statement` to `params[n - 1]`: by name, because
/// SQLite numbers named parameters in order of first appearance
/// (`set a = $2 where b = $1` numbers `$2` first).
fn bind_numbered(statement: &mut Statement<'_>, params: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("?");
        let param = name
            .strip_prefix('$')
            .and_then(|number| number.parse::<usize>().ok())
            .and_then(|number| params.get(number.checked_sub(1)?))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        statement.raw_bind_parameter(index, param)?;
    }
    Ok(())
}

/// As `From<sqlx::Error>`: a refused uniqueness or check constraint is a
/// [`StoreError::Conflict`] with the constraint's name, a missing
/// reference [`StoreError::MissingReference`].
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &err {
            match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE
                | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                | ffi::SQLITE_CONSTRAINT_CHECK => {
                    return StoreError::Conflict(constraints::sqlite_constraint_name(
                        message.as_deref().unwrap_or_default(),
                    ));
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::MissingReference,
                _ => {}
            }
        }
        StoreError::Sqlite(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("create table t (a text primary key, b integer check (b >= 0))")
            .unwrap();
        conn
    }

    /// `$2` before `$1` in the text: each still gets its own value.
    #[test]
    fn placeholders_are_bound_by_their_number() {
        let conn = table();
        let changed = execute(&conn, "insert into t (b, a) values ($2, $1)", &[&"x", &7]).unwrap();
        assert_eq!(changed, 1);
        let b: Option<i64> = first_value(
            &conn,
            "select b from t where a = $1 and b = $2",
            &[&"x", &7],
        )
        .unwrap();
        assert_eq!(b, Some(7));
        let none: Option<i64> =
            first_value(&conn, "select b from t where a = $1", &[&"y"]).unwrap();
        assert_eq!(none, None);
    }

    /// A placeholder with no value is an error, not a NULL.
    #[test]
    fn a_placeholder_without_a_value_is_refused() {
        let conn = table();
        let err = execute(&conn, "insert into t (a, b) values ($1, $2)", &[&"x"]).unwrap_err();
        assert!(
            matches!(err, StoreError::Sqlite(rusqlite::Error::InvalidParameterName(ref name)) if name == "$2"),
            "{err:?}"
        );
    }

    /// Reads at once open a connection each; at most `max_idle` stay open
    /// after, and those idle for the interval are closed.
    #[test]
    fn readers_keep_a_few_and_close_the_idle() {
        fn nested(readers: &Readers, depth: usize) -> StoreResult<i64> {
            readers.read(|conn| {
                let count: Option<i64> = first_value(conn, "select count(*) from t", &[])?;
                Ok(count.unwrap_or_default()
                    + if depth > 1 {
                        nested(readers, depth - 1)?
                    } else {
                        0
                    })
            })
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("readers.db");
        // The store's writer made the file; the queue's and the readers'
        // open it as it is.
        Connection::open(&path)
            .unwrap()
            .execute_batch("create table t (a text); insert into t values ('x')")
            .unwrap();
        open_writer(&path).unwrap();
        let readers = Readers::new(path);
        let max_idle = readers.max_idle();
        assert!(max_idle >= MIN_IDLE_READERS);
        let depth = max_idle + 2;
        assert_eq!(nested(&readers, depth).unwrap(), depth as i64);
        assert_eq!(readers.idle(), max_idle);
        readers.close_idle(Duration::from_secs(60));
        assert_eq!(readers.idle(), max_idle, "not idle long enough");
        readers.close_idle(Duration::ZERO);
        assert_eq!(readers.idle(), 0);
        // A reader refuses to write (`query_only`), as sqlx's readers do.
        let refused = readers.read(|conn| execute(conn, "insert into t values ('y')", &[]));
        assert!(matches!(refused, Err(StoreError::Sqlite(_))), "{refused:?}");
    }

    /// Constraint failures are the store's conflict, named as sqlx's are.
    #[test]
    fn constraint_failures_are_conflicts() {
        let conn = table();
        execute(&conn, "insert into t (a, b) values ($1, $2)", &[&"x", &1]).unwrap();
        let duplicate = execute(&conn, "insert into t (a, b) values ($1, $2)", &[&"x", &2]);
        assert!(
            matches!(&duplicate, Err(StoreError::Conflict(name)) if name == "t.a"),
            "{duplicate:?}"
        );
        let negative = execute(&conn, "insert into t (a, b) values ($1, $2)", &[&"y", &-1]);
        assert!(
            matches!(negative, Err(StoreError::Conflict(_))),
            "{negative:?}"
        );
    }
}
