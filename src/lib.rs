//! Switchyard: an identity federation broker. Apps use it as their OpenID
//! Connect provider; behind it each organization has its own connections.
//!
//! Layers (data flows one way): `http` → `flows` → `routing`/`connectors` →
//! `model`, with `store` and `cache` beneath. See DESIGN.md.

pub mod cache;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod flows;
pub mod http;
pub mod keys;
pub mod model;
pub mod outbound;
pub mod routing;
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

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    limits: transport::ConnectionLimits,
    /// Other nodes' changes (PostgreSQL), listened to from the start so
    /// that none sent once `build` returns is missed.
    changes: Option<store::ChangeListener>,
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
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
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
        let store = store::Store::connect(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "opening the store at {}",
                    store::redact_url(&config.database_url)
                )
            })?
            .with_clock(clock.clone());
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
            ),
            names,
        )
        .context("building the outbound HTTP client")?;
        let state = AppState(Arc::new(AppInner {
            issuer,
            clock,
            store,
            keys,
            clients: cache::ClientCache::new(),
            organizations: cache::OrganizationCache::new(),
            settings: cache::SettingsCache::new(),
            outbound,
            background: state::BackgroundTasks::default(),
            trust_forwarded_for: config.trust_forwarded_for,
            strict_transport_security: issuer_id.starts_with("https://")
                && config.tls != TlsMode::Dev,
        }));
        Ok(Application {
            listener,
            local_addr,
            state,
            tls,
            limits: config.connection_limits,
            changes,
            banner,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &str {
        self.state.issuer.identifier()
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
        let follower = self
            .changes
            .map(|changes| tokio::spawn(follow_changes(self.state.clone(), changes)));
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
        if let Some(follower) = follower {
            follower.abort();
        }
        self.state.store.close().await;
        result.context("serving HTTP")
    }
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
