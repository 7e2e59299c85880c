//! Switchyard: an identity federation broker. Apps use it as their OpenID
//! Connect provider; behind it each organization has its own connections.
//!
//! Layers (data flows one way): `http` → `flows` → `routing`/`connectors` →
//! `model`, with `store` and `cache` beneath. See DESIGN.md.

pub mod allocator;
pub mod cache;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod demo_idp;
pub mod flows;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod outbound;
pub mod routing;
pub mod secrets;
pub mod seed;
pub mod state;
pub mod store;
pub mod tls;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use config::{Config, TlsMode};
use state::{AppInner, AppState, Issuer};

/// How often a node re-reads the signing keys, so that a rotation made on
/// another node reaches it.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// Expired login transactions, codes, sessions and counters are deleted this often.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How often the samlp connections' IdPs are refreshed and their
/// certificates' expiry checked without waiting for a login.
const IDP_UPKEEP_INTERVAL: Duration = Duration::from_secs(3600);
/// How often each node looks for discovery domains whose DNS check is due
/// (each domain's own spacing says when it is).
const DOMAIN_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    /// The metrics listener (`[metrics] listen`), plain HTTP.
    metrics_listener: Option<std::net::TcpListener>,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    limits: transport::ConnectionLimits,
    /// Other nodes' changes (PostgreSQL), listened to from the start so
    /// that none sent once `build` returns is missed.
    changes: Option<store::ChangeListener>,
    /// Whether it runs the periodic pass over discovery domains' DNS records.
    periodic_domain_checks: bool,
    /// What start-up has to tell the operator (dev certificate, demo tenant).
    pub banner: StartupBanner,
}

#[derive(Default)]
pub struct StartupBanner {
    pub dev_certificate: Option<std::path::PathBuf>,
    pub demo: Option<seed::DemoTenant>,
    pub bootstrap_client_created: Option<String>,
}

