//! Switchyard's side of the grant scenarios: one node on SQLite, or one or
//! more nodes on a fresh PostgreSQL database (created on the server given,
//! or on a throwaway one `scripts/postgres.sh` starts), with the bench
//! tenant: its client, its API, and the `password-login` users.
//!
//! Nodes on one database share what `README.md` ("Several nodes") says they
//! must: the issuer (the first node's address) and the key-encryption key
//! (one file); the signing keys are in the store, made by the first node
//! (started alone, before the others). Each node listens on its own port.

use std::path::PathBuf;

use anyhow::{Context, bail};
use sqlx::{Connection as _, Executor as _};

use super::{
    ClientCredentials, Endpoints, NodeOptions, Server, discover_server, grants, start_switchyard,
    switchyard_api, switchyard_tenant,
};

/// Switchyard's nodes with the bench tenant.
pub struct Deployment {
    /// What the tables call it: "SQLite", "PostgreSQL, 2 nodes".
    pub title: String,
    pub servers: Vec<Server>,
    pub nodes: Vec<Endpoints>,
    pub client: ClientCredentials,
    pub admin_token: String,
    pub api_id: String,
    /// The `password-login` users, made the first time they are needed.
    pub password_users: Vec<String>,
    /// The data directories (removed when dropped).
    pub dirs: Vec<tempfile::TempDir>,
    /// The PostgreSQL database, dropped with the deployment.
    pub database: Option<Database>,
}

impl Deployment {
    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().filter_map(|s| s.pid).collect()
    }

    pub fn issuer(&self) -> &str {
        self.servers.first().map_or("", |s| s.issuer.as_str())
    }

    /// Starts `count` nodes on `database` (SQLite in the first node's data
    /// directory when none) and creates the tenant through the first.
    pub async fn start(
        title: String,
        database: Option<Database>,
        count: usize,
    ) -> anyhow::Result<Deployment> {
        let http = reqwest::Client::new();
        let key_dir = tempfile::tempdir()?;
        let mut options = NodeOptions {
            database_url: database.as_ref().map(|d| d.url.clone()),
            issuer: None,
            kek_file: database
                .as_ref()
                .map(|_| key_dir.path().join("key-encryption-key")),
        };
        let (mut servers, mut nodes, mut dirs) = (Vec::new(), Vec::new(), vec![key_dir]);
        for _ in 0..count.max(1) {
            let dir = tempfile::tempdir()?;
            // Private, as Switchyard asks of its data directory.
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )?;
            let server = start_switchyard(dir.path(), &options).await?;
            options.issuer.get_or_insert_with(|| server.issuer.clone());
            nodes.push(discover_server(&http, &server).await?);
            servers.push(server);
            dirs.push(dir);
        }
        let issuer = options.issuer.unwrap_or_default();
        let (client, admin_token) = switchyard_tenant(&http, &issuer).await?;
        let api_id = switchyard_api(&http, &issuer, &admin_token, &client.id).await?;
        Ok(Deployment {
            title,
            servers,
            nodes,
            client,
            admin_token,
            api_id,
            password_users: Vec::new(),
            dirs,
            database,
        })
    }

    /// The SQLite file of the first node (for the signing limit's key ring).
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        match self.database {
            None => self.dirs.get(1).map(|dir| dir.path().to_owned()),
            Some(_) => None,
        }
    }

    /// The `password-login` users, one per worker, made once.
    pub async fn password_users(&mut self, workers: usize) -> anyhow::Result<Vec<String>> {
        if self.password_users.len() < workers {
            self.password_users =
                grants::create_password_users(self.issuer(), &self.admin_token, workers).await?;
        }
        Ok(self.password_users.clone())
    }
}

/// A fresh database on a PostgreSQL server, dropped by [`Database::drop_now`].
pub struct Database {
    pub url: String,
    admin_url: String,
    name: String,
}

impl Database {
    pub async fn create(admin_url: &str) -> anyhow::Result<Database> {
        let name = format!(
            "switchyard_bench_{}",
            switchyard::model::ids::random_alphanumeric(12).to_lowercase()
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        admin
            .execute(format!("create database {name}").as_str())
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await.ok();
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(Database {
            url: url.into(),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// Drops the database (its nodes stopped first).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        admin
            .execute(format!("drop database if exists {} with (force)", self.name).as_str())
            .await?;
        admin.close().await.ok();
        Ok(())
    }
}

/// Stops the deployment's nodes, then drops its database.
pub async fn stop(deployment: Deployment) -> anyhow::Result<()> {
    let Deployment {
        servers, database, ..
    } = deployment;
    drop(servers);
    // The nodes were killed; let the server notice their connections went.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    if let Some(database) = database {
        database.drop_now().await?;
    }
    Ok(())
}

/// A throwaway PostgreSQL server started by `scripts/postgres.sh`, stopped
/// (and deleted) by [`Throwaway::stop`].
pub struct Throwaway {
    pub url: String,
    dir: String,
}

fn postgres_script() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh")
}

impl Throwaway {
    pub async fn start() -> anyhow::Result<Throwaway> {
        let output = tokio::process::Command::new("bash")
            .arg(postgres_script())
            .arg("start")
            .output()
            .await
            .context("running scripts/postgres.sh start")?;
        if !output.status.success() {
            bail!(
                "scripts/postgres.sh start failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // One line: `export PG_DIR=… PG_BIN=… PG_PORT=… PG_URL=… …`.
        let printed = String::from_utf8(output.stdout)?;
        let value = |name: &str| {
            printed
                .split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .map(str::to_owned)
                .with_context(|| format!("scripts/postgres.sh printed no {name}: {printed}"))
        };
        Ok(Throwaway {
            url: value("PG_URL=")?,
            dir: value("PG_DIR=")?,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let status = tokio::process::Command::new("bash")
            .arg(postgres_script())
            .arg("stop")
            .arg(&self.dir)
            .status()
            .await?;
        if !status.success() {
            bail!("scripts/postgres.sh stop {} failed", self.dir);
        }
        Ok(())
    }
}
