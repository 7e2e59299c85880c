//! SQLite statements run on the calling thread (rusqlite), for the write
//! queue's thread (`write_queue.rs`).
//!
//! sqlx-sqlite runs each connection on a worker thread of its own, and each
//! statement is a hand-off to that thread and back: two thread switches.
//! The queue's thread did nothing but wait through them, and a perf profile
//! of refresh (ES256) put a fifth of the server's CPU in the writer's
//! worker thread, mostly switching (README, "The write queue's
//! statements"). Here the queue's thread owns its connection and steps the
//! statements itself.
//!
//! The statements keep the `$1` placeholders they share with sqlx's
//! queries: SQLite reads `$1` as a named parameter, numbered in order of
//! first appearance, so [`bind_numbered`] binds each by its name.

use std::path::Path;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Statement, ffi};

use super::{StoreError, constraints};

/// Opens the database at `path` for writing, with the writer's settings
/// (`CONNECTION_PRAGMAS` and `WRITER_PRAGMAS`, as sqlx's writer has them).
pub(super) fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    for pragma in super::CONNECTION_PRAGMAS
        .iter()
        .chain(super::WRITER_PRAGMAS.iter())
    {
        // Some pragmas answer with a row (the value set): stepped through.
        let mut statement = conn.prepare(pragma)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
    }
    Ok(conn)
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
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, params)?;
    let mut rows = statement.raw_query();
    let value = match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    };
    // Stepped to the end: a `returning` statement's write is done only
    // once every row it returns has been stepped through.
    while rows.next()?.is_some() {}
    Ok(value)
}

type StoreResult<T> = Result<T, StoreError>;

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