impl Application {
    /// Opens the store (running migrations), loads the keys, seeds what the
    /// configuration asks for and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, clock::Clock::system()).await
    }

    /// [`Application::build`] with the server's time read from `clock`
    /// (tests move it instead of sleeping).
    pub async fn build_with_clock(config: Config, clock: clock::Clock) -> anyhow::Result<Self> {
        Self::build_with_clock_and_names(config, clock, Arc::new(outbound::SystemNames)).await
    }

    /// [`Application::build_with_clock`] with the host names of outbound
    /// requests resolved by `names` (tests map their names to loopback).
    pub async fn build_with_clock_and_names(
        config: Config,
        clock: clock::Clock,
        names: Arc<dyn reqwest::dns::Resolve>,
    ) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        Self::build_on(config, listener, clock, names).await
    }

    /// [`Application::build`] serving on `listener`, bound already (the
    /// demo IdP's, whose address the main server has to know first);
    /// `config.listen` is not bound.
    pub async fn build_on_listener(
        config: Config,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_on(
            config,
            listener,
            clock::Clock::system(),
            Arc::new(outbound::SystemNames),
        )
        .await
    }

    async fn build_on(
        config: Config,
        listener: std::net::TcpListener,
        clock: clock::Clock,
        names: Arc<dyn reqwest::dns::Resolve>,
    ) -> anyhow::Result<Self> {
        outbound::install_tls_crypto();
        // Private before anything is written into it (the dev certificate's key, the KEK).
        secrets::files::prepare_private_dir(&config.data_dir)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("binding the metrics listener {addr}"))?;
                listener.set_nonblocking(true)?;
                Some(listener)
            }
            None => None,
        };
        let mut banner = StartupBanner::default();
        let tls = match &config.tls {
            TlsMode::InsecureHttp => None,
            TlsMode::Files { cert, key } => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| format!("loading TLS certificate {}", cert.display()))?,
            ),
            TlsMode::Dev => {
                let dev = tls::ensure_dev_certificate(&config.data_dir, &clock)?;
                banner.dev_certificate = Some(dev.cert_path.clone());
                Some(
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(
                        &dev.cert_path,
                        &dev.key_path,
                    )
                    .await
                    .context("loading the dev TLS certificate")?,
                )
            }
        };
        let issuer_id = match &config.issuer {
            Some(issuer) => issuer.clone(),
            None => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                format!("{scheme}://localhost:{}/", local_addr.port())
            }
        };
        let issuer = Issuer::new(&issuer_id);
        let store = open_store(
            &config.data_dir,
            &config.database_url,
            &config.key_encryption_key,
            clock.clone(),
        )
        .await?;
        let keys = keys::KeyRing::load_or_init(&store).await?;
        let changes = store
            .listen_changes()
            .await
            .context("listening for other nodes' changes")?;
        if let Some(bootstrap) = &config.bootstrap_client {
            if seed::ensure_bootstrap_client(
                &store,
                &issuer,
                &bootstrap.client_id,
                &bootstrap.client_secret,
            )
            .await?
            {
                banner.bootstrap_client_created = Some(bootstrap.client_id.clone());
            }
        }
        if config.demo {
            banner.demo = seed::seed_demo_tenant(&store, &issuer).await?;
        }
        let outbound = outbound::Outbound::with_names(
            outbound::Destinations::new(
                issuer.is_local(),
                config.outbound.allowed_networks.clone(),
            )
            .with_origins(config.outbound.admitted_origins.clone()),
            names,
        )
        .context("building the outbound HTTP client")?;
        let metrics = metrics::Metrics::new(&store);
        let tenant_name = config
            .tenant_name
            .clone()
            .unwrap_or_else(|| issuer.default_tenant_name());
        let connectors = connectors::Connectors::new(
            outbound.clone(),
            clock.clone(),
            store.clone(),
            tenant_name.clone(),
        );
        let routing = routing::RoutingTable::new(store.clone());
        // Before serving: a login must not find the table still empty.
        routing.load().await.context("loading the routing table")?;
        let state = AppState(Arc::new(AppInner {
            issuer,
            tenant_name,
            clock,
            store,
            routing,
            domain_verifier: flows::domain_verification::DomainVerifier::new(
                config.dns.resolver,
                config.dns.grace,
            ),
            keys,
            clients: cache::ClientCache::new(&metrics),
            organizations: cache::OrganizationCache::new(&metrics),
            settings: cache::SettingsCache::new(&metrics),
            resource_servers: cache::ResourceServerCache::new(&metrics),
            metrics,
            outbound,
            connectors,
            background: state::BackgroundTasks::default(),
            trust_forwarded_for: config.trust_forwarded_for,
            strict_transport_security: issuer_id.starts_with("https://")
                && config.tls != TlsMode::Dev,
        }));
        Ok(Application {
            listener,
            local_addr,
            metrics_listener,
            state,
            tls,
            limits: config.connection_limits,
            changes,
            periodic_domain_checks: config.dns.periodic_checks,
            banner,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &str {
        self.state.issuer.identifier()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Its outbound requests no longer reach the origins the configuration
    /// admitted (`[outbound] admitted_origins`): the demo IdP's, when it did
    /// not start after all.
    pub fn withdraw_admitted_origins(&self) {
        self.state.outbound.destinations().withdraw_origins();
    }

    /// The store the server runs on (tests close it to see `/readyz` fail).
    pub fn store(&self) -> store::Store {
        self.state.store.clone()
    }

    /// The state its handlers share (tests drive flows with it directly).
    pub fn state(&self) -> state::AppState {
        self.state.clone()
    }

    /// The tasks its requests leave running (back-channel logout
    /// deliveries): tests wait for them to settle.
    pub fn background_tasks(&self) -> state::BackgroundTasks {
        self.state.background.clone()
    }

    /// Serves until the process receives Ctrl-C / SIGTERM, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = axum_server::Handle::new();
        let shutdown = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        self.serve(handle).await
    }

    /// Serves until `handle` is told to shut down (tests keep the handle).
    pub async fn serve(self, handle: axum_server::Handle) -> anyhow::Result<()> {
        let reload_state = self.state.clone();
        let reloader = tokio::spawn(async move {
            let mut interval = tokio::time::interval(KEY_RELOAD_INTERVAL);
            interval.tick().await;
            loop {
                interval.tick().await;
                if let Err(e) = reload_state.keys.reload(&reload_state.store).await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        });
        let purge_state = self.state.clone();
        let purger = tokio::spawn(async move {
            let mut interval = tokio::time::interval(PURGE_INTERVAL);
            loop {
                interval.tick().await;
                match purge_state
                    .store
                    .purge_expired(
                        purge_state.clock.now_unix_millis(),
                        flows::session::SESSION_IDLE_LIFETIME_MS,
                    )
                    .await
                {
                    Ok(purged) if purged.total() > 0 => {
                        tracing::info!(?purged, "expired rows deleted");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "deleting expired rows failed"),
                }
            }
        });
        let upkeep_state = self.state.clone();
        let idp_upkeep = tokio::spawn(async move {
            let mut interval = tokio::time::interval(IDP_UPKEEP_INTERVAL);
            // Logins refresh and warn too: the first pass waits an interval.
            interval.tick().await;
            loop {
                interval.tick().await;
                connectors::saml::idp::keep_idps_fresh(
                    &upkeep_state.store,
                    &upkeep_state.connectors,
                )
                .await;
            }
        });
        let domain_state = self.state.clone();
        let periodic_domain_checks = self.periodic_domain_checks;
        let domain_upkeep = tokio::spawn(async move {
            if !periodic_domain_checks {
                return;
            }
            let mut interval = tokio::time::interval(DOMAIN_CHECK_INTERVAL);
            loop {
                interval.tick().await;
                let pass = flows::domain_verification::check_due_domains(&domain_state).await;
                if pass.checked > 0 {
                    tracing::debug!(?pass, "discovery domains checked");
                }
            }
        });
        let trim_state = self.state.clone();
        let allocator_upkeep = tokio::spawn(async move {
            let mut interval = tokio::time::interval(allocator::QUIET_INTERVAL);
            let mut spells = allocator::QuietSpells::default();
            loop {
                interval.tick().await;
                // Run in place: a quiet moment has no request to hold up,
                // and a blocking thread would take an arena of its own.
                let now = allocator::Activity {
                    answered: trim_state.metrics.requests_answered(),
                    connections: trim_state.store.open_connections(),
                };
                if spells.trim_now(now) {
                    let released = allocator::release_free_memory();
                    tracing::debug!(released, "free memory given back at a quiet moment");
                }
            }
        });
        let follower = self
            .changes
            .map(|changes| tokio::spawn(follow_changes(self.state.clone(), changes)));
        let metrics_server = match self.metrics_listener {
            Some(listener) => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let app = http::metrics_router(self.state.clone());
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "the metrics listener failed");
                    }
                }))
            }
            None => None,
        };
        // The peer address feeds brute-force protection (`http::ClientIp`).
        let app =
            http::router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let limits = self.limits;
        let acceptor = transport::LimitedAcceptor::new(&limits);
        let mut server = axum_server::from_tcp(self.listener).handle(handle);
        configure_http(server.http_builder(), &limits);
        let result = match self.tls {
            Some(tls) => {
                // The cap and the idle timeout apply from the first byte,
                // the TLS handshake included.
                let tls = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                    .handshake_timeout(limits.header_read_timeout)
                    .acceptor(acceptor);
                server.acceptor(tls).serve(app).await
            }
            None => server.acceptor(acceptor).serve(app).await,
        };
        reloader.abort();
        purger.abort();
        idp_upkeep.abort();
        domain_upkeep.abort();
        allocator_upkeep.abort();
        if let Some(follower) = follower {
            follower.abort();
        }
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        self.state.store.close().await;
        result.context("serving HTTP")
    }
}

