//! The two migration trees stay twins: `migrations/sqlite` and
//! `migrations/postgres`, each applied to a fresh database, give the same
//! tables, columns (name, order, type, nullability, default), constraint
//! names and kinds, unique keys and indexes, up to the differences listed in
//! [`ALLOWED_TYPES`] and its twins. And `store::constraints::CONSTRAINTS`, which maps conflicts
//! to names and names to 409 messages, lists exactly the schemas' primary
//! keys, unique constraints, unique indexes and checks, with their columns.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;
use switchyard::store::constraints::CONSTRAINTS;
use switchyard::store::{Store, sqlite_url_for};

use crate::support::PostgresDatabase;

/// The differences the two schemas may have, and only these: where
/// PostgreSQL says the left, SQLite may say the right. [`postgres_schema`]
/// rewrites the first three to SQLite's form ([`ALLOWED_TYPES`],
/// [`ALLOWED_DEFAULTS`], [`PRINTED_CASTS`]), [`sqlite_schema`] the last to
/// PostgreSQL's, before the comparison.
///
/// | PostgreSQL                  | SQLite                         | why |
/// |-----------------------------|--------------------------------|-----|
/// | type `boolean`              | type `integer`                 | sqlx's Any driver cannot decode SQLite's boolean affinity: 0/1 |
/// | default `false` / `true`    | default `0` / `1`              | the same booleans |
/// | default `'{}'::text`        | default `'{}'`                 | PostgreSQL prints the literal's type |
/// | primary-key column not null | primary-key column nullable    | PostgreSQL implies `not null` on a primary key; SQLite keeps its legacy rule for keys not declared `not null` (the store never writes a null key) |
const ALLOWED_TYPES: &[(&str, &str)] = &[("boolean", "integer")];
const ALLOWED_DEFAULTS: &[(&str, &str)] = &[("false", "0"), ("true", "1")];
const PRINTED_CASTS: &[&str] = &["::text"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    partial: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: Vec<Column>,
    /// Named constraints: name → kind.
    constraints: BTreeMap<String, Kind>,
    /// The column lists of the primary key and the unique constraints.
    unique_keys: BTreeSet<Vec<String>>,
    /// PostgreSQL only (SQLite does not name them): key name → columns.
    named_keys: BTreeMap<String, Vec<String>>,
    /// Indexes made by `create index`: name → definition.
    indexes: BTreeMap<String, Index>,
}

type Schema = BTreeMap<String, Table>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_trees_are_twins() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_for(&dir.path().join("twins.db"));
    Store::connect(&url).await.unwrap().close().await;
    let sqlite = sqlite_schema(&url).await;

    let database = PostgresDatabase::create().await;
    Store::connect(&database.url).await.unwrap().close().await;
    let postgres = postgres_schema(&database.url).await;
    drop(database);

    // What was read is the schema, not nothing on both sides.
    assert!(sqlite.len() >= 25, "too few tables: {:?}", sqlite.keys());
    let count = |schema: &Schema, f: fn(&Table) -> usize| schema.values().map(f).sum::<usize>();
    for (backend, schema) in [("sqlite", &sqlite), ("postgres", &postgres)] {
        assert!(
            count(schema, |t| t.columns.len()) > 150,
            "{backend}: {schema:#?}"
        );
        assert!(
            count(schema, |t| t.constraints.len()) > 60,
            "{backend}: {schema:#?}"
        );
        assert!(
            count(schema, |t| t.unique_keys.len()) > 30,
            "{backend}: {schema:#?}"
        );
        assert!(
            count(schema, |t| t.indexes.len()) >= 8,
            "{backend}: {schema:#?}"
        );
    }
    let first_party = |schema: &Schema| {
        schema["clients"]
            .columns
            .iter()
            .find(|c| c.name == "is_first_party")
            .cloned()
    };
    let expected = Column {
        name: "is_first_party".to_owned(),
        ty: "integer".to_owned(),
        not_null: true,
        default: Some("1".to_owned()),
    };
    assert_eq!(first_party(&sqlite), Some(expected.clone()));
    assert_eq!(first_party(&postgres), Some(expected));
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "the two trees create different tables"
    );
    for (name, pg) in &postgres {
        let lite = &sqlite[name];
        assert_eq!(lite.columns, pg.columns, "columns of {name}");
        assert_eq!(lite.constraints, pg.constraints, "constraints of {name}");
        assert_eq!(lite.unique_keys, pg.unique_keys, "unique keys of {name}");
        assert_eq!(lite.indexes, pg.indexes, "indexes of {name}");
    }
    check_constraint_list(&postgres, &sqlite);
}

