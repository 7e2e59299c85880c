//! The demo IdP: a second Switchyard in the serving process, standing in
//! for the corporate identity provider of the demo organization `metahexa`,
//! so that a newcomer can try a federated login with no outside account.
//! It has a store of its own (`<data dir>/demo-idp.db`), an issuer of its
//! own on a loopback port of its own (plain HTTP), one user (ana) and one
//! client: the main server, whose connection `metahexa-demo-idp` finds it
//! by its discovery URL, exactly as a real IdP is pointed at.
//!
//! Both sides are seeded together: at the IdP's first start, or the main
//! tenant's, the IdP's client gets a secret and the main tenant's connection
//! that same secret (sealed, as every upstream secret); `switchyard demo`
//! gives both a new one. A start at another address (another `--listen`
//! port, `--demo-idp-listen`) points them at each other again: the main
//! tenant's connection at the IdP's new discovery URL (its secret kept), the
//! IdP's client at the main server's new callback.

use std::net::{IpAddr, TcpListener};

use anyhow::Context;
use serde_json::json;

use crate::Application;
use crate::config::{Config, DemoIdpConfig, TlsMode};
use crate::model::connection::{
    Connection, ConnectionOptions, EnabledConnection, EnabledConnectionRequest, Strategy,
};
use crate::model::ids;
use crate::secrets::files::KeySource;
use crate::seed;
use crate::store::{ConnectionFilter, Page, Store, StoreError};

/// The main tenant's connection to the demo IdP.
pub const CONNECTION_NAME: &str = "metahexa-demo-idp";
/// Its button: "Continue with Metahexa SSO (demo IdP)".
pub const CONNECTION_DISPLAY_NAME: &str = "Metahexa SSO (demo IdP)";
/// The demo IdP's one user.
pub const USER_EMAIL: &str = "ana@metahexa.example";
/// The organization of the main tenant that logs in through it.
const ORGANIZATION: &str = "metahexa";
/// Its store, in the data directory.
const STORE_FILE: &str = "demo-idp.db";
/// The setting that marks the demo IdP's store as seeded, holding an
/// [`IdpRecord`].
const SEEDED: &str = "demo_idp_seeded";

/// What the demo IdP's store records of its seed.
#[derive(serde::Serialize, serde::Deserialize)]
struct IdpRecord {
    issuer: String,
    /// The main server, as the IdP's client.
    client_id: String,
    user_id: String,
    /// The main server's callback the client was given (absent in records
    /// of a Switchyard that did not re-point them).
    #[serde(default)]
    callback: Option<String>,
}

/// How a newcomer logs in at the demo IdP (printed at its first start and
/// by `switchyard demo`).
#[derive(Debug, Clone)]
pub struct DemoIdpLogin {
    pub issuer: String,
    pub user_email: String,
    pub user_password: String,
}

/// The demo IdP's listener, bound before the main server is built: the
/// main server's outbound client admits exactly its origin.
pub struct DemoIdp {
    listener: TcpListener,
    issuer: url::Url,
}