/// Opens the store as every command does: the data directory private
/// (0700), the key-encryption key loaded, the schema migrated, and secrets
/// that an older version stored in the clear sealed; a key that does not
/// open what is sealed fails here, naming both keys.
///
/// A missing key file is made only where that cannot lose a secret: for a
/// database holding none yet, or to seal an older version's secrets in a
/// SQLite database (one node: the key lands on the database's machine).
/// Secrets already sealed need the key they were sealed under, and a
/// PostgreSQL database's old secrets a key configured for every node: a key
/// made by whichever node (or `migrate` run) came first would strand them.
pub async fn open_store(
    data_dir: &std::path::Path,
    database_url: &str,
    key_source: &secrets::files::KeySource,
    clock: clock::Clock,
) -> anyhow::Result<store::Store> {
    secrets::files::prepare_private_dir(data_dir)?;
    let unkeyed = store::Store::connect(database_url)
        .await
        .with_context(|| format!("opening the store at {}", store::redact_url(database_url)))?
        .with_clock(clock);
    let key = match key_source.load_existing(data_dir)? {
        Some(key) => key,
        None => {
            let held = unkeyed
                .stored_secrets()
                .await
                .context("reading the stored secrets")?;
            let backend = unkeyed.backend();
            let missing = key_source
                .file(data_dir)
                .map(|file| file.display().to_string())
                .unwrap_or_default();
            if let Some(kek_id) = &held.sealed_under {
                anyhow::bail!(
                    "the stored secrets are sealed under key-encryption key {kek_id}, and there is \
                     no key-encryption key at {missing}: configure the key they were sealed under \
                     (key_encryption_key_file, {} or {})",
                    secrets::files::KEY_FILE_ENV,
                    secrets::files::KEY_ENV
                );
            }
            if held.in_the_clear > 0 && backend == store::Backend::Postgres {
                anyhow::bail!(
                    "the database holds {} secrets stored in the clear by an earlier version, to be \
                     sealed under a key-encryption key every node shares: make one \
                     (`openssl rand -base64 32 > FILE`, mode 0600), configure it on every node \
                     (key_encryption_key_file, {} or {}), then start again",
                    held.in_the_clear,
                    secrets::files::KEY_FILE_ENV,
                    secrets::files::KEY_ENV
                );
            }
            key_source.create(data_dir)?
        }
    };
    let store = unkeyed.with_key_encryption_key(key.clone());
    match store.seal_secrets_in_the_clear().await {
        Ok(sealed) if sealed.total() > 0 => {
            store
                .purge_rewritten_secrets()
                .await
                .context("purging the secrets' earlier form")?;
            tracing::warn!(
                signing_keys = sealed.signing_keys,
                connection_secrets = sealed.connection_secrets,
                kek_id = key.id(),
                "sealed secrets stored in the clear by an earlier version"
            );
        }
        Ok(_) => {}
        Err(store::StoreError::Sealed(secrets::SealError::WrongKey {
            field,
            sealed_under,
            configured,
        })) => {
            let hint = key_source
                .file(data_dir)
                .map(|file| secrets::files::interrupted_rotation_hint(&file, &sealed_under))
                .unwrap_or_default();
            anyhow::bail!(
                "the stored secrets (first: {field}) are sealed under key-encryption key {sealed_under}, \
                 but the configured key-encryption key is {configured}: start with the key they were \
                 sealed under (every node sharing the database needs the same key){hint}"
            );
        }
        Err(e) => return Err(e).context("checking the sealed secrets"),
    }
    Ok(store)
}

