//! Secrets at rest: a copy of the database alone (without the key-encryption
//! key) holds no private key and no upstream client secret; databases of
//! earlier versions are sealed at start-up; a KEK rotation re-seals every
//! row; the data directory and the SQLite files are private to their owner.

use std::path::PathBuf;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use switchyard::Application;
use switchyard::clock::Clock;
use switchyard::config::Config;
use switchyard::model::secret::Secret;
use switchyard::secrets::files::{KEY_FILE_NAME, KeySource, read_key_file};
use switchyard::secrets::{KeyEncryptionKey, SealError, SealedField};

use crate::on_both_backends;
use crate::organizations::create_connection;
use crate::support::{Backend, TestApp, TestDatabase, spawn_with, test_config};

on_both_backends!(
    the_database_holds_no_private_key_and_no_client_secret,
    secrets_stored_in_the_clear_are_sealed_at_start_up,
    a_wrong_key_encryption_key_stops_start_up_and_is_named,
    rotating_the_key_encryption_key_reseals_every_row,
);

const UPSTREAM_SECRET: &str = "upstream-client-secret-7f3a9c";

/// A data directory and a database that outlive the servers started on
/// them (declared before the apps, so dropped after them).
struct Installation {
    root: tempfile::TempDir,
    database: TestDatabase,
}

impl Installation {
    async fn new(backend: Backend) -> Self {
        let root = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(backend, root.path()).await;
        Installation { root, database }
    }

    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn url(&self) -> &str {
        self.database.url()
    }

    /// One issuer for every start (a port-derived one would change, and
    /// with it the tokens' `iss`).
    fn config(&self) -> Config {
        let mut config = test_config(&self.data_dir(), self.url().to_owned());
        config.issuer = Some("http://switchyard.test/".into());
        config
    }

    async fn start(&self) -> TestApp {
        spawn_with(self.config(), tempfile::tempdir().unwrap()).await
    }

    /// The key in the data directory's file.
    fn key(&self) -> KeyEncryptionKey {
        read_key_file(&self.data_dir().join(KEY_FILE_NAME)).unwrap()
    }
}

/// The secret columns as stored: `(kid, private_key_der)` of every signing
/// key and `(id, options)` of every connection.
struct RawSecrets {
    keys: Vec<(String, String)>,
    connections: Vec<(String, Value)>,
}

async fn raw_secrets(url: &str) -> RawSecrets {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let keys = sqlx::query("select kid, private_key_der from signing_keys order by kid")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get("kid"), row.get("private_key_der")))
        .collect();
    let connections = sqlx::query("select id, options from connections order by id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let options: String = row.get("options");
            (row.get("id"), serde_json::from_str(&options).unwrap())
        })
        .collect();
    pool.close().await;
    RawSecrets { keys, connections }
}

/// Every stored secret is sealed under `key`: no private key readable as
/// base64 DER (or PEM), no client secret in the clear.
fn assert_all_sealed_under(raw: &RawSecrets, key: &KeyEncryptionKey) {
    assert!(raw.keys.len() >= 6, "a key per algorithm and state");
    let prefix = format!("sealed.v1.{}.", key.id());
    for (kid, stored) in &raw.keys {
        assert!(stored.starts_with(&prefix), "{kid} not sealed: {stored}");
        assert!(!stored.contains("PRIVATE KEY"));
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(stored)
                .is_err(),
            "{kid} is base64 DER"
        );
        key.open(&SealedField::signing_key(kid), stored).unwrap();
    }
    for (id, options) in &raw.connections {
        assert!(
            !options.to_string().contains(UPSTREAM_SECRET),
            "{id}: {options}"
        );
        if let Some(stored) = options.get("client_secret") {
            let stored = stored.as_str().unwrap();
            assert!(stored.starts_with(&prefix), "{id}: {stored}");
            key.open(
                &SealedField::connection_option(id, "/client_secret"),
                stored,
            )
            .unwrap();
        }
    }
}

fn oidc_connection(name: &str, secret: &str) -> Value {
    json!({
        "name": name,
        "strategy": "oidc",
        "options": {"client_id": "c", "client_secret": secret, "issuer": "https://idp.example.com", "type": "back_channel"}
    })
}

/// The connection's secret as the server reads it.
async fn stored_secret(app: &TestApp, id: &str) -> Option<String> {
    let store = app.store().await;
    let connection = store.get_connection(id).await.unwrap();
    store.close().await;
    connection
        .options
        .client_secret()
        .map(|secret| secret.expose().to_owned())
}

/// After a restart on re-sealed rows: a token signed before verifies (the
/// same signing keys), and the connection's secret is the one sent.
async fn assert_still_works(app: &TestApp, token: &str, connection_id: &str) {
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{connection_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stored_secret(app, connection_id).await.as_deref(),
        Some(UPSTREAM_SECRET)
    );
}