/// `CONSTRAINTS` and the schemas name the same primary keys, unique
/// constraints, unique indexes and checks, on the same columns.
fn check_constraint_list(postgres: &Schema, sqlite: &Schema) {
    let mut in_schema = BTreeMap::new();
    for (table, t) in postgres {
        for (name, kind) in &t.constraints {
            if *kind != Kind::ForeignKey {
                in_schema.insert(name.clone(), table.clone());
            }
        }
        for (name, index) in &t.indexes {
            if index.unique {
                in_schema.insert(name.clone(), table.clone());
            }
        }
    }
    let listed: BTreeMap<String, String> = CONSTRAINTS
        .iter()
        .map(|c| (c.name.to_owned(), c.table.to_owned()))
        .collect();
    assert_eq!(listed.len(), CONSTRAINTS.len(), "a name is listed twice");
    let missing: Vec<_> = in_schema
        .keys()
        .filter(|n| !listed.contains_key(*n))
        .collect();
    let stale: Vec<_> = listed
        .keys()
        .filter(|n| !in_schema.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "store::constraints::CONSTRAINTS is out of step with the schema: \
         missing {missing:?}, not in the schema {stale:?}"
    );
    assert_eq!(
        listed, in_schema,
        "a constraint is listed under another table"
    );

    for c in CONSTRAINTS {
        let columns: Vec<String> = c.columns.iter().map(|s| (*s).to_owned()).collect();
        for (backend, schema) in [("postgres", postgres), ("sqlite", sqlite)] {
            let table = &schema[c.table];
            if columns.is_empty() {
                assert_eq!(
                    table.constraints.get(c.name),
                    Some(&Kind::Check),
                    "{backend}: {} is not a check",
                    c.name
                );
            } else {
                // SQLite names the columns of the key it refused, in order.
                let unique_index = table.indexes.get(c.name).filter(|i| i.unique);
                assert!(
                    table.unique_keys.contains(&columns)
                        || unique_index.is_some_and(|i| i.columns == columns),
                    "{backend}: no unique key of {} on {columns:?} for {}",
                    c.table,
                    c.name
                );
            }
        }
        let table = &postgres[c.table];
        if let Some(key) = table.named_keys.get(c.name) {
            assert_eq!(key, &columns, "postgres: {} covers other columns", c.name);
        } else if let Some(index) = table.indexes.get(c.name) {
            assert_eq!(
                index.columns, columns,
                "postgres: {} covers other columns",
                c.name
            );
        }
    }
}

// ---------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------

async fn sqlite_schema(url: &str) -> Schema {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let tables = sqlx::query(
        "select name, sql from sqlite_master where type = 'table' \
         and name not like 'sqlite_%' and name not like '_sqlx_%' order by name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for row in tables {
        let name: String = row.get("name");
        let sql: String = row.get("sql");
        let mut table = Table {
            constraints: sqlite_named_constraints(&sql),
            ..Table::default()
        };
        for col in sqlx::query(
            "select name, type, \"notnull\", dflt_value, pk from pragma_table_info(?) order by cid",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            table.columns.push(Column {
                name: col.get("name"),
                ty: col.get::<String, _>("type").to_lowercase(),
                // ALLOWED: a primary-key column is not null on PostgreSQL.
                not_null: col.get::<i64, _>("notnull") != 0 || col.get::<i64, _>("pk") != 0,
                default: col.get("dflt_value"),
            });
        }
        for index in
            sqlx::query("select name, \"unique\", origin, partial from pragma_index_list(?)")
                .bind(&name)
                .fetch_all(&pool)
                .await
                .unwrap()
        {
            let index_name: String = index.get("name");
            let columns: Vec<String> =
                sqlx::query("select name from pragma_index_info(?) order by seqno")
                    .bind(&index_name)
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get("name"))
                    .collect();
            let origin: String = index.get("origin");
            if origin == "c" {
                table.indexes.insert(
                    index_name,
                    Index {
                        columns,
                        unique: index.get::<i64, _>("unique") != 0,
                        partial: index.get::<i64, _>("partial") != 0,
                    },
                );
            } else {
                table.unique_keys.insert(columns);
            }
        }
        schema.insert(name, table);
    }
    pool.close().await;
    schema
}