/// What [`rotate_key_encryption_key`] did.
#[derive(Debug)]
pub struct KeyRotation {
    pub old_key_id: String,
    pub new_key_id: String,
    pub resealed: store::SealedRows,
    /// What the demo IdP's store (`demo-idp.db`, sealed with the same key)
    /// held, when the data directory has one.
    pub demo_idp_resealed: Option<store::SealedRows>,
    /// Where the new key is: the configured file (replaced), or the file
    /// given, which the configuration must now name.
    pub new_key_file: std::path::PathBuf,
    /// Whether the configured file now holds the new key (nothing to change).
    pub replaced_configured_file: bool,
    /// Where the replaced key was kept (for backups taken before).
    pub previous_key_file: Option<std::path::PathBuf>,
}

/// Re-seals every secret under a new key-encryption key, in one
/// transaction. The new key is read from `new_key_file` (made there if
/// missing); without it, a new key is made beside the configured file
/// (`<file>.new`) and replaces it once everything is re-sealed. Running
/// servers keep the old key until restarted.
pub async fn rotate_key_encryption_key(
    data_dir: &std::path::Path,
    database_url: &str,
    key_source: &secrets::files::KeySource,
    new_key_file: Option<&std::path::Path>,
) -> anyhow::Result<KeyRotation> {
    use secrets::files;
    let store = open_store(data_dir, database_url, key_source, clock::Clock::system()).await?;
    let old_key_id = store
        .key_encryption_key()
        .map(|key| key.id().to_owned())
        .unwrap_or_default();
    let (new_key_file, configured) = match (new_key_file, key_source.file(data_dir)) {
        (Some(file), _) => (file.to_path_buf(), None),
        (None, Some(configured)) => (files::pending_path(&configured), Some(configured)),
        (None, None) => anyhow::bail!(
            "the key-encryption key comes from {}: give --new-key-file FILE, then set {0} to \
             that file's content",
            files::KEY_ENV
        ),
    };
    let new = files::load_or_create_key_file(&new_key_file)?;
    if new.id() == old_key_id {
        anyhow::bail!(
            "{} holds the configured key-encryption key ({old_key_id})",
            new_key_file.display()
        );
    }
    // The demo IdP's store is sealed with the same key: opened before
    // anything is re-sealed, so that one that does not open stops the
    // rotation with nothing changed.
    let demo_idp_store = demo_idp::store_file(data_dir);
    let demo_idp = if demo_idp_store.exists() {
        match open_store(
            data_dir,
            &demo_idp::idp_database_url(data_dir),
            key_source,
            clock::Clock::system(),
        )
        .await
        {
            Ok(idp) => Some(idp),
            Err(e) => {
                store.close().await;
                return Err(e.context(format!(
                    "opening the demo IdP's store {}: delete it (the next `switchyard serve` makes \
                     a new demo IdP) and rotate again",
                    demo_idp_store.display()
                )));
            }
        }
    } else {
        None
    };
    let resealed = reseal_and_close(store, &new)
        .await
        .context("re-sealing the stored secrets")?;
    // The main store is re-sealed: the rotation is finished whatever
    // becomes of the demo IdP's, which a server runs without.
    let demo_idp_resealed = match demo_idp {
        Some(idp) => match reseal_and_close(idp, &new).await {
            Ok(resealed) => Some(resealed),
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the demo IdP's store {} was not re-sealed: delete it (the next start makes \
                     a new demo IdP)",
                    demo_idp_store.display()
                );
                None
            }
        },
        None => None,
    };
    let mut previous_key_file = None;
    let new_key_file = match configured {
        Some(configured) => {
            // Backups taken before the rotation still need the old key.
            let kept = files::retired_path(&configured, &old_key_id);
            let old = std::fs::read(&configured)
                .with_context(|| format!("reading {}", configured.display()))?;
            files::write_new_private_file(&kept, &old)?;
            previous_key_file = Some(kept);
            files::replace_with_pending(&configured)?;
            configured
        }
        None => new_key_file,
    };
    Ok(KeyRotation {
        previous_key_file,
        old_key_id,
        new_key_id: new.id().to_owned(),
        resealed,
        demo_idp_resealed,
        replaced_configured_file: key_source.file(data_dir).as_ref() == Some(&new_key_file),
        new_key_file,
    })
}