impl DemoIdp {
    /// Binds `config.listen`. The issuer names the bound address, unless
    /// the main server's issuer names that same host: browsers tell cookies
    /// apart by host, not by port, and a login at one would then replace
    /// the other's session cookie. It is `localhost` then.
    pub fn bind(config: &DemoIdpConfig, main_issuer: Option<&str>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen).with_context(|| {
            format!(
                "binding the demo IdP's address {} (choose another with --demo-idp-listen, \
                 or run without it: --no-demo-idp)",
                config.listen
            )
        })?;
        let address = listener.local_addr()?;
        let main_host = main_issuer
            .and_then(|issuer| url::Url::parse(issuer).ok())
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned());
        let host = match address.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let host = if host == main_host {
            "localhost".to_owned()
        } else {
            host
        };
        let issuer = url::Url::parse(&format!("http://{host}:{}/", address.port()))?;
        Ok(DemoIdp { listener, issuer })
    }

    /// What the main server's outbound client must admit, and nothing more.
    pub fn origin(&self) -> url::Origin {
        self.issuer.origin()
    }

    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// Builds the IdP's server on its listener; seeds it at its first start
    /// and, when it or the main tenant is new, points the main tenant's
    /// connection at it. `None` when the main store has no demo tenant to
    /// point (one seeded by an older Switchyard: said in the log).
    pub async fn start(
        self,
        main_config: &Config,
        main: &Application,
    ) -> anyhow::Result<Option<StartedDemoIdp>> {
        let main_store = main.store();
        let Some(demo) = seed::demo_record(&main_store).await? else {
            tracing::warn!(
                "the demo tenant was seeded by an earlier Switchyard that did not record its web \
                 app: the demo IdP does not run (start on a new data directory for it)"
            );
            return Ok(None);
        };
        let issuer = self.issuer.as_str().to_owned();
        let config = Config {
            database_url: idp_database_url(&main_config.data_dir),
            listen: self.listener.local_addr()?,
            issuer: Some(issuer.clone()),
            tls: TlsMode::InsecureHttp,
            demo: false,
            bootstrap_client: None,
            trust_forwarded_for: false,
            outbound: Default::default(),
            metrics_listen: None,
            ..main_config.clone()
        };
        let app = Application::build_on_listener(config, self.listener)
            .await
            .context("starting the demo IdP")?;
        let store = app.store();
        // The main server's issuer now (the demo record keeps its first one).
        let callback = format!("{}login/callback", main.issuer());
        let login = match seed_idp(&store, &issuer, &callback).await? {
            Some((record, secret, login)) => {
                point_connection(&main_store, &demo.web_client_id, &record, Some(&secret)).await?;
                Some(login)
            }
            // The main tenant is new, its IdP is not: a new secret for both.
            // (Its connection made first, then pointed where the IdP is now.)
            None if main.banner.demo.is_some() => {
                let login = reset_credentials(&store, &main_store, &demo.web_client_id).await?;
                repoint(&store, &main_store, &demo.web_client_id, &issuer, &callback).await?;
                Some(DemoIdpLogin {
                    issuer: issuer.clone(),
                    ..login
                })
            }
            None => {
                repoint(&store, &main_store, &demo.web_client_id, &issuer, &callback).await?;
                None
            }
        };
        Ok(Some(StartedDemoIdp { app, issuer, login }))
    }
}

/// The demo IdP's server, built and seeded, not yet serving.
pub struct StartedDemoIdp {
    pub app: Application,
    pub issuer: String,
    /// Ana's password and where to use it, when new at this start.
    pub login: Option<DemoIdpLogin>,
}

/// The demo IdP's store in `data_dir`.
pub fn store_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join(STORE_FILE)
}

pub(crate) fn idp_database_url(data_dir: &std::path::Path) -> String {
    crate::store::sqlite_url_for(&store_file(data_dir))
}

/// Reads what the IdP's store records of its seed.
async fn idp_record(idp: &Store) -> anyhow::Result<IdpRecord> {
    idp.get_setting(SEEDED)
        .await?
        .and_then(|recorded| serde_json::from_str::<IdpRecord>(&recorded).ok())
        .context("the demo IdP's store records no seed")
}

/// When the IdP's issuer or the main server's callback is not the one
/// recorded (a start on other ports), points them at each other again: the
/// main tenant's connection at the IdP's discovery URL, keeping its secret,
/// and the IdP's client at `callback`.
async fn repoint(
    idp: &Store,
    main: &Store,
    web_client_id: &str,
    issuer: &str,
    callback: &str,
) -> anyhow::Result<()> {
    let mut record = idp_record(idp).await?;
    if record.issuer == issuer && record.callback.as_deref() == Some(callback) {
        return Ok(());
    }
    tracing::info!(
        was = %record.issuer,
        issuer,
        callback,
        "the demo IdP or the server moved: pointing the connection {CONNECTION_NAME} at the demo \
         IdP's issuer and the IdP's client at the server's callback"
    );
    let Ok(_) = idp
        .update_client_with(&record.client_id, |client| {
            Ok::<_, std::convert::Infallible>(crate::model::client::Client {
                callbacks: vec![callback.to_owned()],
                ..client
            })
        })
        .await
        .map_err(|e| seed::gone(e, "IdP client", &record.client_id))?;
    record.issuer = issuer.to_owned();
    record.callback = Some(callback.to_owned());
    point_connection(main, web_client_id, &record, None).await?;
    idp.put_setting(SEEDED, &serde_json::to_string(&record)?)
        .await?;
    Ok(())
}