async fn the_database_holds_no_private_key_and_no_client_secret(backend: Backend) {
    let installation = Installation::new(backend).await;
    let app = installation.start().await;
    let key = installation.key();
    assert_all_sealed_under(&raw_secrets(installation.url()).await, &key);

    let token = app.admin_token().await;
    let oidc = create_connection(&app, &token, oidc_connection("acme-oidc", UPSTREAM_SECRET)).await;
    let oauth2 = create_connection(
        &app,
        &token,
        json!({"name": "acme-oauth2", "strategy": "oauth2", "options": {
            "client_id": "c", "client_secret": UPSTREAM_SECRET,
            "authorizationURL": "https://idp.example.com/authorize",
            "tokenURL": "https://idp.example.com/token"}}),
    )
    .await;
    let raw = raw_secrets(installation.url()).await;
    assert_eq!(raw.connections.len(), 2);
    assert_all_sealed_under(&raw, &key);
    assert_eq!(
        stored_secret(&app, &oidc).await.as_deref(),
        Some(UPSTREAM_SECRET)
    );
    assert_eq!(
        stored_secret(&app, &oauth2).await.as_deref(),
        Some(UPSTREAM_SECRET)
    );

    // Replaced through a PATCH, and kept by one that leaves it out: sealed both times.
    let replaced = format!("{UPSTREAM_SECRET}-2");
    for options in [
        json!({"client_id": "c", "client_secret": replaced, "issuer": "https://idp.example.com", "type": "back_channel"}),
        json!({"client_id": "c3", "issuer": "https://idp.example.com", "type": "back_channel"}),
    ] {
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/connections/{oidc}"),
                &token,
                Some(json!({ "options": options })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let raw = raw_secrets(installation.url()).await;
        assert!(
            !raw.connections
                .iter()
                .any(|(_, o)| o.to_string().contains(&replaced))
        );
        assert_all_sealed_under(&raw, &key);
        assert_eq!(
            stored_secret(&app, &oidc).await.as_deref(),
            Some(replaced.as_str())
        );
    }

    // A sealed secret copied into another connection's row does not open there.
    let sealed_of = |raw: &RawSecrets, id: &str| {
        raw.connections.iter().find(|(c, _)| c == id).unwrap().1["client_secret"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let raw = raw_secrets(installation.url()).await;
    assert!(matches!(
        key.open(
            &SealedField::connection_option(&oauth2, "/client_secret"),
            &sealed_of(&raw, &oidc)
        ),
        Err(SealError::Rejected { .. })
    ));
}

/// What a version before sealing left: every secret in the clear, and no
/// key-encryption key.
async fn downgrade_to_the_clear(installation: &Installation) {
    let key = installation.key();
    let raw = raw_secrets(installation.url()).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(installation.url()).await.unwrap();
    for (kid, stored) in &raw.keys {
        let clear = key.open(&SealedField::signing_key(kid), stored).unwrap();
        sqlx::query("update signing_keys set private_key_der = $1 where kid = $2")
            .bind(clear.expose())
            .bind(kid)
            .execute(&pool)
            .await
            .unwrap();
    }
    for (id, mut options) in raw.connections {
        if let Some(Value::String(stored)) = options.get_mut("client_secret") {
            let field = SealedField::connection_option(&id, "/client_secret");
            *stored = key.open(&field, stored).unwrap().expose().to_owned();
        }
        sqlx::query("update connections set options = $1 where id = $2")
            .bind(options.to_string())
            .bind(&id)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    std::fs::remove_file(installation.data_dir().join(KEY_FILE_NAME)).unwrap();
}

async fn secrets_stored_in_the_clear_are_sealed_at_start_up(backend: Backend) {
    let installation = Installation::new(backend).await;
    let app = installation.start().await;
    let token = app.admin_token().await;
    let id = create_connection(&app, &token, oidc_connection("acme-oidc", UPSTREAM_SECRET)).await;
    drop(app);

    downgrade_to_the_clear(&installation).await;
    let raw = raw_secrets(installation.url()).await;
    assert!(
        raw.keys
            .iter()
            .all(|(_, stored)| !stored.starts_with("sealed."))
    );
    assert!(raw.connections[0].1.to_string().contains(UPSTREAM_SECRET));

    // The upgrade needs nothing from the operator: a new key is made and
    // everything is sealed under it.
    let app = installation.start().await;
    let key = installation.key();
    assert_all_sealed_under(&raw_secrets(installation.url()).await, &key);
    assert_still_works(&app, &token, &id).await;
    drop(app);

    // Sealing happens once: a second start rewrites nothing.
    let before = raw_secrets(installation.url()).await;
    let app = installation.start().await;
    let after = raw_secrets(installation.url()).await;
    assert_eq!(before.keys, after.keys);
    assert_eq!(before.connections, after.connections);
    drop(app);
}

async fn a_wrong_key_encryption_key_stops_start_up_and_is_named(backend: Backend) {
    let installation = Installation::new(backend).await;
    let app = installation.start().await;
    let right = installation.key();
    drop(app);

    let (wrong, wrong_base64) = KeyEncryptionKey::generate().unwrap();
    let mut config = installation.config();
    config.key_encryption_key = KeySource::Env(wrong_base64);
    let error = match Application::build_with_clock(config, Clock::advanceable()).await {
        Ok(_) => panic!("started with a key-encryption key that opens nothing"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains(right.id()), "{error}");
    assert!(error.contains(wrong.id()), "{error}");
    assert!(error.contains("key-encryption key"), "{error}");

    let mut config = installation.config();
    config.key_encryption_key = KeySource::Env(Secret::new("not a key"));
    assert!(
        Application::build_with_clock(config, Clock::advanceable())
            .await
            .is_err()
    );
}

async fn rotating_the_key_encryption_key_reseals_every_row(backend: Backend) {
    let installation = Installation::new(backend).await;
    let app = installation.start().await;
    let token = app.admin_token().await;
    let id = create_connection(&app, &token, oidc_connection("acme-oidc", UPSTREAM_SECRET)).await;
    // Rotated signing keys (retired ones included) are re-sealed too.
    for _ in 0..2 {
        let (status, body) = app
            .api(Method::POST, "/api/v2/keys/signing/rotate", &token, None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Signed by the current key: it verifies after the KEK rotation.
    let token = app.admin_token().await;
    drop(app);
    let old = installation.key();
    let key_count = raw_secrets(installation.url()).await.keys.len();

    // Without --new-key-file: the data directory's file is replaced.
    let rotation = switchyard::rotate_key_encryption_key(
        &installation.data_dir(),
        installation.url(),
        &KeySource::DataDir,
        None,
    )
    .await
    .unwrap();
    let new = installation.key();
    assert_ne!(new.id(), old.id());
    assert_eq!(rotation.old_key_id, old.id());
    assert_eq!(rotation.new_key_id, new.id());
    assert_eq!(rotation.resealed.signing_keys, key_count);
    assert_eq!(rotation.resealed.connection_secrets, 1);
    assert!(rotation.replaced_configured_file);
    let raw = raw_secrets(installation.url()).await;
    assert_all_sealed_under(&raw, &new);
    for (kid, stored) in &raw.keys {
        assert!(matches!(
            old.open(&SealedField::signing_key(kid), stored),
            Err(SealError::WrongKey { .. })
        ));
    }
    // No `.new` file is left beside the key.
    let mut names: Vec<_> = std::fs::read_dir(installation.data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(KEY_FILE_NAME))
        .collect();
    names.sort();
    assert_eq!(names, [KEY_FILE_NAME]);

    let app = installation.start().await;
    assert_still_works(&app, &token, &id).await;
    drop(app);

    // With --new-key-file: the key made there must be configured from now on.
    let elsewhere = installation.root.path().join("kek-2");
    let rotation = switchyard::rotate_key_encryption_key(
        &installation.data_dir(),
        installation.url(),
        &KeySource::DataDir,
        Some(&elsewhere),
    )
    .await
    .unwrap();
    assert!(!rotation.replaced_configured_file);
    let third = read_key_file(&elsewhere).unwrap();
    assert_all_sealed_under(&raw_secrets(installation.url()).await, &third);
    assert!(
        Application::build_with_clock(installation.config(), Clock::advanceable())
            .await
            .is_err(),
        "the replaced key still opens the secrets"
    );
    let mut config = installation.config();
    config.key_encryption_key = KeySource::File(elsewhere);
    let app = spawn_with(config, tempfile::tempdir().unwrap()).await;
    assert_eq!(
        stored_secret(&app, &id).await.as_deref(),
        Some(UPSTREAM_SECRET)
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_its_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let installation = Installation::new(Backend::Sqlite).await;
    // The database in the data directory, as by default.
    let data = installation.data_dir();
    let db = data.join("switchyard.db");
    let mut config = installation.config();
    config.database_url = switchyard::store::sqlite_url_for(&db);
    let files = [
        data.join(KEY_FILE_NAME),
        db.clone(),
        data.join("switchyard.db-wal"),
        data.join("switchyard.db-shm"),
    ];
    let app = spawn_with(config.clone(), tempfile::tempdir().unwrap()).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, oidc_connection("acme-oidc", UPSTREAM_SECRET)).await;
    assert_eq!(mode(&data), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    drop(app);

    // Looser modes left by an earlier version are tightened at start-up.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in files.iter().filter(|file| file.exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let app = spawn_with(config, tempfile::tempdir().unwrap()).await;
    app.admin_token().await;
    assert_eq!(mode(&data), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}
