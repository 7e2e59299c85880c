//! Rows and parameters of either driver: sqlx's (`Any`), and rusqlite's on
//! SQLite's hot reads (`sqlite_sync.rs`), so that one function maps a row
//! to a model for both ([`Store::read_hot_row`](super::Store::read_hot_row)).

use rusqlite::types::{ToSql, ToSqlOutput};
use sqlx::any::{AnyArguments, AnyRow};

use super::StoreResult;

/// A row read by column name.
pub(crate) trait Columns {
    fn get<T: ColumnValue>(&self, column: &str) -> StoreResult<T>;
}

/// A column's Rust type that both drivers decode.
pub(crate) trait ColumnValue:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> ColumnValue for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl Columns for AnyRow {
    fn get<T: ColumnValue>(&self, column: &str) -> StoreResult<T> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn get<T: ColumnValue>(&self, column: &str) -> StoreResult<T> {
        Ok(rusqlite::Row::get(self, column)?)
    }
}

/// A row of one driver or the other, for a mapping written once.
pub(crate) enum RowOf<'r> {
    Sqlx(&'r AnyRow),
    Sqlite(&'r rusqlite::Row<'r>),
}

impl Columns for RowOf<'_> {
    fn get<T: ColumnValue>(&self, column: &str) -> StoreResult<T> {
        match self {
            RowOf::Sqlx(row) => Columns::get(*row, column),
            RowOf::Sqlite(row) => Columns::get(*row, column),
        }
    }
}

/// A query parameter either driver binds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    Integer(i64),
}

impl<'a> Param<'a> {
    pub(crate) fn bind_to(
        self,
        query: sqlx::query::Query<'a, sqlx::Any, AnyArguments<'a>>,
    ) -> sqlx::query::Query<'a, sqlx::Any, AnyArguments<'a>> {
        match self {
            Param::Text(text) => query.bind(text),
            Param::Integer(number) => query.bind(number),
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Integer(number) => number.to_sql(),
        }
    }
}

/// A boolean column: PostgreSQL's `boolean`, SQLite's integer 0/1.
pub(crate) fn get_bool(row: &impl Columns, column: &str) -> StoreResult<bool> {
    match row.get::<bool>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.get::<i64>(column)? != 0),
    }
}

/// A nullable boolean column (see [`get_bool`]).
pub(crate) fn get_optional_bool(row: &impl Columns, column: &str) -> StoreResult<Option<bool>> {
    match row.get::<Option<bool>>(column) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.get::<Option<i64>>(column)?.map(|v| v != 0)),
    }
}