/// `constraint <name> <kind>` in a CREATE TABLE statement (SQLite keeps the
/// text it was given, with the columns that ALTER TABLE added).
fn sqlite_named_constraints(sql: &str) -> BTreeMap<String, Kind> {
    let code: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let words: Vec<&str> = code
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut named = BTreeMap::new();
    for (i, word) in words.iter().enumerate() {
        if *word != "constraint" {
            continue;
        }
        let name = words[i + 1].to_owned();
        let kind = match (words[i + 2], words.get(i + 3).copied()) {
            ("primary", Some("key")) => Kind::PrimaryKey,
            ("unique", _) => Kind::Unique,
            ("check", _) => Kind::Check,
            ("references", _) | ("foreign", Some("key")) => Kind::ForeignKey,
            other => panic!("constraint {name}: unknown kind {other:?}"),
        };
        assert!(named.insert(name.clone(), kind).is_none(), "{name} twice");
    }
    named
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut schema = Schema::new();
    for col in sqlx::query(
        "select table_name::text as table_name, column_name::text as column_name, \
         data_type::text as data_type, is_nullable::text as is_nullable, column_default::text as column_default \
         from information_schema.columns where table_schema = 'public' and table_name not like '\\_sqlx\\_%' \
         order by table_name, ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        let ty: String = col.get::<String, _>("data_type").to_lowercase();
        let default: Option<String> = col.get("column_default");
        schema
            .entry(col.get("table_name"))
            .or_default()
            .columns
            .push(Column {
                name: col.get("column_name"),
                ty: sqlite_type(&ty),
                not_null: col.get::<String, _>("is_nullable") == "NO",
                default: default.as_deref().map(sqlite_default),
            });
    }
    for con in sqlx::query(
        "select c.conrelid::regclass::text as table_name, c.conname::text as name, c.contype::text as kind, \
         array_to_string(array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, ord) \
           join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.ord), ',') as columns \
         from pg_constraint c where c.connamespace = 'public'::regnamespace \
         and c.conrelid::regclass::text not like '\\_sqlx\\_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        let table_name: String = con.get("table_name");
        let name: String = con.get("name");
        let kind = match con.get::<String, _>("kind").as_str() {
            "p" => Kind::PrimaryKey,
            "u" => Kind::Unique,
            "c" => Kind::Check,
            "f" => Kind::ForeignKey,
            other => panic!("{name}: unexpected constraint type {other}"),
        };
        let columns: Vec<String> = con
            .get::<String, _>("columns")
            .split(',')
            .map(str::to_owned)
            .collect();
        let table = schema.entry(table_name).or_default();
        if matches!(kind, Kind::PrimaryKey | Kind::Unique) {
            table.unique_keys.insert(columns.clone());
            table.named_keys.insert(name.clone(), columns);
        }
        table.constraints.insert(name, kind);
    }
    for index in sqlx::query(
        "select t.relname::text as table_name, i.relname::text as name, ix.indisunique as is_unique, \
         ix.indpred is not null as partial, \
         array_to_string(array(select a.attname::text from unnest(ix.indkey) with ordinality k(attnum, ord) \
           join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord), ',') as columns \
         from pg_index ix join pg_class i on i.oid = ix.indexrelid join pg_class t on t.oid = ix.indrelid \
         where t.relnamespace = 'public'::regnamespace and t.relname not like '\\_sqlx\\_%' \
         and not exists (select 1 from pg_constraint c where c.conindid = ix.indexrelid and c.contype in ('p', 'u'))",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    {
        schema.entry(index.get("table_name")).or_default().indexes.insert(
            index.get("name"),
            Index {
                columns: index
                    .get::<String, _>("columns")
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
                unique: index.get("is_unique"),
                partial: index.get("partial"),
            },
        );
    }
    pool.close().await;
    schema
}

/// A PostgreSQL column type as SQLite's schema may say it ([`ALLOWED_TYPES`]).
fn sqlite_type(postgres: &str) -> String {
    ALLOWED_TYPES
        .iter()
        .find(|(pg, _)| *pg == postgres)
        .map_or(postgres, |(_, lite)| lite)
        .to_owned()
}

/// A PostgreSQL default as SQLite's schema may say it ([`PRINTED_CASTS`],
/// [`ALLOWED_DEFAULTS`]).
fn sqlite_default(postgres: &str) -> String {
    let literal = PRINTED_CASTS
        .iter()
        .find_map(|cast| postgres.strip_suffix(cast))
        .unwrap_or(postgres);
    ALLOWED_DEFAULTS
        .iter()
        .find(|(pg, _)| *pg == literal)
        .map_or(literal, |(_, lite)| lite)
        .to_owned()
}