/// Seeds the IdP's store on its first start: a password database without
/// sign-up holding ana, and the main server as a client whose redirect URI
/// is `callback`. Returns what it made (with the client's secret), or
/// `None` when it had been seeded before.
async fn seed_idp(
    store: &Store,
    issuer: &str,
    callback: &str,
) -> anyhow::Result<Option<(IdpRecord, String, DemoIdpLogin)>> {
    let record = IdpRecord {
        issuer: issuer.to_owned(),
        client_id: ids::new_client_id(),
        user_id: ids::new_id(ids::USER),
        callback: Some(callback.to_owned()),
    };
    if !store
        .claim_setting(SEEDED, &serde_json::to_string(&record)?)
        .await?
    {
        return Ok(None);
    }
    let options = serde_json::Map::from_iter([("disable_signup".to_owned(), json!(true))]);
    let database = Connection {
        id: ids::new_id(ids::CONNECTION),
        name: "Username-Password-Authentication".into(),
        strategy: Strategy::Database,
        display_name: Some("Metahexa corporate account".into()),
        options: ConnectionOptions::parse(Strategy::Database, options)?,
        metadata: serde_json::Map::new(),
        is_domain_connection: false,
        show_as_button: None,
        realms: vec!["Username-Password-Authentication".into()],
        inert_settings: serde_json::Map::new(),
    };
    let secret = ids::new_client_secret();
    let client = seed::regular_web_client(
        record.client_id.clone(),
        "Switchyard (the demo tenant's broker)",
        &secret,
        callback,
    );
    store.insert_client(&client).await?;
    store
        .insert_connection(&database, std::slice::from_ref(&client.client_id))
        .await?;
    let (_, password) = seed::DemoPerson {
        user_id: record.user_id.clone(),
        connection_id: database.id.clone(),
        email: USER_EMAIL,
        given_name: "Ana",
        family_name: "Ferreira",
    }
    .insert(store)
    .await?;
    let login = DemoIdpLogin {
        issuer: record.issuer.clone(),
        user_email: USER_EMAIL.to_owned(),
        user_password: password,
    };
    Ok(Some((record, secret, login)))
}