/// Re-seals every secret of `store` under `new` in one transaction, purges
/// their earlier form, and closes it.
async fn reseal_and_close(
    store: store::Store,
    new: &secrets::KeyEncryptionKey,
) -> anyhow::Result<store::SealedRows> {
    let resealed = store.reseal_secrets(new).await;
    let purged = match &resealed {
        Ok(_) => store.purge_rewritten_secrets().await,
        Err(_) => Ok(()),
    };
    store.close().await;
    let resealed = resealed?;
    purged.context("purging the secrets' earlier form")?;
    Ok(resealed)
}

/// hyper's side of the connection limits: the header-read timeout (HTTP/1)
/// and keep-alive pings (HTTP/2), both on tokio's timer.
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &transport::ConnectionLimits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(limits.http2_keep_alive_interval())
        .keep_alive_timeout(limits.http2_keep_alive_timeout());
}

/// Drops from this node's caches what other nodes changed. A message this
/// version does not know, or a lost connection (changes may have been
/// missed), drops everything: a cache miss costs a query, a stale entry a
/// wrong answer.
async fn follow_changes(state: AppState, mut changes: store::ChangeListener) {
    loop {
        match changes.next().await {
            Ok(store::Heard::Change(message)) => match cache::Change::from_message(&message) {
                Some(change) => state.forget(&change).await,
                None => {
                    tracing::warn!(%message, "unknown change from another node");
                    state.forget_everything().await;
                }
            },
            Ok(store::Heard::MayHaveMissedChanges) => {
                tracing::warn!("the change listener reconnected; dropping every cached entry");
                state.forget_everything().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening for other nodes' changes failed; listening again");
                // Forgotten only once listening again: what changed before
                // that is in the store, what changes after will be heard.
                while let Err(e) = changes.listen_again().await {
                    tracing::warn!(error = %e, "listening again failed; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                state.forget_everything().await;
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