/// Points the main tenant's connection [`CONNECTION_NAME`] at the IdP of
/// `record`, with the client's `secret`: made (enabled for the demo's web
/// app and on `metahexa`, which assigns membership on login) or, when it
/// is there already, given the IdP's discovery URL and the new secret (or,
/// without one, keeping its sealed secret).
async fn point_connection(
    main: &Store,
    web_client_id: &str,
    record: &IdpRecord,
    secret: Option<&str>,
) -> anyhow::Result<()> {
    let mut options = json!({
        "type": "back_channel",
        "discovery_url": format!("{}.well-known/openid-configuration", record.issuer),
        "client_id": record.client_id,
        "scope": "openid profile email",
    });
    if let Some(secret) = secret {
        options["client_secret"] = json!(secret);
    }
    let serde_json::Value::Object(options) = options else {
        anyhow::bail!("the demo connection's options are not an object");
    };
    let filter = ConnectionFilter {
        strategy: None,
        name: Some(CONNECTION_NAME.to_owned()),
    };
    let existing = main.list_connections(&filter, &Page::all()).await?;
    if let Some(existing) = existing.first() {
        main.update_connection_with(&existing.id, None, |connection| {
            let options = ConnectionOptions::decode_update(&connection.options, options)?;
            options.check()?;
            Ok::<_, crate::model::ValidationError>(Connection {
                options,
                ..connection
            })
        })
        .await??;
        tell_running_nodes(main, &crate::cache::Change::Connections).await;
        return Ok(());
    }
    let Some(_) = secret else {
        anyhow::bail!(
            "the demo IdP's connection {CONNECTION_NAME} was deleted: run `switchyard demo`"
        );
    };
    let options = ConnectionOptions::parse(Strategy::Oidc, options)?;
    let connection = Connection {
        id: ids::new_id(ids::CONNECTION),
        name: CONNECTION_NAME.into(),
        strategy: Strategy::Oidc,
        display_name: Some(CONNECTION_DISPLAY_NAME.into()),
        options,
        metadata: serde_json::Map::new(),
        is_domain_connection: false,
        show_as_button: None,
        realms: vec![CONNECTION_NAME.into()],
        inert_settings: serde_json::Map::new(),
    };
    main.insert_connection(&connection, &[web_client_id.to_owned()])
        .await?;
    tell_running_nodes(main, &crate::cache::Change::Connections).await;
    let organization = match main.get_organization_by_name(ORGANIZATION).await {
        Ok(organization) => organization,
        Err(StoreError::NotFound) => {
            tracing::warn!(
                "the demo organization {ORGANIZATION} was deleted: the demo IdP's connection is \
                 enabled for no organization"
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let enabled = EnabledConnection::new_default(&organization.id, &connection.id).apply(
        Strategy::Oidc,
        &EnabledConnectionRequest {
            assign_membership_on_login: Some(true),
            show_as_button: Some(true),
            ..Default::default()
        },
    )?;
    main.insert_enabled_connection(&enabled).await?;
    tell_running_nodes(main, &crate::cache::Change::Organizations).await;
    Ok(())
}

async fn tell_running_nodes(store: &Store, change: &crate::cache::Change) {
    if let Err(e) = store.notify_change(&change.to_message()).await {
        tracing::warn!(error = %e, "could not tell running nodes of the demo IdP's connection; they read it again within 30 s");
    }
}

/// Gives the IdP's client (the main server) a new secret, the main
/// tenant's connection the same one, and ana a new password; returns the
/// password.
async fn reset_credentials(
    idp: &Store,
    main: &Store,
    web_client_id: &str,
) -> anyhow::Result<DemoIdpLogin> {
    let record = idp_record(idp).await?;
    let secret = seed::reset_client_secret(idp, &record.client_id, "demo IdP's").await?;
    point_connection(main, web_client_id, &record, Some(&secret)).await?;
    let user_password = seed::new_demo_password();
    let hash = crate::connectors::database::hash_password(user_password.clone()).await?;
    idp.update_user_password(&record.user_id, &hash)
        .await
        .map_err(|e| seed::gone(e, "IdP user", &record.user_id))?;
    Ok(DemoIdpLogin {
        issuer: record.issuer,
        user_email: USER_EMAIL.to_owned(),
        user_password,
    })
}

/// Deletes the IdP's SQLite database and its journal files.
fn remove_store(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let file = store_file(data_dir);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.clone().into_os_string();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", file.display()));
            }
        }
    }
    Ok(())
}

/// `switchyard demo`: when the data directory holds a demo IdP, its client
/// and the main tenant's connection get a new secret and ana a new
/// password. `None` when there is no demo IdP (it never ran), or when its
/// store did not open: it is removed then, for the next start to make anew.
pub async fn reset(
    data_dir: &std::path::Path,
    key_source: &KeySource,
    main: &Store,
) -> anyhow::Result<Option<DemoIdpLogin>> {
    if !store_file(data_dir).exists() {
        return Ok(None);
    }
    let Some(demo) = seed::demo_record(main).await? else {
        return Ok(None);
    };
    let idp = match crate::open_store(
        data_dir,
        &idp_database_url(data_dir),
        key_source,
        main.clock().clone(),
    )
    .await
    {
        Ok(idp) => idp,
        // Its secrets sealed under another key-encryption key, say (a
        // rotation by a Switchyard that left it out). It holds nothing but
        // the demo's seed: the next start makes a new one.
        Err(e) => {
            remove_store(data_dir)?;
            tracing::warn!(
                error = format!("{e:#}"),
                "the demo IdP's store did not open: removed; the next `switchyard serve` makes a \
                 new demo IdP and prints its user's password"
            );
            return Ok(None);
        }
    };
    let login = reset_credentials(&idp, main, &demo.web_client_id).await;
    idp.close().await;
    login.map(Some)
}
